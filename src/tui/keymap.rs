//! Keybindings as data: key, action, description, dangerous flag, scope. Defaults are
//! compiled in (`keymap-default.toml`); the user's `config.toml` in the platform config dir
//! overrides them. A bad override or a conflict is reported and the defaults are used.

use std::path::{Path, PathBuf};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use serde::Deserialize;

use super::action::Action;
use super::screens::ScreenId;

/// The defaults, compiled in.
pub const DEFAULT_KEYMAP: &str = include_str!("keymap-default.toml");

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Screen(ScreenId),
}

impl Scope {
    /// Two scopes overlap when a key pressed somewhere could mean either.
    fn overlaps(self, other: Scope) -> bool {
        self == Scope::Global || other == Scope::Global || self == other
    }
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
    /// `key`, parsed.
    pub chord: Chord,
}

impl Binding {
    /// Whether this binding is offered: dangerous ones only to the driver, take-over only to
    /// an observer.
    pub fn offered(&self, driving: bool) -> bool {
        match self.action {
            Action::TakeOver => !driving,
            _ => driving || !self.dangerous,
        }
    }
}

/// A key with its modifiers, normalised so `A` and `shift-a` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chord {
    pub code: KeyCode,
    pub modifiers: KeyModifiers,
}

impl Chord {
    /// The chord of a key event (shift is part of the character, not a modifier).
    pub fn from_event(ev: &KeyEvent) -> Chord {
        let mut modifiers = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::Char(c) if ev.modifiers.contains(KeyModifiers::SHIFT) => {
                KeyCode::Char(c.to_ascii_uppercase())
            }
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            c => c,
        };
        if matches!(code, KeyCode::Char(_)) {
            modifiers.remove(KeyModifiers::SHIFT);
        }
        Chord { code, modifiers }
    }

    /// Parse `a`, `A`, `ctrl-c`, `alt-x`, `shift-a`, `enter`, `pageup`, `f5`, `+`, `-`.
    pub fn parse(text: &str) -> Result<Chord, String> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text;
        // A lone "-" is the minus key; "ctrl--" is ctrl and minus.
        while let Some((m, tail)) = rest
            .split_once('-')
            .filter(|(m, t)| !m.is_empty() && !t.is_empty())
        {
            match m.to_ascii_lowercase().as_str() {
                "ctrl" => modifiers |= KeyModifiers::CONTROL,
                "alt" => modifiers |= KeyModifiers::ALT,
                "shift" => modifiers |= KeyModifiers::SHIFT,
                _ => break,
            }
            rest = tail;
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            _ if rest.chars().count() == 1 => {
                let c = rest.chars().next().unwrap_or(' ');
                KeyCode::Char(if modifiers.contains(KeyModifiers::SHIFT) {
                    c.to_ascii_uppercase()
                } else {
                    c
                })
            }
            "enter" | "return" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" | "pgup" => KeyCode::PageUp,
            "pagedown" | "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=24).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            _ => {
                return Err(format!(
                    "unknown key `{text}` (try a, A, ctrl-c, enter, esc, tab, up, pagedown, f5)"
                ));
            }
        };
        let mut chord = Chord { code, modifiers };
        chord.modifiers.remove(KeyModifiers::SHIFT);
        if !matches!(code, KeyCode::Char(_) | KeyCode::BackTab)
            && modifiers.contains(KeyModifiers::SHIFT)
        {
            chord.modifiers |= KeyModifiers::SHIFT;
        }
        Ok(chord)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DefaultFile {
    bind: Vec<Row>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    key: String,
    action: Action,
    desc: String,
    #[serde(default)]
    dangerous: bool,
    #[serde(default)]
    footer: bool,
    screens: Option<Vec<ScreenId>>,
}

