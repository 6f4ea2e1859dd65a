//! The log screen (being written: this body only keeps the crate compiling).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::widgets::Paragraph;

use crate::tui::action::{Action, Effect};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;

/// This screen's own view state (selection, scroll, filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {}

pub fn render(_state: &AppState, _theme: &Theme, frame: &mut Frame, area: Rect) {
    frame.render_widget(Paragraph::new("log"), area);
}

pub fn on_action(_state: &mut AppState, _action: Action) -> Vec<Effect> {
    Vec::new()
}

/// The log line for a session event, if it deserves one.
pub fn entry_for(
    event: &crate::engine::session::Event,
    now_us: i64,
) -> Option<crate::tui::state::LogEntry> {
    Some(crate::tui::state::LogEntry {
        at_us: now_us,
        who: None,
        kind: crate::tui::state::LogKind::Event,
        level: crate::tui::state::Level::Info,
        text: format!("{event:?}"),
    })
}
