//! The latency screen: per read path, old against new p95 over time with the budget as a line,
//! the current p50/p95/p99/errors per side and window, and the latency distribution of the
//! last hour from the histograms in `migtui_metrics` (decoded by the loader, off the render
//! path).

mod history;

use std::collections::BTreeMap;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Bar, BarChart, BarGroup, Block, Borders, Cell, Paragraph, Row, Table, Wrap,
};

pub use history::{BUCKET_LABELS, PathHistory, budget_ms, summarize};

use crate::engine::probe::PathLatency;
use crate::engine::probe::hist::SideStats;
use crate::tui::action::{Action, Effect};
use crate::tui::load::{METRICS_SPAN_US, Request};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;
use crate::tui::widgets::time_chart::{self, Reference, Series};
use crate::tui::widgets::units::{clip, count, ms, opt_ms, percent};

/// The histogram's buckets merged for a narrow box: indexes into `BUCKET_LABELS`, label.
const NARROW_BUCKETS: [(&[usize], &str); 6] = [
    (&[0], "1"),
    (&[1, 2], "5"),
    (&[3, 4], "20"),
    (&[5, 6], "100"),
    (&[7, 8], "500"),
    (&[9, 10], "more"),
];

/// Metric rows are written every 10 s; reading them again sooner shows nothing new.
const METRICS_REFRESH_US: i64 = 10_000_000;

/// This screen's own view state: the selected path and the metric history read for it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub selected: usize,
    /// Per path: p95 series and histograms over the last hour, from `migtui_metrics`.
    pub paths: BTreeMap<String, PathHistory>,
    /// When the history was read (the state's clock); `None`: never.
    pub loaded_at_us: Option<i64>,
    pub error: Option<String>,
}

/// The metric history, when never read or older than a metric interval.
pub fn due(state: &AppState) -> Vec<Request> {
    let v = &state.latency;
    if v.loaded_at_us
        .is_none_or(|at| state.now_us - at >= METRICS_REFRESH_US)
    {
        // On a 10 s grid: asked again while the last read is in flight, the request is the
        // same one, and the app does not start it twice.
        let since = state.now_us - METRICS_SPAN_US;
        vec![Request::Metrics {
            since_us: since - since.rem_euclid(METRICS_REFRESH_US),
        }]
    } else {
        Vec::new()
    }
}

/// A read of the metric history arrived (or failed: the error is shown).
pub fn apply_metrics(
    state: &mut AppState,
    _since_us: i64,
    paths: Result<BTreeMap<String, PathHistory>, String>,
) {
    let v = &mut state.latency;
    v.loaded_at_us = Some(state.now_us);
    match paths {
        Ok(p) => {
            v.paths = p;
            v.error = None;
        }
        Err(e) => v.error = Some(format!("the latency history could not be read: {e}")),
    }
}

/// Up/Down pick the read path on show.
pub fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    let n = state.snapshot.latency.len();
    let v = &mut state.latency;
    match action {
        Action::Up => v.selected = v.selected.saturating_sub(1),
        Action::Down => v.selected = (v.selected + 1).min(n.saturating_sub(1)),
        Action::Top | Action::PageUp => v.selected = 0,
        Action::Bottom | Action::PageDown => v.selected = n.saturating_sub(1),
        _ => {}
    }
    Vec::new()
}

