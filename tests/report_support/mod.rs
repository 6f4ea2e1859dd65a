//! The report tests' fixed state: a migration that went plan → … → read_new with an override,
//! a rollback, flag flips, a backfill, verification, divergences, latency, backups and a
//! contract attempt, written through the store API and then given fixed times.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use crate::common::TestDb;
use migtui::config::{Config, Side};
use migtui::db::Params;
use migtui::engine::backfill::checkpoint;
use migtui::engine::phase::{Gate, PhaseId};
use migtui::engine::probe::hist::{Outcome, Tally};
use migtui::engine::probe::metrics;
use migtui::store::{
    BackedUpColumn, BackfillSample, BackupRecord, BackupStatus, DivergenceRecord, DivergenceStatus,
    FullCheckpoint, Operator, Store, TransitionKind, WindowCounts, record_backfill_sample,
};

/// 2025-01-15 08:00:00 UTC, long before the database clock of any test run.
pub const T0: i64 = 1_736_928_000_000_000;
pub const MIN: i64 = 60_000_000;
pub const URL_PASSWORD: &str = "Sup3r-S3cret-pw";
pub const ENV_SECRET: &str = "env-token-7f3a9c";

/// The migration file of the fixture (the replica's password comes from the environment).
pub fn config_text(new_url: &str) -> String {
    format!(
        r#"
[migration]
name = "incident-statuses"
description = "hard-coded status strings -> per-organisation incident_statuses"

[databases.old]
url = "postgres://app:{URL_PASSWORD}@db.internal:5432/incidents"
[databases.new]
url = "{new_url}"
[databases.replica]
url = "postgres://reader:${{REPLICA_PASSWORD}}@replica.internal:5432/incidents"

[state]
database = "new"

[[backfill]]
name = "incident_statuses"
from = {{ database = "old", query = "SELECT DISTINCT organisation_id, status FROM incidents" }}
to = {{ database = "new", table = "incident_statuses", key = ["organisation_id", "name"], map = {{ name = ":status" }} }}

[[backfill]]
name = "incidents"
from = {{ database = "old", table = "incidents", key = "id", columns = ["id", "status"] }}
to = {{ database = "new", table = "incidents", key = ["id"] }}

[[verify]]
name = "status"
key = "id"
sample = {{ from = "old", table = "incidents", per_second = 50 }}
old = "SELECT id, status, reporter_email FROM incidents WHERE id IN (:keys)"
new = "SELECT id, status, reporter_email FROM incidents WHERE id IN (:keys)"
redact = ["reporter_email"]

[[path]]
name = "incident-by-id"
old = "SELECT status FROM incidents WHERE id = :key"
new = "SELECT status FROM incidents WHERE id = :key"
keys = "verify:status"
budget = {{ p95_ms = 20, new_over_old_at_most = 1.25 }}

[[backup]]
database = "old"
table = "incidents"
columns = ["status"]
to = ["table:migtui_backup_incidents_status", "file:backups/incidents-status.csv.gz"]

[contract]
database = "old"
sql = ["ALTER TABLE incidents DROP COLUMN status"]
"#
    )
}

pub fn config(new_url: &str) -> Config {
    let text = config_text(new_url);
    let env = |name: &str| (name == "REPLICA_PASSWORD").then(|| ENV_SECRET.to_string());
    migtui::config::parse_text(Path::new("report-test.toml"), &text, &env)
        .unwrap_or_else(|e| panic!("test migration file:\n{e}"))
}

/// A phase change of the fixture: from, to, how, why, the gates at that moment.
type Move<'a> = (PhaseId, PhaseId, TransitionKind, Option<&'a str>, Vec<Gate>);

fn operator() -> Operator {
    Operator {
        id: "op-alice".into(),
        user: "alice".into(),
        host: "laptop".into(),
        pid: 4242,
    }
}

fn gate(name: &str, pass: bool, measured: &str, threshold: &str) -> Gate {
    Gate {
        name: name.into(),
        measured: Some(measured.into()),
        threshold: threshold.into(),
        pass,
        explanation: String::new(),
    }
}

