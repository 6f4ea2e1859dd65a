//! `migtui demo --headless --auto`: the real binary walks every phase from `plan` to `done` on
//! SQLite, on PostgreSQL (new side) and MariaDB (old side); with faults injected, the keys the
//! full verify finds are exactly the ones the simulated application recorded.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use common::TestDb;
use sqlx::{Connection, Row};

const PHASES: [&str; 10] = [
    "plan",
    "expand",
    "dual_write",
    "backfill",
    "shadow",
    "read_new",
    "stop_old_writes",
    "backup",
    "drop",
    "done",
];

/// 20,000 rows: the whole walk in a few minutes (the default 200,000 is for people).
fn demo(dir: &Path, extra: &[&str]) -> Output {
    demo_rows(dir, "20000", extra)
}

fn demo_rows(dir: &Path, rows: &str, extra: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args([
            "demo",
            "--headless",
            "--auto",
            "--orgs",
            "100",
            "--rows",
            rows,
        ])
        .arg("--dir")
        .arg(dir)
        .args(extra)
        .output()
        .expect("run migtui demo")
}

/// The run succeeded and printed one line per phase, in order.
fn assert_walked(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the auto run failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let mut at = 0;
    for (n, phase) in PHASES.iter().enumerate() {
        let line = format!("{n:>2} {phase:<16}");
        let found = stdout[at..]
            .find(&line)
            .unwrap_or_else(|| panic!("no line for `{phase}` after the previous one:\n{stdout}"));
        at += found + line.len();
    }
    assert!(stdout.contains("demo ok"), "{stdout}");
    stdout
}

/// The injected keys and the found ones, from `faults.json`.
fn faults(dir: &Path) -> (BTreeSet<i64>, BTreeSet<i64>) {
    let text = std::fs::read_to_string(dir.join("faults.json")).expect("faults.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("faults.json parses");
    let injected = doc["injected"]
        .as_array()
        .expect("injected")
        .iter()
        .map(|f| f["key"].as_i64().expect("key"))
        .collect();
    let found = doc["found"]
        .as_array()
        .expect("found")
        .iter()
        .map(|k| k.as_i64().expect("key"))
        .collect();
    (injected, found)
}

/// The keys the `demo.repair` audit lines name, from the state database.
async fn repaired_keys(state_url: &str) -> BTreeSet<i64> {
    let sql = "SELECT params FROM migtui_audit WHERE action = 'demo.repair'";
    let rows: Vec<String> = if state_url.starts_with("postgres") {
        let mut c = sqlx::PgConnection::connect(state_url).await.expect("pg");
        sqlx::query(sql)
            .fetch_all(&mut c)
            .await
            .expect("audit")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect()
    } else {
        let mut c = sqlx::SqliteConnection::connect(state_url)
            .await
            .expect("sqlite");
        sqlx::query(sql)
            .fetch_all(&mut c)
            .await
            .expect("audit")
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect()
    };
    rows.iter()
        .flat_map(|p| {
            let j: serde_json::Value = serde_json::from_str(p).expect("params json");
            j["keys"]
                .as_array()
                .map(|a| a.iter().filter_map(|k| k.as_i64()).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn the_auto_run_completes_on_sqlite_without_faults() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--faults", "0"]);
    assert_walked(&out);
    // The contract dropped the old column, after a verified backup table was written.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let cols: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('incidents')")
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        assert!(
            !cols.iter().any(|c| c == "status"),
            "status still there: {cols:?}"
        );
        let backed: i64 = sqlx::query("SELECT count(*) FROM migtui_backup_incidents_status")
            .fetch_one(&mut c)
            .await
            .unwrap()
            .get(0);
        assert!(backed >= 20_000, "backup holds {backed} rows");
    });
    assert!(dir.path().join("backups/incidents-status.csv.gz").exists());
}

#[test]
fn with_faults_the_full_verify_finds_exactly_the_injected_keys_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let out = demo(dir.path(), &["--faults", "0.05"]);
    assert_walked(&out);
    let (injected, found) = faults(dir.path());
    assert!(!injected.is_empty(), "no fault was injected");
    assert_eq!(found, injected);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let state = format!("sqlite://{}", dir.path().join("new.db").display());
    let repaired = rt.block_on(repaired_keys(&state));
    assert!(
        injected.is_subset(&repaired),
        "keys injected but not repaired: {:?}",
        injected.difference(&repaired).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_run_completes_with_the_new_side_on_postgres() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url.clone();
    let path = dir.path().to_path_buf();
    let out =
        tokio::task::spawn_blocking(move || demo(&path, &["--faults", "0.02", "--postgres", &url]))
            .await
            .unwrap();
    assert_walked(&out);
    let (injected, found) = faults(dir.path());
    assert_eq!(found, injected);
    let repaired = repaired_keys(&pg.url).await;
    assert!(injected.is_subset(&repaired));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auto_run_completes_from_mariadb_to_postgres() {
    let Some(maria) = TestDb::mysql().await else {
        return;
    };
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (m, p) = (maria.url.clone(), pg.url.clone());
    let path = dir.path().to_path_buf();
    let out = tokio::task::spawn_blocking(move || {
        demo(
            &path,
            &["--faults", "0.02", "--mysql", &m, "--postgres", &p],
        )
    })
    .await
    .unwrap();
    assert_walked(&out);
    let (injected, found) = faults(dir.path());
    assert_eq!(found, injected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_on_the_same_server_refuses_without_reset() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let url = pg.url.clone();
    let path = dir.path().to_path_buf();
    let (first, second) = tokio::task::spawn_blocking(move || {
        let args = ["--faults", "0", "--postgres", &url, "--phase-timeout", "1"];
        let first = demo_rows(&path, "500", &args);
        (first, demo_rows(&path, "500", &args))
    })
    .await
    .unwrap();
    // The first run built the tables (its walk may time out: only the refusal matters here).
    let first_out = String::from_utf8_lossy(&first.stdout);
    assert!(first_out.contains("built in"), "{first_out}");
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(1), "{err}");
    assert!(
        err.contains("already exist") && err.contains("--reset"),
        "{err}"
    );
}
