//! The backfill on real databases: every engine as source and as target, composite keys with
//! large gaps, NULLs, unicode, large text and JSON; empty tables; the version guard.

mod common;

use common::backfill::{all_items, insert_items, item_rows, items_ddl, migration, run};
use common::{Kind, TestDb};
use migtui::engine::backfill::{BackfillEvent, StepState};
use migtui::engine::session::Event;

const STEP: &str = r#"
[[backfill]]
name = "items"
from = { database = "old", table = "items", key = ["a", "b"] }
to = { database = "new", table = "items", key = ["a", "b"], version_column = "ver" }
chunk_rows = 7
"#;

async fn copy_pair(old: TestDb, new: TestDb) {
    let label = format!("{:?} -> {:?}", old.kind, new.kind);
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    let (o, n) = (old.connect().await, new.connect().await);
    let rows = item_rows(60, 1);
    insert_items(&o, "items", rows.clone()).await;
    // The target already holds two rows the dual writes put there: one older (overwritten),
    // one newer (kept: the backfill never puts an older version over a newer one).
    let mut stale = rows[10].clone();
    stale[2] = "stale".into();
    stale[5] = 0.into();
    let mut newer = rows[11].clone();
    newer[2] = "written by the application".into();
    newer[5] = 5.into();
    insert_items(&n, "items", vec![stale, newer.clone()]).await;

    let (progress, _) = run(migration("copy", &old, &new, "new", STEP), None).await;
    let step = &progress.steps[0];
    assert_eq!(step.state, StepState::Complete, "{label}: {:?}", step.error);
    assert_eq!(step.rows_done, 60, "{label}");
    assert!(step.total_exact, "{label}");
    assert_eq!(step.chunks, 9, "{label}: 60 rows in chunks of 7");

    let mut want = all_items(&o, "items").await;
    let at = want
        .iter()
        .position(|r| r[0] == newer[0].display() && r[1] == newer[1].display());
    let at = at.expect("row 11");
    want[at][2] = "written by the application".into();
    want[at][5] = "5".into();
    assert_eq!(all_items(&n, "items").await, want, "{label}");
}

#[tokio::test]
async fn sqlite_to_postgres() {
    let (Some(old), Some(new)) = (TestDb::sqlite().await, TestDb::postgres().await) else {
        return;
    };
    copy_pair(old, new).await;
}

#[tokio::test]
async fn postgres_to_mariadb() {
    let (Some(old), Some(new)) = (TestDb::postgres().await, TestDb::mysql().await) else {
        return;
    };
    copy_pair(old, new).await;
}

/// PostgreSQL to PostgreSQL: binary `COPY` streamed into the staging table.
#[tokio::test]
async fn postgres_to_postgres() {
    let (Some(old), Some(new)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    copy_pair(old, new).await;
}

/// MariaDB to PostgreSQL: rows read as values, sent as COPY text (JSON as its text).
#[tokio::test]
async fn mariadb_to_postgres() {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::postgres().await) else {
        return;
    };
    copy_pair(old, new).await;
}

/// A large estimate shows as an estimate; `exact_count = true` counts instead.
#[tokio::test]
async fn exact_count_counts_a_table_the_estimate_calls_large() {
    let (Some(old), Some(new)) = (TestDb::postgres().await, TestDb::sqlite().await) else {
        return;
    };
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    let o = old.connect().await;
    insert_items(&o, "items", item_rows(40, 1)).await;
    // The planner's statistics claim half a million rows (we connect as a superuser).
    old.run_script("UPDATE pg_class SET reltuples = 500000 WHERE oid = CAST('items' AS regclass)")
        .await;
    for (exact, want_total, want_exact) in [(false, 500_000, false), (true, 40, true)] {
        let steps = format!(
            "[[backfill]]\nname = \"items\"\nfrom = {{ database = \"old\", table = \"items\" }}\n\
             to = {{ database = \"new\", table = \"items\", key = [\"a\", \"b\"], insert_only = true }}\n\
             exact_count = {exact}\n"
        );
        let name = format!("exact-{exact}");
        let (progress, events) = run(migration(&name, &old, &new, "new", &steps), None).await;
        assert_eq!(
            progress.steps[0].state,
            StepState::Complete,
            "{:?}",
            progress.steps[0].error
        );
        let started = events.iter().find_map(|e| match e {
            Event::Backfill {
                update:
                    BackfillEvent::StepStarted {
                        total_rows,
                        total_exact,
                        ..
                    },
            } => Some((*total_rows, *total_exact)),
            _ => None,
        });
        assert_eq!(
            started,
            Some((want_total, want_exact)),
            "exact_count = {exact}"
        );
        assert_eq!(progress.steps[0].rows_done, 40);
    }
}

#[tokio::test]
async fn mariadb_to_sqlite() {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::sqlite().await) else {
        return;
    };
    copy_pair(old, new).await;
}

