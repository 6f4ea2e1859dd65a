//! Counting pages rather than rows (`sample.unit = "pages"`): when divergences cluster in a
//! few heap pages, the bound over pages stays honest where the bound over rows claims far too
//! much; the option parses and bad values are refused with their line.
mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use common::TestDb;
use migtui::config::{FullDiffConfig, SampleConfig, SampleUnit, VerifyCheck, parse_text};
use migtui::db::{Db, Params, Value};
use migtui::engine::verify::sample::{random_pages, table_pages};
use migtui::engine::verify::stats::upper_bound;
use migtui::engine::verify::{Verifier, key_text};
use migtui::store::Store;

const ROWS: i64 = 20_000;
/// The heap pages of `items` whose every row is made divergent on the new side.
const BAD_PAGES: [i64; 5] = [20, 21, 22, 23, 24];

fn check() -> VerifyCheck {
    VerifyCheck {
        name: "items".into(),
        key: vec!["id".into()],
        sample: SampleConfig {
            database: "old".into(),
            table: "items".into(),
            per_second: 50.0,
            recent_column: None,
            unit: SampleUnit::Pages,
        },
        old_database: "old".into(),
        new_database: "new".into(),
        old_sql: "SELECT id, v FROM items WHERE id IN (:keys)".into(),
        new_sql: "SELECT id, v FROM items_new WHERE id IN (:keys)".into(),
        normalize: BTreeMap::new(),
        redact: Vec::new(),
        recheck_after_ms: 0,
        float_tolerance: 1e-9,
        full: FullDiffConfig::default(),
        at: Default::default(),
    }
}

/// `items` and its copy `items_new`, every row of `BAD_PAGES` changed in the copy. Returns
/// the database, the table's page count and the planted rows.
async fn clustered() -> Option<(TestDb, Db, u64, u64)> {
    let t = TestDb::postgres().await?;
    t.run_script(&format!(
        "CREATE TABLE items (id int PRIMARY KEY, v text NOT NULL) WITH (fillfactor = 100);
         INSERT INTO items SELECT g, repeat('x', 60) FROM generate_series(1, {ROWS}) g;
         CREATE TABLE items_new AS SELECT * FROM items;
         UPDATE items_new SET v = 'bad' WHERE id IN (
           SELECT id FROM items WHERE ((ctid::text)::point)[0]::bigint = ANY('{{{}}}'));
         ANALYZE items; ANALYZE items_new;",
        BAD_PAGES.map(|p| p.to_string()).join(",")
    ))
    .await;
    let db = t.connect().await;
    let one = |sql: &'static str| {
        let db = db.clone();
        async move {
            match db.query(sql, &Params::new()).await.unwrap().rows[0][0] {
                Value::Int(n) => n as u64,
                ref v => panic!("{sql}: {v:?}"),
            }
        }
    };
    let pages = one("SELECT (max(((ctid::text)::point)[0]) + 1)::bigint FROM items").await;
    let planted =
        one("SELECT count(*)::bigint FROM items o JOIN items_new n USING (id) WHERE o.v <> n.v")
            .await;
    Some((t, db, pages, planted))
}

