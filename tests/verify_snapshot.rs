//! The full diff under concurrent writes: each side's chunk is read inside one snapshot
//! (`Database::begin_snapshot`), so a chunk's checksum and `(key, hash)` list see one state;
//! writes that land during the run never become divergences on keys they did not change, and
//! planted divergences are still found exactly.
mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Kind, TestDb, all_engines};
use migtui::config::{FullDiffConfig, SampleConfig, VerifyCheck};
use migtui::db::checksum::{HashSpec, KeyRange, checksum, checksum_in};
use migtui::db::rowhash::HashOptions;
use migtui::db::{Db, Params};
use migtui::engine::verify::full::{FullOptions, full_diff};
use migtui::engine::verify::{Verifier, key_text};

const TABLE: &str = "CREATE TABLE rows_w (id INTEGER PRIMARY KEY, v VARCHAR(40) NOT NULL)";
const ROWS: i64 = 600;

async fn table(tdb: &TestDb, name: &str) -> Db {
    let db = migtui::db::connect(&tdb.config(name), &migtui::secret::Secrets::default())
        .await
        .unwrap();
    db.execute(TABLE, &Params::new()).await.unwrap();
    // One multi-row insert: every engine takes `VALUES (…), (…)`.
    let values: Vec<String> = (1..=ROWS).map(|i| format!("({i}, 'v{i}')")).collect();
    let sql = format!("INSERT INTO rows_w (id, v) VALUES {}", values.join(", "));
    db.execute(&sql, &Params::new()).await.unwrap();
    db
}

async fn spec(db: &Db) -> HashSpec {
    HashSpec::for_table(
        db.as_ref(),
        "rows_w",
        &["id".into()],
        None,
        HashOptions::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_snapshot_reads_one_state_while_writes_commit() {
    for tdb in all_engines().await {
        let label = format!("{:?}", tdb.kind);
        let db = table(&tdb, "old").await;
        let spec = spec(&db).await;
        let all = KeyRange::all();
        let mut tx = db.begin_snapshot().await.unwrap();
        let before = checksum_in(db.as_ref(), Some(tx.as_mut()), &spec, &all)
            .await
            .unwrap();
        // A write from another connection. PostgreSQL and MariaDB commit it at once; SQLite
        // (rollback journal) waits for the read transaction to end before it can commit.
        let writer = db.clone();
        let write = tokio::spawn(async move {
            writer
                .execute("UPDATE rows_w SET v = 'moved' WHERE id = 7", &Params::new())
                .await
        });
        let _ = tokio::time::timeout(Duration::from_millis(500), async {
            while !write.is_finished() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        let again = checksum_in(db.as_ref(), Some(tx.as_mut()), &spec, &all)
            .await
            .unwrap();
        assert_eq!(before, again, "{label}: the snapshot saw a later commit");
        tx.rollback().await.unwrap();
        assert_eq!(write.await.unwrap().unwrap(), 1, "{label}");
        let after = checksum(db.as_ref(), &spec, &all).await.unwrap();
        assert_ne!(
            before, after,
            "{label}: the write is visible outside the snapshot"
        );
    }
}

fn check(recheck_after_ms: u64) -> VerifyCheck {
    VerifyCheck {
        name: "w".into(),
        key: vec!["id".into()],
        sample: SampleConfig {
            database: "old".into(),
            table: "rows_w".into(),
            per_second: 50.0,
            recent_column: None,
            unit: Default::default(),
        },
        old_database: "old".into(),
        new_database: "new".into(),
        old_sql: "SELECT * FROM rows_w WHERE id IN (:keys)".into(),
        new_sql: "SELECT * FROM rows_w WHERE id IN (:keys)".into(),
        normalize: Default::default(),
        redact: Vec::new(),
        recheck_after_ms,
        float_tolerance: 1e-9,
        full: FullDiffConfig {
            chunk_rows: Some(40),
            ..FullDiffConfig::default()
        },
        at: Default::default(),
    }
}

async fn fresh(kind: Kind) -> TestDb {
    match kind {
        Kind::Postgres => TestDb::postgres().await,
        Kind::MySql => TestDb::mysql().await,
        Kind::Sqlite => TestDb::sqlite().await,
    }
    .unwrap()
}

#[tokio::test]
async fn concurrent_writes_never_become_divergences_and_planted_ones_are_found() {
    let kinds: Vec<Kind> = all_engines().await.iter().map(|t| t.kind).collect();
    // Server engines only: SQLite's writer waits for each chunk's read transaction, so it
    // would not write *during* the chunk reads this test is about.
    let servers: Vec<Kind> = kinds.into_iter().filter(|k| *k != Kind::Sqlite).collect();
    for ok in &servers {
        for nk in &servers {
            let label = format!("{ok:?} -> {nk:?}");
            let (o, n) = (fresh(*ok).await, fresh(*nk).await);
            let (old, new) = (table(&o, "old").await, table(&n, "new").await);
            for sql in [
                "UPDATE rows_w SET v = 'planted' WHERE id = 17",
                "DELETE FROM rows_w WHERE id = 333",
                "INSERT INTO rows_w (id, v) VALUES (9001, 'extra')",
            ] {
                new.execute(sql, &Params::new()).await.unwrap();
            }
            let planted: BTreeSet<String> = ["17", "333", "9001"].map(String::from).into();
            // A dual-writing application: each write lands on old, then on new.
            let stop = Arc::new(AtomicBool::new(false));
            let writer = {
                let (old, new, stop) = (old.clone(), new.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut touched = BTreeSet::new();
                    let mut n = 0i64;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        // Keys away from the planted ones.
                        let id = 100 + (n * 37) % 200;
                        let p = Params::new().bind("id", id).bind("v", format!("w{n}"));
                        let sql = "UPDATE rows_w SET v = :v WHERE id = :id";
                        old.execute(sql, &p).await.unwrap();
                        new.execute(sql, &p).await.unwrap();
                        touched.insert(id.to_string());
                    }
                    touched
                })
            };
            tokio::time::sleep(Duration::from_millis(50)).await;
            let v = Verifier::new(check(400), old.clone(), new.clone(), None);
            let opts = FullOptions {
                chunk_rows: 40,
                parallel: 4,
                ..FullOptions::default()
            };
            let r = full_diff(&v, &opts, &mut |_| {}).await.unwrap();
            stop.store(true, Ordering::Relaxed);
            let touched = writer.await.unwrap();
            let open: BTreeSet<String> = r.differences.iter().map(|d| key_text(&d.key)).collect();
            assert_eq!(open, planted, "{label}: exactly the planted keys stay open");
            assert_eq!(r.divergent, 3, "{label}");
            assert!(
                touched.len() > 5,
                "{label}: the writer wrote during the diff"
            );
            // Whatever the writes made the first read see was healed or in flight.
            assert!(r.rows_old >= ROWS as u64, "{label}");
        }
    }
}
