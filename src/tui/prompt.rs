//! The open prompt: a confirmation or a typed answer (tui-input), drawn over the screen.
//! It takes every key until submitted (Enter, refused while the answer is not acceptable) or
//! cancelled (Esc).

use crossterm::event::{Event, KeyCode, KeyEvent, KeyEventKind};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use tui_input::backend::crossterm::EventHandler;

use super::action::Prompt;
use super::theme::Theme;

#[derive(Debug, Clone)]
pub struct Open {
    pub prompt: Prompt,
    pub input: tui_input::Input,
    /// Why Enter was refused (empty reason, wrong name), shown under the input.
    pub error: Option<String>,
}

/// What a key did to the prompt.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// Still open (typing, or Enter refused with `error` set).
    Open,
    Cancelled,
    /// Accepted: the typed text (empty for a yes/no prompt).
    Submitted(String),
}

impl Open {
    pub fn new(prompt: Prompt) -> Open {
        Open {
            prompt,
            input: tui_input::Input::default(),
            error: None,
        }
    }

    /// Handle one key.
    pub fn on_key(&mut self, key: KeyEvent) -> Reply {
        if key.kind == KeyEventKind::Release {
            return Reply::Open;
        }
        match key.code {
            KeyCode::Esc => return Reply::Cancelled,
            KeyCode::Enter => return self.submit(),
            _ => {}
        }
        if self.prompt.input.is_none() {
            return match key.code {
                KeyCode::Char('y' | 'Y') => Reply::Submitted(String::new()),
                KeyCode::Char('n' | 'N') => Reply::Cancelled,
                _ => Reply::Open,
            };
        }
        self.input.handle_event(&Event::Key(key));
        self.error = None;
        Reply::Open
    }

    fn submit(&mut self) -> Reply {
        let text = self.input.value().trim().to_string();
        if self.prompt.input.is_none() {
            return Reply::Submitted(String::new());
        }
        if let Some(expected) = &self.prompt.must_equal
            && !crate::engine::contract::confirms(expected, &text)
        {
            self.error = Some(format!("type `{expected}` exactly to confirm"));
            return Reply::Open;
        }
        if self.prompt.required && text.is_empty() {
            self.error = Some("a reason is required: it goes into the audit log".into());
            return Reply::Open;
        }
        Reply::Submitted(text)
    }
}

/// Draw the prompt centred over `area`.
pub fn render(open: &Open, theme: &Theme, frame: &mut Frame, area: Rect) {
    let p = &open.prompt;
    let width = area.width.saturating_sub(4).min(78);
    let inner_width = width.saturating_sub(2).max(1) as usize;
    let mut lines: Vec<Line> = Vec::new();
    if p.one_way {
        lines.push(Line::styled(
            "ONE-WAY DOOR: this cannot be undone.",
            theme.danger.add_modifier(Modifier::BOLD),
        ));
    }
    for l in &p.lines {
        lines.push(styled_line(l, theme));
    }
    lines.push(Line::raw(""));
    let label = match &p.input {
        Some(label) => format!("{label}:"),
        None => "Enter or y: confirm · Esc or n: cancel".into(),
    };
    lines.push(Line::styled(label, theme.accent));
    let wrapped: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_width))
        .sum();
    let input_rows = if p.input.is_some() { 2 } else { 0 };
    let height = (wrapped as u16 + input_rows + 2).min(area.height.saturating_sub(2));
    let [_, mid, _] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(height),
        Constraint::Fill(1),
    ])
    .areas(area);
    let [_, rect, _] = Layout::horizontal([
        Constraint::Fill(1),
        Constraint::Length(width),
        Constraint::Fill(1),
    ])
    .areas(mid);
    let border = if p.dangerous {
        theme.danger
    } else {
        theme.accent
    };
    let title = if p.dangerous {
        format!(" DANGEROUS · {} ", p.title)
    } else {
        format!(" {} ", p.title)
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(if p.dangerous {
            BorderType::Double
        } else {
            BorderType::Rounded
        })
        .border_style(border)
        .title(Span::styled(title, border.add_modifier(Modifier::BOLD)))
        .title_bottom(Line::styled(" Enter: submit · Esc: cancel ", theme.muted));
    frame.render_widget(Clear, rect);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [text_area, input_area, error_area] = Layout::vertical([
        Constraint::Fill(1),
        Constraint::Length(if p.input.is_some() { 1 } else { 0 }),
        Constraint::Length(if p.input.is_some() { 1 } else { 0 }),
    ])
    .areas(inner);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .style(theme.fg),
        text_area,
    );
    if p.input.is_some() {
        let w = input_area.width.saturating_sub(2) as usize;
        let scroll = open.input.visual_scroll(w);
        let shown: String = open.input.value().chars().skip(scroll).collect();
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled("> ", theme.accent),
                Span::styled(shown, theme.fg.add_modifier(Modifier::BOLD)),
            ])),
            input_area,
        );
        let x = input_area.x + 2 + (open.input.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position((x.min(input_area.right().saturating_sub(1)), input_area.y));
        if let Some(err) = &open.error {
            frame.render_widget(
                Paragraph::new(Span::styled(err.as_str(), theme.danger)),
                error_area,
            );
        }
    }
}

/// Gate lines start with ✓ or ✗: colour the mark.
fn styled_line<'a>(text: &'a str, theme: &Theme) -> Line<'a> {
    if let Some(rest) = text.strip_prefix("✓") {
        Line::from(vec![
            Span::styled("✓", theme.ok),
            Span::styled(rest, theme.fg),
        ])
    } else if let Some(rest) = text.strip_prefix("✗") {
        Line::from(vec![
            Span::styled("✗", theme.danger),
            Span::styled(rest, theme.fg),
        ])
    } else {
        Line::styled(text, theme.fg)
    }
}
