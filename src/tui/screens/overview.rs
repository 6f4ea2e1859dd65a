//! The overview: where the migration is and whether it is healthy, at a glance. The phase
//! stepper, the gates of the next phase, the backfill gauges, the divergence summary, p95
//! latency old vs new against the budget, the read flag, the lease and the latest events.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Sparkline, SparklineBar};

use crate::engine::backfill::StepState;
use crate::engine::session::LeaseState;
use crate::tui::action::{Action, Effect};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;
use crate::tui::widgets::units;

/// This screen's own view state (selection, scroll, filter).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {}

pub fn render(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let s = &state.snapshot;
    let gates_h = s.gates.len().max(1) as u16 + 2;
    let steps_h = (s.backfill.steps.len().max(1) * 2) as u16 + 2;
    let top_h = gates_h.max(steps_h).min(area.height / 3);
    let div_h = (s.verify.len().max(1) * 3) as u16 + 2;
    let lat_h = (s.latency.len().max(1) * 3) as u16 + 2;
    let mid_h = div_h.max(lat_h).min(area.height * 2 / 5);
    let [stepper, top, mid, status, events] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(top_h),
        Constraint::Length(mid_h),
        Constraint::Length(1),
        Constraint::Fill(1),
    ])
    .areas(area);
    frame.render_widget(
        Paragraph::new(stepper_line(state, theme, area.width as usize)),
        stepper,
    );
    let [gates_area, backfill_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(top);
    render_gates(state, theme, frame, gates_area);
    render_backfill(state, theme, frame, backfill_area);
    let [div_area, lat_area] =
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(mid);
    render_divergence(state, theme, frame, div_area);
    render_latency(state, theme, frame, lat_area);
    frame.render_widget(Paragraph::new(status_line(state, theme)), status);
    render_events(state, theme, frame, events);
}

pub fn on_action(_state: &mut AppState, _action: Action) -> Vec<Effect> {
    Vec::new()
}

fn block<'a>(title: String, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border)
        .title(Span::styled(format!(" {title} "), theme.title))
}

/// `✓ plan › ✓ expand › ▶ backfill › shadow …`, compacted when it does not fit.
fn stepper_line<'a>(state: &AppState, theme: &Theme, width: usize) -> Line<'a> {
    let s = &state.snapshot;
    let current = s.plan.iter().position(|p| *p == s.phase).unwrap_or(0);
    let part = |i: usize, compact: bool| -> Span<'a> {
        let p = s.plan[i];
        let door = if p.is_one_way_door() { "⚠" } else { "" };
        if i < current {
            let text = if compact {
                "✓".to_string()
            } else {
                format!("✓ {}", p.as_str())
            };
            Span::styled(text, theme.ok)
        } else if i == current {
            Span::styled(
                format!(" ▶ {} ", p.as_str()),
                theme
                    .accent
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            )
        } else if Some(p) == s.next {
            Span::styled(
                format!("{door}{}", p.as_str()),
                theme.accent.add_modifier(Modifier::BOLD),
            )
        } else {
            Span::styled(format!("{door}{}", p.as_str()), theme.muted)
        }
    };
    let sep = || Span::styled(" › ", theme.muted);
    let mut spans = vec![Span::raw(" ")];
    let full: Vec<Span> = (0..s.plan.len()).map(|i| part(i, false)).collect();
    let full_width: usize = 1 + full.iter().map(Span::width).sum::<usize>() + 3 * s.plan.len();
    if full_width <= width {
        for (i, p) in full.into_iter().enumerate() {
            if i > 0 {
                spans.push(sep());
            }
            spans.push(p);
        }
    } else {
        // Compact: the done ones counted, the current and next named, the rest counted.
        if current > 0 {
            spans.push(Span::styled(format!("✓ {current} done"), theme.ok));
            spans.push(sep());
        }
        spans.push(part(current, true));
        if current + 1 < s.plan.len() {
            spans.push(sep());
            spans.push(part(current + 1, true));
        }
        let rest = s.plan.len().saturating_sub(current + 2);
        if rest > 0 {
            spans.push(Span::styled(format!(" › {rest} more"), theme.muted));
        }
    }
    spans.push(Span::styled(
        format!("   {}", s.phase.summary()),
        theme.muted,
    ));
    Line::from(spans)
}

