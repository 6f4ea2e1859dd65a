//! The report as one serializable value: everything the three formats show, gathered from the
//! state store and the migration file (`gather.rs`). Its JSON form is the documented, versioned
//! shape of `migtui report --format json` (docs/report.md); add fields, never rename them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::phase::{Gate, PhaseId};

/// Version of the JSON shape; bumped only on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

/// A time as RFC 3339 in UTC (`2026-11-21T08:00:00Z`), with its microseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time(pub i64);

impl Time {
    /// `2026-11-21 08:00:00 UTC`, for people.
    pub fn human(self) -> String {
        crate::store::format_us(self.0)
    }

    /// RFC 3339, for machines.
    pub fn rfc3339(self) -> String {
        chrono::DateTime::from_timestamp_micros(self.0)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        chrono::DateTime::parse_from_rfc3339(&s)
            .map(|t| Time(t.timestamp_micros()))
            .or_else(|_| s.parse().map(Time))
            .map_err(|_| serde::de::Error::custom(format!("not an RFC 3339 time: `{s}`")))
    }
}

/// The whole report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: u32,
    pub generated_at: Time,
    /// Only what happened from this time on (`None`: the whole migration).
    pub since: Option<Time>,
    /// Whether divergent values are shown (redacted columns stay masked).
    pub include_values: bool,
    pub migration: Migration,
    pub timeline: Vec<Transition>,
    pub audit: Vec<AuditLine>,
    pub backfill: Vec<BackfillStep>,
    pub verification: Vec<Check>,
    pub divergences: Divergences,
    pub latency: Vec<PathLatency>,
    pub flag_flips: Vec<FlagFlip>,
    pub backups: Vec<Backup>,
    pub contract: Vec<ContractStatement>,
    pub risks: Vec<Risk>,
    /// What interrupted the migration's work and how it recovered (added in the chaos work;
    /// absent from older reports, hence the default).
    #[serde(default)]
    pub interruptions: Interruptions,
}

/// Every interruption the state store kept evidence of: sessions that ended without releasing
/// the lease (killed, crashed, cut off), backfill runs that resumed from a checkpoint, and the
/// transient errors the backfill retried.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Interruptions {
    /// Sessions whose lease expired without a release and was taken over by the next one.
    pub sessions_not_released: u64,
    /// Those sessions, oldest first.
    pub expired_leases: Vec<ExpiredLease>,
    /// Leases taken from a live holder with a reason.
    pub takeovers: u64,
    /// Runs of backfill steps that had work left (fresh or resumed).
    pub backfill_runs: u64,
    /// Runs that resumed after the last committed chunk of an earlier, interrupted run.
    pub backfill_resumed_runs: u64,
    /// Transient errors (connection lost, statement cancelled, server restarting, lock table
    /// full, …) the backfill retried.
    pub backfill_retries: u64,
    /// Backfill steps whose last run failed (the error is in the step).
    pub backfill_failed_steps: u64,
}

/// A session that ended without releasing its lease, as found by the next one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExpiredLease {
    /// When the next session took it over.
    pub at: Time,
    /// `user@host`, and the process id, of the session that vanished.
    pub holder: String,
    pub pid: Option<i64>,
    /// How long it had been silent when taken over.
    pub idle_ms: Option<i64>,
    /// Who took it over.
    pub taken_by: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Migration {
    pub name: String,
    pub description: Option<String>,
    pub phase: PhaseId,
    pub phase_since: Time,
    /// The phases of this migration's plan, in order.
    pub plan: Vec<PhaseId>,
    pub state_database: String,
    pub databases: Vec<Database>,
}

/// A database without its credentials: engine and `host:port/database` (or the SQLite file).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Database {
    pub name: String,
    pub engine: String,
    pub target: String,
}

/// One phase change with the gates as measured at that moment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transition {
    pub at: Time,
    pub from: PhaseId,
    pub to: PhaseId,
    /// `advance`, `override` or `rollback`.
    pub kind: String,
    pub reason: Option<String>,
    /// `user@host`.
    pub operator: String,
    /// Entering `to` cannot be undone.
    pub one_way_door: bool,
    pub gates: Vec<Gate>,
    /// Names of the gates that failed (non-empty on an override).
    pub failing_gates: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditLine {
    pub id: i64,
    pub at: Time,
    pub user: String,
    pub host: String,
    pub action: String,
    pub params: serde_json::Value,
    pub outcome: String,
}

/// One backfill step as its checkpoint and samples recorded it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BackfillStep {
    pub step: String,
    /// `pending` (never started), `running`, `complete` or `failed`.
    pub status: String,
    pub rows: u64,
    pub chunks: u64,
    pub started: Option<Time>,
    pub updated: Option<Time>,
    /// From the start to the last update (seconds).
    pub duration_secs: Option<f64>,
    /// Rows over the duration.
    pub rows_per_second: Option<f64>,
    pub retries: u64,
    pub throttled_secs: f64,
    /// Runs that had work left, and how many of them resumed an interrupted one.
    #[serde(default)]
    pub runs: u64,
    #[serde(default)]
    pub resumed_runs: u64,
    pub error: Option<String>,
    /// Rows per second over time, one point per recorded sample.
    pub rate_over_time: Vec<RatePoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RatePoint {
    pub at: Time,
    pub rows_per_second: f64,
}

