//! Verification across every pair of engines: identical data with every `Value` type gives no
//! divergence; each planted kind is found exactly, sampled and full; a row fixed between the
//! first read and the recheck is recorded as healed.
mod common;

use std::collections::BTreeMap;

use common::{Kind, TestDb, all_engines};
use migtui::config::{FullDiffConfig, SampleConfig, VerifyCheck};
use migtui::db::{Db, Params, Value};
use migtui::engine::verify::full::{FullOptions, full_diff};
use migtui::engine::verify::{DiffKind, KeySourceKind, Verifier, key_text};
use migtui::store::{DivergenceFilter, DivergenceStatus, Store};

fn fixture(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "verify-types-pg.sql",
        Kind::MySql => "verify-types-mysql.sql",
        Kind::Sqlite => "verify-types-sqlite.sql",
    }
}

pub fn check(recheck_after_ms: u64) -> VerifyCheck {
    VerifyCheck {
        name: "items".into(),
        key: vec!["id".into()],
        sample: SampleConfig {
            database: "old".into(),
            table: "items".into(),
            per_second: 50.0,
            recent_column: None,
            unit: Default::default(),
        },
        old_database: "old".into(),
        new_database: "new".into(),
        old_sql: "SELECT * FROM items WHERE id IN (:keys)".into(),
        new_sql: "SELECT * FROM items WHERE id IN (:keys)".into(),
        normalize: BTreeMap::new(),
        redact: vec!["u".into()],
        recheck_after_ms,
        float_tolerance: 1e-9,
        full: FullDiffConfig {
            chunk_rows: Some(3),
            ..FullDiffConfig::default()
        },
        at: Default::default(),
    }
}

async fn connect(tdb: &TestDb, name: &str) -> Db {
    migtui::db::connect(&tdb.config(name), &migtui::secret::Secrets::default())
        .await
        .unwrap()
}

/// Every (old, new) pair of engines that are up, each side a fresh database with the fixture.
async fn every_pair() -> Vec<(String, TestDb, TestDb)> {
    let kinds: Vec<Kind> = all_engines().await.iter().map(|t| t.kind).collect();
    let mut out = Vec::new();
    for ok in &kinds {
        for nk in &kinds {
            let o = fresh(*ok).await;
            let n = fresh(*nk).await;
            o.run_fixture(fixture(o.kind)).await;
            n.run_fixture(fixture(n.kind)).await;
            out.push((format!("{ok:?} -> {nk:?}"), o, n));
        }
    }
    out
}

async fn fresh(kind: Kind) -> TestDb {
    match kind {
        Kind::Postgres => TestDb::postgres().await,
        Kind::MySql => TestDb::mysql().await,
        Kind::Sqlite => TestDb::sqlite().await,
    }
    .unwrap()
}

fn all_keys() -> Vec<Vec<Value>> {
    (1..=8).map(|i| vec![Value::Int(i)]).collect()
}

