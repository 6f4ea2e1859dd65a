//! Latency histograms of one side of one read path: HDR histograms in 10-second slots, merged
//! into the sliding windows (last minute, last 10 minutes), plus the whole session and the
//! interval since the last metric snapshot.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Slot length: the sliding windows move in steps of this.
pub const SLOT: Duration = Duration::from_secs(10);
/// The short window: the backfill's `pause_when` and the automatic rollback judge over this.
pub const SHORT_WINDOW: Duration = Duration::from_secs(60);
/// The long window.
pub const LONG_WINDOW: Duration = Duration::from_secs(600);
/// Latencies in microseconds, 1 µs to 1 hour, two significant digits (1% resolution): about
/// 13 KiB a histogram, so 61 slots per side stay small.
const HIGHEST_US: u64 = 3_600_000_000;
const SIGFIG: u8 = 2;

/// A fresh, empty latency histogram.
pub fn new_histogram() -> Histogram<u32> {
    // Proven invariant: constant bounds with low = 1, high ≥ 2·low and sigfig ≤ 5 are always
    // accepted (and the unit tests construct one).
    Histogram::new_with_bounds(1, HIGHEST_US, SIGFIG)
        .unwrap_or_else(|e| unreachable!("constant histogram bounds rejected: {e}"))
}

/// What one probe of one side ended with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Answered, in this time.
    Ok(Duration),
    /// Failed: an error is not a latency.
    Error,
    /// Gave up after the path's timeout.
    Timeout,
}

/// A histogram with its failure counts.
#[derive(Debug, Clone)]
pub struct Tally {
    pub hist: Histogram<u32>,
    pub errors: u64,
    pub timeouts: u64,
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            hist: new_histogram(),
            errors: 0,
            timeouts: 0,
        }
    }
}

impl Tally {
    pub fn record(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok(d) => self.hist.saturating_record((d.as_micros() as u64).max(1)),
            Outcome::Error => self.errors += 1,
            Outcome::Timeout => self.timeouts += 1,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        // Same bounds everywhere, so adding never fails; a histogram read from the store with
        // other bounds is added value by value instead.
        if self.hist.add(&other.hist).is_err() {
            for v in other.hist.iter_recorded() {
                let _ = self
                    .hist
                    .record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.errors += other.errors;
        self.timeouts += other.timeouts;
    }

    pub fn stats(&self) -> SideStats {
        let h = &self.hist;
        let count = h.len();
        let ms = |us: u64| (count > 0).then(|| us as f64 / 1000.0);
        let attempts = count + self.errors + self.timeouts;
        SideStats {
            count,
            errors: self.errors,
            timeouts: self.timeouts,
            error_rate: (attempts > 0)
                .then(|| (self.errors + self.timeouts) as f64 / attempts as f64),
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// The figures of one side over one window. `None` percentiles: nothing answered yet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SideStats {
    /// Probes that answered (the histogram's count).
    pub count: u64,
    pub errors: u64,
    pub timeouts: u64,
    /// (errors + timeouts) / attempts, or `None` before the first attempt.
    pub error_rate: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

/// One side's histograms: 10-second slots for the windows, the session, and the interval
/// since the last metric snapshot.
#[derive(Debug)]
pub struct Windowed {
    epoch: Instant,
    /// `(slot number, tally)`, oldest first, at most a long window's worth.
    slots: VecDeque<(u64, Tally)>,
    session: Tally,
    interval: Tally,
}

impl Windowed {
    pub fn new(epoch: Instant) -> Windowed {
        Windowed {
            epoch,
            slots: VecDeque::new(),
            session: Tally::default(),
            interval: Tally::default(),
        }
    }

    fn slot_of(&self, at: Instant) -> u64 {
        (at.saturating_duration_since(self.epoch).as_secs()) / SLOT.as_secs()
    }

    pub fn record(&mut self, at: Instant, outcome: Outcome) {
        let slot = self.slot_of(at);
        if self.slots.back().is_none_or(|(n, _)| *n < slot) {
            self.slots.push_back((slot, Tally::default()));
            let keep = LONG_WINDOW.as_secs() / SLOT.as_secs() + 1;
            while self.slots.front().is_some_and(|(n, _)| n + keep <= slot) {
                self.slots.pop_front();
            }
        }
        if let Some((_, t)) = self.slots.back_mut() {
            t.record(outcome);
        }
        self.session.record(outcome);
        self.interval.record(outcome);
    }

    /// The probes of the last `window` (in whole slots, the current one included).
    pub fn window(&self, now: Instant, window: Duration) -> Tally {
        let current = self.slot_of(now);
        let n = (window.as_secs() / SLOT.as_secs()).max(1);
        let mut out = Tally::default();
        for (slot, t) in self.slots.iter().rev() {
            if slot + n <= current {
                break;
            }
            out.add(t);
        }
        out
    }

    pub fn session(&self) -> &Tally {
        &self.session
    }

    /// The probes since the last call, for the metric snapshot; starts a new interval.
    pub fn take_interval(&mut self) -> Tally {
        std::mem::take(&mut self.interval)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_slide_and_failures_are_not_latencies() {
        let t0 = Instant::now();
        let mut w = Windowed::new(t0);
        for i in 0..100u64 {
            w.record(t0, Outcome::Ok(Duration::from_millis(1 + i % 10)));
        }
        w.record(t0, Outcome::Error);
        w.record(t0, Outcome::Timeout);
        let later = t0 + Duration::from_secs(65);
        w.record(later, Outcome::Ok(Duration::from_millis(100)));
        let short = w.window(later, SHORT_WINDOW).stats();
        assert_eq!((short.count, short.errors, short.timeouts), (1, 0, 0));
        let long = w.window(later, LONG_WINDOW).stats();
        assert_eq!((long.count, long.errors, long.timeouts), (101, 1, 1));
        let p50 = long.p50_ms.unwrap_or_default();
        assert!((4.9..=6.1).contains(&p50), "p50 {p50}");
        assert_eq!(w.session().stats().count, 101);
        assert_eq!(w.take_interval().stats().count, 101);
        assert_eq!(w.take_interval().stats().count, 0);
        let rate = long.error_rate.unwrap_or_default();
        assert!((rate - 2.0 / 103.0).abs() < 1e-9);
    }
}
