//! The state store is indexed for the queries the cockpit and the report run: with 100,000
//! divergences, 50,000 audit lines and two days of latency metrics in PostgreSQL, none of the
//! store's reads or the cockpit's writes scans `migtui_divergences`, `migtui_audit`,
//! `migtui_metrics` or `migtui_phase_history` sequentially.
//!
//! The check runs the store's own methods (not copies of their SQL, which would drift) on a
//! one-connection pool and reads the server's per-table `seq_scan` counters around each one.
//! A sentinel sequential scan on a table of its own, on the same connection, shows when the
//! backend has flushed its counters, so a scan cannot hide behind a late flush. (Needs
//! PostgreSQL 15 or newer, for `pg_stat_force_next_flush`.)
mod common;

use std::time::{Duration, Instant};

use common::TestDb;
use migtui::db::{Db, Params};
use migtui::store::{
    DivergenceFilter, DivergenceStatus, Operator, SCHEMA_VERSION, Store, WindowCounts,
};
use sqlx::{Connection, PgConnection};

/// The tables whose sequential scans the cockpit cannot afford.
const WATCHED: &[&str] = &[
    "migtui_divergences",
    "migtui_audit",
    "migtui_metrics",
    "migtui_phase_history",
];

/// Big tables, planted in SQL: two migrations so `migration = :m` selects, divergences in
/// two checks and four statuses (mostly open, as after a bad dual write), an audit log, and
/// two days of metric snapshots for two read paths.
const PLANT: &str = r#"
INSERT INTO migtui_divergences (migration, check_name, key_text, key_json, kind, columns,
    old_raw, new_raw, old_norm, new_norm, source, status, note, first_seen_us, last_seen_us,
    times_seen)
SELECT m, CASE WHEN g % 4 = 0 THEN 'payload' ELSE 'status' END, lpad(g::text, 12, '0'),
       '{"id":' || g || '}', 'mismatch', '["status"]',
       '{"id":' || g || ',"status":"closed","title":"' || md5(g::text) || '"}',
       '{"id":' || g || ',"status":"fixing","title":"' || md5(g::text) || '"}',
       NULL, NULL, 'full',
       CASE WHEN g % 1000 = 999 THEN 'acknowledged' WHEN g % 100 < 90 THEN 'open'
            WHEN g % 100 < 95 THEN 'healed' ELSE 'in_flight' END,
       NULL, 1700000000000000 + g, 1700000000000000 + g, 1
FROM (VALUES ('big', 100000), ('other', 20000)) AS v(m, n), generate_series(1, v.n) AS g;

INSERT INTO migtui_audit (migration, at_us, os_user, host, operator_id, pid, action, params,
    outcome)
SELECT m, 1700000000000000 + g::bigint * 1000000, 'alice', 'laptop', 'op-' || (g % 7), 4242,
       (ARRAY['backfill.rate','divergence.acknowledge','flag.set','lease.acquire'])[1 + g % 4],
       '{"reason":"planted ' || g || '"}', 'ok'
FROM (VALUES ('big', 50000), ('other', 10000)) AS v(m, n), generate_series(1, v.n) AS g;

INSERT INTO migtui_metrics (migration, at_us, path, side, secs, count, errors, timeouts,
    p50_us, p95_us, p99_us, max_us, hist)
SELECT m, (extract(epoch FROM now()) * 1000000)::bigint - g::bigint * 10000000, p, s, 10, 200, 0, 0,
       900, 4000, 9000, 20000, repeat('ab', 200)
FROM (VALUES ('big'), ('other')) AS v(m), generate_series(0, 17279) AS g,
     (VALUES ('incident-by-id'), ('incident-list')) AS pth(p), (VALUES ('old'), ('new')) AS sd(s);

INSERT INTO migtui_phase_history (migration, seq, from_phase, to_phase, kind, reason, gates,
    operator_id, operator_user, operator_host, operator_pid, at_us)
SELECT 'other', g, 'plan', 'expand', 'advance', NULL, '[]', 'op', 'alice', 'laptop', 1,
       1700000000000000 + g
FROM generate_series(1, 20000) AS g;

CREATE TABLE bounds_sentinel (n int);
INSERT INTO bounds_sentinel VALUES (1);
"#;

/// What autovacuum would have done by the time an operator pages through the tables (its own
/// statement: VACUUM cannot run in the script's implicit transaction).
const VACUUM: &str = "VACUUM ANALYZE migtui_divergences, migtui_audit, migtui_metrics, \
                      migtui_phase_history, bounds_sentinel";

/// Sequential scans of `table` so far, and the rows read from it by any scan (heap rows of
/// sequential scans plus index entries), as the statistics system has them now.
async fn scans(admin: &mut PgConnection, table: &str) -> (i64, i64) {
    sqlx::query_as::<_, (i64, i64)>(
        "SELECT coalesce(t.seq_scan, 0), coalesce(t.seq_tup_read, 0) \
                + coalesce((SELECT sum(i.idx_tup_read) FROM pg_stat_user_indexes i \
                            WHERE i.relid = t.relid), 0)::bigint \
         FROM pg_stat_user_tables t WHERE t.relname = $1",
    )
    .bind(table)
    .fetch_one(admin)
    .await
    .unwrap_or_else(|e| panic!("reading pg_stat_user_tables for {table}: {e}"))
}

