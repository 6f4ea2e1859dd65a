//! Inline SVG charts for the HTML report: no script, no external reference, readable printed
//! in black and white (dashes tell series apart as well as colour does). Sizes are in a fixed
//! viewBox that scales to the page width.

use std::fmt::Write;

use super::model::Time;

const W: f64 = 720.0;
const H: f64 = 220.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 34.0;

/// One line of a chart: `(time µs, value)` points, a CSS class for its colour, dashed or not.
pub struct Series<'a> {
    pub label: &'a str,
    pub class: &'a str,
    pub dashed: bool,
    pub points: Vec<(i64, f64)>,
}

/// A horizontal reference line (a budget, a gate's threshold).
pub struct Limit<'a> {
    pub label: &'a str,
    pub value: f64,
}

/// HTML-escape text for SVG and HTML alike.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escape text and show `code` spans (as the engine's messages write names) as `<code>`.
pub fn rich(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    let mut out = String::with_capacity(s.len());
    for (i, part) in parts.iter().enumerate() {
        let unmatched = i == parts.len() - 1 && parts.len().is_multiple_of(2);
        if i % 2 == 1 && !unmatched {
            out.push_str("<code>");
            out.push_str(&esc(part));
            out.push_str("</code>");
        } else {
            if unmatched {
                out.push('`');
            }
            out.push_str(&esc(part));
        }
    }
    out
}

/// A short axis label for a value.
fn tick(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').to_string()
    }
}

fn clock(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// A line chart over time with its legend; `None` when there is nothing to draw.
pub fn line_chart(title: &str, unit: &str, series: &[Series], limits: &[Limit]) -> Option<String> {
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x0, x1) = (xs.clone().min()?, xs.max()?);
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(limits.iter().map(|l| l.value))
        .filter(|v| v.is_finite());
    let y1 = ys.fold(0.0_f64, f64::max);
    let y1 = if y1 <= 0.0 { 1.0 } else { y1 * 1.1 };
    let span = (x1 - x0).max(1) as f64;
    let px = |x: i64| LEFT + (x - x0) as f64 / span * (W - LEFT - RIGHT);
    let py = |y: f64| TOP + (1.0 - y / y1) * (H - TOP - BOTTOM);

    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {H}\" role=\"img\" \
         aria-label=\"{t}\"><title>{t}</title>",
        t = esc(title)
    );
    // Axes and grid: four horizontal lines with their values.
    for i in 0..=4 {
        let v = y1 * f64::from(i) / 4.0;
        let y = py(v);
        let _ = write!(
            s,
            "<line class=\"grid\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            esc(&tick(v))
        );
    }
    let _ = write!(
        s,
        "<text class=\"axis\" x=\"4\" y=\"{:.1}\">{}</text>",
        TOP - 10.0,
        esc(unit)
    );
    for (x, anchor) in [(x0, "start"), (x1, "end")] {
        let _ = write!(
            s,
            "<text class=\"axis\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            px(x),
            H - BOTTOM + 16.0,
            clock(x)
        );
    }
    for l in limits.iter().filter(|l| l.value.is_finite()) {
        let y = py(l.value);
        let _ = write!(
            s,
            "<line class=\"limit\" x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"limit-label\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            W - RIGHT - 2.0,
            y - 4.0,
            esc(l.label)
        );
    }
    for ser in series.iter().filter(|s| !s.points.is_empty()) {
        let pts: Vec<String> = ser
            .points
            .iter()
            .filter(|p| p.1.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let dash = if ser.dashed { " dashed" } else { "" };
        if pts.len() == 1 {
            let (x, y) = pts[0].split_once(',').unwrap_or(("0", "0"));
            let _ = write!(
                s,
                "<circle class=\"dot {}\" cx=\"{x}\" cy=\"{y}\" r=\"3\"/>",
                esc(ser.class)
            );
        } else {
            let _ = write!(
                s,
                "<polyline class=\"line {}{dash}\" points=\"{}\"/>",
                esc(ser.class),
                pts.join(" ")
            );
        }
    }
    s.push_str("</svg><figcaption>");
    let _ = write!(s, "<strong>{}</strong>", esc(title));
    for ser in series {
        let dash = if ser.dashed { " dashed" } else { "" };
        let _ = write!(
            s,
            " <span class=\"key\"><svg viewBox=\"0 0 24 8\" class=\"swatch\"><line class=\"line {}{dash}\" x1=\"0\" y1=\"4\" x2=\"24\" y2=\"4\"/></svg> {}</span>",
            esc(ser.class),
            esc(ser.label)
        );
    }
    for l in limits {
        let _ = write!(
            s,
            " <span class=\"key\"><svg viewBox=\"0 0 24 8\" class=\"swatch\"><line class=\"limit\" x1=\"0\" y1=\"4\" x2=\"24\" y2=\"4\"/></svg> {}</span>",
            esc(l.label)
        );
    }
    s.push_str("</figcaption></figure>\n");
    Some(s)
}

/// The phase timeline: one band per phase held, from its start to the next change (the last
/// to `end`), labelled with the phase; overrides and rollbacks marked.
pub fn phase_timeline(
    spans: &[(Time, &str, &str)],
    end: Time,
    marks: &[(Time, &str)],
) -> Option<String> {
    let first = spans.first()?.0;
    let x0 = first.0;
    let span = (end.0 - x0).max(1) as f64;
    let h = 70.0;
    let px = |x: i64| LEFT + (x - x0) as f64 / span * (W - LEFT - RIGHT);
    let mut s = String::new();
    let _ = write!(
        s,
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {h}\" role=\"img\" \
         aria-label=\"Phase timeline\"><title>Phase timeline</title>"
    );
    for (i, (start, phase, class)) in spans.iter().enumerate() {
        let stop = spans.get(i + 1).map_or(end, |n| n.0);
        let (a, b) = (px(start.0), px(stop.0));
        let width = (b - a).max(1.0);
        let _ = write!(
            s,
            "<rect class=\"phase {}\" x=\"{a:.1}\" y=\"10\" width=\"{width:.1}\" height=\"26\">\
             <title>{}</title></rect>",
            esc(class),
            esc(&format!("{phase} from {}", start.human()))
        );
        if width > 40.0 {
            let _ = write!(
                s,
                "<text class=\"phase-label\" x=\"{:.1}\" y=\"27\">{}</text>",
                a + 3.0,
                esc(phase)
            );
        }
    }
    for (at, label) in marks {
        let x = px(at.0);
        let _ = write!(
            s,
            "<line class=\"mark\" x1=\"{x:.1}\" y1=\"4\" x2=\"{x:.1}\" y2=\"42\"/>\
             <text class=\"mark-label\" x=\"{x:.1}\" y=\"54\" text-anchor=\"middle\">{}</text>",
            esc(label)
        );
    }
    for (x, anchor) in [(x0, "start"), (end.0, "end")] {
        let _ = write!(
            s,
            "<text class=\"axis\" x=\"{:.1}\" y=\"66\" text-anchor=\"{anchor}\">{}</text>",
            px(x),
            clock(x)
        );
    }
    s.push_str("</svg></figure>\n");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_spans_become_code_and_the_rest_is_escaped() {
        assert_eq!(rich("`a<b>`: x"), "<code>a&lt;b&gt;</code>: x");
        assert_eq!(rich("no code"), "no code");
        assert_eq!(rich("odd ` tick"), "odd ` tick");
        assert_eq!(rich("`p` & `q`"), "<code>p</code> &amp; <code>q</code>");
    }
}
