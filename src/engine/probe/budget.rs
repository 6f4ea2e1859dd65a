//! A read path's budget, judged on measured figures: the shadow gate, the `read_new` stability
//! gate and the automatic rollback all use this one judgement.

use crate::config::{Budget, ReadPath};

use super::hist::SideStats;

/// A window with fewer answered probes than this per side is not judged: one slow probe among
/// three is noise, not a regression.
pub const MIN_PROBES: u64 = 20;

/// The error rate a path may have when its budget names none: a new path that fails is never
/// "within budget" just because nobody thought to write an error budget.
pub const DEFAULT_ERROR_RATE: f64 = 0.05;

/// A ratio breach also needs new to be this much slower in absolute terms: 0.6 ms against
/// 0.4 ms is 1.5× but only noise.
pub const RATIO_FLOOR_MS: f64 = 1.0;

/// The verdict on one path over one window.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Too few probes to judge (the message says how many).
    TooFew(String),
    Met(String),
    /// Each breached term, as a sentence.
    Breached(Vec<String>),
}

/// `new p95 / old p95`, when both are measured and old is not zero.
pub fn ratio(new: Option<f64>, old: Option<f64>) -> Option<f64> {
    match (new, old) {
        (Some(n), Some(o)) if o > 0.0 => Some(n / o),
        _ => None,
    }
}

/// The budget as a threshold text: `new p95 ≤ 20 ms, ≤ 1.25× old, errors ≤ 1%`.
pub fn threshold(b: &Budget) -> String {
    let mut parts = Vec::new();
    if let Some(p) = b.p95_ms {
        parts.push(format!("new p95 ≤ {p} ms"));
    }
    if let Some(r) = b.new_over_old_at_most {
        parts.push(format!("≤ {r}× old p95"));
    }
    match b.error_rate_at_most {
        Some(e) => parts.push(format!("errors ≤ {:.2}%", e * 100.0)),
        None => parts.push(format!(
            "errors ≤ {:.0}% (default)",
            DEFAULT_ERROR_RATE * 100.0
        )),
    }
    parts.join(", ")
}

/// Judge `path`'s budget on the new side's figures against the old side's.
pub fn judge(path: &ReadPath, old: &SideStats, new: &SideStats) -> Verdict {
    let b = &path.budget;
    let r = ratio(new.p95_ms, old.p95_ms);
    let measured = format!(
        "new p95 {}, old p95 {}, ratio {}, errors {} ({} / {} probes)",
        ms(new.p95_ms),
        ms(old.p95_ms),
        r.map_or("–".into(), |r| format!("{r:.2}×")),
        new.error_rate
            .map_or("–".into(), |e| format!("{:.2}%", e * 100.0)),
        new.count,
        old.count,
    );
    // Each term is judged only on enough figures: p95 and ratio on answered probes, the error
    // rate on attempts. A breach proven on enough figures counts even when another term cannot
    // be judged yet; passing needs every term judged.
    let enough = |n: u64| n >= MIN_PROBES;
    let new_attempts = new.count + new.errors + new.timeouts;
    let (p95_ok, ratio_ok) = (enough(new.count), enough(new.count) && enough(old.count));
    let errors_ok = enough(new_attempts);
    let needs_old = b.new_over_old_at_most.is_some();
    let judged = p95_ok && (!needs_old || ratio_ok);
    let mut breaches = Vec::new();
    if let (Some(max), Some(p95), true) = (b.p95_ms, new.p95_ms, p95_ok)
        && p95 > max
    {
        breaches.push(format!("`{}`: new p95 {p95:.1} ms > {max} ms", path.name));
    }
    if let (Some(max), Some(r), Some(n), Some(o), true) =
        (b.new_over_old_at_most, r, new.p95_ms, old.p95_ms, ratio_ok)
        && r > max
        && n - o >= RATIO_FLOOR_MS
    {
        breaches.push(format!("`{}`: new/old p95 {r:.2}× > {max}×", path.name));
    }
    let max_errors = b.error_rate_at_most.unwrap_or(DEFAULT_ERROR_RATE);
    if let (Some(e), true) = (new.error_rate, errors_ok)
        && e > max_errors
    {
        breaches.push(format!(
            "`{}`: new error rate {:.2}% > {:.2}%",
            path.name,
            e * 100.0,
            max_errors * 100.0
        ));
    }
    if !breaches.is_empty() {
        Verdict::Breached(breaches)
    } else if !judged {
        Verdict::TooFew(format!(
            "{measured}: fewer than {MIN_PROBES} answered probes per side"
        ))
    } else {
        Verdict::Met(measured)
    }
}

pub fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Budget, KeySource};

    fn path(budget: Budget) -> ReadPath {
        ReadPath {
            name: "p".into(),
            old_sql: String::new(),
            new_sql: String::new(),
            keys: KeySource::List(vec![]),
            per_second: 1.0,
            timeout_ms: 1,
            budget,
            at: Default::default(),
        }
    }

    fn side(count: u64, errors: u64, p95: f64) -> SideStats {
        let attempts = count + errors;
        SideStats {
            count,
            errors,
            error_rate: (attempts > 0).then(|| errors as f64 / attempts as f64),
            p95_ms: (count > 0).then_some(p95),
            ..SideStats::default()
        }
    }

    #[test]
    fn breaches_count_as_soon_as_proven_passing_needs_every_term() {
        let p = path(Budget {
            p95_ms: Some(20.0),
            new_over_old_at_most: Some(1.25),
            error_rate_at_most: None,
        });
        // New is slow on plenty of probes: breached even with no old figures yet.
        assert!(matches!(
            judge(&p, &side(0, 0, 0.0), &side(50, 0, 40.0)),
            Verdict::Breached(_)
        ));
        // Fast new but no old yet: the ratio cannot be judged, so no pass.
        assert!(matches!(
            judge(&p, &side(3, 0, 1.0), &side(50, 0, 5.0)),
            Verdict::TooFew(_)
        ));
        // 1.5× but only 0.2 ms apart: noise, within budget.
        assert!(matches!(
            judge(&p, &side(50, 0, 0.4), &side(50, 0, 0.6)),
            Verdict::Met(_)
        ));
        // 1.5× and 5 ms apart: breached.
        assert!(matches!(
            judge(&p, &side(50, 0, 10.0), &side(50, 0, 15.0)),
            Verdict::Breached(_)
        ));
        // A new side that only fails breaches the default error budget.
        match judge(&p, &side(50, 0, 1.0), &side(0, 30, 0.0)) {
            Verdict::Breached(b) => assert!(b[0].contains("error rate"), "{b:?}"),
            other => panic!("{other:?}"),
        }
    }
}
