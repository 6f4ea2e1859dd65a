//! The full diff beyond the basics: composite keys on every pair of engines, divergences
//! rechecked after the lag (healed, in flight, open), the throttle from the check's config.
mod common;

use std::time::{Duration, Instant};

use common::{Kind, TestDb, all_engines};
use migtui::config::{FullDiffConfig, SampleConfig, VerifyCheck};
use migtui::db::{Db, Params};
use migtui::engine::verify::full::{FullOptions, full_diff};
use migtui::engine::verify::{Difference, Verifier, key_text};
use migtui::store::{DivergenceFilter, DivergenceStatus, Store};

fn check(table: &str, key: &[&str], recheck_after_ms: u64) -> VerifyCheck {
    VerifyCheck {
        name: "c".into(),
        key: key.iter().map(|k| k.to_string()).collect(),
        sample: SampleConfig {
            database: "old".into(),
            table: table.into(),
            per_second: 50.0,
            recent_column: None,
            unit: Default::default(),
        },
        old_database: "old".into(),
        new_database: "new".into(),
        old_sql: format!("SELECT * FROM {table} WHERE id IN (:keys)"),
        new_sql: format!("SELECT * FROM {table} WHERE id IN (:keys)"),
        normalize: Default::default(),
        redact: Vec::new(),
        recheck_after_ms,
        float_tolerance: 1e-9,
        full: FullDiffConfig {
            chunk_rows: Some(3),
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

async fn connect(tdb: &TestDb, name: &str) -> Db {
    migtui::db::connect(&tdb.config(name), &migtui::secret::Secrets::default())
        .await
        .unwrap()
}

const PAIRS: &str = "CREATE TABLE pairs (a INTEGER NOT NULL, b VARCHAR(10) NOT NULL, \
                     v VARCHAR(20), PRIMARY KEY (a, b))";

fn keys(diffs: &[Difference]) -> Vec<String> {
    let mut k: Vec<String> = diffs.iter().map(|d| key_text(&d.key)).collect();
    k.sort();
    k
}

#[tokio::test]
async fn composite_keys_are_diffed_exactly_on_every_pair() {
    let kinds: Vec<Kind> = all_engines().await.iter().map(|t| t.kind).collect();
    for ok in &kinds {
        for nk in &kinds {
            let label = format!("{ok:?} -> {nk:?}");
            let (o, n) = (fresh(*ok).await, fresh(*nk).await);
            let (old, new) = (connect(&o, "old").await, connect(&n, "new").await);
            for db in [&old, &new] {
                db.execute(PAIRS, &Params::new()).await.unwrap();
                for a in 1i64..=6 {
                    for b in ["x", "y"] {
                        let sql = "INSERT INTO pairs (a, b, v) VALUES (:a, :b, :v)";
                        let p = Params::new()
                            .bind("a", a)
                            .bind("b", b)
                            .bind("v", format!("{a}{b}"));
                        db.execute(sql, &p).await.unwrap();
                    }
                }
            }
            for sql in [
                "UPDATE pairs SET v = 'changed' WHERE a = 2 AND b = 'y'",
                "DELETE FROM pairs WHERE a = 3 AND b = 'x'",
                "INSERT INTO pairs (a, b, v) VALUES (9, 'z', 'extra')",
                // Values swapped between two rows: the sums of hashes must still differ.
                "UPDATE pairs SET v = '5y' WHERE a = 5 AND b = 'x'",
                "UPDATE pairs SET v = '5x' WHERE a = 5 AND b = 'y'",
            ] {
                new.execute(sql, &Params::new()).await.unwrap();
            }
            let v = Verifier::new(check("pairs", &["a", "b"], 0), old, new, None);
            let r = full_diff(&v, &FullOptions::for_check(&v.check), &mut |_| {})
                .await
                .unwrap();
            assert_eq!(
                keys(&r.differences),
                [
                    r#"["2","y"]"#,
                    r#"["3","x"]"#,
                    r#"["5","x"]"#,
                    r#"["5","y"]"#,
                    r#"["9","z"]"#
                ],
                "{label}"
            );
            assert_eq!((r.rows_old, r.rows_new), (12, 12), "{label}");
            assert!(r.progress.chunks_total > 1, "{label}: chunked by `a`");
        }
    }
}

#[tokio::test]
async fn full_diff_divergences_are_rechecked_before_they_count() {
    let (o, n) = (fresh(Kind::Sqlite).await, fresh(Kind::Sqlite).await);
    o.run_fixture("verify-types-sqlite.sql").await;
    n.run_fixture("verify-types-sqlite.sql").await;
    let new = connect(&n, "new").await;
    new.execute(
        "UPDATE items SET t = 'wrong' WHERE id IN (5, 6, 7)",
        &Params::new(),
    )
    .await
    .unwrap();
    let store = Store::open(new.clone(), "m").await.unwrap();
    let v = Verifier::new(
        check("items", &["id"], 800),
        connect(&o, "old").await,
        new.clone(),
        Some(store.clone()),
    );
    let run =
        tokio::spawn(
            async move { full_diff(&v, &FullOptions::for_check(&v.check), &mut |_| {}).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    new.execute("UPDATE items SET t = 'five' WHERE id = 5", &Params::new())
        .await
        .unwrap();
    new.execute("UPDATE items SET t = 'again' WHERE id = 6", &Params::new())
        .await
        .unwrap();
    let r = run.await.unwrap().unwrap();
    assert_eq!(keys(&r.differences), ["7"]);
    assert_eq!((r.divergent, r.healed, r.in_flight), (1, 1, 1));
    for (s, key) in [
        (DivergenceStatus::Healed, "5"),
        (DivergenceStatus::InFlight, "6"),
        (DivergenceStatus::Open, "7"),
    ] {
        let filter = DivergenceFilter {
            check: Some("c".into()),
            status: Some(s),
        };
        let page = store.divergence_page(&filter, None, 10).await.unwrap();
        assert_eq!(page.len(), 1, "{s:?}");
        assert_eq!(page[0].key_text, key, "{s:?}");
        assert_eq!(page[0].source, "full");
    }
}

#[tokio::test]
async fn the_checks_throttle_paces_the_full_diff() {
    let (o, n) = (fresh(Kind::Sqlite).await, fresh(Kind::Sqlite).await);
    o.run_fixture("verify-types-sqlite.sql").await;
    n.run_fixture("verify-types-sqlite.sql").await;
    let mut c = check("items", &["id"], 0);
    c.full.max_rows_per_second = Some(7.0);
    let v = Verifier::new(c, connect(&o, "old").await, connect(&n, "new").await, None);
    let opts = FullOptions::for_check(&v.check);
    assert_eq!(opts.max_rows_per_second, Some(7.0));
    let started = Instant::now();
    let r = full_diff(&v, &opts, &mut |_| {}).await.unwrap();
    // 7 rows at 7 rows/s: about a second, where unthrottled it takes milliseconds.
    assert_eq!((r.rows_old, r.divergent), (7, 0));
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn postgres_arrays_compare_as_documents_sampled_and_full() {
    let Some(o) = TestDb::postgres().await else {
        return;
    };
    let n = TestDb::postgres().await.unwrap();
    let (old, new) = (connect(&o, "old").await, connect(&n, "new").await);
    for db in [&old, &new] {
        db.execute(
            "CREATE TABLE arr (id int PRIMARY KEY, ints int[], tags text[], nums numeric[])",
            &Params::new(),
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO arr VALUES (1, '{1,2,NULL}', '{a,\"b c\"}', '{1.50,2}'), \
             (2, '{}', NULL, '{}'), (3, '{7}', '{x}', '{3}')",
            &Params::new(),
        )
        .await
        .unwrap();
    }
    let v = Verifier::new(check("arr", &["id"], 0), old, new.clone(), None);
    let all: Vec<Vec<migtui::db::Value>> = (1i64..=3).map(|i| vec![i.into()]).collect();
    let same = v
        .verify_keys(&all, migtui::engine::verify::KeySourceKind::Keys)
        .await
        .unwrap();
    assert_eq!((same.compared, same.open.len()), (3, 0), "{:#?}", same.open);
    let full = full_diff(&v, &FullOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(full.divergent, 0, "{:#?}", full.differences);
    new.execute("UPDATE arr SET ints = '{7,8}' WHERE id = 3", &Params::new())
        .await
        .unwrap();
    let r = v
        .verify_keys(&all, migtui::engine::verify::KeySourceKind::Keys)
        .await
        .unwrap();
    assert_eq!(keys(&r.open), ["3"]);
    assert_eq!(r.open[0].columns, ["ints"]);
    let full = full_diff(&v, &FullOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(keys(&full.differences), ["3"]);
}
