//! Shared setup for the backup, contract and restore tests: the incidents fixture in one test
//! database that is both `old` and `new`, a migration file with a `[[backup]]` and a
//! `[contract]`, and a store.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::common::{self, TestDb};
use migtui::config::Config;
use migtui::engine::backup::{self, BackupCtx};
use migtui::engine::contract::ContractCtx;
use migtui::store::Operator;
use migtui::store::Store;

/// A migration whose old and new database are `db`, backing up `incidents.status` to a table
/// and to `file` (relative to `dir`).
pub fn config(db: &TestDb, dir: &Path, file: &str) -> Config {
    let text = format!(
        r#"
[migration]
name = "backup-test"
[databases.old]
url = "{url}"
[databases.new]
url = "{url}"
[state]
database = "new"
[[backup]]
table = "incidents"
columns = ["status"]
to = ["table:migtui_backup_incidents_status", "file:{file}"]
chunk_rows = 64
[contract]
sql = ["ALTER TABLE incidents DROP COLUMN status"]
lock_timeout_ms = 300
retries = 2
"#,
        url = db.url
    );
    migtui::config::parse_text(&dir.join("m.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("test file:\n{e}"))
}

pub fn fixture(db: &TestDb) -> &'static str {
    match db.kind {
        common::Kind::Postgres => "incidents-old-pg.sql",
        common::Kind::MySql => "incidents-old-mariadb.sql",
        common::Kind::Sqlite => "incidents-old-sqlite.sql",
    }
}

pub struct Env {
    pub db: migtui::db::Db,
    pub store: Store,
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
}

pub async fn env(t: &TestDb, file: &str) -> Env {
    t.run_fixture(fixture(t)).await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(t, dir.path(), file);
    let db = t.connect().await;
    let store = Store::open(db.clone(), "backup-test").await.unwrap();
    let file = dir.path().join(file);
    Env {
        db,
        store,
        config,
        dir,
        file,
    }
}

pub fn ctx<'a>(e: &'a Env) -> BackupCtx<'a> {
    BackupCtx {
        db: &e.db,
        store: &e.store,
        config_path: &e.config.path,
        progress: &|_| {},
        cancelled: &|| false,
    }
}

pub fn gunzip(path: &Path) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut s)
        .unwrap();
    s
}

pub fn gzip(path: &Path, text: &str) {
    let mut w = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    w.write_all(text.as_bytes()).unwrap();
    w.finish().unwrap();
}

pub fn cctx<'a>(e: &'a Env, op: &'a Operator) -> ContractCtx<'a> {
    ContractCtx {
        config: &e.config,
        db: &e.db,
        store: &e.store,
        operator: op,
    }
}

/// Back up the first `[[backup]]` and insist every copy verified.
pub async fn backed_up(e: &Env) {
    let results = backup::run(&e.config.backups[0], &ctx(e)).await.unwrap();
    assert!(results.iter().all(|r| r.verified), "{results:?}");
}

/// Another session that has read `incidents` inside an open transaction: its lock on the
/// table stays held until the transaction ends.
pub async fn hold_lock(t: &TestDb) -> (migtui::db::Db, Box<dyn migtui::db::Transaction>) {
    let holder = t.connect().await;
    let mut held = holder.begin().await.unwrap();
    held.query("SELECT count(*) FROM incidents", &Default::default())
        .await
        .unwrap();
    (holder, held)
}