fn render_gates(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let s = &state.snapshot;
    let title = match s.next {
        Some(next) if next.is_one_way_door() => format!("Gates to {} (one-way)", next.as_str()),
        Some(next) => format!("Gates to {}", next.as_str()),
        None => "Gates: the migration is done".into(),
    };
    let inner_w = area.width.saturating_sub(2) as usize;
    let rest = |g: &crate::engine::phase::Gate| {
        format!(
            " {} · bar {}",
            g.measured.as_deref().unwrap_or("not measured"),
            g.threshold
        )
    };
    let rest_w = s
        .gates
        .iter()
        .map(|g| rest(g).chars().count())
        .max()
        .unwrap_or(0);
    let name_w = inner_w.saturating_sub(2 + rest_w).clamp(10, 32);
    let mut lines: Vec<Line> = Vec::new();
    if s.gates.is_empty() && s.next.is_some() {
        lines.push(Line::styled(
            "not measured yet (g measures them)",
            theme.muted,
        ));
    }
    for g in &s.gates {
        let (mark, style) = if g.pass {
            ("✓", theme.ok)
        } else {
            ("✗", theme.danger)
        };
        let mut text = rest(g);
        // Wide enough: say why a failing gate fails.
        if !g.pass && inner_w >= 70 && !g.explanation.is_empty() {
            text.push_str(&format!(" — {}", g.explanation));
        }
        lines.push(Line::from(vec![
            Span::styled(format!("{mark} "), style.add_modifier(Modifier::BOLD)),
            Span::styled(
                format!("{:<name_w$}", units::clip(&g.name, name_w)),
                theme.fg,
            ),
            Span::styled(
                units::clip(&text, inner_w.saturating_sub(name_w + 2)),
                if g.pass { theme.muted } else { theme.danger },
            ),
        ]));
    }
    frame.render_widget(Paragraph::new(lines).block(block(title, theme)), area);
}

fn render_backfill(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let b = &state.snapshot.backfill;
    let title = match (&b.paused, b.running) {
        (Some(why), _) => format!("Backfill · paused: {}", units::clip(why, 24)),
        (None, true) => "Backfill · running".into(),
        (None, false) => "Backfill".into(),
    };
    let inner_w = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    if b.steps.is_empty() {
        lines.push(Line::styled("not started (b starts it)", theme.muted));
    }
    let name_w = b
        .steps
        .iter()
        .map(|s| s.step.chars().count())
        .max()
        .unwrap_or(0)
        .min(18);
    for step in &b.steps {
        let pct = step.fraction() * 100.0;
        let tail = format!(" {pct:>5.1}%");
        let bar_w = inner_w.saturating_sub(name_w + 1 + tail.len()).max(4);
        let filled = ((step.fraction() * bar_w as f64).round() as usize).min(bar_w);
        let bar_style = match step.state {
            StepState::Complete => theme.ok,
            StepState::Failed => theme.danger,
            StepState::Paused => theme.warn,
            _ => theme.accent,
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:<name_w$} ", units::clip(&step.step, name_w)),
                theme.fg,
            ),
            Span::styled("█".repeat(filled), bar_style),
            Span::styled("░".repeat(bar_w - filled), theme.muted),
            Span::styled(tail, theme.fg),
        ]));
        let total = format!(
            "{}/{}{}",
            units::count(step.rows_done),
            units::count(step.total_rows),
            if step.total_exact { "" } else { "~" }
        );
        let detail = match step.state {
            StepState::Complete => format!("  {total} · complete"),
            StepState::Failed => format!(
                "  {total} · failed: {}",
                step.error.as_deref().unwrap_or("see the log")
            ),
            StepState::Pending => format!("  {total} · pending"),
            _ => {
                let eta = step.eta_secs.map_or_else(
                    || "ETA —".to_string(),
                    |(lo, hi)| format!("ETA {}–{}", units::secs(lo), units::secs(hi)),
                );
                let mut d = format!(
                    "  {total} · {} rows/s · {eta}",
                    units::count(step.rows_per_second.round() as u64)
                );
                if !step.paused_by.is_empty() {
                    d.push_str(&format!(" · held: {}", step.paused_by.join(", ")));
                }
                d
            }
        };
        let style = match step.state {
            StepState::Failed => theme.danger,
            _ if !step.paused_by.is_empty() => theme.warn,
            _ => theme.muted,
        };
        lines.push(Line::styled(units::clip(&detail, inner_w), style));
    }
    frame.render_widget(Paragraph::new(lines).block(block(title, theme)), area);
}