async fn exec(store: &Store, sql: &str, p: Params) {
    store.db().execute(sql, &p).await.expect(sql);
}

fn tally(base_ms: u64) -> Tally {
    let mut t = Tally::default();
    for i in 0..40 {
        t.record(Outcome::Ok(Duration::from_micros(base_ms * 1000 + i * 250)));
    }
    t
}

/// A migration that went plan → … → read_new, with one override, one rollback, flag flips,
/// a backfill, verification windows, divergences, latency, backups and a contract attempt.
pub async fn fixed_state(tdb: &TestDb) -> (Store, Config) {
    let config = config(&tdb.url);
    let store = Store::open(tdb.connect().await, "incident-statuses")
        .await
        .unwrap();
    let op = operator();
    store.acquire(&op, 30).await.unwrap();
    let ok = |n: &str| gate(n, true, "ok", "ok");
    let moves: [Move; 7] = [
        (
            PhaseId::Plan,
            PhaseId::Expand,
            TransitionKind::Advance,
            None,
            vec![ok("connections")],
        ),
        (
            PhaseId::Expand,
            PhaseId::DualWrite,
            TransitionKind::Advance,
            None,
            vec![ok("new model present")],
        ),
        (
            PhaseId::DualWrite,
            PhaseId::Backfill,
            TransitionKind::Advance,
            None,
            vec![gate("recent-row agreement", true, "99.95%", "≥ 99.90%")],
        ),
        (
            PhaseId::Backfill,
            PhaseId::Shadow,
            TransitionKind::Advance,
            None,
            vec![gate("backfill complete", true, "2/2 steps", "all steps")],
        ),
        (
            PhaseId::Shadow,
            PhaseId::ReadNew,
            TransitionKind::Override,
            Some("DBA approved, ticket OPS-42"),
            vec![
                gate("divergence bound", true, "0.0300%", "≤ 0.10%"),
                gate(
                    "latency budget",
                    false,
                    "new p95 24.1 ms",
                    "new p95 ≤ 20 ms",
                ),
            ],
        ),
        (
            PhaseId::ReadNew,
            PhaseId::Shadow,
            TransitionKind::Rollback,
            Some("p95 regression on new reads"),
            vec![],
        ),
        (
            PhaseId::Shadow,
            PhaseId::ReadNew,
            TransitionKind::Advance,
            None,
            vec![gate(
                "latency budget",
                true,
                "new p95 12.0 ms",
                "new p95 ≤ 20 ms",
            )],
        ),
    ];
    for (from, to, kind, reason, gates) in moves {
        let s = store.state().await.unwrap();
        assert_eq!(s.phase, from);
        store
            .transition(from, s.seq, to, kind, reason, &gates, &op)
            .await
            .unwrap();
    }
    let flag = |v: bool| serde_json::json!({ "kind": "bool", "value": v });
    store
        .audit(
            "flag.set",
            serde_json::json!({ "to": flag(true), "from": flag(false), "reason": "shadow gate green, OPS-42", "automatic": false }),
            "ok",
            &op,
        )
        .await
        .unwrap();
    store
        .audit(
            "rollback.auto",
            serde_json::json!({ "reason": "`incident-by-id`: new p95 31.0 ms > 20 ms", "backfill_pause_sent": true }),
            "ok",
            &op,
        )
        .await
        .unwrap();
    store
        .audit(
            "flag.set",
            serde_json::json!({ "to": flag(false), "from": flag(true), "reason": "automatic rollback", "automatic": true }),
            "ok",
            &op,
        )
        .await
        .unwrap();
    // A careless parameter with a password in it: the report must still mask it.
    store
        .audit(
            "backfill.start",
            serde_json::json!({ "note": format!("connected with {URL_PASSWORD} and {ENV_SECRET}") }),
            "ok",
            &op,
        )
        .await
        .unwrap();
    store
        .audit(
            "contract.statement",
            serde_json::json!({ "sql": "ALTER TABLE incidents DROP COLUMN status", "attempt": 1, "elapsed_ms": 12.0 }),
            "failed: lock timeout | retry later",
            &op,
        )
        .await
        .unwrap();

    // Backfill: two steps, one complete, one failed, with samples.
    let db = store.db().clone();
    let m = store.migration().to_string();
    checkpoint::start(&db, &m, "incident_statuses", &None)
        .await
        .unwrap();
    checkpoint::finish(&db, &m, "incident_statuses", "complete", None)
        .await
        .unwrap();
    let hw = Some(vec![migtui::db::Value::Int(5000)]);
    checkpoint::start(&db, &m, "incidents", &hw).await.unwrap();
    for (i, last) in [1000i64, 2000, 3000].into_iter().enumerate() {
        let (sql, p) = checkpoint::advance(
            db.dialect(),
            &m,
            "incidents",
            &[migtui::db::Value::Int(last)],
            last as u64,
        );
        db.execute(&sql, &p).await.unwrap();
        let sample = BackfillSample {
            step: "incidents".into(),
            interval_ms: 10_000,
            rows: 1000,
            retries: i as i64,
            throttled_ms: 500 * i as i64,
            ..Default::default()
        };
        record_backfill_sample(&db, &m, &sample).await.unwrap();
    }
    checkpoint::finish(
        &db,
        &m,
        "incidents",
        "failed",
        Some(&format!(
            "connection to postgres://app:{URL_PASSWORD}@db.internal refused"
        )),
    )
    .await
    .unwrap();

    // Verification windows, three minutes, and a full diff in progress.
    for (i, (cmp, div)) in [(1200u64, 0u64), (1500, 1), (1300, 0)]
        .into_iter()
        .enumerate()
    {
        let counts = WindowCounts {
            compared: cmp,
            divergent: div,
            ..WindowCounts::default()
        };
        store.add_verify_counts("status", &counts).await.unwrap();
        let p = Params::new()
            .bind("w", T0 + (i as i64 + 20) * MIN)
            .bind("cut", T0 + 1000 * MIN);
        exec(
            &store,
            "UPDATE migtui_verify_windows SET window_us = :w WHERE window_us > :cut",
            p,
        )
        .await;
    }
    let full = FullCheckpoint {
        started_us: T0 + 30 * MIN,
        rows_done: 40_000,
        divergent: 2,
        resume_key: Some(serde_json::json!({ "type": "int", "value": 40001 })),
        finished: false,
    };
    store.save_full_checkpoint("status", &full).await.unwrap();

    // Divergences: one open with a redacted column, one healed, one acknowledged.
    let row = |status: &str, email: &str| {
        serde_json::json!({
            "id": { "type": "int", "value": 17 },
            "status": { "type": "text", "value": status },
            "reporter_email": { "type": "text", "value": email },
        })
    };
    let d = DivergenceRecord {
        check: "status".into(),
        key_text: "17".into(),
        key: serde_json::json!([{ "type": "int", "value": 17 }]),
        kind: "mismatch".into(),
        columns: vec!["status".into(), "reporter_email".into()],
        old_raw: Some(row("Resolved", "carol@example.com")),
        new_raw: Some(row("resolved | <b>x</b>", "carol.new@example.com")),
        old_norm: None,
        new_norm: None,
        source: "sample".into(),
        status: DivergenceStatus::Open,
        note: None,
        first_seen_us: 0,
        last_seen_us: 0,
        times_seen: 1,
    };
    store.record_divergence(&d).await.unwrap();
    let healed = DivergenceRecord {
        key_text: "23".into(),
        kind: "missing_in_new".into(),
        columns: vec![],
        new_raw: None,
        status: DivergenceStatus::Healed,
        ..d.clone()
    };
    store.record_divergence(&healed).await.unwrap();
    let acked = DivergenceRecord {
        key_text: "31".into(),
        ..d.clone()
    };
    store.record_divergence(&acked).await.unwrap();
    store
        .acknowledge_divergence("status", "31", "known: legacy casing", &op)
        .await
        .unwrap();

    // Latency: four 10-second intervals, new slower in the third.
    for (i, (old_ms, new_ms)) in [(8u64, 9u64), (8, 10), (9, 24), (8, 11)]
        .into_iter()
        .enumerate()
    {
        let rows = vec![
            metrics::row("incident-by-id", Side::Old, 10, &tally(old_ms)),
            metrics::row("incident-by-id", Side::New, 10, &tally(new_ms)),
        ];
        let at = store.record_metrics(&rows).await.unwrap();
        let p = Params::new()
            .bind("t", T0 + (40 + i as i64) * MIN)
            .bind("at", at);
        exec(
            &store,
            "UPDATE migtui_metrics SET at_us = :t WHERE at_us = :at",
            p,
        )
        .await;
    }

    // Backups: a verified table copy and a file copy that failed verification.
    let col = |n: &str, t: &str| BackedUpColumn {
        name: n.into(),
        data_type: t.into(),
        nullable: false,
    };
    let backup = BackupRecord {
        name: "incidents_status".into(),
        destination: "0:table".into(),
        location: "migtui_backup_incidents_status".into(),
        database: "old".into(),
        source_table: "incidents".into(),
        key_columns: vec![col("id", "bigint")],
        columns: vec![col("status", "text")],
        rows: 5000,
        checksum: "1388:9f0c2a".into(),
        size_bytes: 262_144,
        status: BackupStatus::Copied,
        detail: None,
        created_us: 0,
        verified_us: None,
        restore_command: "migtui restore -c migration.toml --backup incidents_status".into(),
    };
    store.put_backup(&backup).await.unwrap();
    store
        .mark_backup("incidents_status", "0:table", BackupStatus::Verified, None)
        .await
        .unwrap();
    let file = BackupRecord {
        destination: "1:file".into(),
        location: "backups/incidents-status.csv.gz".into(),
        status: BackupStatus::Failed,
        detail: Some("row count 4999, expected 5000".into()),
        ..backup
    };
    store.put_backup(&file).await.unwrap();

    fix_times(&store).await;
    (store, config)
}

