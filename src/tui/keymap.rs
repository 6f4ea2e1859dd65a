//! Keybindings as data: key, action, description, dangerous flag, scope. Defaults are
//! compiled in; the user's `config.toml` in the platform config dir overrides them.

use super::action::Action;
use super::screens::ScreenId;

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Screen(ScreenId),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// As written in the keymap: `a`, `A`, `ctrl-c`, `enter`, `tab`, `1`.
    pub key: String,
    pub action: Action,
    pub description: String,
    /// Changes the migration in a way that matters: hidden in observer mode, styled red.
    pub dangerous: bool,
    pub scope: Scope,
    /// Shown in the footer of its screen.
    pub footer: bool,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Keymap {
    /// The bindings that apply on `screen` (its own first, then the global ones).
    pub fn for_screen(&self, screen: ScreenId) -> impl Iterator<Item = &Binding> {
        self.bindings
            .iter()
            .filter(move |b| b.scope == Scope::Screen(screen))
            .chain(self.bindings.iter().filter(|b| b.scope == Scope::Global))
    }
}
