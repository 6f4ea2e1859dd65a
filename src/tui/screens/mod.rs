//! The screens: pure views of `AppState` plus the handler for the actions local to each.
//! Global actions (switching screens, driving the migration) are the app's.

pub mod backfill;
pub mod divergences;
pub mod help;
pub mod latency;
pub mod log;
pub mod overview;

use ratatui::Frame;
use ratatui::layout::Rect;

use super::action::{Action, Effect};
use super::state::AppState;
use super::theme::Theme;

/// The screens, in Tab order; the number keys 1–5 pick them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScreenId {
    Overview,
    Backfill,
    Divergences,
    Latency,
    Log,
}

impl ScreenId {
    pub const ALL: [ScreenId; 5] = [
        ScreenId::Overview,
        ScreenId::Backfill,
        ScreenId::Divergences,
        ScreenId::Latency,
        ScreenId::Log,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ScreenId::Overview => "Overview",
            ScreenId::Backfill => "Backfill",
            ScreenId::Divergences => "Divergences",
            ScreenId::Latency => "Latency",
            ScreenId::Log => "Log",
        }
    }

    pub fn next(self) -> ScreenId {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }

    pub fn prev(self) -> ScreenId {
        let i = Self::ALL.iter().position(|s| *s == self).unwrap_or(0);
        Self::ALL[(i + Self::ALL.len() - 1) % Self::ALL.len()]
    }
}

/// Draw the current screen's body into `area` (the app draws the header, footer, prompt,
/// help and toasts around it).
pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    match state.screen {
        ScreenId::Overview => overview::render(state, theme, frame, area),
        ScreenId::Backfill => backfill::render(state, theme, frame, area),
        ScreenId::Divergences => divergences::render(state, theme, frame, area),
        ScreenId::Latency => latency::render(state, theme, frame, area),
        ScreenId::Log => log::render(state, theme, frame, area),
    }
}

/// Handle an action that is not global, on the current screen.
pub fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    match state.screen {
        ScreenId::Overview => overview::on_action(state, action),
        ScreenId::Backfill => backfill::on_action(state, action),
        ScreenId::Divergences => divergences::on_action(state, action),
        ScreenId::Latency => latency::on_action(state, action),
        ScreenId::Log => log::on_action(state, action),
    }
}

/// Mouse wheel over the screen body: positive scrolls down.
pub fn on_scroll(state: &mut AppState, lines: i32) {
    let action = if lines > 0 { Action::Down } else { Action::Up };
    for _ in 0..lines.unsigned_abs() {
        let _ = on_action(state, action);
    }
}