#[tokio::test]
async fn clustered_divergences_stay_under_the_page_bound_not_the_row_bound() {
    let Some((_t, db, pages, planted)) = clustered().await else {
        return;
    };
    assert!(
        pages > 150 && planted > 300,
        "{pages} pages, {planted} planted"
    );
    let true_page_share = BAD_PAGES.len() as f64 / pages as f64;
    let true_row_share = planted as f64 / ROWS as f64;
    let v = Verifier::new(check(), db.clone(), db.clone(), None);
    let (mut page_covers, mut row_covers, mut hit_draws) = (0, 0, 0);
    let draws = 40u32;
    for seed in 1..=draws {
        let sample = random_pages(db.as_ref(), "items", &v.check.key, 2000, seed)
            .await
            .unwrap();
        assert!(
            sample.keys.len() >= 200,
            "seed {seed}: {}",
            sample.keys.len()
        );
        let (report, (pages_compared, pages_bad)) = v.verify_pages(&sample).await.unwrap();
        assert_eq!(pages_compared, sample.page_count());
        assert_eq!(report.compared, sample.keys.len() as u64);
        // Every divergent key sits on a planted page, and each planted page drawn is divergent.
        let bad: HashSet<String> = report.open.iter().map(|d| key_text(&d.key)).collect();
        let mut drawn_bad = HashSet::new();
        for (k, p) in sample.keys.iter().zip(&sample.pages) {
            assert_eq!(
                bad.contains(&key_text(k)),
                BAD_PAGES.contains(p),
                "key {k:?}"
            );
            if BAD_PAGES.contains(p) {
                drawn_bad.insert(*p);
            }
        }
        assert_eq!(pages_bad, drawn_bad.len() as u64, "seed {seed}");
        let page_upper = upper_bound(pages_compared, pages_bad);
        let row_upper = upper_bound(report.compared, report.open.len() as u64);
        page_covers += usize::from(true_page_share <= page_upper);
        row_covers += usize::from(true_row_share <= row_upper);
        if pages_bad > 0 {
            hit_draws += 1;
        } else {
            // A clean draw: the row bound claims far less than the pages can support.
            assert!(page_upper > 20.0 * row_upper, "{page_upper} vs {row_upper}");
        }
    }
    eprintln!(
        "{draws} draws over {pages} pages ({planted} rows planted in {} pages): page bound \
         covers the true page share in {page_covers}, row bound the true row share in \
         {row_covers}; {hit_draws} draws hit a planted page",
        BAD_PAGES.len()
    );
    // Honest at 95%: allow two misses in 40 for chance. The row bound misses whenever the
    // draw happens to avoid the cluster, which is most draws.
    assert!(
        page_covers >= 38,
        "page bound covered {page_covers} of {draws}"
    );
    assert!(
        row_covers <= 28,
        "row bound covered {row_covers} of {draws}"
    );
    assert!(hit_draws > 0 && hit_draws < draws);
}

#[tokio::test]
async fn the_store_keeps_page_counts_and_the_table_bound_scales_by_its_pages() {
    let Some((_t, db, pages, _)) = clustered().await else {
        return;
    };
    let store = Store::open(db.clone(), "m").await.unwrap();
    let v = Verifier::new(check(), db.clone(), db.clone(), Some(store));
    let (mut compared, mut divergent, mut rows) = (0, 0, 0);
    for seed in [7u32, 8, 9] {
        let sample = random_pages(db.as_ref(), "items", &v.check.key, 1000, seed)
            .await
            .unwrap();
        let (report, (c, d)) = v.verify_pages(&sample).await.unwrap();
        (compared, divergent, rows) = (compared + c, divergent + d, rows + report.compared);
    }
    let exact = table_pages(db.as_ref(), "items").await.unwrap();
    assert!(exact >= pages && exact <= pages + 1, "{exact} vs {pages}");
    let n = v.numbers(None).await.unwrap();
    assert_eq!(n.compared, rows, "rows compared are still counted");
    let p = n.pages.expect("a check counting pages has a page bound");
    assert_eq!((p.compared, p.divergent), (compared, divergent));
    assert_eq!(p.table_pages, Some(exact));
    assert_eq!(p.upper, upper_bound(compared, divergent));
    assert_eq!(p.table_bound, Some((p.upper * exact as f64).ceil() as u64));
    assert_eq!(n.gating_upper(), p.upper);
}

#[tokio::test]
async fn pages_cannot_be_sampled_outside_postgresql() {
    let Some(t) = TestDb::sqlite().await else {
        return;
    };
    t.run_script("CREATE TABLE items (id integer PRIMARY KEY); INSERT INTO items VALUES (1);")
        .await;
    let db = t.connect().await;
    let err = random_pages(db.as_ref(), "items", &["id".into()], 10, 1)
        .await
        .expect_err("SQLite has no pages to sample");
    assert!(err.to_string().contains("needs PostgreSQL"), "{err}");
}

fn config_with(unit: &str, old_url: &str) -> Result<migtui::config::Config, String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/postgres.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let from = "recent_column = \"updated_at\" }";
    assert!(text.contains(from));
    let text = text.replacen(from, &format!("recent_column = \"updated_at\"{unit} }}"), 1);
    let env = |name: &str| match name {
        "OLD_DATABASE_URL" => Some(old_url.to_string()),
        "NEW_DATABASE_URL" => Some("postgres://app@127.0.0.1/app".to_string()),
        _ => None,
    };
    parse_text(Path::new("m.toml"), &text, &env).map_err(|e| e.to_string())
}

