//! Semantic styles: each token names a role (ok, danger, old_path …), not a widget.
//! Built-in themes are `themes/*.toml` compiled in; user themes live in the config dir
//! (`themes/NAME.toml`) and override the built-in theme field by field. A bad theme file is
//! reported and the default used; `NO_COLOR` removes every colour and keeps the modifiers.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

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

/// The built-in themes, by name, in the order `--help` lists them.
pub const BUILT_IN: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    (
        "colour-blind",
        include_str!("../../themes/colour-blind.toml"),
    ),
];

/// A theme file: `name`, an optional `base` theme it starts from, `[colors]` and `[bold]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: Option<String>,
    base: Option<String>,
    #[serde(default)]
    colors: BTreeMap<String, String>,
    #[serde(default)]
    bold: BTreeMap<String, bool>,
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

    /// A built-in theme (`color-blind` and `colorblind` name the colour-blind one).
    pub fn built_in(name: &str) -> Option<Theme> {
        let name = match name {
            "color-blind" | "colorblind" | "colourblind" => "colour-blind",
            n => n,
        };
        let (_, text) = BUILT_IN.iter().find(|(n, _)| *n == name)?;
        Theme::plain_with(text).ok()
    }

    /// The default theme (dark).
    pub fn dark() -> Theme {
        Theme::built_in("dark").unwrap_or_default()
    }

    fn plain_with(text: &str) -> Result<Theme, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut theme = Theme::default();
        theme.apply(&file)?;
        Ok(theme)
    }

    /// Apply a parsed file field by field.
    fn apply(&mut self, file: &ThemeFile) -> Result<(), String> {
        if let Some(name) = &file.name {
            self.name = name.clone();
        }
        let mut bg = None;
        for (token, value) in &file.colors {
            let color = parse_color(value).map_err(|e| format!("[colors] {token}: {e}"))?;
            match token.as_str() {
                "bg" => bg = Some(color),
                "selection_bg" => self.selection = Style::default().bg(color),
                t => self.token_mut(t)?.fg = Some(color),
            }
        }
        if let Some(bg) = bg {
            self.fg = self.fg.bg(bg);
        }
        for (token, bold) in &file.bold {
            let style = self.token_mut(token).map_err(|e| format!("[bold] {e}"))?;
            *style = if *bold {
                style.add_modifier(Modifier::BOLD)
            } else {
                style.remove_modifier(Modifier::BOLD)
            };
        }
        // Titles and borders follow the accent and muted tokens unless set on their own.
        if !file.colors.contains_key("title") {
            self.title = self.title.fg(self.accent.fg.unwrap_or(Color::Reset));
        }
        if !file.colors.contains_key("border") {
            self.border = self.border.fg(self.muted.fg.unwrap_or(Color::Reset));
        }
        Ok(())
    }

    fn token_mut(&mut self, token: &str) -> Result<&mut Style, String> {
        Ok(match token {
            "fg" => &mut self.fg,
            "muted" => &mut self.muted,
            "accent" => &mut self.accent,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "danger" => &mut self.danger,
            "old_path" => &mut self.old_path,
            "new_path" => &mut self.new_path,
            "diff_old" => &mut self.diff_old,
            "diff_new" => &mut self.diff_new,
            "selection" => &mut self.selection,
            "title" => &mut self.title,
            "border" => &mut self.border,
            t => {
                return Err(format!(
                    "unknown token `{t}` (tokens: fg, bg, muted, accent, ok, warn, danger, old_path, new_path, diff_old, diff_new, selection_bg, title, border)"
                ));
            }
        })
    }

    /// No colours at all (`NO_COLOR`): modifiers stay, and the states that colour alone
    /// carried get one (danger bold, selection reversed, diffs underlined).
    pub fn without_colors(mut self) -> Theme {
        for s in [
            &mut self.fg,
            &mut self.muted,
            &mut self.accent,
            &mut self.ok,
            &mut self.warn,
            &mut self.danger,
            &mut self.old_path,
            &mut self.new_path,
            &mut self.diff_old,
            &mut self.diff_new,
            &mut self.selection,
            &mut self.title,
            &mut self.border,
        ] {
            s.fg = None;
            s.bg = None;
            s.underline_color = None;
        }
        self.danger = self.danger.add_modifier(Modifier::BOLD);
        self.selection = self.selection.add_modifier(Modifier::REVERSED);
        self.diff_old = self.diff_old.add_modifier(Modifier::UNDERLINED);
        self.diff_new = self.diff_new.add_modifier(Modifier::UNDERLINED);
        self.muted = self.muted.add_modifier(Modifier::DIM);
        self
    }
}

/// `NO_COLOR` set to anything non-empty (<https://no-color.org>).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// The theme to use and what was wrong on the way (reported as a toast and in the log).
/// `choice`: `--theme` or the user config's `theme` — a built-in name, a user theme's name
/// under `config_dir/themes/`, or a path to a `.toml` file.
pub fn load(
    choice: Option<&str>,
    config_dir: Option<&Path>,
    no_color: bool,
) -> (Theme, Vec<String>) {
    let mut problems = Vec::new();
    let theme = match resolve(choice.unwrap_or("dark"), config_dir) {
        Ok(t) => t,
        Err(e) => {
            problems.push(format!("{e}; the default theme (dark) is used"));
            Theme::dark()
        }
    };
    if no_color {
        (theme.without_colors(), problems)
    } else {
        (theme, problems)
    }
}

fn resolve(choice: &str, config_dir: Option<&Path>) -> Result<Theme, String> {
    let as_path = Path::new(choice);
    if choice.contains(std::path::MAIN_SEPARATOR) || choice.ends_with(".toml") {
        return from_file(as_path, None);
    }
    if let Some(user) = config_dir.map(|d| d.join("themes").join(format!("{choice}.toml")))
        && user.is_file()
    {
        return from_file(&user, Theme::built_in(choice));
    }
    Theme::built_in(choice).ok_or_else(|| {
        format!(
            "no theme named `{choice}` (built-in: {}; or a user theme in the config dir's themes/, or a path to a .toml file)",
            BUILT_IN.map(|(n, _)| n).join(", ")
        )
    })
}

/// A theme file layered over `base` (or over the theme its `base` names, or dark).
fn from_file(path: &Path, base: Option<Theme>) -> Result<Theme, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("theme {}: {e}", path.display()))?;
    let file: ThemeFile =
        toml::from_str(&text).map_err(|e| format!("theme {}: {e}", path.display()))?;
    let mut theme = match (&file.base, base) {
        (Some(b), _) => Theme::built_in(b).ok_or_else(|| {
            format!(
                "theme {}: base `{b}` is not a built-in theme",
                path.display()
            )
        })?,
        (None, Some(t)) => t,
        (None, None) => Theme::dark(),
    };
    if file.name.is_none() {
        theme.name = path
            .file_stem()
            .map_or_else(|| "user".into(), |s| s.to_string_lossy().into_owned());
    }
    theme
        .apply(&file)
        .map_err(|e| format!("theme {}: {e}", path.display()))?;
    Ok(theme)
}

/// `#rrggbb`, an ANSI name (`red`, `light_blue`, `dark_gray`), an index `0`–`255`, `reset`.
fn parse_color(text: &str) -> Result<Color, String> {
    Color::from_str(text.trim()).map_err(|_| {
        format!(
            "`{text}` is not a colour (use #rrggbb, an ANSI name like light_blue, 0-255, or reset)"
        )
    })
}
