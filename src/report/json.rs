//! The report as JSON: the [`super::model::Report`] value itself, pretty-printed. The shape is
//! documented in docs/report.md and versioned by `schema_version`.

use super::ReportError;
use super::model::Report;

/// The report as pretty JSON with a trailing newline.
pub fn render(r: &Report) -> Result<String, ReportError> {
    let mut s = serde_json::to_string_pretty(r).map_err(|e| ReportError::Encode(e.to_string()))?;
    s.push('\n');
    Ok(s)
}
