//! `migtui check` through the real binary: the sample configs pass against prepared databases,
//! and bad input gets a clear message, exit 1, and changes nothing.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TestDb;

fn migtui(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args(args)
        .envs(env.iter().copied())
        .env_remove("MIGTUI_CONFIG")
        .env("NO_COLOR", "1")
        .output()
        .expect("run migtui")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sample(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-config")
        .join(name)
        .display()
        .to_string()
}

fn assert_check_passes(config: &str, old: &str, new: &str) {
    let out = migtui(
        &["check", "-c", config],
        &[("OLD_DATABASE_URL", old), ("NEW_DATABASE_URL", new)],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{config} should pass:\n{t}");
    assert!(
        t.contains("✓ database old") && t.contains("✓ database new"),
        "{t}"
    );
    assert!(!t.contains('✗'), "{t}");
}

#[tokio::test]
async fn sample_sqlite_passes_check() {
    let old = TestDb::sqlite().await.unwrap();
    let new = TestDb::sqlite().await.unwrap();
    old.run_fixture("incidents-old-sqlite.sql").await;
    new.run_fixture("incidents-new-sqlite.sql").await;
    assert_check_passes(&sample("sqlite.toml"), &old.url, &new.url);
}

#[tokio::test]
async fn sample_postgres_single_database_passes_check() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.run_fixture("incidents-old-pg.sql").await;
    db.run_fixture("incidents-expand-pg.sql").await;
    assert_check_passes(&sample("postgres.toml"), &db.url, &db.url);
}

#[tokio::test]
async fn sample_mariadb_to_postgres_passes_check() {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::postgres().await) else {
        return;
    };
    old.run_fixture("incidents-old-mariadb.sql").await;
    new.run_fixture("incidents-new-pg.sql").await;
    assert_check_passes(&sample("mariadb-to-postgres.toml"), &old.url, &new.url);
}

/// `migtui check` on `cfg` with the two database URLs; the output and its text.
fn check_with(cfg: &Path, old: &str, new: &str) -> (Output, String) {
    let out = migtui(
        &["check", "-c", cfg.to_str().unwrap()],
        &[("OLD_DATABASE_URL", old), ("NEW_DATABASE_URL", new)],
    );
    let t = text(&out);
    (out, t)
}

/// A minimal migration over SQLite files, for the bad-input cases below.
fn write_config(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("migration.toml");
    std::fs::write(&path, body).unwrap();
    path
}

const MINIMAL: &str = r#"
[migration]
name = "bad-input"

[databases.old]
url = "${OLD_DATABASE_URL}"
[databases.new]
url = "${NEW_DATABASE_URL}"

[[backfill]]
name = "copy"
from = { database = "old", table = "src", key = "id", columns = ["id", "v"] }
to   = { database = "new", table = "dst", key = ["id"] }
"#;

async fn sqlite_pair(old_sql: &str, new_sql: &str) -> (TestDb, TestDb) {
    let old = TestDb::sqlite().await.unwrap();
    let new = TestDb::sqlite().await.unwrap();
    old.run_script(old_sql).await;
    new.run_script(new_sql).await;
    (old, new)
}

fn tables_named_migtui(db: &TestDb) -> usize {
    let conn = std::process::Command::new("sqlite3")
        .arg(db.sqlite_path().unwrap())
        .arg("SELECT count(*) FROM sqlite_master WHERE name LIKE 'migtui%'")
        .output();
    match conn {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        // No sqlite3 CLI: fall back to looking for the table name in the file's bytes.
        _ => {
            let bytes = std::fs::read(db.sqlite_path().unwrap()).unwrap_or_default();
            bytes.windows(7).filter(|w| w == b"migtui_").count()
        }
    }
}

#[tokio::test]
async fn source_without_primary_key_or_key_fails_with_a_fix() {
    let (old, new) = sqlite_pair(
        "CREATE TABLE src (id INTEGER, v TEXT);",
        "CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), &MINIMAL.replace("key = \"id\", ", ""));
    let (out, t) = check_with(&cfg, &old.url, &new.url);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("has no primary key"), "{t}");
    assert!(t.contains("fix:"), "{t}");
    assert_eq!(
        tables_named_migtui(&new),
        0,
        "check must not create state tables"
    );
}

#[tokio::test]
async fn key_that_is_not_unique_fails() {
    let (old, new) = sqlite_pair(
        "CREATE TABLE src (id INTEGER, v TEXT); INSERT INTO src VALUES (1, 'a'), (1, 'b');",
        "CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), MINIMAL);
    let (out, t) = check_with(&cfg, &old.url, &new.url);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("key (id) is not unique in src"), "{t}");
    assert!(t.contains("CREATE UNIQUE INDEX"), "{t}");
}

