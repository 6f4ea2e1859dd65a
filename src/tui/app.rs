//! The cockpit's loop: terminal input, session events and snapshots in; `Command`s out.

use crate::engine::session::SessionHandle;

/// How the cockpit opens.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A built-in theme's name or a theme file's path; `None`: the default (or the user's).
    pub theme: Option<String>,
}

/// Run the cockpit on a started session until the operator quits.
pub async fn run(_session: SessionHandle, _options: Options) -> Result<(), std::io::Error> {
    Err(std::io::Error::other("the cockpit is being written"))
}
