//! Plain terminal output for headless commands: check marks, and colour only on a terminal
//! that wants it (`NO_COLOR` is honoured).

use std::io::IsTerminal;

use crate::engine::preflight::Status;

/// Styling for one stream.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    color: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty.
    pub fn stdout() -> Self {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: std::io::stdout().is_terminal() && !no_color,
        }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn mark(&self, status: Status) -> String {
        match status {
            Status::Ok => self.paint("32", "✓"),
            Status::Warn => self.paint("33", "!"),
            Status::Fail => self.paint("31;1", "✗"),
        }
    }

    pub fn pass(&self, pass: bool) -> String {
        self.mark(if pass { Status::Ok } else { Status::Fail })
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn muted(&self, text: &str) -> String {
        self.paint("2", text)
    }

    pub fn danger(&self, text: &str) -> String {
        self.paint("31;1", text)
    }
}

/// Microseconds since the epoch as `2026-11-21 06:12:03 UTC`.
pub fn time_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{us}µs"))
}
