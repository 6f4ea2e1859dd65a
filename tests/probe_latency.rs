//! Read-path probes on real databases: percentiles of a known synthetic distribution (queries
//! that sleep for known times), failures counted as errors and timeouts rather than latencies,
//! the rate limit, and the key sources.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::TestDb;
use migtui::config::Config;
use migtui::engine::probe::{self, PathProbe, lock};

/// A migration with `old` and `new` at `url` and the given `[[path]]`/`[[verify]]` text.
fn config(url: &str, sections: &str) -> Config {
    let text = format!(
        r#"
[migration]
name = "probe-test"
[databases.old]
url = "{url}"
[databases.new]
url = "{url}"
{sections}
"#
    );
    migtui::config::parse_text(Path::new("probe-test.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("test migration file:\n{e}"))
}

async fn dbs(tdb: &TestDb) -> BTreeMap<String, migtui::db::Db> {
    let db = tdb.connect().await;
    BTreeMap::from([("old".to_string(), db.clone()), ("new".to_string(), db)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn percentiles_match_a_known_distribution_of_sleeps() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    // 16 keys sleep 5 ms, 4 keys sleep 40 ms (80% / 20%); the new side sleeps twice as long.
    let keys: Vec<String> = (0..20)
        .map(|i| if i % 5 == 4 { "40" } else { "5" }.to_string())
        .collect();
    let cfg = config(
        &pg.url,
        &format!(
            r#"
[[path]]
name = "sleepy"
old = "SELECT pg_sleep(:key / 1000.0)"
new = "SELECT pg_sleep(:key / 500.0)"
keys = [{}]
per_second = 1000
"#,
            keys.join(", ")
        ),
    );
    let dbs = dbs(&pg).await;
    let mut p = PathProbe::new(&cfg.paths[0], &dbs, Instant::now());
    for _ in 0..40 {
        assert!(p.probe_once(&cfg, &dbs).await);
    }
    let report = lock(&p.state).report(&cfg.paths[0], Instant::now());
    let w = report
        .windows
        .iter()
        .find(|w| w.window == "session")
        .unwrap();
    let within = |v: Option<f64>, lo: f64, hi: f64, what: &str| {
        let v = v.unwrap_or_else(|| panic!("{what}: not measured"));
        assert!(
            (lo..=hi).contains(&v),
            "{what} = {v:.2} ms, expected {lo}–{hi}"
        );
    };
    assert_eq!((w.old.count, w.new.count), (40, 40));
    assert_eq!((w.old.errors, w.new.errors, w.old.timeouts), (0, 0, 0));
    within(w.old.p50_ms, 5.0, 9.0, "old p50");
    within(w.old.p95_ms, 40.0, 48.0, "old p95");
    within(w.old.max_ms, 40.0, 55.0, "old max");
    within(w.new.p50_ms, 10.0, 15.0, "new p50");
    within(w.new.p95_ms, 80.0, 92.0, "new p95");
    within(w.ratio_p95, 1.7, 2.2, "p95 ratio");
    let overhead = report.overhead_us_per_probe.unwrap();
    assert!(
        overhead > 0.0 && overhead < 5_000.0,
        "overhead {overhead} µs"
    );
    for db in dbs.values() {
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_query_is_an_error_and_a_slow_one_a_timeout_never_a_latency() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let cfg = config(
        &pg.url,
        r#"
[[path]]
name = "broken"
old = "SELECT pg_sleep(0.4 + 0 * :key)"
new = "SELECT * FROM no_such_table WHERE id = :key"
keys = [1, 2, 3]
per_second = 1000
timeout_ms = 200
"#,
    );
    let dbs = dbs(&pg).await;
    let mut p = PathProbe::new(&cfg.paths[0], &dbs, Instant::now());
    for _ in 0..6 {
        assert!(p.probe_once(&cfg, &dbs).await);
    }
    let report = lock(&p.state).report(&cfg.paths[0], Instant::now());
    let w = &report.windows[2];
    assert_eq!(
        (w.new.count, w.new.errors, w.new.timeouts),
        (0, 6, 0),
        "{w:?}"
    );
    assert_eq!(w.new.p95_ms, None, "an error is not a latency");
    assert_eq!(w.new.error_rate, Some(1.0));
    assert_eq!(
        (w.old.count, w.old.errors, w.old.timeouts),
        (0, 0, 6),
        "{w:?}"
    );
    assert!(report.last_error_new.unwrap().contains("no_such_table"));
    for db in dbs.values() {
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_keep_their_rate_and_draw_keys_from_a_query_or_a_verify_sample() {
    let tdb = TestDb::sqlite().await.unwrap();
    tdb.run_script(
        "CREATE TABLE incidents (id INTEGER PRIMARY KEY, status TEXT, updated_at INTEGER);
         INSERT INTO incidents VALUES (1, 'open', 1), (2, 'closed', 3), (3, 'open', 2);",
    )
    .await;
    let cfg = config(
        &tdb.url,
        r#"
[[verify]]
name = "status"
key = "id"
sample = { from = "old", table = "incidents", recent_column = "updated_at" }
old = "SELECT id, status FROM incidents WHERE id IN (:keys)"
new = "SELECT id, status FROM incidents WHERE id IN (:keys)"

[[path]]
name = "by-verify"
old = "SELECT status FROM incidents WHERE id = :key"
new = "SELECT status FROM incidents WHERE id = :key"
keys = "verify:status"
per_second = 20

[[path]]
name = "by-query"
old = "SELECT status FROM incidents WHERE id = :key"
new = "SELECT status FROM incidents WHERE id = :key AND status IS NOT NULL"
keys = { database = "old", sql = "SELECT id FROM incidents WHERE status = 'open'" }
per_second = 20

[[path]]
name = "no-keys"
old = "SELECT status FROM incidents WHERE id = :key"
new = "SELECT status FROM incidents WHERE id = :key"
keys = { database = "old", sql = "SELECT id FROM incidents WHERE 1 = 0" }
"#,
    );
    let dbs = dbs(&tdb).await;
    let started = Instant::now();
    let reports = probe::probe_for(Arc::new(cfg), &dbs, Duration::from_millis(1500)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let by = |name: &str| reports.iter().find(|r| r.path == name).unwrap();
    let verify = by("by-verify");
    assert_eq!(verify.keys, 3, "{verify:?}");
    // 20 pairs/s for 1.5 s: the first tick is immediate, missed ticks are never caught up.
    let max = (elapsed * 20.0).ceil() as u64 + 1;
    assert!(
        (10..=max).contains(&verify.pairs),
        "{} pairs in {elapsed:.2} s (limit {max})",
        verify.pairs
    );
    assert_eq!(verify.windows[2].new.errors, 0, "{verify:?}");
    assert_eq!(by("by-query").keys, 2);
    let none = by("no-keys");
    assert_eq!(none.pairs, 0);
    assert!(
        none.problem.as_deref().unwrap().contains("no keys"),
        "{none:?}"
    );
    for db in dbs.values() {
        db.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_described_query_still_binds_integer_keys() {
    // Preflight describes every path query; a probe of the same text must still bind an i64
    // where PostgreSQL inferred int4 (`1 <= $1`).
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let db = pg.connect().await;
    let sql = "SELECT 1 WHERE 1 <= :key";
    let params = migtui::db::Params::new().bind("key", 1i64);
    db.describe(sql, &params).await.unwrap();
    for _ in 0..4 {
        let rows = db.query(sql, &params).await.unwrap();
        assert_eq!(rows.rows.len(), 1);
    }
    db.close().await;
}
