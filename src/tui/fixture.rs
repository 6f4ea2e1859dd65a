//! A busy, fixed cockpit state for snapshots and benchmarks: mid-backfill, gates partly
//! failing, divergences found, both read paths probed, ten minutes of history. Every time is
//! fixed, so a rendered frame is the same on every run.

use crate::engine::backfill::{BackfillProgress, StepProgress, StepState};
use crate::engine::flag::{FlagStatus, FlagValue};
use crate::engine::phase::{Gate, PhaseId};
use crate::engine::probe::hist::SideStats;
use crate::engine::probe::{PathLatency, WindowLatency};
use crate::engine::session::{DatabaseStatus, LeaseState, Snapshot, VerifyStatus};
use crate::engine::verify::RateBound;
use crate::store::{AuditRecord, Lease, Operator, PhaseRecord, TransitionKind};
use crate::tui::keymap::Keymap;
use crate::tui::state::{AppState, Context, Level, LogEntry, LogKind};

/// 2026-11-21 10:00:00 UTC, the fixture's "now".
pub const NOW_US: i64 = 1_795_255_200_000_000;

fn operator(user: &str, host: &str, pid: u32) -> Operator {
    Operator {
        id: format!("{user}-{pid}"),
        user: user.into(),
        host: host.into(),
        pid,
    }
}

fn side(p50: f64, p95: f64, p99: f64, count: u64, errors: u64) -> SideStats {
    SideStats {
        count,
        errors,
        timeouts: 0,
        error_rate: Some(errors as f64 / (count + errors).max(1) as f64),
        p50_ms: Some(p50),
        p95_ms: Some(p95),
        p99_ms: Some(p99),
        max_ms: Some(p99 * 1.8),
    }
}

fn path(name: &str, old: SideStats, new: SideStats, breached: bool) -> PathLatency {
    let window = |w: &str| WindowLatency {
        window: w.into(),
        ratio_p50: Some(new.p50_ms.unwrap_or(0.0) / old.p50_ms.unwrap_or(1.0)),
        ratio_p95: Some(new.p95_ms.unwrap_or(0.0) / old.p95_ms.unwrap_or(1.0)),
        ratio_p99: Some(new.p99_ms.unwrap_or(0.0) / old.p99_ms.unwrap_or(1.0)),
        old: old.clone(),
        new: new.clone(),
    };
    PathLatency {
        path: name.into(),
        keys: 5_000,
        problem: None,
        last_error_old: None,
        last_error_new: None,
        windows: vec![window("1m"), window("10m"), window("session")],
        pairs: old.count,
        overhead_us_per_probe: Some(38.0),
        budget: "p95 ≤ 20 ms, new ≤ 1.25× old".into(),
        verdict: if breached {
            "new p95 is 1.42× old (bar 1.25×)"
        } else {
            "within budget"
        }
        .into(),
        breached,
    }
}

fn step(name: &str, state: StepState, done: u64, total: u64, rate: f64) -> StepProgress {
    StepProgress {
        step: name.into(),
        state,
        rows_done: done,
        total_rows: total,
        total_exact: state == StepState::Complete,
        rows_per_second: rate,
        eta_secs: (rate > 0.0).then(|| {
            let left = (total - done) as f64;
            (left / (rate * 1.2), left / (rate * 0.8))
        }),
        last_chunk_ms: 41.5,
        chunk_rows: 500,
        chunks: done / 500,
        retries: 2,
        throttled_ms: 12_400,
        max_rows_per_second: Some(2_000.0),
        paused_by: Vec::new(),
        last_key: Some(done.to_string()),
        high_water: Some(total.to_string()),
        error: None,
    }
}

