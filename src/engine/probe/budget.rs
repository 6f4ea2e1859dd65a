//! A read path's budget, judged on measured figures: the shadow gate, the `read_new` stability
//! gate and the automatic rollback all use this one judgement.

use crate::config::{Budget, ReadPath};

use super::hist::SideStats;

/// A window with fewer answered probes than this per side is not judged: one slow probe among
/// three is noise, not a regression.
pub const MIN_PROBES: u64 = 20;

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
    if let Some(e) = b.error_rate_at_most {
        parts.push(format!("errors ≤ {:.2}%", e * 100.0));
    }
    if parts.is_empty() {
        "no budget".into()
    } else {
        parts.join(", ")
    }
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
    let needs_old = b.new_over_old_at_most.is_some();
    if new.count < MIN_PROBES || (needs_old && old.count < MIN_PROBES) {
        // A path whose new side only fails is breached, not "too few".
        let attempts = new.count + new.errors + new.timeouts;
        let failing = attempts >= MIN_PROBES
            && b.error_rate_at_most
                .is_some_and(|max| new.error_rate.unwrap_or(0.0) > max);
        if !failing {
            return Verdict::TooFew(format!(
                "{measured}: fewer than {MIN_PROBES} answered probes per side"
            ));
        }
    }
    let mut breaches = Vec::new();
    if let (Some(max), Some(p95)) = (b.p95_ms, new.p95_ms)
        && p95 > max
    {
        breaches.push(format!("`{}`: new p95 {p95:.1} ms > {max} ms", path.name));
    }
    if let (Some(max), Some(r), Some(n), Some(o)) =
        (b.new_over_old_at_most, r, new.p95_ms, old.p95_ms)
        && r > max
        && n - o >= RATIO_FLOOR_MS
    {
        breaches.push(format!("`{}`: new/old p95 {r:.2}× > {max}×", path.name));
    }
    if let (Some(max), Some(e)) = (b.error_rate_at_most, new.error_rate)
        && e > max
    {
        breaches.push(format!(
            "`{}`: new error rate {:.2}% > {:.2}%",
            path.name,
            e * 100.0,
            max * 100.0
        ));
    }
    if breaches.is_empty() {
        Verdict::Met(measured)
    } else {
        Verdict::Breached(breaches)
    }
}

pub fn ms(v: Option<f64>) -> String {
    v.map_or("–".into(), |v| format!("{v:.1} ms"))
}
