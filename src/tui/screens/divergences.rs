//! The divergences screen: a paged, filterable table of `migtui_divergences` (loaded a page at
//! a time through `load`, never all in memory), a drill-down that puts the old and new row side
//! by side, and the actions on one divergence (recheck, acknowledge, copy the key, its SQL).

mod detail;
mod draw;

use ratatui::Frame;
use ratatui::layout::Rect;

pub use detail::{ColumnDiff, diff_columns, row_sql, typed_key};

use crate::config::VerifyCheck;
use crate::engine::session::Command;
use crate::store::{DivergenceFilter, DivergenceRecord, DivergenceStatus};
use crate::tui::action::{Action, Effect, Prompt, Then};
use crate::tui::load::{DIVERGENCE_PAGE, Request};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;

/// A shown page is fetched again after this long (statuses change as rechecks run).
const PAGE_REFRESH_US: i64 = 3_000_000;
/// The per-status counts are fetched again after this long.
const COUNTS_REFRESH_US: i64 = 5_000_000;

/// The status filter's cycle: all, then each status.
pub const STATUS_CYCLE: [Option<DivergenceStatus>; 5] = [
    None,
    Some(DivergenceStatus::Open),
    Some(DivergenceStatus::InFlight),
    Some(DivergenceStatus::Healed),
    Some(DivergenceStatus::Acknowledged),
];

/// Which page the table shows: the filters and the keyset cursor (`(check, key)` of the last
/// row of the previous page). Two equal queries are one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    pub check: Option<String>,
    pub status: Option<DivergenceStatus>,
    /// Key or column substring; empty: no text filter.
    pub text: String,
    pub after: Option<(String, String)>,
}

impl PageQuery {
    /// The store's filter for this query.
    pub fn filter(&self) -> DivergenceFilter {
        DivergenceFilter {
            check: self.check.clone(),
            status: self.status,
        }
    }
}

/// What the row's SQL panel needs of a `[[verify]]` check: its two queries and key columns.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckSql {
    pub check: String,
    pub key: Vec<String>,
    pub old_sql: String,
    pub new_sql: String,
}

/// This screen's own view state: filters, the page on show, the selection, the drill-down.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub status: Option<DivergenceStatus>,
    pub check: Option<String>,
    pub text: String,
    /// The cursor of each page visited from the first (`None` for the first page).
    pub cursors: Vec<Option<(String, String)>>,
    /// The page on show: at most `DIVERGENCE_PAGE` rows.
    pub rows: Vec<DivergenceRecord>,
    /// A next page exists.
    pub more: bool,
    pub selected: usize,
    /// Select the page's last row once it arrives (stepping back a page with Up).
    pub select_last: bool,
    /// The query `rows` answer, and when it was fetched (the state's clock).
    pub loaded: Option<PageQuery>,
    pub loaded_at_us: i64,
    pub error: Option<String>,
    pub counts: Vec<(DivergenceStatus, u64)>,
    pub counts_at_us: Option<i64>,
    /// The drill-down of the selected row is open.
    pub detail: bool,
    /// The row's SQL is shown in the drill-down.
    pub sql: bool,
    /// The checks' queries, for the SQL panel (set by the app from the config).
    pub checks: Vec<CheckSql>,
}

impl View {
    /// The page the view wants on show now.
    pub fn query(&self) -> PageQuery {
        PageQuery {
            check: self.check.clone(),
            status: self.status,
            text: self.text.clone(),
            after: self.cursors.last().cloned().flatten(),
        }
    }

    /// The page number, from 1.
    pub fn page(&self) -> usize {
        self.cursors.len().max(1)
    }

    /// The row under the cursor, if the page has one.
    pub fn selected_row(&self) -> Option<&DivergenceRecord> {
        self.rows.get(self.selected)
    }

    /// Filters changed: back to the first page, nothing selected or open.
    fn restart(&mut self) {
        self.cursors.clear();
        self.rows.clear();
        self.more = false;
        self.selected = 0;
        self.select_last = false;
        self.detail = false;
        self.sql = false;
        self.loaded = None;
        self.error = None;
    }

