//! `migtui demo`: the incident-statuses migration on databases it builds itself, with a
//! simulated application writing and reading while the migration runs.
//!
//! `fixture` builds the old and new databases, `migration` writes the matching migration file,
//! `app` is the simulated application (dual writes, reads by the flag, injected faults it
//! records), `repair` re-copies divergent keys from old (the documented operator step), and
//! `auto` walks every phase headless through the session's `Command`s.

pub mod app;
pub mod auto;
pub mod fixture;
pub mod migration;
pub mod repair;
pub mod values;

/// Why the demo could not go on; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Session(#[from] crate::engine::session::SessionError),
    #[error("{0}")]
    Io(String),
    /// Something in the walk or the setup went wrong, with what to do.
    #[error("{0}")]
    Failed(String),
}