#[tokio::test]
async fn an_empty_table_completes_with_zero_rows() {
    for db in common::all_engines().await {
        let kind = db.kind;
        let new = match kind {
            Kind::Sqlite => TestDb::sqlite().await,
            Kind::Postgres => TestDb::postgres().await,
            Kind::MySql => TestDb::mysql().await,
        }
        .expect("same engine");
        db.run_script(&items_ddl(kind, "items")).await;
        new.run_script(&items_ddl(kind, "items")).await;
        let (progress, _) = run(migration("empty", &db, &new, "new", STEP), None).await;
        let step = &progress.steps[0];
        assert_eq!(
            step.state,
            StepState::Complete,
            "{kind:?}: {:?}",
            step.error
        );
        assert_eq!((step.rows_done, step.total_rows), (0, 0), "{kind:?}");
        assert!(all_items(&new.connect().await, "items").await.is_empty());
    }
}

#[tokio::test]
async fn dry_run_prints_the_plan_and_writes_nothing() {
    let (Some(old), Some(new)) = (TestDb::sqlite().await, TestDb::sqlite().await) else {
        return;
    };
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    insert_items(&old.connect().await, "items", item_rows(20, 1)).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    let text = format!(
        "[migration]\nname = \"dry\"\n[databases.old]\nurl = \"{}\"\n[databases.new]\nurl = \"{}\"\n{STEP}",
        old.url, new.url
    );
    std::fs::write(&file, text).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args(["backfill", "--dry-run", "-c"])
        .arg(&file)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "step items (old → new)",
        "high-water mark now: 81003, 2",
        "7 rows per chunk (fixed)",
        "lost-update guard: Version",
        "ORDER BY \"a\", \"b\" LIMIT :migtui_n",
        "ON CONFLICT (\"a\", \"b\") DO UPDATE",
    ] {
        assert!(stdout.contains(want), "missing {want:?} in:\n{stdout}");
    }
    let n = new.connect().await;
    assert!(
        all_items(&n, "items").await.is_empty(),
        "a dry run writes nothing"
    );
    let tables = n
        .query(
            "SELECT name FROM sqlite_master WHERE name LIKE 'migtui%'",
            &migtui::db::Params::new(),
        )
        .await
        .unwrap();
    assert!(tables.is_empty(), "not even the state tables: {tables:?}");
}

/// The streamed COPY between two PostgreSQL databases: rows larger than one batch arrive
/// whole, the source connection serves the next chunk after a clean COPY, and a COPY dropped
/// mid-stream (a cancel) closes its connection instead of pooling it mid-protocol.
#[tokio::test]
async fn copy_stream_batches_and_reuses_only_a_clean_source_connection() {
    use migtui::db::postgres::backfill::copy_between;
    use migtui::db::{Params, Value};
    let (Some(old), Some(new)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    let mut cfg = old.config("old");
    cfg.max_connections = 1;
    let source = migtui::db::connect(&cfg, &migtui::secret::Secrets::default())
        .await
        .unwrap();
    let target = new.connect().await;
    new.run_script("CREATE TABLE t (g bigint PRIMARY KEY, v text)")
        .await;
    let pid = || async {
        match source
            .query("SELECT CAST(pg_backend_pid() AS BIGINT)", &Params::new())
            .await
            .unwrap()
            .scalar()
        {
            Some(Value::Int(p)) => *p,
            other => panic!("pid: {other:?}"),
        }
    };
    let first = pid().await;
    // 3,000 rows of ~1 kB each: several batches, cut inside rows.
    let out = "COPY (SELECT CAST(g AS bigint), repeat(md5(g::text), 1 + g % 60) FROM generate_series(1, 3000) g) \
               TO STDOUT (FORMAT binary)";
    let input = "COPY t (g, v) FROM STDIN (FORMAT binary)";
    let mut tx = target.begin().await.unwrap();
    assert_eq!(
        copy_between(&source, out, tx.as_mut(), input)
            .await
            .unwrap(),
        3000
    );
    tx.commit().await.unwrap();
    let digest = "SELECT md5(string_agg(g || ':' || v, ',' ORDER BY g)) FROM ";
    let want = source
        .query(
            &format!(
                "{digest} (SELECT g, repeat(md5(g::text), 1 + g % 60) AS v \
                 FROM generate_series(1, 3000) g) s"
            ),
            &Params::new(),
        )
        .await
        .unwrap();
    let got = target
        .query(&format!("{digest} t"), &Params::new())
        .await
        .unwrap();
    assert_eq!(got.scalar(), want.scalar(), "the rows arrived whole");
    assert_eq!(pid().await, first, "a clean COPY's connection is reused");

    // A slow COPY dropped after 300 ms, as a cancel drops it.
    let slow = "COPY (SELECT CAST(g + 10000 AS bigint), s.v FROM generate_series(1, 400) g, \
                LATERAL (SELECT repeat('y', 10) AS v, pg_sleep(0.005 + 0 * g)) s) TO STDOUT (FORMAT binary)";
    let mut tx = target.begin().await.unwrap();
    let dropped = tokio::time::timeout(
        std::time::Duration::from_millis(300),
        copy_between(
            &source,
            slow,
            tx.as_mut(),
            "COPY t (g, v) FROM STDIN (FORMAT binary)",
        ),
    )
    .await;
    assert!(
        dropped.is_err(),
        "the slow COPY should still run: {dropped:?}"
    );
    drop(tx);
    let after = pid().await;
    assert_ne!(
        after, first,
        "a COPY dropped mid-stream closes its connection"
    );
}
