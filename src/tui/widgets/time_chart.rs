//! A line chart over time, ending at the state's clock: several series, and optionally one
//! horizontal reference (a budget, a rate ceiling) drawn as a line of its own.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Axis, Block, Borders, Chart, Dataset, GraphType, LegendPosition, Paragraph,
};

use crate::tui::theme::Theme;

/// One series: `(µs since the epoch, value)` points, oldest first.
pub struct Series {
    pub name: String,
    pub style: Style,
    pub points: Vec<(i64, f64)>,
}

/// A horizontal line at `value` (the budget, the ceiling).
pub struct Reference {
    pub name: String,
    pub value: f64,
    pub style: Style,
}

/// Draw `series` over the last `span_secs` before `now_us` in a bordered box titled `title`;
/// `y_label` formats the axis values. With no point at all, the box says `empty`.
#[allow(clippy::too_many_arguments)]
pub fn render(
    frame: &mut Frame,
    area: Rect,
    theme: &Theme,
    title: &str,
    now_us: i64,
    span_secs: f64,
    series: &[Series],
    reference: Option<&Reference>,
    y_label: fn(f64) -> String,
    empty: &str,
) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(Span::styled(format!(" {title} "), theme.title));
    let to_xy = |p: &Vec<(i64, f64)>| -> Vec<(f64, f64)> {
        p.iter()
            .map(|(at, v)| ((*at - now_us) as f64 / 1e6, *v))
            .filter(|(x, _)| *x >= -span_secs)
            .collect()
    };
    let data: Vec<Vec<(f64, f64)>> = series.iter().map(|s| to_xy(&s.points)).collect();
    // Reach back only as far as the data does (at least a minute), so a young series is not
    // squeezed against the right edge.
    let oldest = data.iter().flatten().map(|p| -p.0).fold(0.0_f64, f64::max);
    let span_secs = span_secs.min((oldest / 60.0).ceil().max(1.0) * 60.0);
    if data.iter().all(Vec::is_empty) {
        frame.render_widget(
            Paragraph::new(Line::styled(empty.to_string(), theme.muted))
                .wrap(ratatui::widgets::Wrap { trim: true })
                .block(block),
            area,
        );
        return;
    }
    let mut top = data.iter().flatten().map(|p| p.1).fold(0.0_f64, f64::max);
    if let Some(r) = reference {
        top = top.max(r.value);
    }
    let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    let ref_line = reference.map(|r| vec![(-span_secs, r.value), (0.0, r.value)]);
    let mut sets: Vec<Dataset> = series
        .iter()
        .zip(&data)
        .map(|(s, d)| {
            Dataset::default()
                .name(s.name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(s.style)
                .data(d)
        })
        .collect();
    if let (Some(r), Some(line)) = (reference, ref_line.as_ref()) {
        sets.push(
            Dataset::default()
                .name(r.name.clone())
                .marker(Marker::Braille)
                .graph_type(GraphType::Line)
                .style(r.style)
                .data(line),
        );
    }
    let span_label = crate::tui::widgets::units::secs(span_secs);
    let chart = Chart::new(sets)
        .block(block)
        .legend_position(Some(LegendPosition::TopLeft))
        .x_axis(
            Axis::default()
                .style(theme.muted)
                .bounds([-span_secs, 0.0])
                .labels([Span::raw(format!("-{span_label}")), Span::raw("now")]),
        )
        .y_axis(
            Axis::default()
                .style(theme.muted)
                .bounds([0.0, top])
                .labels([Span::raw(y_label(0.0)), Span::raw(y_label(top))]),
        );
    frame.render_widget(chart, area);
}
