//! The backfill screen: every step with its rows done against an exact or estimated total, its
//! rate, ETA range, chunk size and latency, retries, throttling and why it holds; and the rate
//! chart of the selected step. The controls (pause, rate, chunk size) are the app's keys.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, LineGauge, Paragraph, Wrap};

use crate::engine::backfill::{StepProgress, StepState};
use crate::tui::action::{Action, Effect};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;
use crate::tui::widgets::key_hints::key_for;
use crate::tui::widgets::time_chart::{self, Reference, Series};
use crate::tui::widgets::units::{clip, count, ms, rate, secs};

/// How far back the rate chart reaches (the history keeps ten minutes).
const CHART_SPAN_SECS: f64 = 600.0;

/// This screen's own view state: the step whose rate is charted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub selected: usize,
}

fn state_style(theme: &Theme, s: StepState) -> ratatui::style::Style {
    match s {
        StepState::Running => theme.accent,
        StepState::Complete => theme.ok,
        StepState::Paused | StepState::Cancelled => theme.warn,
        StepState::Failed => theme.danger,
        StepState::Pending => theme.muted,
    }
}

fn state_label(s: StepState) -> &'static str {
    match s {
        StepState::Pending => "pending",
        StepState::Running => "running",
        StepState::Paused => "paused",
        StepState::Complete => "complete",
        StepState::Failed => "failed",
        StepState::Cancelled => "cancelled",
    }
}

/// `1,204 / ~5,000 rows` (`~`: the engine's estimate, which may grow).
pub fn rows_label(p: &StepProgress) -> String {
    let about = if p.total_exact { "" } else { "~" };
    format!(
        "{} / {about}{} rows",
        count(p.rows_done),
        count(p.total_rows)
    )
}

/// `ETA 3m 20s – 4m 05s`, or why there is none.
pub fn eta_label(p: &StepProgress) -> String {
    match (p.state, p.eta_secs) {
        (StepState::Complete, _) => "done".into(),
        (_, Some((lo, hi))) if (hi - lo).abs() < 1.0 => format!("ETA {}", secs(lo)),
        (_, Some((lo, hi))) => format!("ETA {} – {}", secs(lo), secs(hi)),
        (StepState::Running, None) => "ETA measuring…".into(),
        _ => "ETA –".into(),
    }
}

/// Draw the steps with their figures and the selected step's rate chart.
pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let bf = &state.snapshot.backfill;
    let [head, rest] = Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(area);
    frame.render_widget(Paragraph::new(header(state, theme)), head);
    if bf.steps.is_empty() {
        let hint = key_for(state, Action::StartBackfill)
            .map(|k| format!(" (press {k} to start it)"))
            .unwrap_or_default();
        frame.render_widget(
            Paragraph::new(format!(
                "the backfill has not run yet{hint}; its steps appear here with their progress"
            ))
            .style(theme.muted)
            .wrap(Wrap { trim: true }),
            rest,
        );
        return;
    }
    // Three lines a step (the third: why it holds, its error, or where it is) when they fit
    // above a chart of at least six lines; two otherwise.
    let n = bf.steps.len() as u16;
    let per_step: u16 = if n * 3 + 1 + 6 <= rest.height { 3 } else { 2 };
    let steps_h = (n * per_step + 1).min(rest.height.saturating_sub(6).max(per_step + 1));
    let [list, chart] =
        Layout::vertical([Constraint::Length(steps_h), Constraint::Min(5)]).areas(rest);
    steps(state, theme, frame, list, per_step);
    rate_chart(state, theme, frame, chart);
}

/// `running` / `not running`, and the operator's pause with its reason.
fn header(state: &AppState, theme: &Theme) -> Line<'static> {
    let bf = &state.snapshot.backfill;
    let mut spans = vec![if bf.running {
        Span::styled("running", theme.ok)
    } else {
        Span::styled("not running", theme.muted)
    }];
    if let Some(why) = &bf.paused {
        spans.push(Span::styled(format!("  ⏸ paused: {why}"), theme.warn));
    }
    let done: u64 = bf.steps.iter().map(|s| s.rows_done).sum();
    let total: u64 = bf.steps.iter().map(|s| s.total_rows).sum();
    if total > 0 {
        spans.push(Span::styled(
            format!(
                "  {} of {} steps complete, {} / {} rows",
                bf.steps
                    .iter()
                    .filter(|s| s.state == StepState::Complete)
                    .count(),
                bf.steps.len(),
                count(done),
                count(total)
            ),
            theme.muted,
        ));
    }
    Line::from(spans)
}

