//! The divergences screen (being written: this body only keeps the crate compiling).

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
    frame.render_widget(Paragraph::new("divergences"), area);
}

pub fn on_action(_state: &mut AppState, _action: Action) -> Vec<Effect> {
    Vec::new()
}

/// Apply the text typed at the filter prompt (a key or column substring; empty clears it).
pub fn set_filter(_state: &mut AppState, _text: &str) -> Vec<Effect> {
    Vec::new()
}