impl Keymap {
    /// The bindings that apply on `screen` (its own first, then the global ones).
    pub fn for_screen(&self, screen: ScreenId) -> impl Iterator<Item = &Binding> {
        self.bindings
            .iter()
            .filter(move |b| b.scope == Scope::Screen(screen))
            .chain(self.bindings.iter().filter(|b| b.scope == Scope::Global))
    }

    /// The action a key means on `screen`: the screen's own binding wins over a global one.
    pub fn lookup(&self, key: &KeyEvent, screen: ScreenId) -> Option<Action> {
        let chord = Chord::from_event(key);
        self.for_screen(screen)
            .find(|b| b.chord == chord)
            .map(|b| b.action)
    }

    /// The first key bound to `action` on `screen`, for hints (`press T to take over`).
    pub fn key_for(&self, action: Action, screen: ScreenId) -> Option<&str> {
        self.for_screen(screen)
            .find(|b| b.action == action)
            .map(|b| b.key.as_str())
    }

    /// The compiled-in defaults.
    pub fn defaults() -> Keymap {
        // The defaults are tested (`defaults_parse_without_conflicts`): a failure here is a
        // build mistake, and an empty keymap still lets `ctrl-c` quit through the app.
        Keymap::parse_defaults(DEFAULT_KEYMAP).unwrap_or_default()
    }

    /// Parse a keymap in the defaults' format, refusing conflicts.
    pub fn parse_defaults(text: &str) -> Result<Keymap, String> {
        let file: DefaultFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut bindings = Vec::new();
        for row in file.bind {
            let chord = Chord::parse(&row.key)?;
            let scopes: Vec<Scope> = match &row.screens {
                None => vec![Scope::Global],
                Some(s) => s.iter().map(|s| Scope::Screen(*s)).collect(),
            };
            for scope in scopes {
                bindings.push(Binding {
                    key: row.key.clone(),
                    action: row.action,
                    description: row.desc.clone(),
                    dangerous: row.dangerous,
                    scope,
                    footer: row.footer,
                    chord,
                });
            }
        }
        let map = Keymap { bindings };
        match map.conflicts().as_slice() {
            [] => Ok(map),
            c => Err(c.join("; ")),
        }
    }

    /// Every key bound to two different actions where both could apply.
    pub fn conflicts(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, a) in self.bindings.iter().enumerate() {
            for b in &self.bindings[i + 1..] {
                if a.chord == b.chord && a.action != b.action && a.scope.overlaps(b.scope) {
                    let line = format!(
                        "key `{}` is bound to both {} and {}{}",
                        b.key,
                        action_name(a.action),
                        action_name(b.action),
                        match (a.scope, b.scope) {
                            (Scope::Screen(s), _) | (_, Scope::Screen(s)) =>
                                format!(" (on {})", s.title()),
                            _ => String::new(),
                        }
                    );
                    if !out.contains(&line) {
                        out.push(line);
                    }
                }
            }
        }
        out
    }

    /// Apply the user's `[keys]` table: `action = "key"` or `["k1", "k2"]` at the top level
    /// replaces that action's keys everywhere; under `[keys.<screen>]`, on that screen only.
    pub fn with_overrides(&self, keys: &toml::Table) -> Result<Keymap, Vec<String>> {
        let mut map = self.clone();
        let mut problems = Vec::new();
        for (name, value) in keys {
            if let toml::Value::Table(inner) = value {
                match screen_named(name) {
                    Some(screen) => {
                        for (action, keys) in inner {
                            if let Err(e) = map.rebind(action, keys, Some(screen)) {
                                problems.push(format!("[keys.{name}] {e}"));
                            }
                        }
                    }
                    None => problems.push(format!(
                        "[keys.{name}]: no such screen (overview, backfill, divergences, latency, log)"
                    )),
                }
            } else if let Err(e) = map.rebind(name, value, None) {
                problems.push(format!("[keys] {e}"));
            }
        }
        problems.extend(map.conflicts());
        if problems.is_empty() {
            Ok(map)
        } else {
            Err(problems)
        }
    }

    fn rebind(
        &mut self,
        action: &str,
        keys: &toml::Value,
        screen: Option<ScreenId>,
    ) -> Result<(), String> {
        let parsed: Action = Action::deserialize(toml::Value::String(action.to_string()))
            .map_err(|_| format!("{action}: no such action (see the help overlay, `?`)"))?;
        let keys: Vec<String> = match keys {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(a) => a
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("{action}: keys must be strings"))?,
            _ => return Err(format!("{action}: give a key (\"x\") or a list of keys")),
        };
        let chords = keys
            .iter()
            .map(|k| Chord::parse(k).map_err(|e| format!("{action}: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        let matches =
            |b: &Binding| b.action == parsed && screen.is_none_or(|s| b.scope == Scope::Screen(s));
        let template: Vec<Binding> = {
            let mut seen: Vec<Scope> = Vec::new();
            self.bindings
                .iter()
                .filter(|b| matches(b))
                .filter(|b| {
                    let new = !seen.contains(&b.scope);
                    seen.push(b.scope);
                    new
                })
                .cloned()
                .collect()
        };
        if template.is_empty() {
            return Err(format!(
                "{action}: not bound {}",
                match screen {
                    Some(s) => format!("on {}", s.title()),
                    None => "anywhere".into(),
                }
            ));
        }
        self.bindings.retain(|b| !matches(b));
        for t in template {
            for (key, chord) in keys.iter().zip(&chords) {
                self.bindings.push(Binding {
                    key: key.clone(),
                    chord: *chord,
                    ..t.clone()
                });
            }
        }
        Ok(())
    }
}

/// The snake_case name of an action, as keymaps write it.
pub fn action_name(action: Action) -> String {
    serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| format!("{action:?}"))
}