/// Every time the database clock stamped, replaced by fixed ones in the same order.
async fn fix_times(store: &Store) {
    let steps: [(&str, Params); 10] = [
        (
            "UPDATE migtui_migration SET since_us = :t, created_us = :t0",
            Params::new().bind("t", T0 + 90 * MIN),
        ),
        (
            "UPDATE migtui_phase_history SET at_us = :t0 + id * 15 * 60000000",
            Params::new(),
        ),
        (
            "UPDATE migtui_audit SET at_us = :t0 + id * 5 * 60000000",
            Params::new(),
        ),
        (
            "UPDATE migtui_checkpoints SET started_us = :t0 + 120000000, updated_us = :t0 + 180000000 WHERE step = 'incident_statuses'",
            Params::new(),
        ),
        (
            "UPDATE migtui_checkpoints SET started_us = :t0 + 300000000, updated_us = :t0 + 1200000000 WHERE step = 'incidents'",
            Params::new(),
        ),
        (
            "UPDATE migtui_backfill_samples SET at_us = :t0 + (5 + id) * 60000000",
            Params::new(),
        ),
        (
            "UPDATE migtui_divergences SET first_seen_us = :t0 + 1260000000, last_seen_us = :t0 + 1320000000",
            Params::new(),
        ),
        (
            "UPDATE migtui_verify_full SET started_us = :t0 + 1800000000, updated_us = :t0 + 1860000000",
            Params::new(),
        ),
        (
            "UPDATE migtui_backups SET created_us = :t0 + 6000000000",
            Params::new(),
        ),
        (
            "UPDATE migtui_backups SET verified_us = :t0 + 6060000000 WHERE status = 'verified'",
            Params::new(),
        ),
    ];
    for (sql, p) in steps {
        exec(store, sql, p.bind("t0", T0)).await;
    }
}
