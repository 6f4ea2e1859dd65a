//! Numbers, durations and times as the screens print them: short, aligned, with units, and
//! relative to the state's clock (views never read the clock themselves).

/// `1234567` → `1,234,567`.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A rate of rows per second: `812/s`, `12.4k/s`, `1.2M/s`.
pub fn rate(per_sec: f64) -> String {
    let r = per_sec.max(0.0);
    if r >= 1e6 {
        format!("{:.1}M/s", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.1}k/s", r / 1e3)
    } else if r >= 10.0 {
        format!("{}/s", count(r.round() as u64))
    } else {
        format!("{r:.1}/s")
    }
}

/// Seconds as `42s`, `3m 20s`, `2h 05m`, `3d 04h`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() || s < 0.0 {
        return "–".into();
    }
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m {:02}s", s / 60, s % 60),
        3_600..86_400 => format!("{}h {:02}m", s / 3_600, (s % 3_600) / 60),
        _ => format!("{}d {:02}h", s / 86_400, (s % 86_400) / 3_600),
    }
}

/// Milliseconds with a sensible precision: `0.42 ms`, `12.3 ms`, `1.25 s`.
pub fn ms(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.2} ms")
    }
}

/// An optional millisecond figure; `–` when nothing was measured.
pub fn opt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), ms)
}

/// A fraction as a percentage, with enough digits to see small ones: `0.025%`, `1.20%`.
pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p.abs() < 0.1 {
        format!("{p:.3}%")
    } else if p.abs() < 10.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.1}%")
    }
}

/// How long before `now_us` something happened: `12s ago`, `3m 20s ago`.
pub fn ago(now_us: i64, at_us: i64) -> String {
    let d = (now_us - at_us) as f64 / 1e6;
    if d < 0.5 {
        "now".into()
    } else {
        format!("{} ago", secs(d))
    }
}

/// Wall-clock time of day, UTC: `14:03:27`.
pub fn clock(at_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(at_us)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_else(|| "--:--:--".into())
}

/// Date and time, UTC, to the second: `2026-11-21 14:03:27`.
pub fn stamp(at_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(at_us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| format!("{at_us} µs"))
}

/// `text` cut to `width` characters, with `…` when cut.
pub fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(width - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_read_well() {
        assert_eq!(count(0), "0");
        assert_eq!(count(1_234_567), "1,234,567");
        assert_eq!(count(100), "100");
        assert_eq!(rate(12_400.0), "12.4k/s");
        assert_eq!(rate(3.25), "3.2/s");
        assert_eq!(secs(200.0), "3m 20s");
        assert_eq!(secs(7_500.0), "2h 05m");
        assert_eq!(percent(0.0012), "0.12%");
        assert_eq!(percent(0.00025), "0.025%");
        assert_eq!(ago(10_000_000, 7_000_000), "3s ago");
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
    }
}