fn screen_named(name: &str) -> Option<ScreenId> {
    ScreenId::ALL
        .into_iter()
        .find(|s| s.title().eq_ignore_ascii_case(name))
}

/// The cockpit's config dir: `MIGTUI_CONFIG_DIR`, else the platform's (`~/.config/migtui`).
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MIGTUI_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "migtui").map(|d| d.config_dir().to_path_buf())
}

/// What the user's `config.toml` says.
#[derive(Debug, Clone, Default)]
pub struct UserConfig {
    /// `theme = "light"` (a built-in name, a name under `themes/`, or a path).
    pub theme: Option<String>,
    pub keymap: Keymap,
    /// What was wrong with the file; the defaults were used for the part that was.
    pub problems: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserFile {
    theme: Option<String>,
    #[serde(default)]
    keys: toml::Table,
}

/// Read `config.toml` from `dir` (absent: the defaults, no problem).
pub fn load_user(dir: Option<&Path>) -> UserConfig {
    let defaults = Keymap::defaults();
    let Some(path) = dir.map(|d| d.join("config.toml")) else {
        return UserConfig {
            keymap: defaults,
            ..UserConfig::default()
        };
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return UserConfig {
                keymap: defaults,
                ..UserConfig::default()
            };
        }
        Err(e) => {
            return UserConfig {
                keymap: defaults,
                problems: vec![format!("{}: {e}; default keys used", path.display())],
                theme: None,
            };
        }
    };
    let file: UserFile = match toml::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            return UserConfig {
                keymap: defaults,
                problems: vec![format!(
                    "{}: {e}\n  default keys and theme used",
                    path.display()
                )],
                theme: None,
            };
        }
    };
    match defaults.with_overrides(&file.keys) {
        Ok(keymap) => UserConfig {
            theme: file.theme,
            keymap,
            problems: Vec::new(),
        },
        Err(problems) => UserConfig {
            theme: file.theme,
            keymap: defaults,
            problems: problems
                .into_iter()
                .map(|p| format!("{}: {p}; default keys used", path.display()))
                .collect(),
        },
    }
}
