//! `migtui verify` through the real binary: exit 0 with no divergence, 3 with one, in sampled,
//! typed-key and full modes; `--json` parses and names the key.
mod common;

use std::process::Command;

use common::TestDb;

const CONFIG: &str = r#"
[migration]
name = "items"

[databases.old]
url = "${OLD_DATABASE_URL}"
[databases.new]
url = "${NEW_DATABASE_URL}"

[state]
database = "new"

[[verify]]
name = "items"
key = "id"
sample = { from = "old", table = "items" }
old = "SELECT * FROM items WHERE id IN (:keys)"
new = "SELECT * FROM items WHERE id IN (:keys)"
redact = ["u"]
recheck_after_ms = 0
full = { chunk_rows = 2 }
"#;

fn run(dir: &std::path::Path, old: &TestDb, new: &TestDb, args: &[&str]) -> (Option<i32>, String) {
    run_with(dir, CONFIG, &[old, new], args)
}

/// `migtui verify` on `config`, whose URLs are `${OLD_DATABASE_URL}` and `${NEW_DATABASE_URL}`
/// (`dbs[0]`, `dbs[1]`) and, when given, `${THIRD_DATABASE_URL}` (`dbs[2]`).
fn run_with(
    dir: &std::path::Path,
    config_text: &str,
    dbs: &[&TestDb],
    args: &[&str],
) -> (Option<i32>, String) {
    let config = dir.join("m.toml");
    std::fs::write(&config, config_text).unwrap();
    let mut all = vec!["verify", "-c", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_migtui"));
    cmd.args(&all).env("NO_COLOR", "1");
    for (var, db) in ["OLD_DATABASE_URL", "NEW_DATABASE_URL", "THIRD_DATABASE_URL"]
        .iter()
        .zip(dbs)
    {
        cmd.env(var, &db.url);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

#[tokio::test]
async fn verify_exits_three_on_divergence_in_every_mode() {
    let dir = tempfile::tempdir().unwrap();
    let old = TestDb::sqlite().await.unwrap();
    let new = TestDb::sqlite().await.unwrap();
    old.run_fixture("verify-types-sqlite.sql").await;
    new.run_fixture("verify-types-sqlite.sql").await;

    let (code, text) = run(dir.path(), &old, &new, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("7 compared, 0 divergent"), "{text}");

    new.run_script("UPDATE items SET t = 'FIVE', u = 'secret' WHERE id = 5")
        .await;
    let (code, text) = run(dir.path(), &old, &new, &["--keys", "1,2,3"]);
    assert_eq!(code, Some(0), "{text}");
    let (code, text) = run(dir.path(), &old, &new, &["--check", "items"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("5: mismatch (t, u)"), "{text}");
    let (code, text) = run(dir.path(), &old, &new, &["--full", "--json"]);
    assert_eq!(code, Some(3), "{text}");
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["divergent"], 1);
    assert_eq!(doc["checks"][0]["mode"], "full");
    assert_eq!(doc["checks"][0]["divergent_keys"][0]["key"], "5");
    let (code, text) = run(dir.path(), &old, &new, &["--check", "nope"]);
    assert_eq!(code, Some(2), "{text}");
    assert!(
        text.contains("no [[verify]] check named `nope` (checks: items)"),
        "{text}"
    );
    // The stored row masks the redacted column.
    let db = new.connect().await;
    let rows = db
        .query(
            "SELECT new_raw FROM migtui_divergences",
            &migtui::db::Params::new(),
        )
        .await
        .unwrap();
    let raw = rows.rows[0][0].to_text();
    assert!(!raw.contains("secret") && raw.contains("***"), "{raw}");
}

/// The check names its databases: `legacy` and `pg` hold the rows; `old` and `new` (declared,
/// as every file must) are an empty database where `items` does not exist.
const NAMED: &str = r#"
[migration]
name = "items"

[databases.old]
url = "${THIRD_DATABASE_URL}"
[databases.new]
url = "${THIRD_DATABASE_URL}"
[databases.legacy]
url = "${OLD_DATABASE_URL}"
[databases.pg]
url = "${NEW_DATABASE_URL}"

[[verify]]
name = "items"
key = "id"
sample = { from = "legacy", table = "items" }
old = { database = "legacy", sql = "SELECT * FROM items WHERE id IN (:keys)" }
new = { database = "pg", sql = "SELECT * FROM items WHERE id IN (:keys)" }
recheck_after_ms = 0
full = { chunk_rows = 2 }
"#;

#[tokio::test]
async fn a_check_reads_the_databases_its_file_names() {
    let dir = tempfile::tempdir().unwrap();
    let (legacy, pg, empty) = (
        TestDb::sqlite().await.unwrap(),
        TestDb::sqlite().await.unwrap(),
        TestDb::sqlite().await.unwrap(),
    );
    legacy.run_fixture("verify-types-sqlite.sql").await;
    pg.run_fixture("verify-types-sqlite.sql").await;
    let dbs = [&legacy, &pg, &empty];
    let (code, text) = run_with(dir.path(), NAMED, &dbs, &[]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("7 compared, 0 divergent"), "{text}");
    pg.run_script("UPDATE items SET t = 'FIVE' WHERE id = 5")
        .await;
    for mode in [&[][..], &["--full"][..], &["--keys", "5"][..]] {
        let (code, text) = run_with(dir.path(), NAMED, &dbs, mode);
        assert_eq!(code, Some(3), "{mode:?}: {text}");
        assert!(text.contains("5: mismatch (t)"), "{mode:?}: {text}");
    }
}

/// A check that counts pages samples whole pages headless too, and prints the page bound
/// beside the row numbers; a divergent row makes its page divergent.
#[tokio::test]
async fn a_check_counting_pages_prints_the_page_bound() {
    let (Some(old), Some(new)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    let ddl = "CREATE TABLE items (id BIGINT PRIMARY KEY, t TEXT NOT NULL); \
               INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 2000) g; \
               ANALYZE items;";
    old.run_script(ddl).await;
    new.run_script(ddl).await;
    let config = CONFIG
        .replace(
            r#"sample = { from = "old", table = "items" }"#,
            r#"sample = { from = "old", table = "items", unit = "pages" }"#,
        )
        .replace("redact = [\"u\"]\n", "");
    let dir = tempfile::tempdir().unwrap();
    let (code, text) = run_with(dir.path(), &config, &[&old, &new], &["--sample", "5000"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("(pages)"), "{text}");
    assert!(text.contains("with a divergent row"), "{text}");

    new.run_script("UPDATE items SET t = 'changed' WHERE id = 1000")
        .await;
    let (code, text) = run_with(
        dir.path(),
        &config,
        &[&old, &new],
        &["--sample", "5000", "--json"],
    );
    assert_eq!(code, Some(3), "{text}");
    let json: serde_json::Value = serde_json::from_str(&text).expect(&text);
    let check = &json["checks"][0];
    assert_eq!(check["mode"], "pages", "{text}");
    assert_eq!(check["pages"]["divergent"], 1, "{text}");
    assert!(
        check["pages"]["compared"].as_u64().unwrap_or(0) > 1,
        "{text}"
    );
}
