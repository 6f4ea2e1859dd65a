//! The latency history read from `migtui_metrics`: p95 series per side, and the interval
//! histograms merged (`probe::metrics::merge`, exact over the span) and counted into fixed
//! buckets for the bar chart. Built by the loader in a blocking task, never while drawing.

use std::collections::BTreeMap;

use crate::config::Side;
use crate::engine::probe::metrics::merge;
use crate::store::MetricRow;

/// Upper bounds of the histogram buckets, in µs; the last bucket is everything above.
const BUCKET_EDGES_US: [u64; 10] = [
    1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
];
/// The buckets' labels (upper bounds in ms, `1s+` above a second), short enough for one bar.
pub const BUCKET_LABELS: [&str; 11] = [
    "1", "2", "5", "10", "20", "50", "100", "200", "500", "1s", "1s+",
];

/// One path's history: p95 per metric row (ms) and answers per bucket, per side.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PathHistory {
    pub old_p95: Vec<(i64, f64)>,
    pub new_p95: Vec<(i64, f64)>,
    pub old_hist: Vec<u64>,
    pub new_hist: Vec<u64>,
    pub old_errors: u64,
    pub new_errors: u64,
}

impl PathHistory {
    /// No p95 point on either side.
    pub fn is_empty(&self) -> bool {
        self.old_p95.is_empty() && self.new_p95.is_empty()
    }

    /// Answers counted in the histograms, both sides.
    pub fn answered(&self) -> u64 {
        self.old_hist.iter().chain(&self.new_hist).sum()
    }
}

/// Metric rows (oldest first) as per-path histories.
pub fn summarize(rows: &[MetricRow]) -> BTreeMap<String, PathHistory> {
    let mut out: BTreeMap<String, PathHistory> = BTreeMap::new();
    for r in rows {
        let h = out.entry(r.path.clone()).or_default();
        let point = r.p95_us.map(|us| (r.at_us, us as f64 / 1000.0));
        match r.side.as_str() {
            "old" => h.old_p95.extend(point),
            "new" => h.new_p95.extend(point),
            _ => {}
        }
    }
    for ((path, side), tally) in merge(rows) {
        // Each recorded HDR bucket counted once, by its value (`count_between` would count a
        // bucket that straddles an edge on both sides).
        let mut buckets = vec![0_u64; BUCKET_LABELS.len()];
        for v in tally.hist.iter_recorded() {
            let us = v.value_iterated_to();
            let i = BUCKET_EDGES_US.partition_point(|edge| *edge <= us);
            buckets[i] += u64::from(v.count_at_value());
        }
        let h = out.entry(path).or_default();
        let errors = tally.errors + tally.timeouts;
        match side {
            Side::Old => (h.old_hist, h.old_errors) = (buckets, errors),
            Side::New => (h.new_hist, h.new_errors) = (buckets, errors),
        }
    }
    out
}

/// The p95 line to draw from the path's budget text (`probe::budget::threshold`): the
/// absolute `new p95 ≤ X ms`, or `≤ R× old p95` against the old side's p95 now; the lower of
/// the two when both are set.
pub fn budget_ms(budget: &str, old_p95_ms: Option<f64>) -> Option<f64> {
    let mut best: Option<f64> = None;
    for part in budget.split(", ") {
        let v = if let Some(rest) = part.strip_prefix("new p95 ≤ ") {
            rest.trim_end_matches(" ms").trim().parse::<f64>().ok()
        } else if let Some(rest) = part.strip_prefix("≤ ") {
            rest.strip_suffix("× old p95")
                .and_then(|r| r.trim().parse::<f64>().ok())
                .zip(old_p95_ms)
                .map(|(r, old)| r * old)
        } else {
            None
        };
        if let Some(v) = v {
            best = Some(best.map_or(v, |b| b.min(v)));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_line_from_the_threshold_text() {
        assert_eq!(
            budget_ms("new p95 ≤ 25 ms, errors ≤ 1% (default)", None),
            Some(25.0)
        );
        assert_eq!(
            budget_ms("≤ 1.5× old p95, errors ≤ 0.10%", Some(10.0)),
            Some(15.0)
        );
        assert_eq!(budget_ms("≤ 1.5× old p95, errors ≤ 0.10%", None), None);
        assert_eq!(
            budget_ms("new p95 ≤ 12 ms, ≤ 2× old p95, errors ≤ 1%", Some(10.0)),
            Some(12.0)
        );
        assert_eq!(budget_ms("errors ≤ 1% (default)", Some(3.0)), None);
    }
}
