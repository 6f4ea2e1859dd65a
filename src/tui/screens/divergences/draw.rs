//! Drawing the divergences screen: the per-check summary, the filter line, then the table or
//! the drill-down of the selected row.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Wrap};

use super::{View, diff_columns, row_sql, typed_key};
use crate::store::{DivergenceRecord, DivergenceStatus};
use crate::tui::action::Action;
use crate::tui::state::AppState;
use crate::tui::theme::Theme;
use crate::tui::widgets::key_hints::hints;
use crate::tui::widgets::units::{ago, clip, count, percent, stamp};

/// Draw the whole screen body.
pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let v = &state.divergences;
    let summary = summary_lines(state, theme, area.width);
    let summary_h = (summary.len() as u16).min(area.height / 4).max(1);
    let [top, filters, body] = Layout::vertical([
        Constraint::Length(summary_h),
        Constraint::Length(1),
        Constraint::Min(3),
    ])
    .areas(area);
    frame.render_widget(Paragraph::new(summary), top);
    frame.render_widget(Paragraph::new(filter_line(v, theme)), filters);
    match v.selected_row() {
        Some(row) if v.detail => detail(state, row, theme, frame, body),
        _ => table(state, theme, frame, body),
    }
}

fn status_style(theme: &Theme, s: DivergenceStatus) -> Style {
    match s {
        DivergenceStatus::Open => theme.danger,
        DivergenceStatus::InFlight => theme.warn,
        DivergenceStatus::Healed => theme.ok,
        DivergenceStatus::Acknowledged => theme.muted,
    }
}

fn kind_label(kind: &str) -> &str {
    match kind {
        "missing_in_new" => "missing new",
        "missing_in_old" => "missing old",
        other => other,
    }
}

/// One line per check: what was compared since the phase began and the 95% bound.
fn summary_lines(state: &AppState, theme: &Theme, width: u16) -> Vec<Line<'static>> {
    if state.snapshot.verify.is_empty() {
        return vec![Line::styled(
            "no verify checks report yet — sampling starts in the dual_write phase",
            theme.muted,
        )];
    }
    state
        .snapshot
        .verify
        .iter()
        .map(|s| {
            let b = &s.phase;
            let mark = if b.divergent > 0 {
                theme.warn
            } else {
                theme.ok
            };
            let mut spans = vec![
                Span::styled(format!("{:<14}", clip(&s.check, 14)), theme.accent),
                Span::raw(format!(" compared {:>9}", count(b.compared))),
                Span::styled(format!("  divergent {:>6}", count(b.divergent)), mark),
                Span::raw(format!("  rate {:>7}", percent(b.observed))),
                Span::raw(format!("  95% ≤ {:>7}", percent(b.upper))),
            ];
            if width >= 120 {
                spans.push(Span::styled(
                    format!(
                        "  healed {}  in flight {}",
                        count(s.healed),
                        count(s.in_flight)
                    ),
                    theme.muted,
                ));
                if let Some(f) = &s.full {
                    spans.push(Span::raw(format!(
                        "  full diff {}/{} chunks, {} divergent",
                        count(f.chunks_done),
                        count(f.chunks_total),
                        count(f.divergent)
                    )));
                }
            }
            if let Some(e) = &s.last_error {
                spans.push(Span::styled(format!("  ✗ {}", clip(e, 60)), theme.danger));
            }
            Line::from(spans)
        })
        .collect()
}

fn filter_line(v: &View, theme: &Theme) -> Line<'static> {
    let status = v.status.map_or("all", DivergenceStatus::as_str);
    let check = v.check.as_deref().unwrap_or("all").to_string();
    let text = format!("\"{}\"", v.text);
    let mut spans = vec![
        Span::styled("status ", theme.muted),
        Span::styled(status.to_string(), theme.accent),
        Span::styled("  check ", theme.muted),
        Span::styled(check, theme.accent),
    ];
    if !v.text.is_empty() {
        spans.push(Span::styled("  text ", theme.muted));
        spans.push(Span::styled(text, theme.accent));
    }
    spans.push(Span::styled(format!("  page {}", v.page()), theme.muted));
    if v.more {
        spans.push(Span::styled("+", theme.muted));
    }
    if !v.counts.is_empty() {
        spans.push(Span::raw("   "));
        for s in super::STATUS_CYCLE.iter().flatten() {
            let n = v.counts.iter().find(|c| c.0 == *s).map_or(0, |c| c.1);
            spans.push(Span::styled(
                format!("{} {}  ", s.as_str(), count(n)),
                if n > 0 {
                    status_style(theme, *s)
                } else {
                    theme.muted
                },
            ));
        }
    }
    Line::from(spans)
}

