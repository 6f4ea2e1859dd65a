//! The log screen: the audit log (who did what, when, with what outcome) and the engine's
//! events, newest at the bottom, scrollable and filterable. Audit rows from before this cockpit
//! opened are read from the store a page at a time.

mod entry;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

pub use entry::{audit_entry, entry_for};

use crate::store::AuditRecord;
use crate::tui::action::{Action, Effect};
use crate::tui::load::{AUDIT_PAGE, Request};
use crate::tui::state::{AppState, Level, LogEntry, LogKind};
use crate::tui::theme::Theme;
use crate::tui::widgets::units::{clip, stamp};

/// Lines a PageUp/PageDown moves.
const PAGE_LINES: usize = 10;

/// Which lines the log shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Kinds {
    #[default]
    All,
    /// Operators' actions only.
    Audit,
    /// Engine events only.
    Events,
    /// Warnings and failures of either kind.
    Problems,
}

impl Kinds {
    /// The next filter in the cycle.
    pub fn next(self) -> Kinds {
        match self {
            Kinds::All => Kinds::Audit,
            Kinds::Audit => Kinds::Events,
            Kinds::Events => Kinds::Problems,
            Kinds::Problems => Kinds::All,
        }
    }

    /// How the filter line names it.
    pub fn label(self) -> &'static str {
        match self {
            Kinds::All => "all",
            Kinds::Audit => "audit",
            Kinds::Events => "events",
            Kinds::Problems => "warnings and errors",
        }
    }

    fn admits(self, e: &LogEntry) -> bool {
        match self {
            Kinds::All => true,
            Kinds::Audit => e.kind == LogKind::Audit,
            Kinds::Events => e.kind == LogKind::Event,
            Kinds::Problems => matches!(e.level, Level::Warn | Level::Danger),
        }
    }
}

/// This screen's own view state.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    /// Lines scrolled up from the newest (0: follow new lines).
    pub scroll: usize,
    pub kinds: Kinds,
    /// Lines containing this text (case-insensitive) in their text or who; empty: all.
    pub text: String,
    /// Audit rows from before this cockpit opened, oldest first.
    pub older: Vec<LogEntry>,
    /// The id of the oldest audit row read, for the next older page.
    pub oldest_id: Option<i64>,
    /// The first page has been read.
    pub loaded: bool,
    /// Older rows exist than those read.
    pub more_older: bool,
    /// Scrolled to the top with older rows left: fetch the next page.
    pub want_older: bool,
    pub error: Option<String>,
}

/// The lines on show, oldest first: older audit rows, then this session's log, filtered.
pub fn visible(state: &AppState) -> Vec<&LogEntry> {
    let v = &state.log_view;
    let text = v.text.to_lowercase();
    v.older
        .iter()
        .chain(state.log.iter())
        .filter(|e| v.kinds.admits(e))
        .filter(|e| {
            text.is_empty()
                || e.text.to_lowercase().contains(&text)
                || e.who
                    .as_ref()
                    .is_some_and(|w| w.to_lowercase().contains(&text))
        })
        .collect()
}