/// Draw the paths, the selected one's figures, its p95 chart and its distribution.
pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let paths = &state.snapshot.latency;
    if paths.is_empty() {
        frame.render_widget(
            Paragraph::new(
                "no read paths are probed — add [[path]] sections to the migration file to \
                 compare old and new read latency",
            )
            .style(theme.muted)
            .wrap(Wrap { trim: true }),
            area,
        );
        return;
    }
    let sel = state.latency.selected.min(paths.len() - 1);
    let p = &paths[sel];
    let list_h = (paths.len() as u16).min((area.height / 6).max(1));
    let verdict_h = if area.width >= 120 { 1 } else { 2 };
    // A short screen shows the 1 and 10 minute windows, leaving the chart room to read.
    let windows = if area.height >= 26 {
        p.windows.len()
    } else {
        2
    }
    .min(p.windows.len());
    let [list, stats, verdict, bottom] = Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Length(2 + 2 * windows as u16),
        Constraint::Length(verdict_h),
        Constraint::Min(5),
    ])
    .areas(area);
    path_list(state, theme, frame, list, sel);
    stats_table(p, windows, theme, frame, stats);
    let mut spans = vec![
        Span::styled("budget ", theme.muted),
        Span::raw(p.budget.clone()),
        Span::raw("  "),
        Span::styled(
            p.verdict.clone(),
            if p.breached { theme.danger } else { theme.ok },
        ),
    ];
    if let Some(e) = p.problem.as_ref().or(state.latency.error.as_ref()) {
        spans.push(Span::styled(format!("  ({e})"), theme.warn));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).wrap(Wrap { trim: true }),
        verdict,
    );
    let split = if bottom.width >= 120 { 60 } else { 55 };
    let [chart, hist] = Layout::horizontal([
        Constraint::Percentage(split),
        Constraint::Percentage(100 - split),
    ])
    .areas(bottom);
    p95_chart(state, p, theme, frame, chart);
    histogram(state, p, theme, frame, hist);
}