/// What the table area says when it has no rows.
fn empty_text(state: &AppState) -> String {
    let v = &state.divergences;
    if let Some(e) = &v.error {
        return format!("the divergences could not be read: {e}\nretrying every few seconds");
    }
    if v.loaded.is_none() {
        return "loading divergences…".into();
    }
    let filtered = v.status.is_some() || v.check.is_some() || !v.text.is_empty();
    if filtered {
        return "no divergence matches these filters (s: status, c: check, /: text)".into();
    }
    let compared: u64 = state.snapshot.verify.iter().map(|s| s.phase.compared).sum();
    if compared == 0 {
        "no divergences found yet — the verifier samples keys on both sides every few seconds \
         once dual writes run"
            .into()
    } else {
        format!(
            "no divergences found yet — {} rows compared, all equal; sampling continues",
            count(compared)
        )
    }
}

fn table(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let v = &state.divergences;
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" divergences ", theme.title));
    if v.rows.is_empty() {
        let style = if v.error.is_some() {
            theme.danger
        } else {
            theme.muted
        };
        frame.render_widget(
            Paragraph::new(empty_text(state))
                .style(style)
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let wide = area.width >= 120;
    let now = state.now_us;
    let mut header = vec!["status", "check", "kind", "key", "columns"];
    let mut widths = vec![
        Constraint::Length(12),
        Constraint::Length(12),
        Constraint::Length(11),
        Constraint::Length(if wide { 24 } else { 12 }),
        Constraint::Fill(1),
    ];
    if wide {
        header.push("first seen");
        widths.push(Constraint::Length(19));
    }
    header.extend(["last seen", "seen"]);
    widths.extend([
        Constraint::Length(if wide { 19 } else { 9 }),
        Constraint::Length(5),
    ]);
    let rows = v.rows.iter().map(|r| {
        let mut cells = vec![
            Cell::from(r.status.as_str()).style(status_style(theme, r.status)),
            Cell::from(r.check.clone()),
            Cell::from(kind_label(&r.kind).to_string()),
            Cell::from(typed_key(r)),
            Cell::from(r.columns.join(", ")),
        ];
        if wide {
            cells.push(Cell::from(stamp(r.first_seen_us)).style(theme.muted));
            cells.push(Cell::from(stamp(r.last_seen_us)).style(theme.muted));
        } else {
            cells.push(Cell::from(short_ago(now, r.last_seen_us)).style(theme.muted));
        }
        cells.push(Cell::from(format!("{:>5}", r.times_seen)));
        Row::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.title))
        .row_highlight_style(theme.selection)
        .highlight_symbol("▶ ")
        .block(block);
    let mut ts = TableState::default().with_selected(Some(v.selected));
    frame.render_stateful_widget(table, area, &mut ts);
}

/// `3m ago` without the seconds, to fit a narrow column.
fn short_ago(now: i64, at: i64) -> String {
    let s = ago(now, at);
    match s.split_once(' ') {
        Some((head, tail)) if tail != "ago" => format!("{head} ago"),
        _ => s,
    }
}

fn detail(state: &AppState, row: &DivergenceRecord, theme: &Theme, frame: &mut Frame, area: Rect) {
    let v = &state.divergences;
    let sql_h = if v.sql { area.height / 3 + 1 } else { 0 };
    let [head, cols, sql] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(sql_h),
    ])
    .areas(area);
    let mut first = vec![
        Span::styled(format!("{} ", row.check), theme.accent),
        Span::styled(format!("key {} ", typed_key(row)), theme.title),
        Span::raw(format!("{}  ", kind_label(&row.kind))),
        Span::styled(row.status.as_str(), status_style(theme, row.status)),
    ];
    if let Some(n) = &row.note {
        first.push(Span::styled(format!("  note: {n}"), theme.muted));
    }
    let second = Line::styled(
        format!(
            "first seen {}  last seen {} ({})  seen {}×  by {}",
            stamp(row.first_seen_us),
            stamp(row.last_seen_us),
            ago(state.now_us, row.last_seen_us),
            row.times_seen,
            row.source
        ),
        theme.muted,
    );
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(first),
            second,
            Line::styled(
                hints(
                    state,
                    &[
                        (Action::Recheck, "recheck"),
                        (Action::Acknowledge, "acknowledge"),
                        (Action::CopyKey, "copy key"),
                        (Action::ShowSql, "SQL"),
                        (Action::Back, "back"),
                    ],
                ),
                theme.muted,
            ),
        ]),
        head,
    );
    columns(row, theme, frame, cols);
    if v.sql {
        let text: Vec<Line> = match row_sql(&v.checks, row) {
            Some(lines) => lines
                .into_iter()
                .map(|l| {
                    if l.starts_with("--") {
                        Line::styled(l, theme.muted)
                    } else {
                        Line::raw(l)
                    }
                })
                .collect(),
            None => vec![Line::styled(
                format!(
                    "check `{}` is not in the config this cockpit was given",
                    row.check
                ),
                theme.warn,
            )],
        };
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: false }).block(
                Block::default()
                    .borders(Borders::TOP)
                    .border_style(theme.border)
                    .title(Span::styled(" SQL ", theme.title)),
            ),
            sql,
        );
    }
}