fn render_divergence(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let inner_w = area.width.saturating_sub(2) as usize;
    let mut lines: Vec<Line> = Vec::new();
    if state.snapshot.verify.is_empty() {
        lines.push(Line::styled("no comparison yet", theme.muted));
    }
    for v in &state.snapshot.verify {
        let n = &v.phase;
        let style = if n.divergent > 0 {
            theme.warn
        } else {
            theme.ok
        };
        lines.push(Line::from(vec![
            Span::styled(
                format!("{} ", v.check),
                theme.fg.add_modifier(Modifier::BOLD),
            ),
            Span::styled(format!("{} divergent", units::count(n.divergent)), style),
            Span::styled(
                format!(" of {} compared", units::count(n.compared)),
                theme.muted,
            ),
        ]));
        // A check that counts pages is gated on its page bound: show that one.
        let pages = n
            .pages
            .as_ref()
            .map(|p| {
                format!(
                    " · pages {} of {}, bound ≤ {}",
                    units::count(p.divergent),
                    units::count(p.compared),
                    units::percent(p.upper)
                )
            })
            .unwrap_or_default();
        let detail = format!(
            "  rate {} · 95% bound ≤ {}{pages}{}",
            units::percent(n.observed),
            units::percent(n.upper),
            v.last_error
                .as_deref()
                .map(|e| format!(" · error: {e}"))
                .unwrap_or_default()
        );
        lines.push(Line::styled(
            units::clip(&detail, inner_w),
            if v.last_error.is_some() {
                theme.danger
            } else {
                theme.muted
            },
        ));
        let r = &v.recent;
        let mut recent = format!(
            "  last 10 min: {} of {} · healed {}",
            units::count(r.divergent),
            units::count(r.compared),
            units::count(v.healed)
        );
        if let Some(full) = &v.full {
            recent.push_str(&format!(
                " · full diff {}/{} chunks, {} divergent",
                units::count(full.chunks_done),
                units::count(full.chunks_total),
                units::count(full.divergent)
            ));
        }
        lines.push(Line::styled(units::clip(&recent, inner_w), theme.muted));
    }
    frame.render_widget(
        Paragraph::new(lines).block(block("Divergence (since the phase began)".into(), theme)),
        area,
    );
}

fn render_latency(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let outer = block("Latency p95 · old vs new".into(), theme);
    let inner = outer.inner(area);
    frame.render_widget(outer, area);
    if state.snapshot.latency.is_empty() {
        frame.render_widget(
            Paragraph::new(Line::styled("no read path probed", theme.muted)),
            inner,
        );
        return;
    }
    let mut y = inner.y;
    for path in &state.snapshot.latency {
        if y + 3 > inner.bottom() {
            break;
        }
        let budget = state.context.p95_budget_ms.get(&path.path).copied();
        let verdict_style = if path.breached {
            theme.danger
        } else {
            theme.ok
        };
        let head = Line::from(vec![
            Span::styled(
                format!("{} ", units::clip(&path.path, inner.width as usize / 2)),
                theme.fg.add_modifier(Modifier::BOLD),
            ),
            Span::styled(if path.breached { "✗ " } else { "✓ " }, verdict_style),
            Span::styled(
                units::clip(
                    &budget.map_or_else(
                        || path.budget.clone(),
                        |b| format!("budget {}", units::ms(b)),
                    ),
                    inner.width as usize / 2,
                ),
                theme.muted,
            ),
        ]);
        frame.render_widget(
            Paragraph::new(head),
            Rect {
                y,
                height: 1,
                ..inner
            },
        );
        let window = path.windows.first();
        for (i, (side, style, value)) in [
            ("old", theme.old_path, window.and_then(|w| w.old.p95_ms)),
            ("new", theme.new_path, window.and_then(|w| w.new.p95_ms)),
        ]
        .into_iter()
        .enumerate()
        {
            let row = Rect {
                y: y + 1 + i as u16,
                height: 1,
                ..inner
            };
            let value_text = value.map_or_else(|| "—".to_string(), units::ms);
            let [label, spark, val] = Layout::horizontal([
                Constraint::Length(4),
                Constraint::Fill(1),
                Constraint::Length(10),
            ])
            .areas(row);
            frame.render_widget(Paragraph::new(Span::styled(side, style)), label);
            let series = state.history.get(&format!("p95:{}:{side}", path.path));
            let width = spark.width as usize;
            let points: Vec<f64> = series
                .map(|s| s.points.iter().map(|p| p.1).collect())
                .unwrap_or_default();
            let shown = &points[points.len().saturating_sub(width)..];
            let max = budget.unwrap_or_else(|| shown.iter().cloned().fold(1.0, f64::max));
            // Tenths of a millisecond; bars above the budget are full height and red.
            let bars: Vec<SparklineBar> = shown
                .iter()
                .map(|v| {
                    let bar = SparklineBar::from((v * 10.0).round() as u64);
                    if budget.is_some_and(|b| *v > b) {
                        bar.style(Some(theme.danger))
                    } else {
                        bar
                    }
                })
                .collect();
            frame.render_widget(
                Sparkline::default()
                    .data(bars)
                    .max((max * 10.0).round().max(1.0) as u64)
                    .style(style),
                spark,
            );
            let over = matches!((value, budget), (Some(v), Some(b)) if v > b);
            frame.render_widget(
                Paragraph::new(Span::styled(
                    format!("{value_text:>10}"),
                    if over { theme.danger } else { theme.fg },
                )),
                val,
            );
        }
        y += 3;
    }
}

