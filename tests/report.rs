//! The session report: golden files of each format from a fixed state written through the
//! store API on SQLite (times fixed afterwards), no secret in any format, `redact` columns
//! masked even with `--include-values`, and an HTML page with no external reference.
mod common;
mod report_support;

use common::TestDb;
use migtui::db::Params;
use migtui::report::{Format, Options, build};
use migtui::store::Store;
use report_support::{ENV_SECRET, MIN, T0, URL_PASSWORD, config_text, fixed_state};

fn options(format: Format, include_values: bool) -> Options {
    Options {
        format,
        since_us: None,
        include_values,
        now_us: Some(T0 + 120 * MIN),
    }
}

async fn render(format: Format, include_values: bool) -> (String, TestDb) {
    let tdb = TestDb::sqlite().await.unwrap();
    let (store, config) = fixed_state(&tdb).await;
    let text = build(&store, &config, &options(format, include_values))
        .await
        .unwrap();
    // The SQLite file lives in a temp dir: the only part of the output that varies.
    let text = text.replace(&tdb.name, "[TMP]/test.db");
    (text, tdb)
}

#[tokio::test]
async fn markdown_golden() {
    let (text, _db) = render(Format::Md, false).await;
    insta::assert_snapshot!("md", text);
}

#[tokio::test]
async fn json_golden() {
    let (text, _db) = render(Format::Json, false).await;
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["schema_version"], 1);
    insta::assert_snapshot!("json", text);
}

#[tokio::test]
async fn html_golden() {
    let (text, _db) = render(Format::Html, false).await;
    // `.ci/html-check` renders this page in headless Chromium.
    if let Some(path) = std::env::var_os("MIGTUI_REPORT_HTML_OUT") {
        std::fs::write(path, &text).unwrap();
    }
    insta::assert_snapshot!("html", text);
}

#[tokio::test]
async fn markdown_with_values_golden() {
    let (text, _db) = render(Format::Md, true).await;
    insta::assert_snapshot!("md_values", text);
}

#[tokio::test]
async fn no_secret_in_any_format() {
    for format in [Format::Md, Format::Json, Format::Html] {
        for values in [false, true] {
            let (text, _db) = render(format, values).await;
            for secret in [URL_PASSWORD, ENV_SECRET] {
                assert!(
                    !text.contains(secret),
                    "{format:?} (values {values}) shows `{secret}`"
                );
            }
            // Hosts are there, without their credentials.
            assert!(text.contains("db.internal:5432/incidents"), "{format:?}");
        }
    }
}

#[tokio::test]
async fn redacted_columns_are_masked_even_with_values() {
    for format in [Format::Md, Format::Json, Format::Html] {
        let (text, _db) = render(format, true).await;
        assert!(!text.contains("carol"), "{format:?} shows a redacted value");
        assert!(text.contains("Resolved"), "{format:?} hides a plain value");
        let (text, _db) = render(format, false).await;
        assert!(
            !text.contains("Resolved"),
            "{format:?}: values without --include-values"
        );
        assert!(
            text.contains("reporter_email"),
            "{format:?}: columns are listed"
        );
    }
}

#[tokio::test]
async fn html_has_no_external_reference() {
    let (text, _db) = render(Format::Html, true).await;
    let lower = text.to_ascii_lowercase();
    for bad in [
        "http://", "https://", "src=", "@import", "<script", "url(", "<link", "href=",
    ] {
        assert!(!lower.contains(bad), "the HTML contains `{bad}`");
    }
    assert!(lower.starts_with("<!doctype html>"));
    assert!(lower.contains("<svg"), "charts are inline SVG");
    assert!(lower.contains("@media print"));
    // Data is escaped: a value with markup never becomes markup.
    assert!(!text.contains("<b>x</b>"));
}

#[tokio::test]
async fn markdown_has_no_raw_html() {
    let (text, _db) = render(Format::Md, true).await;
    assert!(!text.contains("<b>"), "raw HTML in Markdown");
    for line in text.lines().filter(|l| l.starts_with('|')) {
        // Every table row has as many unescaped pipes as its header: no cell broke the table.
        let pipes = line.replace("\\|", "").matches('|').count();
        assert!(pipes >= 3, "{line}");
    }
}