/// The column-by-column comparison: raw values, and a normalized line under any column whose
/// normalized values are not the raw ones (five columns side by side when wide).
fn columns(row: &DivergenceRecord, theme: &Theme, frame: &mut Frame, area: Rect) {
    let diffs = diff_columns(row);
    let wide = area.width >= 140;
    // A missing value: the side has no row at all, or its row lacks the column.
    let absent = |side: &Option<serde_json::Value>| {
        if side.is_none() {
            "(no row)"
        } else {
            "(no column)"
        }
    };
    let (old_none, new_none) = (absent(&row.old_raw), absent(&row.new_raw));
    let cell = |v: &Option<String>, differs: bool, style: Style, none: &str| {
        Cell::from(v.clone().unwrap_or_else(|| none.to_string())).style(if differs {
            style
        } else {
            theme.fg
        })
    };
    let old_cell = |v: &Option<String>, differs: bool| cell(v, differs, theme.diff_old, old_none);
    let new_cell = |v: &Option<String>, differs: bool| cell(v, differs, theme.diff_new, new_none);
    let mut rows = Vec::new();
    for d in &diffs {
        let mark = if d.differs { "≠ " } else { "  " };
        let name = Cell::from(format!("{mark}{}", d.column)).style(if d.differs {
            theme.title
        } else {
            theme.muted
        });
        if wide {
            rows.push(Row::new(vec![
                name,
                old_cell(&d.old_raw, d.differs),
                new_cell(&d.new_raw, d.differs),
                old_cell(&d.old_norm, d.differs),
                new_cell(&d.new_norm, d.differs),
            ]));
            continue;
        }
        rows.push(Row::new(vec![
            name,
            old_cell(&d.old_raw, d.differs),
            new_cell(&d.new_raw, d.differs),
        ]));
        if d.old_norm != d.old_raw || d.new_norm != d.new_raw {
            rows.push(Row::new(vec![
                Cell::from("   normalized").style(theme.muted),
                old_cell(&d.old_norm, d.differs),
                new_cell(&d.new_norm, d.differs),
            ]));
        }
    }
    let (header, widths) = if wide {
        (
            vec![
                "column",
                "old (raw)",
                "new (raw)",
                "old (normalized)",
                "new (normalized)",
            ],
            vec![
                Constraint::Length(22),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
                Constraint::Fill(1),
            ],
        )
    } else {
        (
            vec!["column", "old", "new"],
            vec![
                Constraint::Length(16),
                Constraint::Fill(1),
                Constraint::Fill(1),
            ],
        )
    };
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(theme.title))
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border)
                .title(Span::styled(" old ⇄ new ", theme.title)),
        );
    frame.render_widget(table, area);
}