#[tokio::test]
async fn identical_data_gives_no_divergence_on_any_pair() {
    for (label, o, n) in every_pair().await {
        let v = Verifier::new(
            check(0),
            connect(&o, "old").await,
            connect(&n, "new").await,
            None,
        );
        let r = v
            .verify_keys(&all_keys(), KeySourceKind::Keys)
            .await
            .unwrap();
        assert_eq!(r.compared, 7, "{label}");
        assert!(r.open.is_empty(), "{label}: {:#?}", r.open);
        let full = full_diff(
            &v,
            &FullOptions {
                chunk_rows: 3,
                ..FullOptions::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(full.divergent, 0, "{label}: {:#?}", full.differences);
        assert_eq!((full.rows_old, full.rows_new), (7, 7), "{label}");
        assert!(full.progress.chunks_total >= 3, "{label}");
    }
}

const PLANT: &[&str] = &[
    "UPDATE items SET t = 'café ☕' WHERE id = 1",
    "DELETE FROM items WHERE id = 2",
    "UPDATE items SET t = NULL WHERE id = 3",
    "UPDATE items SET ts = '2024-01-01 00:00:00.001001' WHERE id = 4",
    "UPDATE items SET t = 'FIVE' WHERE id = 5",
    "UPDATE items SET t = 'sevens' WHERE id = 6",
    "UPDATE items SET t = 'sixsix' WHERE id = 7",
    "INSERT INTO items (id, t) VALUES (8, 'extra')",
];

fn expected() -> Vec<(String, DiffKind, Vec<String>)> {
    let m = |k: &str, c: &str| (k.to_string(), DiffKind::Mismatch, vec![c.to_string()]);
    vec![
        m("1", "t"),
        ("2".into(), DiffKind::MissingInNew, vec![]),
        m("3", "t"),
        m("4", "ts"),
        m("5", "t"),
        m("6", "t"),
        m("7", "t"),
        ("8".into(), DiffKind::MissingInOld, vec![]),
    ]
}

fn found(diffs: &[migtui::engine::verify::Difference]) -> Vec<(String, DiffKind, Vec<String>)> {
    let mut v: Vec<_> = diffs
        .iter()
        .map(|d| (key_text(&d.key), d.kind, d.columns.clone()))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn planted_divergences_are_found_exactly_sampled_and_full() {
    for (label, o, n) in every_pair().await {
        let new = connect(&n, "new").await;
        for sql in PLANT {
            new.execute(sql, &Params::new()).await.unwrap();
        }
        let store = Store::open(new.clone(), "m").await.unwrap();
        let v = Verifier::new(check(0), connect(&o, "old").await, new, Some(store.clone()));
        let r = v
            .verify_keys(&all_keys(), KeySourceKind::Keys)
            .await
            .unwrap();
        assert_eq!(found(&r.open), expected(), "{label} sampled");
        assert_eq!(r.compared, 8, "{label}");
        let full = full_diff(
            &v,
            &FullOptions {
                chunk_rows: 3,
                ..FullOptions::default()
            },
            &mut |_| {},
        )
        .await
        .unwrap();
        assert_eq!(found(&full.differences), expected(), "{label} full");
        // Recorded once per key, redacted column masked, numbers from the windows.
        let page = store
            .divergence_page(&DivergenceFilter::default(), None, 100)
            .await
            .unwrap();
        assert_eq!(page.len(), 8, "{label}");
        let one = &page[0];
        assert_eq!(one.times_seen, 2, "{label}: seen sampled and full");
        assert_eq!(
            one.old_raw.as_ref().unwrap()["u"]["value"],
            "***",
            "{label}"
        );
        let nums = v.numbers(None).await.unwrap();
        assert_eq!((nums.compared, nums.divergent), (8, 8), "{label}");
    }
}

#[tokio::test]
async fn a_row_fixed_before_the_recheck_is_healed_and_one_still_changing_is_in_flight() {
    let o = fresh(Kind::Sqlite).await;
    let n = fresh(Kind::Sqlite).await;
    o.run_fixture(fixture(o.kind)).await;
    n.run_fixture(fixture(n.kind)).await;
    let new = connect(&n, "new").await;
    new.execute(
        "UPDATE items SET t = 'wrong' WHERE id IN (5, 6, 7)",
        &Params::new(),
    )
    .await
    .unwrap();
    let store = Store::open(new.clone(), "m").await.unwrap();
    let v = Verifier::new(
        check(600),
        connect(&o, "old").await,
        new.clone(),
        Some(store.clone()),
    );
    let keys = all_keys();
    let run = tokio::spawn(async move { v.verify_keys(&keys, KeySourceKind::Sample).await });
    tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    new.execute("UPDATE items SET t = 'five' WHERE id = 5", &Params::new())
        .await
        .unwrap();
    new.execute(
        "UPDATE items SET t = 'wrong again' WHERE id = 6",
        &Params::new(),
    )
    .await
    .unwrap();
    let r = run.await.unwrap().unwrap();
    let keys = |d: &[migtui::engine::verify::Difference]| -> Vec<String> {
        found(d).into_iter().map(|f| f.0).collect()
    };
    assert_eq!(keys(&r.healed), ["5"]);
    assert_eq!(keys(&r.in_flight), ["6"]);
    assert_eq!(keys(&r.open), ["7"]);
    let status = |s| DivergenceFilter {
        check: Some("items".into()),
        status: Some(s),
    };
    for (s, key) in [
        (DivergenceStatus::Healed, "5"),
        (DivergenceStatus::InFlight, "6"),
        (DivergenceStatus::Open, "7"),
    ] {
        let page = store.divergence_page(&status(s), None, 10).await.unwrap();
        assert_eq!(page.len(), 1, "{s:?}");
        assert_eq!(page[0].key_text, key);
    }
    let counts = store.verify_counts("items", None).await.unwrap();
    assert_eq!(
        (
            counts.compared,
            counts.divergent,
            counts.healed,
            counts.in_flight
        ),
        (7, 1, 1, 1)
    );

    // The rows are put right (the backfill reached them): the next sample that compares them
    // equal heals the open and in-flight records; nothing stays open for a row that agrees.
    let old = connect(&o, "old").await;
    for id in [6i64, 7] {
        let t = old
            .query(
                "SELECT t FROM items WHERE id = :id",
                &Params::new().bind("id", id),
            )
            .await
            .unwrap();
        let t = t.scalar().cloned().unwrap_or(Value::Null);
        new.execute(
            "UPDATE items SET t = :t WHERE id = :id",
            &Params::new().bind("t", t).bind("id", id),
        )
        .await
        .unwrap();
    }
    let v = Verifier::new(check(0), old, new.clone(), Some(store.clone()));
    let again = v
        .verify_keys(&all_keys(), KeySourceKind::Sample)
        .await
        .unwrap();
    assert!(again.open.is_empty(), "{:?}", again.open);
    let open = store
        .divergence_page(&status(DivergenceStatus::Open), None, 10)
        .await
        .unwrap();
    assert!(open.is_empty(), "still open: {open:?}");
    let healed = store
        .divergence_page(&status(DivergenceStatus::Healed), None, 10)
        .await
        .unwrap();
    let mut healed: Vec<String> = healed.into_iter().map(|d| d.key_text).collect();
    healed.sort();
    assert_eq!(healed, ["5", "6", "7"]);
}

#[tokio::test]
async fn an_interrupted_full_diff_resumes_from_its_last_chunk() {
    let o = fresh(Kind::Sqlite).await;
    let n = fresh(Kind::Sqlite).await;
    o.run_fixture(fixture(o.kind)).await;
    n.run_fixture(fixture(n.kind)).await;
    let new = connect(&n, "new").await;
    for sql in PLANT {
        new.execute(sql, &Params::new()).await.unwrap();
    }
    let store = Store::open(new.clone(), "m").await.unwrap();
    let mut v = Verifier::new(check(0), connect(&o, "old").await, new, Some(store));
    let (stop, cancel) = tokio::sync::watch::channel(false);
    v.cancel = Some(cancel);
    let opts = FullOptions {
        chunk_rows: 2,
        parallel: 1,
        ..FullOptions::default()
    };
    // Stop after the first chunk: keys 1..=8 in 4 chunks, the first below 3 (keys 1 and 2).
    let first = full_diff(&v, &opts, &mut |p| {
        if p.chunks_done == 1 {
            stop.send_replace(true);
        }
    })
    .await;
    assert!(first.is_err(), "{first:?}");
    stop.send_replace(false);
    let second = full_diff(&v, &opts, &mut |_| {}).await.unwrap();
    assert!(second.progress.resumed);
    assert!(second.progress.chunks_total < 4, "{:?}", second.progress);
    // Keys 1 and 2 were found by the first run; the rest by the second; the total counts both.
    let want = expected()[2..].to_vec();
    assert_eq!(found(&second.differences), want);
    assert_eq!(second.divergent, 8);
    // A finished run starts afresh next time.
    let third = full_diff(&v, &opts, &mut |_| {}).await.unwrap();
    assert!(!third.progress.resumed);
    assert_eq!(found(&third.differences), expected());
}
