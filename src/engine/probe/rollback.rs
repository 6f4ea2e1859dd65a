//! The automatic rollback of `read_new`: when a read path's budget (judged over the last
//! minute) or a verify check's divergence bound stays breached for the configured time, flip
//! the read flag back, pause the backfill, and say why, loudly. One slow probe never does it:
//! a window needs [`super::budget::MIN_PROBES`] answers to be judged, and the breach must last.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The rollback as the cockpit shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RollbackStatus {
    /// `[phases] auto_rollback` is on and the phase is `read_new` with reads on new.
    pub armed: bool,
    /// What is breached right now (empty: nothing).
    pub breaching: Vec<String>,
    /// How long the current breach has lasted, in seconds, and how long it may.
    pub breach_secs: Option<u64>,
    pub after_secs: u64,
    /// The last automatic rollback of this session, if one fired.
    pub fired: Option<RollbackFired>,
}

/// An automatic rollback that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackFired {
    pub at_us: i64,
    pub reason: String,
    /// The flag write failed: reads may still be on new. Shown in red; act by hand.
    pub flag_error: Option<String>,
}

/// What the watch decided on one look.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    Quiet,
    /// Breached for this long, not yet long enough.
    Breaching(Duration),
    /// Breached long enough: roll back, for this reason.
    Fire(String),
}

/// Tracks how long a breach has lasted.
#[derive(Debug, Default)]
pub struct Watch {
    since: Option<Instant>,
}

impl Watch {
    /// Look at the breaches now; `after` is how long they must last before firing. A look
    /// without breaches ends the episode: the clock starts again at the next breach.
    pub fn observe(&mut self, now: Instant, breaches: &[String], after: Duration) -> Decision {
        if breaches.is_empty() {
            self.since = None;
            return Decision::Quiet;
        }
        let since = *self.since.get_or_insert(now);
        let lasted = now.saturating_duration_since(since);
        if lasted >= after {
            self.since = None;
            Decision::Fire(format!(
                "breached for {} s (limit {} s): {}",
                lasted.as_secs(),
                after.as_secs(),
                breaches.join("; ")
            ))
        } else {
            Decision::Breaching(lasted)
        }
    }

    pub fn reset(&mut self) {
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_only_on_a_sustained_breach() {
        let t0 = Instant::now();
        let after = Duration::from_secs(120);
        let mut w = Watch::default();
        let b = vec!["`p`: new p95 80 ms > 20 ms".to_string()];
        assert_eq!(
            w.observe(t0, &b, after),
            Decision::Breaching(Duration::ZERO)
        );
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(
            w.observe(t1, &b, after),
            Decision::Breaching(Duration::from_secs(60))
        );
        // One quiet look ends the episode.
        assert_eq!(w.observe(t1, &[], after), Decision::Quiet);
        let t2 = t0 + Duration::from_secs(130);
        assert_eq!(
            w.observe(t2, &b, after),
            Decision::Breaching(Duration::ZERO)
        );
        match w.observe(t2 + after, &b, after) {
            Decision::Fire(why) => assert!(why.contains("new p95 80 ms"), "{why}"),
            other => panic!("expected a rollback, got {other:?}"),
        }
    }
}
