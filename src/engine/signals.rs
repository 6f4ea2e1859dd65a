//! Live measurements that one task produces and others decide on: the latency probes publish
//! each read path's p95, the backfill publishes replica lag, and the backfill's `pause_when`
//! and the automatic rollback read them. One `watch` channel, newest value wins, never a queue.

use std::collections::BTreeMap;

use crate::config::Side;

/// The latest measurements. Absent entries mean "not measured (yet)", never zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Signals {
    /// p95 latency in milliseconds per (read path, side), over the probes' short window.
    pub path_p95_ms: BTreeMap<(String, Side), f64>,
    /// Replica lag in seconds per database name, where a replica exists.
    pub replica_lag_secs: BTreeMap<String, f64>,
    /// The 95% upper bound of the divergence rate per verify check (the verifier writes it;
    /// the automatic rollback in `read_new` compares it with `shadow_max_divergence_bound`).
    pub divergence_bound: BTreeMap<String, f64>,
}

impl Signals {
    pub fn path_p95(&self, path: &str, side: Side) -> Option<f64> {
        self.path_p95_ms.get(&(path.to_string(), side)).copied()
    }
}
