//! Numbers and times as the Markdown and HTML pages show them (the JSON keeps raw values).

pub use super::risks::percent;

/// `1,234,567`.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12.3 ms`, or `–` when not measured.
pub fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} ms"))
}

/// `1h 02m 03s`, `4m 05s`, `6.2s`.
pub fn duration(secs: f64) -> String {
    if !secs.is_finite() || secs < 0.0 {
        return "–".into();
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = secs.round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// `1,234 rows/s`.
pub fn rate(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| {
        format!("{} rows/s", count(v.round() as u64))
    })
}

/// `12.5 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

/// A gate as one short line: `✓ shadow divergence bound: 0.02% (≤ 0.10%)`.
pub fn gate(g: &crate::engine::phase::Gate) -> String {
    format!(
        "{} {}: {} ({})",
        if g.pass { "✓" } else { "✗" },
        g.name,
        g.measured.as_deref().unwrap_or("not measured"),
        g.threshold
    )
}

/// A JSON value as compact text (strings bare).
pub fn json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A check's 95% bound cell: over rows, and over pages beside it when the check counts pages
/// (the one its shadow gate reads).
pub fn bound_cell(c: &super::model::Check) -> String {
    let rows = percent(c.upper_bound_95);
    match &c.pages {
        Some(p) => format!(
            "{rows} (pages: {} of {} divergent, ≤ {})",
            count(p.divergent),
            count(p.compared),
            percent(p.upper_bound_95)
        ),
        None => rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(123), "123");
        assert_eq!(duration(6.25), "6.2s");
        assert_eq!(duration(3723.0), "1h 02m 03s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024 / 2), "1.5 MiB");
        assert_eq!(percent(0.00123), "0.1230%");
    }

    #[test]
    fn a_page_counting_check_is_judged_by_its_page_bound() {
        use super::super::model::{Check, CheckPages};
        let mut c = Check {
            check: "status".into(),
            compared: 20_000,
            divergent: 0,
            healed: 0,
            in_flight: 0,
            rate: 0.0,
            upper_bound_95: 0.00015,
            over_time: Vec::new(),
            full_diff: None,
            pages: None,
        };
        assert_eq!(bound_cell(&c), "0.0150%");
        assert_eq!(c.gating_bound(), (0.00015, 0, 20_000, "rows"));
        c.pages = Some(CheckPages {
            compared: 60,
            divergent: 0,
            upper_bound_95: 0.0487,
        });
        assert_eq!(
            bound_cell(&c),
            "0.0150% (pages: 0 of 60 divergent, ≤ 4.87%)"
        );
        assert_eq!(c.gating_bound(), (0.0487, 0, 60, "pages"));
    }
}
