//! Faults on real databases: `migtui backfill` SIGKILLed mid-step and run again; the
//! connection killed mid-chunk on the server; the application dual-writing the same keys and
//! appending rows while the backfill runs. Each ends with the full row sets compared.

mod common;

use std::time::{Duration, Instant};

use common::backfill::{
    all_items, drive, finished, insert_items, item_rows, items_ddl, migration, rows_of,
    start_and_wait_for_rows,
};
use common::{Kind, TestDb};
use migtui::db::{Db, Params, Value};
use migtui::engine::backfill::StepState;

fn step(extra: &str) -> String {
    format!(
        r#"
[[backfill]]
name = "items"
from = {{ database = "old", table = "items", key = ["a", "b"] }}
to = {{ database = "new", table = "items", key = ["a", "b"], version_column = "ver" }}
{extra}
"#
    )
}

async fn rows_done(db: &Db) -> i64 {
    match db
        .query("SELECT rows_done FROM migtui_checkpoints", &Params::new())
        .await
        .ok()
        .and_then(|r| r.scalar().cloned())
    {
        Some(Value::Int(n)) => n,
        _ => 0,
    }
}

async fn killed_and_restarted(old: TestDb, new: TestDb) {
    let label = format!("{:?} -> {:?}", old.kind, new.kind);
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    let (o, n) = (old.connect().await, new.connect().await);
    insert_items(&o, "items", item_rows(600, 1)).await;
    let text = format!(
        "[migration]\nname = \"kill\"\n[databases.old]\nurl = \"{}\"\n[databases.new]\nurl = \"{}\"\n\
         [state]\ndatabase = \"new\"\nlease_ttl_secs = 1\n{}",
        old.url,
        new.url,
        step("chunk_rows = 20\nmax_rows_per_second = 300")
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("m.toml");
    std::fs::write(&file, text).unwrap();
    let bin = env!("CARGO_BIN_EXE_migtui");
    let mut child = std::process::Command::new(bin)
        .args(["backfill", "-c"])
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while rows_done(&n).await < 150 {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{label}: no progress"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let at_kill = rows_done(&n).await;
    assert!(at_kill < 600, "{label}: killed before the end ({at_kill})");
    let out = std::process::Command::new(bin)
        .args(["backfill", "-c"])
        .arg(&file)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{label}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("resuming after"), "{label}: {stdout}");
    assert_eq!(
        rows_done(&n).await,
        600,
        "{label}: every row counted exactly once"
    );
    assert_eq!(
        all_items(&n, "items").await,
        all_items(&o, "items").await,
        "{label}"
    );
}

#[tokio::test]
async fn sigkilled_mid_step_then_restarted_postgres_to_mariadb() {
    let (Some(old), Some(new)) = (TestDb::postgres().await, TestDb::mysql().await) else {
        return;
    };
    killed_and_restarted(old, new).await;
}

#[tokio::test]
async fn sigkilled_mid_step_then_restarted_sqlite_to_postgres() {
    let (Some(old), Some(new)) = (TestDb::sqlite().await, TestDb::postgres().await) else {
        return;
    };
    killed_and_restarted(old, new).await;
}

/// A fresh database on `kind`, or `None` (skip) when its server is down.
async fn fresh(kind: Kind) -> Option<TestDb> {
    match kind {
        Kind::Postgres => TestDb::postgres().await,
        Kind::MySql => TestDb::mysql().await,
        Kind::Sqlite => TestDb::sqlite().await,
    }
}

/// Kill every other migtui connection to `db` on the server, as an operator or a failover would.
async fn kill_connections(admin: &TestDb, target: &TestDb) -> u64 {
    let a = admin.connect().await;
    match target.kind {
        Kind::Postgres => {
            let sql = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                       WHERE datname = :db AND application_name = 'migtui' AND pid <> pg_backend_pid() \
                       AND state <> 'idle'";
            match a
                .query(sql, &Params::new().bind("db", target.name.as_str()))
                .await
            {
                Ok(r) => match r.scalar() {
                    Some(Value::Int(n)) => *n as u64,
                    _ => 0,
                },
                Err(_) => 0,
            }
        }
        Kind::MySql => {
            let ids = a
                .query(
                    "SELECT id FROM information_schema.processlist WHERE db = :db AND id <> CONNECTION_ID() \
                     AND command <> 'Sleep'",
                    &Params::new().bind("db", target.name.as_str()),
                )
                .await
                .map(|r| r.rows)
                .unwrap_or_default();
            for id in &ids {
                let _ = a
                    .execute(&format!("KILL {}", id[0].display()), &Params::new())
                    .await;
            }
            ids.len() as u64
        }
        Kind::Sqlite => 0,
    }
}

#[tokio::test]
async fn connections_killed_mid_chunk_are_retried() {
    for kind in [Kind::Postgres, Kind::MySql] {
        let (Some(old), Some(new), Some(admin)) =
            (fresh(kind).await, fresh(kind).await, fresh(kind).await)
        else {
            return;
        };
        old.run_script(&items_ddl(kind, "items")).await;
        new.run_script(&items_ddl(kind, "items")).await;
        if kind == Kind::Postgres {
            // Each chunk's write takes 30 ms on the server, so a kill lands mid-statement.
            new.run_script(
                "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN PERFORM pg_sleep(0.03); RETURN NULL; END $$; \
                 CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();",
            )
            .await;
        }
        if kind == Kind::MySql {
            // MariaDB has no statement triggers: 3 ms a row makes a 10-row chunk's write take
            // ~30 ms, so on a quiet machine too the kill lands mid-statement.
            new.run_script(
                "CREATE TRIGGER slow AFTER INSERT ON items FOR EACH ROW SET @migtui_slow = SLEEP(0.003)",
            )
            .await;
        }
        let (o, n) = (old.connect().await, new.connect().await);
        insert_items(&o, "items", item_rows(400, 1)).await;
        let s = drive(migration(
            "conn",
            &old,
            &new,
            "new",
            &step("chunk_rows = 10\nmax_rows_per_second = 150"),
        ))
        .await;
        start_and_wait_for_rows(&s).await;
        // Kill connections while they run a statement (not idle ones: the pool would just replace them).
        let mut killed = 0;
        let t0 = Instant::now();
        let retried = |s: &migtui::engine::session::SessionHandle| {
            s.snapshot()
                .backfill
                .steps
                .first()
                .is_some_and(|st| st.retries > 0)
        };
        while (killed < 2 || !retried(&s)) && t0.elapsed() < Duration::from_secs(8) {
            tokio::time::sleep(Duration::from_millis(3)).await;
            killed += kill_connections(&admin, &new).await;
            killed += kill_connections(&admin, &old).await;
        }
        let progress = finished(&s, Duration::from_secs(60)).await;
        s.shutdown().await;
        let st = &progress.steps[0];
        assert!(killed > 0, "{kind:?}: the test killed nothing");
        assert!(
            st.retries > 0,
            "{kind:?}: no kill landed mid-chunk (no retry)"
        );
        assert_eq!(st.state, StepState::Complete, "{kind:?}: {:?}", st.error);
        // A kill mid-statement is a retried chunk; the rows must still be exactly right.
        eprintln!(
            "{kind:?}: killed {killed} connections, {} retries",
            st.retries
        );
        assert_eq!(st.rows_done, 400, "{kind:?}");
        assert_eq!(
            all_items(&n, "items").await,
            all_items(&o, "items").await,
            "{kind:?}"
        );
    }
}

/// The application: update random existing keys in old, then the same in new (a dual write,
/// version bumped), and append new rows to both, until told to stop.
async fn application(o: Db, n: Db, kind: Kind, stop: tokio::sync::watch::Receiver<bool>) -> u64 {
    let upsert = match kind {
        Kind::MySql => {
            "INSERT INTO items (a, b, name, body, doc, ver) VALUES :r ON DUPLICATE KEY UPDATE \
                        name = VALUES(name), ver = VALUES(ver)"
        }
        _ => {
            "INSERT INTO items (a, b, name, body, doc, ver) VALUES :r ON CONFLICT (a, b) DO UPDATE \
              SET name = excluded.name, ver = excluded.ver"
        }
    };
    let mut writes = 0u64;
    let mut i = 0i64;
    while !*stop.borrow() {
        i += 1;
        let k = (i * 7919) % 300;
        let a = (k / 2) * (k / 2) * 1_000 + 3;
        let b = k % 2 + 1;
        let p = Params::new()
            .bind("a", a)
            .bind("b", b)
            .bind("name", format!("app {i}"));
        let _ = o
            .execute(
                "UPDATE items SET name = :name, ver = ver + 1 WHERE a = :a AND b = :b",
                &p,
            )
            .await;
        let row = o
            .query(
                "SELECT a, b, name, body, doc, ver FROM items WHERE a = :a AND b = :b",
                &p,
            )
            .await
            .unwrap();
        n.execute(upsert, &Params::new().bind_tuples("r", row.rows))
            .await
            .unwrap();
        if i % 10 == 0 {
            // A new row past the high-water mark, dual-written.
            let new_row = vec![vec![
                Value::Int(1_000_000_000 + i),
                Value::Int(1),
                Value::Text(format!("appended {i}")),
                Value::Null,
                Value::Null,
                Value::Int(1),
            ]];
            insert_items(&o, "items", new_row.clone()).await;
            insert_items(&n, "items", new_row).await;
        }
        writes += 1;
    }
    writes
}

#[tokio::test]
async fn concurrent_writer_and_growing_source_end_in_agreement() {
    for kind in [Kind::Postgres, Kind::MySql, Kind::Sqlite] {
        let (Some(old), Some(new)) = (fresh(kind).await, fresh(kind).await) else {
            return;
        };
        old.run_script(&items_ddl(kind, "items")).await;
        new.run_script(&items_ddl(kind, "items")).await;
        let (o, n) = (old.connect().await, new.connect().await);
        insert_items(&o, "items", item_rows(300, 1)).await;
        let s = drive(migration(
            "race",
            &old,
            &new,
            "new",
            &step("chunk_rows = 8\nmax_rows_per_second = 300"),
        ))
        .await;
        // The application starts once the step has taken its high-water mark.
        start_and_wait_for_rows(&s).await;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let app = tokio::spawn(application(o.clone(), n.clone(), kind, stop_rx));
        let progress = finished(&s, Duration::from_secs(60)).await;
        s.shutdown().await;
        stop_tx.send_replace(true);
        let writes = app.await.unwrap();
        let st = &progress.steps[0];
        assert_eq!(st.state, StepState::Complete, "{kind:?}: {:?}", st.error);
        assert!(
            writes > 20,
            "{kind:?}: the application wrote during the backfill ({writes})"
        );
        assert_eq!(
            st.rows_done, 300,
            "{kind:?}: rows past the high-water mark are the dual writes' business"
        );
        let appended = rows_of(&o, "SELECT count(*) FROM items WHERE a >= 1000000000").await;
        assert_ne!(
            appended,
            vec![vec!["0".to_string()]],
            "{kind:?}: the source grew"
        );
        assert_eq!(
            all_items(&n, "items").await,
            all_items(&o, "items").await,
            "{kind:?}"
        );
    }
}
