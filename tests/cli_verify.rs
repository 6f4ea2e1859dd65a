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
    let config = dir.join("m.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let mut all = vec!["verify", "-c", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args(&all)
        .env("OLD_DATABASE_URL", &old.url)
        .env("NEW_DATABASE_URL", &new.url)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
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
