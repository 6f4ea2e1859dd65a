//! The help overlay (`?`): every key of the current screen, then the global ones, built from
//! the keymap (so user overrides show), dangerous keys marked and hidden in read-only mode.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use crate::tui::action::{Action, Effect};
use crate::tui::keymap::Scope;
use crate::tui::state::AppState;
use crate::tui::theme::Theme;

/// This screen's own view state (selection, scroll, filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {}

/// One row of the overlay: every key of an action, its description, whether it is dangerous.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub keys: String,
    pub description: String,
    pub dangerous: bool,
    pub global: bool,
}

/// The rows for the current screen (its own first), and how many dangerous ones are hidden.
pub fn rows(state: &AppState) -> (Vec<Row>, usize) {
    let driving = state.driving();
    let mut out: Vec<(Action, Row)> = Vec::new();
    let mut hidden: Vec<Action> = Vec::new();
    for b in state.keymap.for_screen(state.screen) {
        let global = b.scope == Scope::Global;
        if !b.offered(driving) {
            if b.dangerous && !hidden.contains(&b.action) {
                hidden.push(b.action);
            }
            continue;
        }
        match out
            .iter_mut()
            .find(|(a, r)| *a == b.action && r.global == global)
        {
            Some((_, row)) => {
                row.keys.push_str(", ");
                row.keys.push_str(&b.key);
            }
            None => out.push((
                b.action,
                Row {
                    keys: b.key.clone(),
                    description: b.description.clone(),
                    dangerous: b.dangerous,
                    global,
                },
            )),
        }
    }
    (out.into_iter().map(|(_, r)| r).collect(), hidden.len())
}

pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let (rows, hidden) = rows(state);
    let title = format!(" Keys · {} ", state.screen.title());
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.accent)
        .title(Span::styled(title, theme.title))
        .title_bottom(Line::styled(" ? or Esc: close ", theme.muted));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let key_w = rows
        .iter()
        .map(|r| r.keys.chars().count())
        .max()
        .unwrap_or(1)
        .min(12);
    let mut lines: Vec<Line> = Vec::new();
    let mut last_global = None;
    for r in &rows {
        if last_global != Some(r.global) {
            lines.push(Line::styled(
                if r.global {
                    "everywhere"
                } else {
                    "this screen"
                },
                theme.title.add_modifier(Modifier::UNDERLINED),
            ));
            last_global = Some(r.global);
        }
        let key_style = if r.dangerous {
            theme.danger.add_modifier(Modifier::BOLD)
        } else {
            theme.accent.add_modifier(Modifier::BOLD)
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {:<key_w$} ", r.keys), key_style),
            Span::styled(if r.dangerous { "! " } else { "  " }, theme.danger),
            Span::styled(r.description.clone(), theme.fg),
        ]));
    }
    let mut notes = vec![Line::styled(
        "! drives the migration (audited)",
        theme.danger,
    )];
    if hidden > 0 {
        notes.push(Line::styled(
            format!("read-only: {hidden} driving action(s) hidden until you take over"),
            theme.warn,
        ));
    }
    let [list, note_area] =
        Layout::vertical([Constraint::Fill(1), Constraint::Length(notes.len() as u16)])
            .areas(inner);
    // As many columns (up to three) as it takes to fit.
    let columns = lines
        .len()
        .div_ceil(list.height.max(1) as usize)
        .clamp(1, 3);
    let per = lines.len().div_ceil(columns);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); columns]).split(list);
    for (i, chunk) in lines.chunks(per.max(1)).enumerate() {
        if let Some(a) = areas.get(i) {
            frame.render_widget(Paragraph::new(chunk.to_vec()), *a);
        }
    }
    frame.render_widget(Paragraph::new(notes), note_area);
}

pub fn on_action(_state: &mut AppState, _action: Action) -> Vec<Effect> {
    Vec::new()
}