/// One verification check: totals with the 95% bound, the same per minute, and the full diff.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    pub check: String,
    pub compared: u64,
    pub divergent: u64,
    pub healed: u64,
    pub in_flight: u64,
    /// `divergent / compared` (0 when nothing was compared).
    pub rate: f64,
    /// One-sided 95% upper bound on the rate (1 when nothing was compared).
    pub upper_bound_95: f64,
    /// Per minute: that minute's counts, and the cumulative rate and bound up to it.
    pub over_time: Vec<CheckPoint>,
    pub full_diff: Option<FullDiff>,
    /// The same over heap pages, for a check that counts pages (`sample.unit = "pages"`):
    /// its shadow gate reads this bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<CheckPages>,
}

/// A page-counting check's numbers: pages compared, pages with a divergent row, the bound.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckPages {
    pub compared: u64,
    pub divergent: u64,
    pub upper_bound_95: f64,
}

impl Check {
    /// The bound the shadow gate reads: over pages when the check counts them.
    pub fn gating_bound(&self) -> (f64, u64, u64, &'static str) {
        match &self.pages {
            Some(p) => (p.upper_bound_95, p.divergent, p.compared, "pages"),
            None => (self.upper_bound_95, self.divergent, self.compared, "rows"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckPoint {
    pub at: Time,
    pub compared: u64,
    pub divergent: u64,
    pub cumulative_rate: f64,
    pub cumulative_upper_bound_95: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FullDiff {
    pub started: Time,
    pub rows_compared: u64,
    pub divergent: u64,
    pub finished: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Divergences {
    /// Divergent keys per status (`open`, `in_flight`, `healed`, `acknowledged`).
    pub by_status: BTreeMap<String, u64>,
    pub items: Vec<Divergence>,
    /// More divergences exist than the report lists ([`super::gather::MAX_DIVERGENCES`]).
    pub truncated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Divergence {
    pub check: String,
    pub key: String,
    /// `missing_in_new`, `missing_in_old` or `mismatch`.
    pub kind: String,
    pub columns: Vec<String>,
    pub status: String,
    pub source: String,
    pub first_seen: Time,
    pub last_seen: Time,
    pub times_seen: i64,
    pub note: Option<String>,
    /// Column → value on each side, only with `--include-values` (redacted columns `***`).
    pub old: Option<BTreeMap<String, String>>,
    pub new: Option<BTreeMap<String, String>>,
}

/// One read path: percentiles over the span, the budget, and the same per interval.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PathLatency {
    pub path: String,
    pub budget: Budget,
    pub old: SideLatency,
    pub new: SideLatency,
    /// `new p95 / old p95`.
    pub new_over_old_p95: Option<f64>,
    /// `met`, `breached` or `too_few` (fewer probes than the budget needs).
    pub verdict: String,
    pub breaches: Vec<String>,
    pub over_time: Vec<LatencyPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Budget {
    pub p95_ms: Option<f64>,
    pub new_over_old_at_most: Option<f64>,
    pub error_rate_at_most: Option<f64>,
    /// The budget in words.
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SideLatency {
    pub count: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LatencyPoint {
    pub at: Time,
    pub old_p50_ms: Option<f64>,
    pub old_p95_ms: Option<f64>,
    pub old_p99_ms: Option<f64>,
    pub new_p50_ms: Option<f64>,
    pub new_p95_ms: Option<f64>,
    pub new_p99_ms: Option<f64>,
}

/// A write of the read flag, by an operator or by the automatic rollback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlagFlip {
    pub at: Time,
    pub operator: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: Option<String>,
    pub automatic: bool,
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backup {
    pub name: String,
    pub destination: String,
    pub location: String,
    pub database: String,
    pub source_table: String,
    pub columns: Vec<String>,
    pub rows: u64,
    pub size_bytes: u64,
    pub checksum: String,
    /// `copying`, `copied`, `verified` or `failed`.
    pub status: String,
    pub detail: Option<String>,
    pub created: Time,
    pub verified: Option<Time>,
    pub restore_command: String,
}

/// A contract statement as run (one per attempt).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContractStatement {
    pub at: Time,
    pub operator: String,
    pub sql: String,
    pub attempt: Option<i64>,
    pub elapsed_ms: Option<f64>,
    pub outcome: String,
}

/// Something still open at the time of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Risk {
    /// `open_divergences`, `failing_gate`, `gate_overridden`, `latency_over_budget`,
    /// `unverified_backup`, `backfill_incomplete`.
    pub kind: String,
    pub detail: String,
}