    fn next_page(&mut self) -> bool {
        let Some(last) = self.rows.last() else {
            return false;
        };
        if !self.more {
            return false;
        }
        let cursor = Some((last.check.clone(), last.key_text.clone()));
        if self.cursors.is_empty() {
            self.cursors.push(None);
        }
        self.cursors.push(cursor);
        self.rows.clear();
        self.selected = 0;
        self.loaded = None;
        true
    }

    fn prev_page(&mut self, select_last: bool) -> bool {
        if self.cursors.len() <= 1 {
            return false;
        }
        self.cursors.pop();
        self.rows.clear();
        self.selected = 0;
        self.select_last = select_last;
        self.loaded = None;
        true
    }
}

/// Give the screen the checks' queries (the app calls this once with the loaded config), so
/// the SQL panel shows exactly what the verifier runs.
pub fn set_checks(state: &mut AppState, checks: &[VerifyCheck]) {
    state.divergences.checks = checks
        .iter()
        .map(|c| CheckSql {
            check: c.name.clone(),
            key: c.key.clone(),
            old_sql: c.old_sql.clone(),
            new_sql: c.new_sql.clone(),
        })
        .collect();
}

/// Draw the per-check summary, the filters, and the table or the drill-down.
pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    draw::render(state, theme, frame, area);
}

/// Navigation, filters, the drill-down and the actions on the selected divergence.
pub fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    let checks: Vec<String> = state
        .snapshot
        .verify
        .iter()
        .map(|v| v.check.clone())
        .collect();
    let v = &mut state.divergences;
    let n = v.rows.len();
    // Up and Down move between divergences in the table and in the drill-down alike.
    match action {
        Action::Down => {
            if v.selected + 1 < n {
                v.selected += 1;
            } else {
                v.next_page();
            }
        }
        Action::Up => {
            if v.selected > 0 {
                v.selected -= 1;
            } else {
                v.prev_page(true);
            }
        }
        Action::PageDown => {
            // The next page starts at its first row; on the last page, go to its last row.
            v.selected = if v.next_page() {
                0
            } else {
                n.saturating_sub(1)
            };
        }
        Action::PageUp => {
            v.prev_page(false);
            v.selected = 0;
        }
        Action::Top => {
            if v.cursors.len() > 1 {
                v.cursors.clear();
                v.rows.clear();
                v.loaded = None;
            }
            v.selected = 0;
        }
        Action::Bottom => v.selected = n.saturating_sub(1),
        Action::Open if n > 0 => v.detail = true,
        Action::Back => {
            if v.sql {
                v.sql = false;
            } else {
                v.detail = false;
            }
        }
        Action::CycleStatus => {
            let i = STATUS_CYCLE
                .iter()
                .position(|s| *s == v.status)
                .unwrap_or(0);
            v.status = STATUS_CYCLE[(i + 1) % STATUS_CYCLE.len()];
            v.restart();
        }
        Action::CycleCheck => {
            v.check = next_check(&checks, v.check.as_deref());
            v.restart();
        }
        Action::Filter => {
            return vec![Effect::Prompt(Prompt {
                title: "Filter divergences".into(),
                lines: vec![
                    "Rows whose key or differing columns contain this text.".into(),
                    "Empty clears the filter.".into(),
                ],
                dangerous: false,
                one_way: false,
                input: Some("key or column".into()),
                must_equal: None,
                required: false,
                then: Then::FilterDivergences,
            })];
        }
        Action::Recheck | Action::Acknowledge | Action::CopyKey | Action::ShowSql => {
            return on_row(state, action);
        }
        _ => {}
    }
    Vec::new()
}