#[tokio::test]
async fn missing_column_names_what_exists() {
    let (old, new) = sqlite_pair(
        "CREATE TABLE src (id INTEGER PRIMARY KEY, value TEXT);",
        "CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT);",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), MINIMAL);
    let (out, t) = check_with(&cfg, &old.url, &new.url);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("column \"v\" not found in table src (columns: id, value)"),
        "{t}"
    );
}

#[tokio::test]
async fn missing_sqlite_file_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.db");
    let new = TestDb::sqlite().await.unwrap();
    new.run_script("CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT);")
        .await;
    let cfg = write_config(dir.path(), MINIMAL);
    let old_url = format!("sqlite://{}", missing.display());
    let (out, t) = check_with(&cfg, &old_url, &new.url);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("✗ database old"), "{t}");
    assert!(
        !missing.exists(),
        "check must not create a missing SQLite file"
    );
    assert!(
        t.contains("✓ database new"),
        "the other database is still checked:\n{t}"
    );
}

#[tokio::test]
async fn unreachable_host_fails_fast_without_printing_the_password() {
    let new = TestDb::sqlite().await.unwrap();
    new.run_script("CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT);")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), MINIMAL);
    let started = std::time::Instant::now();
    let out = migtui(
        &["check", "-c", cfg.to_str().unwrap()],
        &[
            (
                "OLD_DATABASE_URL",
                "postgres://app:Sup3rSecretPw@127.0.0.1:1/app",
            ),
            ("NEW_DATABASE_URL", &new.url),
        ],
    );
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(
        t.contains("✗ database old") && t.contains("127.0.0.1:1"),
        "{t}"
    );
    assert!(!t.contains("Sup3rSecretPw"), "password printed:\n{t}");
    assert!(
        started.elapsed().as_secs() < 20,
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn wrong_password_on_mariadb_is_reported_without_the_password() {
    let Some(admin) = TestDb::mysql().await else {
        return;
    };
    let user = common::unique_name("migtui_u");
    admin
        .run_script(&format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'RightPw123'; CREATE USER '{user}'@'localhost' IDENTIFIED BY 'RightPw123';"))
        .await;
    let new = TestDb::sqlite().await.unwrap();
    new.run_script("CREATE TABLE dst (id INTEGER PRIMARY KEY, v TEXT);")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), MINIMAL);
    let url = format!("mysql://{user}:WrongPw456@127.0.0.1:3306/{}", admin.name);
    let out = migtui(
        &["check", "-c", cfg.to_str().unwrap()],
        &[("OLD_DATABASE_URL", &url), ("NEW_DATABASE_URL", &new.url)],
    );
    admin
        .run_script(&format!(
            "DROP USER '{user}'@'%'; DROP USER '{user}'@'localhost';"
        ))
        .await;
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("✗ database old"), "{t}");
    assert!(
        t.to_lowercase().contains("access denied") || t.to_lowercase().contains("password"),
        "{t}"
    );
    assert!(!t.contains("WrongPw456"), "password printed:\n{t}");
}

#[tokio::test]
async fn three_mistakes_are_all_reported_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let body = MINIMAL
        .replace(
            "name = \"bad-input\"",
            "name = \"bad-input\"\ndescriptoin = \"typo\"",
        )
        .replace("table = \"dst\"", "table = 42")
        + "\n[[verify]]\nname = \"v\"\n";
    let cfg = write_config(dir.path(), &body);
    let (out, t) = check_with(&cfg, "sqlite://a.db", "sqlite://b.db");
    assert_eq!(out.status.code(), Some(2), "{t}");
    assert!(
        t.contains("descriptoin") && t.contains("description"),
        "did-you-mean missing:\n{t}"
    );
    assert!(t.contains("42") || t.contains("integer"), "{t}");
    assert!(
        t.matches("migration.toml:").count() >= 3,
        "expected three located problems:\n{t}"
    );
}

#[tokio::test]
async fn empty_binary_and_non_toml_files_get_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes, expect) in [
        ("empty.toml", &b""[..], "empty"),
        (
            "binary.toml",
            &b"\x00\x01\x02\xff\xfe"[..],
            "not a text file",
        ),
        (
            "prose.toml",
            &b"this is not toml at all {"[..],
            "prose.toml:1:",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = migtui(&["check", "-c", path.to_str().unwrap()], &[]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{name}: {t}");
        assert!(t.contains(expect), "{name}: expected {expect:?} in:\n{t}");
    }
}