#[test]
fn the_unit_parses_and_bad_values_are_refused_with_their_line() {
    let pg = "postgres://app@127.0.0.1/app";
    let unit = |extra: &str, url: &str| config_with(extra, url).map(|c| c.verify[0].sample.unit);
    assert_eq!(unit("", pg), Ok(SampleUnit::Rows));
    assert_eq!(unit(", unit = \"rows\"", pg), Ok(SampleUnit::Rows));
    assert_eq!(unit(", unit = \"pages\"", pg), Ok(SampleUnit::Pages));
    // The sample line of sample-config/postgres.toml.
    let line = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/postgres.toml"),
    )
    .unwrap()
    .lines()
    .position(|l| l.starts_with("sample = "))
    .unwrap()
        + 1;
    let err = unit(", unit = \"blocks\"", pg).unwrap_err();
    assert!(err.contains(&format!("m.toml:{line}:")), "{err}");
    assert!(err.contains("unknown unit `blocks`"), "{err}");
    assert!(
        err.contains("unit = \"pages\""),
        "the hint names the values: {err}"
    );
    let err = unit(", unit = \"pages\"", "mysql://root@127.0.0.1/test").unwrap_err();
    assert!(err.contains(&format!("m.toml:{line}:")), "{err}");
    assert!(err.contains("only be sampled on PostgreSQL"), "{err}");
    assert!(err.contains("MySQL/MariaDB"), "{err}");
    let err = unit(", unit = 3", pg).unwrap_err();
    assert!(err.contains(&format!("m.toml:{line}:")), "{err}");
}