#[tokio::test]
async fn since_keeps_only_what_happened_after() {
    let tdb = TestDb::sqlite().await.unwrap();
    let (store, config) = fixed_state(&tdb).await;
    let opts = Options {
        since_us: Some(T0 + 41 * MIN),
        ..options(Format::Json, false)
    };
    let doc: serde_json::Value =
        serde_json::from_str(&build(&store, &config, &opts).await.unwrap()).unwrap();
    let series = doc["latency"][0]["over_time"].as_array().unwrap();
    assert_eq!(series.len(), 3, "intervals at or after the cut");
    let timeline = doc["timeline"].as_array().unwrap();
    assert!(
        timeline
            .iter()
            .all(|t| t["at"].as_str().unwrap() >= "2025-01-15T08:41:00Z")
    );
    assert!(timeline.len() < 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_backfill_leaves_rows_rate_and_samples_for_the_report() {
    use common::Kind;
    use common::backfill::{insert_items, item_rows, items_ddl, migration, run};
    let (old, new) = (
        TestDb::sqlite().await.unwrap(),
        TestDb::sqlite().await.unwrap(),
    );
    old.run_script(&items_ddl(Kind::Sqlite, "items")).await;
    new.run_script(&items_ddl(Kind::Sqlite, "items")).await;
    insert_items(&old.connect().await, "items", item_rows(60, 1)).await;
    let step = r#"
[[backfill]]
name = "items"
from = { database = "old", table = "items", key = ["a", "b"] }
to = { database = "new", table = "items", key = ["a", "b"], version_column = "ver" }
chunk_rows = 7
"#;
    let config = migration("report-backfill", &old, &new, "new", step);
    let (progress, _) = run(config.clone(), None).await;
    assert_eq!(progress.steps[0].rows_done, 60);
    let store = Store::open(new.connect().await, "report-backfill")
        .await
        .unwrap();
    let opts = Options {
        now_us: None,
        ..options(Format::Json, false)
    };
    let doc: serde_json::Value =
        serde_json::from_str(&build(&store, &config, &opts).await.unwrap()).unwrap();
    let b = &doc["backfill"][0];
    assert_eq!(b["step"], "items");
    assert_eq!(b["status"], "complete");
    assert_eq!(b["rows"], 60);
    assert_eq!(b["chunks"], 9);
    let samples = b["rate_over_time"].as_array().unwrap();
    assert!(
        !samples.is_empty(),
        "the step's final sample is recorded: {b}"
    );
    assert!(samples[0]["rows_per_second"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_writes_each_format_from_the_store_alone() {
    let tdb = TestDb::sqlite().await.unwrap();
    let (_store, _config) = fixed_state(&tdb).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migration.toml");
    std::fs::write(&file, config_text(&tdb.url)).unwrap();
    let migtui = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
            .arg("report")
            .arg("-c")
            .arg(&file)
            .args(args)
            .env("REPLICA_PASSWORD", ENV_SECRET)
            .output()
            .unwrap()
    };
    for (format, marker) in [
        ("md", "# Migration report"),
        ("json", "\"schema_version\": 1"),
        ("html", "<svg"),
    ] {
        let out_file = dir.path().join(format!("report.{format}"));
        let out = migtui(&["--format", format, "-o", out_file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{format}: {stderr}");
        let written = std::fs::read_to_string(&out_file).unwrap();
        assert!(written.contains(marker), "{format}");
        assert!(
            written.contains("OPS-42"),
            "{format}: the override's reason"
        );
        for secret in [URL_PASSWORD, ENV_SECRET] {
            assert!(
                !written.contains(secret) && !stderr.contains(secret),
                "{format}"
            );
        }
    }
    let out = migtui(&["--since", "2h"]);
    assert!(out.status.success());
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(
        md.contains("No phase change recorded"),
        "2h ago is after the fixture's times"
    );
    let out = migtui(&["--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: `--since"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_state_gives_the_same_report_on_every_engine() {
    let mut reports = Vec::new();
    for tdb in common::all_engines().await {
        let (store, config) = fixed_state(&tdb).await;
        let text = build(&store, &config, &options(Format::Json, true))
            .await
            .unwrap();
        let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        // Only the state database's own address differs.
        for d in doc["migration"]["databases"].as_array_mut().unwrap() {
            if d["name"] == "new" {
                d["engine"] = "-".into();
                d["target"] = "-".into();
            }
        }
        reports.push((tdb.kind, doc));
    }
    let (first_kind, first) = &reports[0];
    for (kind, doc) in &reports[1..] {
        for key in first.as_object().unwrap().keys() {
            assert_eq!(doc[key], first[key], "`{key}`: {kind:?} vs {first_kind:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_refuses_a_migration_the_store_never_saw() {
    let tdb = TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migration.toml");
    std::fs::write(&file, config_text(&tdb.url)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args(["report", "-c"])
        .arg(&file)
        .env("REPLICA_PASSWORD", ENV_SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds no migration named `incident-statuses`"),
        "{stderr}"
    );
    // Nothing was written: the store was not even created.
    let db = tdb.connect().await;
    assert!(
        db.query("SELECT name FROM migtui_migration", &Params::new())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_migration_that_only_started_reports_plainly() {
    let tdb = TestDb::sqlite().await.unwrap();
    let config = report_support::config(&tdb.url);
    let store = Store::open(tdb.connect().await, "incident-statuses")
        .await
        .unwrap();
    for format in [Format::Md, Format::Json, Format::Html] {
        let text = build(&store, &config, &options(format, false))
            .await
            .unwrap();
        assert!(!text.is_empty(), "{format:?}");
        if format != Format::Json {
            assert!(text.contains("No phase change recorded"), "{format:?}");
            assert!(text.contains("No action recorded"), "{format:?}");
        }
    }
    let doc: serde_json::Value = serde_json::from_str(
        &build(&store, &config, &options(Format::Json, false))
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(doc["migration"]["phase"], "plan");
    assert_eq!(doc["backfill"][0]["status"], "pending");
    assert_eq!(doc["verification"][0]["upper_bound_95"], 1.0);
    assert_eq!(doc["latency"][0]["verdict"], "too_few");
}