fn steps(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect, per_step: u16) {
    let block = Block::default()
        .borders(Borders::TOP)
        .border_style(theme.border)
        .title(Span::styled(" steps ", theme.title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let steps = &state.snapshot.backfill.steps;
    let fit = (inner.height / per_step).max(1) as usize;
    let sel = state.backfill.selected.min(steps.len().saturating_sub(1));
    let first = sel.saturating_sub(fit - 1);
    let wide = inner.width >= 120;
    for (i, p) in steps.iter().enumerate().skip(first).take(fit) {
        let y = inner.y + ((i - first) as u16) * per_step;
        if y + per_step > inner.y + inner.height {
            break;
        }
        let row = Rect::new(inner.x, y, inner.width, per_step);
        let lines = Layout::vertical(vec![Constraint::Length(1); per_step as usize]).split(row);
        let marker = if i == sel { "▶ " } else { "  " };
        let name_w = if wide { 24 } else { 14 };
        let [name, gauge] =
            Layout::horizontal([Constraint::Length(name_w as u16 + 12), Constraint::Fill(1)])
                .areas(lines[0]);
        let name_style = if i == sel {
            theme.selection
        } else {
            theme.title
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(
                    format!("{marker}{:<name_w$}", clip(&p.step, name_w)),
                    name_style,
                ),
                Span::styled(
                    format!(" {:<9}", state_label(p.state)),
                    state_style(theme, p.state),
                ),
            ])),
            name,
        );
        frame.render_widget(
            LineGauge::default()
                .ratio(p.fraction())
                .label(format!("{:>5.1}%  {}", p.fraction() * 100.0, rows_label(p)))
                .filled_style(state_style(theme, p.state))
                .unfilled_style(theme.muted),
            gauge,
        );
        frame.render_widget(Paragraph::new(figures(p, theme, wide)), lines[1]);
        if per_step > 2 {
            frame.render_widget(Paragraph::new(holds(p, theme)), lines[2]);
        } else if !p.paused_by.is_empty() || p.error.is_some() {
            // Two lines a step: why it holds (or its error) matters more than the figures.
            let mut l = Line::raw(format!("    {}", rate(p.rows_per_second)));
            l.spans.extend(holds(p, theme).spans);
            frame.render_widget(Paragraph::new(l), lines[1]);
        }
    }
}

/// Rate, ETA, chunk size and latency, retries, throttled time.
fn figures(p: &StepProgress, theme: &Theme, wide: bool) -> Line<'static> {
    let ceiling = p
        .max_rows_per_second
        .map(|c| format!(" (max {})", rate(c)))
        .unwrap_or_default();
    let mut spans = vec![
        Span::raw(format!("    {}{ceiling}", rate(p.rows_per_second))),
        Span::styled(format!("  {}", eta_label(p)), theme.accent),
        Span::raw(format!(
            "  chunk {} rows / {}",
            count(p.chunk_rows),
            ms(p.last_chunk_ms)
        )),
    ];
    // Narrow: zero retries and no throttling go unsaid, to keep the line on screen.
    if wide || p.retries > 0 {
        let retry_style = if p.retries > 0 {
            theme.warn
        } else {
            theme.muted
        };
        spans.push(Span::styled(
            format!("  retries {}", p.retries),
            retry_style,
        ));
    }
    if wide || p.throttled_ms > 0 {
        spans.push(Span::styled(
            format!("  throttled {}", secs(p.throttled_ms as f64 / 1000.0)),
            if p.throttled_ms > 0 {
                theme.warn
            } else {
                theme.muted
            },
        ));
    }
    if wide {
        spans.push(Span::styled(
            format!("  chunks {}", count(p.chunks)),
            theme.muted,
        ));
    }
    Line::from(spans)
}

/// Why the step holds (each condition by name) or its error; where it is otherwise.
fn holds(p: &StepProgress, theme: &Theme) -> Line<'static> {
    if let Some(e) = &p.error {
        return Line::styled(format!("    ✗ {e}"), theme.danger);
    }
    if !p.paused_by.is_empty() {
        return Line::styled(
            format!("    ⏸ throttled by {}", p.paused_by.join(", ")),
            theme.warn,
        );
    }
    let at = match (&p.last_key, &p.high_water) {
        (Some(k), Some(h)) => format!("    at key {k} of {h}"),
        (Some(k), None) => format!("    at key {k}"),
        _ => String::new(),
    };
    Line::styled(at, theme.muted)
}

fn rate_chart(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let steps = &state.snapshot.backfill.steps;
    let Some(p) = steps.get(state.backfill.selected.min(steps.len().saturating_sub(1))) else {
        return;
    };
    let points = state
        .history
        .get(&format!("backfill:{}", p.step))
        .map(|s| s.points.iter().copied().collect())
        .unwrap_or_default();
    let reference = p.max_rows_per_second.map(|c| Reference {
        name: "ceiling".into(),
        value: c,
        style: theme.warn,
    });
    time_chart::render(
        frame,
        area,
        theme,
        &format!("{}: rows per second", p.step),
        state.now_us,
        CHART_SPAN_SECS,
        &[Series {
            name: "rows/s".into(),
            style: theme.accent,
            points,
        }],
        reference.as_ref(),
        rate,
        "no rate recorded yet — the chart fills once a second while this cockpit is open",
    );
}

/// Up/Down (and Top/Bottom) pick the step whose rate is charted.
pub fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    let n = state.snapshot.backfill.steps.len();
    let v = &mut state.backfill;
    match action {
        Action::Up => v.selected = v.selected.saturating_sub(1),
        Action::Down => v.selected = (v.selected + 1).min(n.saturating_sub(1)),
        Action::Top | Action::PageUp => v.selected = 0,
        Action::Bottom | Action::PageDown => v.selected = n.saturating_sub(1),
        _ => {}
    }
    Vec::new()
}
