//! The report's account of interruptions, from the evidence the state store keeps: the lease
//! expiries and takeovers in the audit log (a session that ended without releasing its lease is
//! found expired by the next one), the backfill's run records and its retried errors.

use crate::store::{AuditRecord, BackfillRun};

use super::model::{BackfillStep, ExpiredLease, Interruptions, Time};

/// Count what interrupted the migration. `audit` is the report's audit window, `runs` the
/// backfill runs since the same time, `steps` the report's backfill steps.
pub fn interruptions(
    audit: &[AuditRecord],
    runs: &[BackfillRun],
    steps: &[BackfillStep],
) -> Interruptions {
    let expired_leases: Vec<ExpiredLease> = audit
        .iter()
        .filter(|a| a.action == "lease.expired")
        .map(expired)
        .collect();
    Interruptions {
        sessions_not_released: expired_leases.len() as u64,
        expired_leases,
        takeovers: audit
            .iter()
            .filter(|a| a.action == "lease.takeover")
            .count() as u64,
        backfill_runs: runs.len() as u64,
        backfill_resumed_runs: runs.iter().filter(|r| r.resumed_after.is_some()).count() as u64,
        backfill_retries: steps.iter().map(|s| s.retries).sum(),
        backfill_failed_steps: steps.iter().filter(|s| s.status == "failed").count() as u64,
    }
}

impl Interruptions {
    /// The counts as labelled lines, in the order every report format shows them.
    pub fn facts(&self) -> [(&'static str, u64); 6] {
        [
            (
                "Sessions that ended without releasing the lease",
                self.sessions_not_released,
            ),
            ("Lease takeovers", self.takeovers),
            ("Backfill runs", self.backfill_runs),
            ("… resumed from a checkpoint", self.backfill_resumed_runs),
            (
                "Transient errors retried by the backfill",
                self.backfill_retries,
            ),
            ("Backfill steps failed", self.backfill_failed_steps),
        ]
    }
}

fn expired(a: &AuditRecord) -> ExpiredLease {
    let prev = &a.params["previous"];
    let who = |v: &serde_json::Value| match (v["user"].as_str(), v["host"].as_str()) {
        (Some(u), Some(h)) => format!("{u}@{h}"),
        _ => "unknown".to_string(),
    };
    ExpiredLease {
        at: Time(a.at_us),
        holder: who(prev),
        pid: prev["pid"].as_i64(),
        idle_ms: a.params["idle_ms"].as_i64(),
        taken_by: format!("{}@{}", a.user, a.host),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(id: i64, action: &str, params: serde_json::Value) -> AuditRecord {
        AuditRecord {
            id,
            at_us: id * 1_000_000,
            user: "ops".into(),
            host: "laptop".into(),
            action: action.into(),
            params,
            outcome: "ok".into(),
        }
    }

    #[test]
    fn counts_each_expired_lease_resumed_run_and_retry() {
        let audit = vec![
            line(1, "lease.acquire", json!({})),
            line(
                2,
                "lease.expired",
                json!({"previous": {"id": "a", "user": "ops", "host": "box", "pid": 41}, "idle_ms": 2300}),
            ),
            line(3, "lease.release", json!({})),
            line(
                4,
                "lease.expired",
                json!({"previous": {"id": "b", "user": "ops", "host": "box", "pid": 42}}),
            ),
            line(5, "lease.takeover", json!({"reason": "handover"})),
        ];
        let run = |after: Option<&str>| BackfillRun {
            step: "s".into(),
            at_us: 0,
            pid: 1,
            resumed_after: after.map(str::to_string),
            rows_before: 0,
        };
        let runs = vec![run(None), run(Some("id=100")), run(Some("id=300"))];
        let i = interruptions(&audit, &runs, &[]);
        assert_eq!(i.sessions_not_released, 2);
        assert_eq!(i.expired_leases[0].pid, Some(41));
        assert_eq!(i.expired_leases[0].idle_ms, Some(2300));
        assert_eq!(i.expired_leases[1].holder, "ops@box");
        assert_eq!(i.takeovers, 1);
        assert_eq!((i.backfill_runs, i.backfill_resumed_runs), (3, 2));
    }
}