/// The session as a busy shift sees it: phase backfill, the cockpit drives.
pub fn snapshot() -> Snapshot {
    let me = operator("alice", "ops-laptop", 4242);
    let lease = Lease {
        holder: me.clone(),
        acquired_us: NOW_US - 3_600_000_000,
        heartbeat_us: NOW_US - 2_000_000,
        ttl_secs: 30,
    };
    Snapshot {
        migration: "incident-statuses".into(),
        phase: PhaseId::Backfill,
        plan: PhaseId::ALL.to_vec(),
        since_us: NOW_US - 4_980_000_000,
        next: Some(PhaseId::Shadow),
        gates: vec![
            Gate::pass(
                "backfill complete: incident_statuses",
                "1,204 rows",
                "all rows",
                "done",
            ),
            Gate::fail(
                "backfill complete: incidents",
                Some("63,412 / 100,000".into()),
                "all rows",
                "the step is still running; wait for it",
            ),
            Gate::pass("recent-row agreement", "99.97%", "≥ 99.9%", "ok"),
        ],
        lease: LeaseState::Driving { lease },
        databases: vec![
            DatabaseStatus {
                name: "new".into(),
                engine: "sqlite".into(),
                target: "new.db".into(),
                connected: true,
                error: None,
            },
            DatabaseStatus {
                name: "old".into(),
                engine: "sqlite".into(),
                target: "old.db".into(),
                connected: true,
                error: None,
            },
        ],
        history: vec![PhaseRecord {
            from: PhaseId::DualWrite,
            to: PhaseId::Backfill,
            kind: TransitionKind::Advance,
            reason: None,
            gates: Vec::new(),
            operator: me.clone(),
            at_us: NOW_US - 4_980_000_000,
        }],
        recent_actions: vec![AuditRecord {
            id: 41,
            at_us: NOW_US - 600_000_000,
            user: "alice".into(),
            host: "ops-laptop".into(),
            action: "backfill.rate".into(),
            params: serde_json::json!({ "rows_per_second": 2000 }),
            outcome: "ok".into(),
        }],
        flag: Some(FlagStatus {
            key: "incidents.read_from_new".into(),
            location: "new.feature_flags".into(),
            value: Some(FlagValue::Bool(false)),
            error: None,
            expected: Some(FlagValue::Bool(false)),
            drift: None,
        }),
        latency: vec![
            path(
                "incident-by-id",
                side(1.2, 4.1, 9.8, 71_900, 0),
                side(1.5, 5.3, 12.0, 71_880, 3),
                false,
            ),
            path(
                "incidents-by-org",
                side(6.0, 14.2, 30.1, 35_000, 0),
                side(9.1, 20.2, 41.7, 34_990, 0),
                true,
            ),
        ],
        rollback: Default::default(),
        drain: Vec::new(),
        backups: Vec::new(),
        verify: vec![VerifyStatus {
            check: "status".into(),
            phase: RateBound::new(12_040, 3, Some(100_000)),
            recent: RateBound::new(2_950, 1, Some(100_000)),
            healed: 1,
            in_flight: 0,
            full: None,
            last_error: None,
        }],
        backfill: BackfillProgress {
            running: true,
            steps: vec![
                step("incident_statuses", StepState::Complete, 1_204, 1_204, 0.0),
                step("incidents", StepState::Running, 63_412, 100_000, 1_850.0),
            ],
            paused: None,
        },
    }
}

/// The busy state with a full keymap, ten minutes of history and a few log lines.
pub fn busy() -> AppState {
    let snap = snapshot();
    let mut state = AppState::new(snap.clone(), Keymap::defaults(), NOW_US);
    state.context = Context {
        description: Some("hard-coded status strings -> per-organisation incident_statuses".into()),
        p95_budget_ms: [
            ("incident-by-id".to_string(), 20.0),
            ("incidents-by-org".to_string(), 20.0),
        ]
        .into_iter()
        .collect(),
        contract_confirm: Some("incidents".into()),
        contract_sql: vec!["ALTER TABLE incidents DROP COLUMN status".into()],
        has_flag: true,
        has_backup: true,
    };
    // Ten minutes of one-second points, wavy but deterministic.
    for i in 0..600i64 {
        let at = NOW_US - (600 - i) * 1_000_000;
        let mut s = snap.clone();
        let wave = ((i as f64) / 9.0).sin();
        for p in &mut s.latency {
            for w in &mut p.windows {
                w.old.p95_ms = w.old.p95_ms.map(|v| v * (1.0 + 0.2 * wave));
                w.new.p95_ms = w.new.p95_ms.map(|v| v * (1.0 + 0.3 * wave));
            }
        }
        for st in &mut s.backfill.steps {
            if st.state == StepState::Running {
                st.rows_per_second *= 1.0 + 0.15 * wave;
            }
        }
        state.history.record(&s, at);
    }
    let lines = [
        (
            Level::Info,
            None,
            "backfill incidents: chunk of 500 rows in 41 ms",
        ),
        (
            Level::Warn,
            None,
            "divergence status key 8812: status differs (open / Open)",
        ),
        (
            Level::Ok,
            Some("alice@ops-laptop"),
            "backfill.rate: ok (2000 rows/s)",
        ),
        (
            Level::Danger,
            None,
            "probe incidents-by-org: new p95 20.2 ms over the budget",
        ),
        (Level::Info, None, "gates measured: 2 of 3 pass"),
    ];
    for (i, (level, who, text)) in lines.into_iter().enumerate() {
        state.push_log(LogEntry {
            at_us: NOW_US - (5 - i as i64) * 7_000_000,
            who: who.map(str::to_string),
            kind: if who.is_some() {
                LogKind::Audit
            } else {
                LogKind::Event
            },
            level,
            text: text.into(),
        });
    }
    state
}

/// The busy state seen from a second cockpit: bob holds the lease.
pub fn observing() -> AppState {
    let mut state = busy();
    state.snapshot.lease = LeaseState::Observing {
        lease: Lease {
            holder: operator("bob", "oncall-2", 777),
            acquired_us: NOW_US - 1_800_000_000,
            heartbeat_us: NOW_US - 1_000_000,
            ttl_secs: 30,
        },
    };
    state
}