async fn seq_scans(admin: &mut PgConnection, table: &str) -> i64 {
    scans(admin, table).await.0
}

/// Scan the sentinel on the store's only connection, and wait until the server shows it: by
/// then the backend has flushed the counters of everything it ran before.
async fn flush(db: &Db, admin: &mut PgConnection, sentinels: &mut i64) {
    // PostgreSQL 15+ flushes a backend's counters at most every second, or 10 s after it goes
    // idle; forcing the flush at the end of this statement keeps the test quick.
    let sql = "SELECT n FROM bounds_sentinel \
               CROSS JOIN (SELECT count(*) AS f FROM (SELECT pg_stat_force_next_flush()) s) x";
    db.query(sql, &Params::new()).await.expect("sentinel scan");
    *sentinels += 1;
    let deadline = Instant::now() + Duration::from_secs(30);
    while seq_scans(admin, "bounds_sentinel").await < *sentinels {
        assert!(
            Instant::now() < deadline,
            "the sentinel's scan never reached pg_stat_user_tables"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cockpit_queries_never_scan_the_big_state_tables() {
    let Some(tdb) = TestDb::postgres().await else {
        return;
    };
    let mut cfg = tdb.config("state");
    cfg.max_connections = 1;
    let db = migtui::db::connect(&cfg, &migtui::secret::Secrets::default())
        .await
        .expect("connect the state store");
    let store = Store::open(db.clone(), "big")
        .await
        .expect("open the store");
    tdb.run_script(PLANT).await;
    tdb.run_script(VACUUM).await;
    let mut admin = PgConnection::connect(&tdb.url).await.expect("admin");
    let op = Operator::current();
    let now = store.now_us().await.unwrap();
    let mid_audit = store.audit_page(None, 1).await.unwrap()[0].id - 25_000;
    let open = DivergenceFilter {
        check: None,
        status: Some(DivergenceStatus::Open),
    };
    let in_flight = DivergenceFilter {
        check: Some("payload".into()),
        status: Some(DivergenceStatus::InFlight),
    };
    // 0.1% of the rows: without an index led by the status, a page walks the whole table.
    let rare = DivergenceFilter {
        check: None,
        status: Some(DivergenceStatus::Acknowledged),
    };
    let mid = ("status", "000000050001");

    let mut sentinels = 0;
    flush(&db, &mut admin, &mut sentinels).await;
    let mut failures = Vec::new();
    // Each entry: what the cockpit (or report, or engine) does, and a check of its answer so a
    // query that silently returns nothing cannot pass.
    // A paged read may also read at most this many rows (index entries or heap rows) of each
    // table: a page, not a walk through every row that fails a filter.
    macro_rules! check {
        ($what:expr, $call:expr, $ok:expr) => {
            check!($what, $call, $ok, i64::MAX)
        };
        ($what:expr, $call:expr, $ok:expr, $max_read:expr) => {{
            let mut before = Vec::new();
            for t in WATCHED {
                before.push(scans(&mut admin, t).await);
            }
            let answer = $call.await.unwrap_or_else(|e| panic!("{}: {e}", $what));
            assert!(($ok)(&answer), "{}: unexpected answer", $what);
            flush(&db, &mut admin, &mut sentinels).await;
            for (t, (seq, read)) in WATCHED.iter().zip(before) {
                let (seq_after, read_after) = scans(&mut admin, t).await;
                if seq_after != seq {
                    failures.push(format!(
                        "{}: {} sequential scan(s) of {t}",
                        $what,
                        seq_after - seq
                    ));
                }
                if read_after - read > $max_read {
                    failures.push(format!("{}: read {} rows of {t}", $what, read_after - read));
                }
            }
        }};
    }
    /// Rows a 51-row page may read.
    const PAGE_READ: i64 = 500;
    let f = DivergenceFilter::default();
    check!(
        "Divergences screen, first page",
        store.divergence_page(&f, None, 51),
        |r: &Vec<_>| r.len() == 51,
        PAGE_READ
    );
    check!(
        "Divergences screen, a page in the middle",
        store.divergence_page(&f, Some(mid), 51),
        |r: &Vec<migtui::store::DivergenceRecord>| r.len() == 51 && r[0].key_text.as_str() > mid.1,
        PAGE_READ
    );
    check!(
        "Divergences screen, open only",
        store.divergence_page(&open, Some(mid), 51),
        |r: &Vec<migtui::store::DivergenceRecord>| r.len() == 51
            && r.iter().all(|d| d.status == DivergenceStatus::Open),
        PAGE_READ
    );
    check!(
        "Divergences screen, one check and one status",
        store.divergence_page(&in_flight, None, 51),
        |r: &Vec<migtui::store::DivergenceRecord>| r.len() == 51
            && r.iter()
                .all(|d| d.check == "payload" && d.status == DivergenceStatus::InFlight),
        PAGE_READ
    );
    check!(
        "Divergences screen, a rare status",
        store.divergence_page(&rare, None, 51),
        |r: &Vec<migtui::store::DivergenceRecord>| r.len() == 51
            && r.iter().all(|d| d.status == DivergenceStatus::Acknowledged),
        PAGE_READ
    );
    check!(
        "Divergences screen, counts per status",
        store.divergence_counts(None),
        |r: &Vec<(DivergenceStatus, u64)>| r.iter().map(|(_, n)| n).sum::<u64>() == 100_000
    );
    check!(
        "verify gates, counts of one check",
        store.divergence_counts(Some("payload")),
        |r: &Vec<(DivergenceStatus, u64)>| r.iter().map(|(_, n)| n).sum::<u64>() == 25_000
    );
    check!(
        "verifier, recording a divergence seen again",
        store.set_divergence_status("status", "000000000001", DivergenceStatus::Healed),
        |r: &bool| *r
    );
    check!(
        "Divergences screen, acknowledging one (audited)",
        store.acknowledge_divergence("status", "000000000002", "known", &op),
        |r: &bool| *r
    );
    check!(
        "Log screen, newest audit page",
        store.audit_page(None, 200),
        |r: &Vec<migtui::store::AuditRecord>| r.len() == 200,
        PAGE_READ
    );
    check!(
        "Log screen, an older audit page",
        store.audit_page(Some(mid_audit), 200),
        |r: &Vec<migtui::store::AuditRecord>| r.len() == 200 && r[0].id < mid_audit,
        PAGE_READ
    );
    check!(
        "watcher, audit lines since the last seen",
        store.audit_since(mid_audit),
        |r: &Vec<migtui::store::AuditRecord>| r.len() == migtui::store::MAX_PAGE
    );
    check!(
        "any action, one audit line",
        store.audit("bounds.test", serde_json::json!({}), "ok", &op),
        |r: &migtui::store::AuditRecord| r.action == "bounds.test",
        PAGE_READ
    );
    check!(
        "Latency screen, the last hour",
        store.metrics_since(now - 3_600_000_000),
        |r: &Vec<migtui::store::MetricRow>| r.len() > 350 * 4 && r.len() <= 361 * 4
    );
    check!(
        "a read-only session, the last 10 minutes",
        store.metrics_since(now - 600_000_000),
        |r: &Vec<migtui::store::MetricRow>| r.len() > 50 * 4 && r.len() <= 61 * 4
    );
    check!(
        "the driver's hourly prune",
        store.prune_metrics(now - 86_400_000_000),
        |r: &u64| *r > 0
    );
    check!("watcher, phase history", store.history(20), |r: &Vec<
        migtui::store::PhaseRecord,
    >| r
        .is_empty());
    check!(
        "verifier, the current minute's counts",
        store.add_verify_counts("status", &WindowCounts::default()),
        |_: &()| true
    );
    assert!(
        failures.is_empty(),
        "sequential scans on the state tables:\n{}",
        failures.join("\n")
    );
}

/// Where an index is, per engine, for the upgrade test.
async fn has_index(tdb: &TestDb, db: &Db, name: &str) -> bool {
    let sql = match tdb.kind {
        common::Kind::Postgres => "SELECT count(*) AS n FROM pg_indexes WHERE indexname = :i",
        common::Kind::MySql => {
            "SELECT count(*) AS n FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name = :i"
        }
        common::Kind::Sqlite => {
            "SELECT count(*) AS n FROM sqlite_master WHERE type = 'index' AND name = :i"
        }
    };
    let rows = db
        .query(sql, &Params::new().bind("i", name))
        .await
        .expect("index catalog");
    rows.scalar().map(|v| v.display()).as_deref() != Some("0")
}

#[tokio::test]
async fn a_version_6_store_gets_the_version_7_indexes() {
    for (table, index) in [
        ("migtui_divergences", "migtui_divergences_by_status_key"),
        ("migtui_audit", "migtui_audit_by_operator"),
    ] {
        version_6_store_gets(table, index).await;
    }
}

async fn version_6_store_gets(table: &str, index: &str) {
    for tdb in common::all_engines().await {
        let kind = tdb.kind;
        let db = tdb.connect().await;
        Store::open(db.clone(), "m").await.unwrap();
        assert!(has_index(&tdb, &db, index).await, "{kind:?}: fresh store");
        let drop = match kind {
            common::Kind::MySql => format!("DROP INDEX {index} ON {table}"),
            _ => format!("DROP INDEX {index}"),
        };
        db.execute_script(&drop).await.unwrap();
        db.execute("UPDATE migtui_schema SET version = 7", &Params::new())
            .await
            .unwrap();
        assert!(!has_index(&tdb, &db, index).await, "{kind:?}: dropped");
        // Two processes upgrading at once both succeed.
        let (a, b) = tokio::join!(
            Store::open(tdb.connect().await, "m"),
            Store::open(tdb.connect().await, "m")
        );
        let (a, _) = (a.unwrap(), b.unwrap());
        assert_eq!(
            a.schema_version().await.unwrap(),
            SCHEMA_VERSION,
            "{kind:?}"
        );
        assert!(has_index(&tdb, &db, index).await, "{kind:?}: upgraded");
    }
}
