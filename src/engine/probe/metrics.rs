//! Metric snapshots: a probe interval's histograms as compact `migtui_metrics` rows, and rows
//! read back merged into one histogram per path and side (exact percentiles over any span,
//! which averaging stored p95s would not give).

use std::collections::BTreeMap;

use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};

use super::hist::Tally;
use crate::config::Side;
use crate::store::MetricRow;

/// Snapshots are written this often.
pub const EVERY: std::time::Duration = std::time::Duration::from_secs(10);

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    let t = text.as_bytes();
    if !t.len().is_multiple_of(2) {
        return None;
    }
    t.chunks(2)
        .map(|c| u8::from_str_radix(std::str::from_utf8(c).ok()?, 16).ok())
        .collect()
}

/// A metric row of one side's interval (at_us is stamped by the store).
pub fn row(path: &str, side: Side, secs: i64, tally: &Tally) -> MetricRow {
    let h = &tally.hist;
    let mut bytes = Vec::new();
    // An empty interval still gets a row (its counts matter); an unserializable histogram
    // (never seen) is stored empty rather than losing the counts.
    if V2DeflateSerializer::new().serialize(h, &mut bytes).is_err() {
        bytes.clear();
    }
    let answered = !h.is_empty();
    let q = |q: f64| answered.then(|| h.value_at_quantile(q) as i64);
    MetricRow {
        at_us: 0,
        path: path.to_string(),
        side: side.as_str().to_string(),
        secs,
        count: h.len() as i64,
        errors: tally.errors as i64,
        timeouts: tally.timeouts as i64,
        p50_us: q(0.50),
        p95_us: q(0.95),
        p99_us: q(0.99),
        max_us: answered.then(|| h.max() as i64),
        hist: hex(&bytes),
    }
}

/// Rows merged per (path, side).
pub fn merge(rows: &[MetricRow]) -> BTreeMap<(String, Side), Tally> {
    let mut out: BTreeMap<(String, Side), Tally> = BTreeMap::new();
    let mut de = Deserializer::new();
    for r in rows {
        let side = match r.side.as_str() {
            "old" => Side::Old,
            "new" => Side::New,
            _ => continue,
        };
        let mut t = Tally {
            errors: r.errors.max(0) as u64,
            timeouts: r.timeouts.max(0) as u64,
            ..Tally::default()
        };
        if let Some(bytes) = unhex(&r.hist).filter(|b| !b.is_empty())
            && let Ok(h) = de.deserialize::<u32, _>(&mut bytes.as_slice())
        {
            t.hist = h;
        }
        out.entry((r.path.clone(), side)).or_default().add(&t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::probe::hist::Outcome;
    use std::time::Duration;

    #[test]
    fn rows_round_trip_into_merged_histograms() {
        let mut a = Tally::default();
        let mut b = Tally::default();
        for ms in 1..=50 {
            a.record(Outcome::Ok(Duration::from_millis(ms)));
            b.record(Outcome::Ok(Duration::from_millis(ms + 50)));
        }
        b.record(Outcome::Timeout);
        let rows = vec![row("p", Side::New, 10, &a), row("p", Side::New, 10, &b)];
        assert_eq!(rows[0].count, 50);
        let merged = merge(&rows);
        let stats = merged[&("p".to_string(), Side::New)].stats();
        assert_eq!((stats.count, stats.timeouts), (100, 1));
        let p50 = stats.p50_ms.unwrap_or_default();
        assert!((49.0..=51.0).contains(&p50), "p50 {p50}");
        assert_eq!(unhex(&hex(&[0, 1, 254, 255])), Some(vec![0, 1, 254, 255]));
    }
}