/// Draw the filter line and the newest lines that fit (or those scrolled to).
pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let v = &state.log_view;
    let [head, body] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    let lines = visible(state);
    let mut spans = vec![
        Span::styled("showing ", theme.muted),
        Span::styled(v.kinds.label(), theme.accent),
    ];
    if !v.text.is_empty() {
        spans.push(Span::styled(
            format!("  matching \"{}\"", v.text),
            theme.accent,
        ));
    }
    spans.push(Span::styled(
        format!("  {} lines", lines.len()),
        theme.muted,
    ));
    if v.scroll > 0 {
        spans.push(Span::styled(
            format!("  ↑ {} from the newest (end: follow)", v.scroll),
            theme.warn,
        ));
    }
    if v.more_older {
        spans.push(Span::styled("  older rows in the store", theme.muted));
    }
    if let Some(e) = &v.error {
        spans.push(Span::styled(format!("  ✗ {e}"), theme.danger));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), head);

    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" audit log and events ", theme.title));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if lines.is_empty() {
        let text = if !v.loaded && v.error.is_none() {
            "reading the audit log…"
        } else if v.kinds != Kinds::All || !v.text.is_empty() {
            "no line matches this filter (/ changes it)"
        } else {
            "nothing logged yet — operators' actions and engine events appear here"
        };
        frame.render_widget(Paragraph::new(text).style(theme.muted), inner);
        return;
    }
    let height = inner.height as usize;
    let scroll = v.scroll.min(lines.len().saturating_sub(height));
    let end = lines.len() - scroll;
    let start = end.saturating_sub(height);
    let wide = inner.width >= 120;
    let who_w = if wide { 24 } else { 14 };
    let text_w = (inner.width as usize).saturating_sub(if wide { 20 } else { 9 } + who_w + 4);
    let rendered: Vec<Line> = lines[start..end]
        .iter()
        .map(|e| {
            let at = if wide {
                stamp(e.at_us)
            } else {
                crate::tui::widgets::units::clock(e.at_us)
            };
            let who = match (&e.who, e.kind) {
                (Some(w), _) => w.clone(),
                (None, LogKind::Audit) => "?".into(),
                (None, LogKind::Event) => "engine".into(),
            };
            let who_style = if e.kind == LogKind::Audit {
                theme.accent
            } else {
                theme.muted
            };
            // A glyph as well as a colour: the level still reads under NO_COLOR.
            let mark = match e.level {
                Level::Danger => "✗ ",
                Level::Warn => "! ",
                Level::Ok => "✓ ",
                Level::Info => "  ",
            };
            Line::from(vec![
                Span::styled(format!("{at} "), theme.muted),
                Span::styled(mark, theme.level(e.level)),
                Span::styled(format!("{:<who_w$} ", clip(&who, who_w)), who_style),
                Span::styled(clip(&e.text, text_w), theme.level(e.level)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(rendered), inner);
}

/// Scroll (Up/Down/PageUp/PageDown/Top/Bottom), filter by text (Filter) and cycle the kinds
/// (CycleStatus).
pub fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    let total = visible(state).len();
    let v = &mut state.log_view;
    let top = total.saturating_sub(1);
    match action {
        Action::Up => v.scroll = (v.scroll + 1).min(top),
        Action::Down => v.scroll = v.scroll.saturating_sub(1),
        Action::PageUp => v.scroll = (v.scroll + PAGE_LINES).min(top),
        Action::PageDown => v.scroll = v.scroll.saturating_sub(PAGE_LINES),
        Action::Top => v.scroll = top,
        Action::Bottom | Action::Back => v.scroll = 0,
        Action::Filter => {
            return vec![Effect::Prompt(crate::tui::action::Prompt {
                title: "Filter the log".into(),
                lines: vec!["Lines containing this text (any case); empty shows all.".into()],
                dangerous: false,
                one_way: false,
                input: Some("text".into()),
                must_equal: None,
                required: false,
                then: crate::tui::action::Then::FilterLog,
            })];
        }
        Action::CycleStatus => {
            v.kinds = v.kinds.next();
            v.scroll = 0;
            return vec![Effect::Toast(format!("log: showing {}", v.kinds.label()))];
        }
        _ => return Vec::new(),
    }
    // At the top with older rows left in the store: ask for them.
    if v.scroll >= top && v.more_older && v.loaded {
        v.want_older = true;
    }
    Vec::new()
}

/// Keep only lines containing `text` (case-insensitive; empty shows all).
pub fn set_filter(state: &mut AppState, text: &str) {
    state.log_view.text = text.trim().to_string();
    state.log_view.scroll = 0;
}

/// The fetches this screen needs: the newest audit page once, then older pages on demand.
pub fn due(state: &AppState) -> Vec<Request> {
    let v = &state.log_view;
    if !v.loaded {
        vec![Request::AuditPage { before_id: None }]
    } else if v.want_older && v.more_older {
        vec![Request::AuditPage {
            before_id: v.oldest_id,
        }]
    } else {
        Vec::new()
    }
}

/// A page of audit rows (newest first) arrived: put them before what is shown, dropping rows
/// this session already logged from its events.
pub fn apply_audit(
    state: &mut AppState,
    before_id: Option<i64>,
    rows: Result<Vec<AuditRecord>, String>,
) {
    let v = &mut state.log_view;
    if v.loaded && (before_id.is_none() || before_id != v.oldest_id) {
        return; // an answer to a page already read
    }
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => {
            // Shown, and asked again on the next tick (the first page) or scroll (older).
            v.error = Some(format!("the audit log could not be read: {e}"));
            v.want_older = false;
            return;
        }
    };
    v.error = None;
    v.loaded = true;
    v.want_older = false;
    v.more_older = rows.len() >= AUDIT_PAGE;
    if let Some(last) = rows.last() {
        v.oldest_id = Some(last.id);
    }
    let mut page: Vec<LogEntry> = rows
        .iter()
        .rev()
        .map(audit_entry)
        .filter(|e| !state.log.iter().any(|l| l == e) && !v.older.contains(e))
        .collect();
    page.append(&mut v.older);
    v.older = page;
}
