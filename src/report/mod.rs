//! The session report: what happened, from the state store alone, as Markdown, JSON or a
//! self-contained HTML page. The CLI's `report`, the cockpit's export key and the demo's
//! headless run all call `build`.
//!
//! - [`gather`]: the store and the migration file into one [`model::Report`];
//! - [`markdown`], [`json`], [`html`] (+ [`svg`] charts): the three renderings;
//! - [`risks`]: what is still open when the report is made.

pub mod fmt;
pub mod gather;
pub mod html;
pub mod interruptions;
pub mod json;
pub mod markdown;
pub mod model;
pub mod risks;
pub mod svg;

use crate::config::Config;
use crate::secret::Secrets;
use crate::store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    #[default]
    Md,
    Json,
    Html,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Md => "md",
            Format::Json => "json",
            Format::Html => "html",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Options {
    pub format: Format,
    /// Only what happened from this time on (µs since the epoch).
    pub since_us: Option<i64>,
    /// Divergent values too (redacted columns stay masked).
    pub include_values: bool,
    /// The report's "generated at" time (µs since the epoch); `None` reads the store's clock.
    /// Fixed in tests so the output is reproducible.
    pub now_us: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("reading the state store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("the report is being written")]
    Unavailable,
    #[error("reading the backfill checkpoints: {0}")]
    Backfill(String),
    #[error("encoding the report: {0}")]
    Encode(String),
}

/// The whole report as text in the chosen format (secrets masked).
pub async fn build(
    store: &Store,
    config: &Config,
    options: &Options,
) -> Result<String, ReportError> {
    let report = gather::gather(store, config, options).await?;
    let report = mask(report, &config.secrets)?;
    let text = match options.format {
        Format::Md => markdown::render(&report),
        Format::Json => json::render(&report)?,
        Format::Html => html::render(&report),
    };
    // Belt and braces: the rendering adds no secret, but the rule is that nothing leaves
    // unmasked.
    Ok(config.secrets.mask(&text))
}

/// Gather the report as a value (for callers that render it themselves), secrets masked.
pub async fn gather(
    store: &Store,
    config: &Config,
    options: &Options,
) -> Result<model::Report, ReportError> {
    let report = gather::gather(store, config, options).await?;
    mask(report, &config.secrets)
}

/// Mask every string of the report before any rendering escapes it (an escaped secret would
/// no longer match the mask).
fn mask(report: model::Report, secrets: &Secrets) -> Result<model::Report, ReportError> {
    if secrets.is_empty() {
        return Ok(report);
    }
    let mut value =
        serde_json::to_value(&report).map_err(|e| ReportError::Encode(e.to_string()))?;
    mask_value(&mut value, secrets);
    serde_json::from_value(value).map_err(|e| ReportError::Encode(e.to_string()))
}

fn mask_value(v: &mut serde_json::Value, secrets: &Secrets) {
    match v {
        serde_json::Value::String(s) => *s = secrets.mask(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| mask_value(i, secrets)),
        serde_json::Value::Object(map) => {
            let masked: serde_json::Map<String, serde_json::Value> = std::mem::take(map)
                .into_iter()
                .map(|(k, mut v)| {
                    mask_value(&mut v, secrets);
                    (secrets.mask(&k), v)
                })
                .collect();
            *map = masked;
        }
        _ => {}
    }
}
