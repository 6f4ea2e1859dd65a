//! Semantic styles: each token names a role (ok, danger, old_path …), not a widget.
//! Built-in themes are `themes/*.toml` compiled in; user themes live in the config dir.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone, PartialEq)]
pub struct Theme {
    pub name: String,
    pub fg: Style,
    pub muted: Style,
    pub accent: Style,
    pub ok: Style,
    pub warn: Style,
    pub danger: Style,
    pub old_path: Style,
    pub new_path: Style,
    pub diff_old: Style,
    pub diff_new: Style,
    pub selection: Style,
    pub title: Style,
    pub border: Style,
}

impl Default for Theme {
    fn default() -> Theme {
        Theme {
            name: "plain".into(),
            fg: Style::default(),
            muted: Style::default().fg(Color::DarkGray),
            accent: Style::default().fg(Color::Cyan),
            ok: Style::default().fg(Color::Green),
            warn: Style::default().fg(Color::Yellow),
            danger: Style::default().fg(Color::Red),
            old_path: Style::default().fg(Color::Magenta),
            new_path: Style::default().fg(Color::Cyan),
            diff_old: Style::default().fg(Color::Red),
            diff_new: Style::default().fg(Color::Green),
            selection: Style::default().add_modifier(Modifier::REVERSED),
            title: Style::default().add_modifier(Modifier::BOLD),
            border: Style::default().fg(Color::DarkGray),
        }
    }
}

impl Theme {
    /// The style for a level (log lines, gate marks, toasts).
    pub fn level(&self, level: crate::tui::state::Level) -> Style {
        use crate::tui::state::Level;
        match level {
            Level::Info => self.fg,
            Level::Ok => self.ok,
            Level::Warn => self.warn,
            Level::Danger => self.danger,
        }
    }
}