/// The actions on the selected divergence.
fn on_row(state: &mut AppState, action: Action) -> Vec<Effect> {
    let v = &mut state.divergences;
    let Some(row) = v.rows.get(v.selected) else {
        return vec![Effect::Toast("no divergence selected".into())];
    };
    let key = typed_key(row);
    match action {
        Action::Recheck => vec![
            Effect::Send(Command::RecheckDivergence {
                check: row.check.clone(),
                key: key.clone(),
            }),
            Effect::Toast(format!("rechecking {} key {key}", row.check)),
        ],
        Action::Acknowledge => vec![Effect::Prompt(Prompt {
            title: format!("Acknowledge divergence {} / {key}", row.check),
            lines: vec![
                format!("{}: {}", row.kind, row.columns.join(", ")),
                "It stops counting as open; the note is audited.".into(),
            ],
            dangerous: false,
            one_way: false,
            input: Some("note".into()),
            must_equal: None,
            required: true,
            then: Then::Acknowledge {
                check: row.check.clone(),
                key: row.key_text.clone(),
            },
        })],
        Action::CopyKey => vec![
            Effect::Copy(key.clone()),
            Effect::Toast(format!("copied key {key}")),
        ],
        Action::ShowSql => {
            v.detail = true;
            v.sql = !v.sql;
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// The check after `current` in the cycle all → each check → all.
pub fn next_check(checks: &[String], current: Option<&str>) -> Option<String> {
    match current {
        None => checks.first().cloned(),
        Some(c) => {
            let i = checks.iter().position(|x| x == c);
            i.and_then(|i| checks.get(i + 1)).cloned()
        }
    }
}

/// Apply the text typed at the filter prompt (a key or column substring; empty clears it).
pub fn set_filter(state: &mut AppState, text: &str) -> Vec<Effect> {
    let v = &mut state.divergences;
    let text = text.trim();
    if v.text == text {
        return Vec::new();
    }
    v.text = text.to_string();
    v.restart();
    vec![Effect::Load(Request::Divergences(v.query()))]
}

/// The fetches this screen needs now: the page on show when missing or stale, and the counts.
pub fn due(state: &AppState) -> Vec<Request> {
    let v = &state.divergences;
    let mut out = Vec::new();
    let want = v.query();
    if v.loaded.as_ref() != Some(&want) || state.now_us - v.loaded_at_us >= PAGE_REFRESH_US {
        out.push(Request::Divergences(want));
    }
    if v.counts_at_us
        .is_none_or(|at| state.now_us - at >= COUNTS_REFRESH_US)
    {
        out.push(Request::DivergenceCounts);
    }
    out
}

/// A fetched page arrived: show it if it still answers what the view wants (a page asked for
/// before the filters changed is dropped), keeping the selected row selected.
pub fn apply_page(
    state: &mut AppState,
    query: PageQuery,
    rows: Result<Vec<DivergenceRecord>, String>,
) {
    let now = state.now_us;
    let v = &mut state.divergences;
    if query != v.query() {
        return;
    }
    v.loaded = Some(query);
    v.loaded_at_us = now;
    match rows {
        Err(e) => v.error = Some(e),
        Ok(mut rows) => {
            v.error = None;
            v.more = rows.len() > DIVERGENCE_PAGE;
            rows.truncate(DIVERGENCE_PAGE);
            let keep = v
                .rows
                .get(v.selected)
                .map(|r| (r.check.clone(), r.key_text.clone()));
            v.rows = rows;
            if v.select_last {
                v.selected = v.rows.len().saturating_sub(1);
                v.select_last = false;
            } else if let Some((c, k)) = keep {
                v.selected = v
                    .rows
                    .iter()
                    .position(|r| r.check == c && r.key_text == k)
                    .unwrap_or(v.selected);
            }
            v.selected = v.selected.min(v.rows.len().saturating_sub(1));
            if v.rows.is_empty() {
                v.detail = false;
                v.sql = false;
            }
        }
    }
}

/// Fetched counts per status arrived.
pub fn apply_counts(state: &mut AppState, counts: Result<Vec<(DivergenceStatus, u64)>, String>) {
    let v = &mut state.divergences;
    v.counts_at_us = Some(state.now_us);
    match counts {
        Ok(c) => v.counts = c,
        Err(e) => v.error = Some(e),
    }
}
