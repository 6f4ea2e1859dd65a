//! Key hints inside a screen ("r recheck · esc back"), taken from the keymap so a user's
//! rebinding shows, and an unbound action is simply not offered.

use crate::tui::action::Action;
use crate::tui::state::AppState;

/// The key bound to `action` on the current screen (its own bindings first, then global).
pub fn key_for(state: &AppState, action: Action) -> Option<String> {
    state
        .keymap
        .for_screen(state.screen)
        .find(|b| b.action == action)
        .map(|b| b.key.clone())
}

/// `key label` for each bound action, joined by ` · `; empty when none is bound.
pub fn hints(state: &AppState, actions: &[(Action, &str)]) -> String {
    actions
        .iter()
        .filter_map(|(a, label)| key_for(state, *a).map(|k| format!("{k} {label}")))
        .collect::<Vec<_>>()
        .join(" · ")
}
