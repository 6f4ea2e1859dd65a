//! The session report: what happened, from the state store alone, as Markdown, JSON or a
//! self-contained HTML page. The CLI's `report`, the cockpit's export key and the demo's
//! headless run all call `build`.

use crate::config::Config;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Md,
    Json,
    Html,
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    /// Only what happened from this time on (µs since the epoch).
    pub since_us: Option<i64>,
    /// Divergent values too (redacted columns stay masked).
    pub include_values: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading the state store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the report is being written")]
    Unavailable,
}

/// The whole report as text in the chosen format (secrets masked).
pub async fn build(
    _store: &Store,
    _config: &Config,
    _options: &Options,
) -> Result<String, ReportError> {
    Err(ReportError::Unavailable)
}
