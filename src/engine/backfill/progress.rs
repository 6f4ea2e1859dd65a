//! Progress that tells the truth: rows done against a total that is exact or marked as an
//! estimate (and grows when the estimate was low), a smoothed rate, an ETA as a range, chunk
//! latency and size, retries, throttled time, and why the step is paused.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Where a step is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    #[default]
    Pending,
    Running,
    Paused,
    Complete,
    Failed,
    Cancelled,
}

/// One step's progress, as the snapshot shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct StepProgress {
    pub step: String,
    pub state: StepState,
    pub rows_done: u64,
    /// Never below `rows_done`.
    pub total_rows: u64,
    /// False when `total_rows` is the engine's estimate.
    pub total_exact: bool,
    /// Rows per second, smoothed (exponentially weighted over chunks, waits included).
    pub rows_per_second: f64,
    /// Seconds left at the fastest and slowest recent rate.
    pub eta_secs: Option<(f64, f64)>,
    pub last_chunk_ms: f64,
    pub chunk_rows: u64,
    pub chunks: u64,
    pub retries: u64,
    pub throttled_ms: u64,
    /// The ceiling in force (`None`: none).
    pub max_rows_per_second: Option<f64>,
    /// Every condition holding the step, by name (an operator's pause included).
    pub paused_by: Vec<String>,
    /// The key of the last row written and the step's high-water mark, for display.
    pub last_key: Option<String>,
    pub high_water: Option<String>,
    pub error: Option<String>,
}

/// The backfill as a whole: one entry per step of the file, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BackfillProgress {
    pub running: bool,
    pub steps: Vec<StepProgress>,
    /// The operator's (or the automatic rollback's) pause reason, while it holds, whether or
    /// not the backfill is running.
    #[serde(default)]
    pub paused: Option<String>,
}

impl StepProgress {
    /// Fraction done in 0..=1.
    pub fn fraction(&self) -> f64 {
        if self.total_rows == 0 {
            return if self.state == StepState::Complete {
                1.0
            } else {
                0.0
            };
        }
        (self.rows_done as f64 / self.total_rows as f64).min(1.0)
    }

    /// Count rows; the total grows rather than show more than 100%.
    pub fn add_rows(&mut self, rows: u64) {
        self.rows_done += rows;
        if self.rows_done > self.total_rows {
            self.total_rows = self.rows_done;
        }
    }
}

/// The smoothed rate and the recent spread that makes the ETA a range.
#[derive(Debug, Default)]
pub struct RateMeter {
    ewma: Option<f64>,
    recent: VecDeque<f64>,
}

const ALPHA: f64 = 0.3;
const WINDOW: usize = 10;

impl RateMeter {
    /// Record `rows` done over `secs` of wall time (waits included).
    pub fn record(&mut self, rows: u64, secs: f64) {
        if secs <= 0.0 {
            return;
        }
        let r = rows as f64 / secs;
        self.ewma = Some(match self.ewma {
            Some(e) => ALPHA * r + (1.0 - ALPHA) * e,
            None => r,
        });
        self.recent.push_back(r);
        if self.recent.len() > WINDOW {
            self.recent.pop_front();
        }
    }

    pub fn rate(&self) -> f64 {
        self.ewma.unwrap_or(0.0)
    }

    /// Seconds for `remaining` rows at the fastest and the slowest recent rate.
    pub fn eta(&self, remaining: u64) -> Option<(f64, f64)> {
        let fast = self.recent.iter().cloned().fold(f64::NAN, f64::max);
        let slow = self.recent.iter().cloned().fold(f64::NAN, f64::min);
        if !(fast > 0.0 && slow > 0.0) {
            return None;
        }
        let rem = remaining as f64;
        Some((rem / fast, rem / slow))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_grows_instead_of_passing_100_percent() {
        let mut p = StepProgress {
            total_rows: 100,
            ..Default::default()
        };
        p.add_rows(80);
        assert_eq!(p.total_rows, 100);
        p.add_rows(50);
        assert_eq!((p.rows_done, p.total_rows), (130, 130));
        assert_eq!(p.fraction(), 1.0);
    }

    #[test]
    fn eta_is_a_range_from_the_recent_rates() {
        let mut m = RateMeter::default();
        assert_eq!(m.eta(100), None);
        m.record(100, 1.0);
        m.record(200, 1.0);
        let (lo, hi) = m.eta(1000).unwrap();
        assert_eq!((lo, hi), (5.0, 10.0));
        assert!(m.rate() > 100.0 && m.rate() < 200.0);
    }
}