/// One line per path: its verdict mark and the last minute's p95 old → new.
fn path_list(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect, sel: usize) {
    let paths = &state.snapshot.latency;
    let fit = area.height.max(1) as usize;
    let first = sel.saturating_sub(fit - 1);
    let lines: Vec<Line> = paths
        .iter()
        .enumerate()
        .skip(first)
        .take(fit)
        .map(|(i, p)| {
            let w = p.windows.first();
            let (mark, style) = if p.breached {
                ("✗", theme.danger)
            } else {
                ("✓", theme.ok)
            };
            let name = format!(
                "{} {:<20}",
                if i == sel { "▶" } else { " " },
                clip(&p.path, 20)
            );
            Line::from(vec![
                Span::styled(
                    name,
                    if i == sel {
                        theme.selection
                    } else {
                        theme.title
                    },
                ),
                Span::styled(format!(" {mark} "), style),
                Span::styled("p95 old ", theme.muted),
                Span::styled(opt_ms(w.and_then(|w| w.old.p95_ms)), theme.old_path),
                Span::styled("  new ", theme.muted),
                Span::styled(opt_ms(w.and_then(|w| w.new.p95_ms)), theme.new_path),
                Span::styled(
                    w.and_then(|w| w.ratio_p95)
                        .map(|r| format!("  ×{r:.2}"))
                        .unwrap_or_default(),
                    theme.muted,
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), area);
}

fn side_row<'a>(
    window: &str,
    side: &'a str,
    s: &SideStats,
    style: ratatui::style::Style,
) -> Row<'a> {
    let errs = s.errors + s.timeouts;
    Row::new(vec![
        Cell::from(window.to_string()),
        Cell::from(side).style(style),
        Cell::from(opt_ms(s.p50_ms)),
        Cell::from(opt_ms(s.p95_ms)),
        Cell::from(opt_ms(s.p99_ms)),
        Cell::from(count(s.count)),
        Cell::from(match s.error_rate {
            Some(r) if errs > 0 => format!("{} ({})", count(errs), percent(r)),
            _ => count(errs),
        }),
    ])
}

/// p50/p95/p99, probes and errors per side, for the first `windows` windows.
fn stats_table(p: &PathLatency, windows: usize, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut rows = Vec::new();
    for w in p.windows.iter().take(windows) {
        rows.push(side_row(&w.window, "old", &w.old, theme.old_path));
        rows.push(side_row("", "new", &w.new, theme.new_path));
    }
    let table = Table::new(
        rows,
        [
            Constraint::Length(8),
            Constraint::Length(4),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(10),
            Constraint::Length(9),
            Constraint::Fill(1),
        ],
    )
    .header(
        Row::new(["window", "side", "p50", "p95", "p99", "probes", "errors"]).style(theme.title),
    )
    .block(
        Block::default()
            .borders(Borders::TOP)
            .border_style(theme.border)
            .title(Span::styled(format!(" {} ", p.path), theme.title)),
    );
    frame.render_widget(table, area);
}

fn p95_chart(state: &AppState, p: &PathLatency, theme: &Theme, frame: &mut Frame, area: Rect) {
    let stored = state.latency.paths.get(&p.path).filter(|h| !h.is_empty());
    let (old, new, span, title) = match stored {
        Some(h) => (
            h.old_p95.clone(),
            h.new_p95.clone(),
            METRICS_SPAN_US as f64 / 1e6,
            "p95 per 10 s (migtui_metrics)",
        ),
        None => {
            let pts = |side: &str| {
                state
                    .history
                    .get(&format!("p95:{}:{side}", p.path))
                    .map(|s| s.points.iter().copied().collect())
                    .unwrap_or_default()
            };
            (
                pts("old"),
                pts("new"),
                600.0,
                "p95 over the last minute, each second",
            )
        }
    };
    let old_now = p.windows.first().and_then(|w| w.old.p95_ms);
    let reference = budget_ms(&p.budget, old_now).map(|b| Reference {
        name: "budget".into(),
        value: b,
        style: theme.danger,
    });
    time_chart::render(
        frame,
        area,
        theme,
        title,
        state.now_us,
        span,
        &[
            Series {
                name: "old".into(),
                style: theme.old_path,
                points: old,
            },
            Series {
                name: "new".into(),
                style: theme.new_path,
                points: new,
            },
        ],
        reference.as_ref(),
        ms,
        "no latency recorded yet — probes are written to migtui_metrics every 10 s",
    );
}

/// The share of answers per latency bucket, old and new bars side by side.
fn histogram(state: &AppState, p: &PathLatency, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Line::from(vec![
            Span::styled(" ms, last hour: ", theme.title),
            Span::styled("old", theme.old_path),
            Span::styled(" / ", theme.muted),
            Span::styled("new", theme.new_path),
            Span::styled(" share ", theme.title),
        ]));
    let Some(h) = state
        .latency
        .paths
        .get(&p.path)
        .filter(|h| h.answered() > 0)
    else {
        let text = if state.latency.loaded_at_us.is_none() {
            "reading migtui_metrics…"
        } else {
            "no histogram stored yet for this path"
        };
        frame.render_widget(
            Paragraph::new(text)
                .style(theme.muted)
                .wrap(Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    };
    // Two bars and a gap per bucket. Every bucket when the labels fit (two cells a bar);
    // in a narrow box, neighbouring buckets merged so the labels still read.
    let (old, new, labels): (Vec<u64>, Vec<u64>, Vec<&str>) = if area.width >= 2 + 11 * 5 {
        (
            h.old_hist.clone(),
            h.new_hist.clone(),
            BUCKET_LABELS.to_vec(),
        )
    } else {
        let merge = |c: &[u64]| -> Vec<u64> {
            NARROW_BUCKETS
                .iter()
                .map(|(ix, _)| ix.iter().map(|i| c.get(*i).copied().unwrap_or(0)).sum())
                .collect()
        };
        let labels = NARROW_BUCKETS.iter().map(|(_, l)| *l).collect();
        (merge(&h.old_hist), merge(&h.new_hist), labels)
    };
    // Shares (‰ of the side's answers), so sides with different probe counts compare.
    let share = |counts: &[u64], i: usize| -> u64 {
        let total: u64 = counts.iter().sum();
        if total == 0 {
            0
        } else {
            (counts[i] as f64 * 1000.0 / total as f64).round() as u64
        }
    };
    let groups_n = labels.len() as u16;
    let bar_w = (area.width.saturating_sub(2 + groups_n) / (2 * groups_n)).clamp(1, 4);
    let groups: Vec<BarGroup> = labels
        .iter()
        .enumerate()
        .map(|(i, label)| {
            // No value text: two numbers side by side in narrow bars read as one.
            let bar = |v: u64, style| Bar::default().value(v).text_value("").style(style);
            BarGroup::default().label(Line::from(*label)).bars(&[
                bar(share(&old, i), theme.old_path),
                bar(share(&new, i), theme.new_path),
            ])
        })
        .collect();
    let mut chart = BarChart::default()
        .block(block)
        .bar_width(bar_w)
        .bar_gap(0)
        .group_gap(1)
        .value_style(theme.muted)
        .label_style(theme.muted)
        .max(1000);
    for g in groups {
        chart = chart.data(g);
    }
    frame.render_widget(chart, area);
}
