//! A rows-per-second ceiling as a token bucket: tokens refill at the rate up to one second's
//! worth, a chunk takes as many tokens as it has rows, and waits (counted as throttled time)
//! while the bucket is short. The rate can change at any moment.

use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TokenBucket {
    rate: Option<f64>,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    pub fn new(rate: Option<f64>) -> Self {
        TokenBucket {
            rate: rate.filter(|r| *r > 0.0),
            tokens: 0.0,
            at: Instant::now(),
        }
    }

    pub fn rate(&self) -> Option<f64> {
        self.rate
    }

    /// Change the ceiling (`None`: no ceiling). Tokens already earned are kept, up to a second.
    pub fn set_rate(&mut self, rate: Option<f64>, now: Instant) {
        self.refill(now);
        self.rate = rate.filter(|r| *r > 0.0);
        if let Some(r) = self.rate {
            self.tokens = self.tokens.min(r);
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(r) = self.rate {
            let dt = now.saturating_duration_since(self.at).as_secs_f64();
            self.tokens = (self.tokens + dt * r).min(r.max(1.0));
        }
        self.at = now;
    }

    /// How long to wait before `rows` may go; takes the tokens (the bucket may go negative,
    /// so a chunk larger than a second's worth still passes, and pays for it afterwards).
    pub fn take(&mut self, rows: u64, now: Instant) -> Duration {
        self.refill(now);
        let Some(r) = self.rate else {
            return Duration::ZERO;
        };
        self.tokens -= rows as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / r)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_rate_never_waits() {
        let mut b = TokenBucket::new(None);
        assert_eq!(b.take(1_000_000, Instant::now()), Duration::ZERO);
    }

    #[test]
    fn waits_in_proportion_to_the_deficit() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(100.0));
        // An empty bucket: 50 rows at 100/s wait half a second.
        let w = b.take(50, t0);
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-6, "{w:?}");
        // One second later the debt is paid and 50 more tokens earned.
        let w = b.take(50, t0 + Duration::from_secs(1));
        assert!((w.as_secs_f64() - 0.0).abs() < 1e-6, "{w:?}");
        // The bucket holds at most one second's worth.
        let w = b.take(150, t0 + Duration::from_secs(10));
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn sustained_rate_matches_the_ceiling() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(1000.0));
        let mut now = t0;
        for _ in 0..100 {
            now += b.take(100, now);
        }
        // 10 000 rows at 1 000/s: about 10 s of (virtual) time.
        let secs = now.duration_since(t0).as_secs_f64();
        assert!((9.8..=10.1).contains(&secs), "{secs}");
    }

    #[test]
    fn lowering_the_rate_applies_at_once() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(Some(10_000.0));
        b.set_rate(Some(10.0), t0);
        let w = b.take(10, t0);
        assert!(w >= Duration::from_millis(999), "{w:?}");
    }
}