fn status_line<'a>(state: &AppState, theme: &Theme) -> Line<'a> {
    let s = &state.snapshot;
    let mut spans = vec![Span::styled(" read flag ", theme.muted)];
    match &s.flag {
        None if !state.context.has_flag => spans.push(Span::styled("not configured", theme.muted)),
        None => spans.push(Span::styled("not read yet", theme.muted)),
        Some(f) => {
            let value = f
                .value
                .map_or_else(|| "unknown".to_string(), |v| v.to_string());
            let style = match (f.error.is_some() || f.drift.is_some(), f.value) {
                (true, _) => theme.danger.add_modifier(Modifier::BOLD),
                (false, Some(v)) if v.reads_new() => theme.new_path.add_modifier(Modifier::BOLD),
                _ => theme.old_path.add_modifier(Modifier::BOLD),
            };
            spans.push(Span::styled(value, style));
            if let Some(d) = &f.drift {
                spans.push(Span::styled(format!(" (drift: {d})"), theme.danger));
            } else if let Some(e) = &f.error {
                spans.push(Span::styled(format!(" ({e})"), theme.danger));
            }
        }
    }
    spans.push(Span::styled("  ·  lease ", theme.muted));
    let (text, style): (String, Style) = match &s.lease {
        LeaseState::Driving { lease } => (
            format!("you drive since {}", units::clock(lease.acquired_us)),
            theme.ok,
        ),
        LeaseState::Observing { lease } => (
            format!("{} since {}", lease.holder, units::clock(lease.acquired_us)),
            theme.warn,
        ),
        LeaseState::Expired { lease } => (format!("expired: {}", lease.holder), theme.warn),
        LeaseState::Free => ("free".into(), theme.warn),
        LeaseState::Unknown { .. } => ("unknown".into(), theme.danger),
    };
    spans.push(Span::styled(text, style));
    Line::from(spans)
}

fn render_events(state: &AppState, theme: &Theme, frame: &mut Frame, area: Rect) {
    let outer = block("Latest events".into(), theme);
    let inner = outer.inner(area);
    let n = inner.height as usize;
    let width = inner.width as usize;
    let lines: Vec<Line> = state
        .log
        .iter()
        .rev()
        .take(n)
        .map(|e| {
            let who = e
                .who
                .as_deref()
                .map(|w| format!("{w} "))
                .unwrap_or_default();
            let text = units::clip(
                &format!("{who}{}", e.text.replace('\n', " ")),
                width.saturating_sub(9),
            );
            Line::from(vec![
                Span::styled(format!("{} ", units::clock(e.at_us)), theme.muted),
                Span::styled(text, theme.level(e.level)),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(outer), area);
}