#[tokio::test]
async fn the_shadow_gate_holds_a_page_counting_check_to_its_page_bound() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    t.run_script("CREATE TABLE items (id int PRIMARY KEY, v text);")
        .await;
    let verify = |name: &str, unit: &str| {
        format!(
            r#"
[[verify]]
name = "{name}"
key = "id"
sample = {{ table = "items", unit = "{unit}" }}
old = "SELECT id, v FROM items WHERE id IN (:keys)"
new = "SELECT id, v FROM items WHERE id IN (:keys)"
"#
        )
    };
    let text = format!(
        "[migration]\nname = \"pages\"\n[databases.old]\nurl = \"{url}\"\n\
         [databases.new]\nurl = \"{url}\"\n[phases]\nshadow_min_minutes = 0\n{}{}",
        verify("by_rows", "rows"),
        verify("by_pages", "pages"),
        url = t.url
    );
    let config = parse_text(Path::new("g.toml"), &text, &|_| None).unwrap();
    let db = t.connect().await;
    let store = Store::open(db.clone(), "pages").await.unwrap();
    // The same 20,000 clean rows for both checks; the page check drew them from 60 pages.
    let rows = migtui::store::WindowCounts {
        compared: 20_000,
        ..Default::default()
    };
    let pages = migtui::store::WindowCounts {
        compared: 60,
        ..Default::default()
    };
    for check in ["by_rows", "by_pages"] {
        store.add_verify_counts(check, &rows).await.unwrap();
    }
    store
        .add_verify_counts(&migtui::engine::verify::pages_counter("by_pages"), &pages)
        .await
        .unwrap();
    let dbs = BTreeMap::from([("old".to_string(), db.clone()), ("new".to_string(), db)]);
    let ctx = migtui::engine::gates::GateContext {
        config: &config,
        dbs: &dbs,
        store: &store,
    };
    let gates = migtui::engine::verify::gates::shadow(&ctx).await;
    let gate = |name: &str| {
        gates
            .iter()
            .find(|g| g.name == format!("divergence bound: {name}"))
            .unwrap_or_else(|| panic!("no gate for {name}: {gates:?}"))
    };
    // Rows: 1 − 0.05^(1/20000) ≈ 0.015% ≤ 0.1%. Pages: 1 − 0.05^(1/60) ≈ 4.870% > 0.1%.
    let by_rows = gate("by_rows");
    assert!(by_rows.pass, "{by_rows:?}");
    let by_pages = gate("by_pages");
    assert!(!by_pages.pass, "{by_pages:?}");
    let measured = by_pages.measured.as_deref().unwrap_or_default();
    assert!(
        measured.starts_with("4.870%") && measured.contains("0 of 60 pages"),
        "{measured}"
    );
    assert!(by_pages.explanation.contains("is above"), "{by_pages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driving_session_samples_pages_and_publishes_the_page_bound() {
    use migtui::engine::phase::PhaseId;
    use migtui::engine::session::{Command, Mode, Outcome, Session};
    let Some((t, db, _, _)) = clustered().await else {
        return;
    };
    let text = format!(
        r#"
[migration]
name = "pages-session"
[databases.old]
url = "{url}"
[databases.new]
url = "{url}"
[[verify]]
name = "items"
key = "id"
sample = {{ table = "items", per_second = 1000, unit = "pages" }}
old = "SELECT id, v FROM items WHERE id IN (:keys)"
new = "SELECT id, v FROM items_new WHERE id IN (:keys)"
recheck_after_ms = 0
"#,
        url = t.url
    );
    let config = parse_text(Path::new("s.toml"), &text, &|_| None).unwrap();
    let s = Session::start(config, Mode::Drive).await.unwrap();
    while s.snapshot().phase != PhaseId::Shadow {
        let out = s
            .request(Command::Advance {
                override_reason: Some("test".into()),
                confirm: None,
            })
            .await
            .unwrap();
        assert!(matches!(out, Outcome::Moved { .. }), "{out:?}");
    }
    let exact = table_pages(db.as_ref(), "items").await.unwrap();
    let mut published = None;
    for _ in 0..150 {
        let snap = s.snapshot();
        if let Some(v) = snap.verify.first().filter(|v| {
            v.phase.pages.is_some_and(|p| p.compared >= 5) && v.phase.table_rows.is_some()
        }) {
            published = Some(v.phase);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let n = published.unwrap_or_else(|| panic!("no page bound: {:#?}", s.snapshot().verify));
    let p = n.pages.unwrap_or_default();
    assert!(n.compared > p.compared, "whole pages hold many rows: {n:?}");
    assert_eq!(p.table_pages, Some(exact));
    assert_eq!(p.upper, upper_bound(p.compared, p.divergent));
    assert!(p.upper > n.upper, "fewer units, wider bound: {n:?}");
}

#[tokio::test]
async fn a_page_sample_holds_whole_pages_and_repeats_with_its_seed() {
    let Some((_t, db, pages, _)) = clustered().await else {
        return;
    };
    let key = vec!["id".to_string()];
    let per_page = db
        .query(
            "SELECT ((ctid::text)::point)[0]::bigint AS p, count(*)::bigint AS n \
             FROM items GROUP BY 1",
            &Params::new(),
        )
        .await
        .unwrap();
    let full: BTreeMap<String, String> = per_page
        .rows
        .iter()
        .map(|r| (r[0].display(), r[1].display()))
        .collect();
    assert_eq!(full.len() as u64, pages);
    for seed in [3u32, 4, 5] {
        let a = random_pages(db.as_ref(), "items", &key, 1500, seed)
            .await
            .unwrap();
        let b = random_pages(db.as_ref(), "items", &key, 1500, seed)
            .await
            .unwrap();
        assert_eq!(a, b, "REPEATABLE ({seed}) draws the same pages");
        assert!(
            a.keys.len() <= 6000 + 200,
            "capped near 4 n: {}",
            a.keys.len()
        );
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for p in &a.pages {
            *counts.entry(p.to_string()).or_default() += 1;
        }
        assert!(counts.len() >= 3, "seed {seed}: {} pages", counts.len());
        for (page, n) in counts {
            assert_eq!(
                Some(&n.to_string()),
                full.get(&page),
                "page {page} is whole"
            );
        }
    }
}

/// Row sampling draws twice the pages it needs; the keys it keeps must come from all of them,
/// not only the first ones in block order (the start of the table).
#[tokio::test]
async fn a_row_sample_reaches_the_whole_table() {
    let Some((_t, db, _, _)) = clustered().await else {
        return;
    };
    let key = vec!["id".to_string()];
    let mut late = 0;
    for seed in 1..=10u64 {
        let mut rng = migtui::engine::verify::sample::Rng::new(seed);
        let keys =
            migtui::engine::verify::sample::random_keys(db.as_ref(), "items", &key, 1000, &mut rng)
                .await
                .unwrap();
        assert_eq!(keys.len(), 1000, "seed {seed}");
        let ids: Vec<i64> = keys
            .iter()
            .map(|k| match k[0] {
                Value::Int(i) => i,
                ref v => panic!("{v:?}"),
            })
            .collect();
        // The last quarter of the table holds about a quarter of the sample.
        late += ids.iter().filter(|i| **i > ROWS * 3 / 4).count();
    }
    let share = late as f64 / 10_000.0;
    assert!(
        (0.15..0.35).contains(&share),
        "last quarter holds {share:.3} of the keys"
    );
}
