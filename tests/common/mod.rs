//! Test fixtures: a fresh database per test on each engine, dropped afterwards.
//!
//! PostgreSQL and MariaDB are expected on 127.0.0.1 (see README). When one is not answering,
//! tests that need it are skipped with a message, unless `MIGTUI_REQUIRE_SERVERS=1` (as in CI),
//! which turns a missing server into a failure.
#![allow(dead_code)]

pub mod backfill;
pub mod migration;
pub mod tmux;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor};

pub const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const MYSQL_ADMIN_URL: &str = "mysql://root@127.0.0.1:3306/test";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call: `migtui_t<pid>_<n>`.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn require_servers() -> bool {
    std::env::var("MIGTUI_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// Skip (or, under `MIGTUI_REQUIRE_SERVERS=1`, fail) when a server is not answering.
fn unavailable(engine: &str, err: impl std::fmt::Display) -> Option<TestDb> {
    if require_servers() {
        panic!("{engine} is required (MIGTUI_REQUIRE_SERVERS=1) but not answering: {err}");
    }
    eprintln!("SKIP: {engine} not answering on 127.0.0.1 ({err}); start it to run this test");
    None
}

/// Which engine a [`TestDb`] lives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Postgres,
    MySql,
    Sqlite,
}

/// A database created for one test. Dropped (or deleted) when this value is dropped.
pub struct TestDb {
    pub kind: Kind,
    pub name: String,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A fresh PostgreSQL database, or `None` (skip) when the server is down.
    pub async fn postgres() -> Option<TestDb> {
        let name = unique_name("migtui_t");
        let mut admin = match sqlx::PgConnection::connect(PG_ADMIN_URL).await {
            Ok(c) => c,
            Err(e) => return unavailable("PostgreSQL", e),
        };
        admin
            .execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .expect("create database");
        let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
        Some(TestDb {
            kind: Kind::Postgres,
            name,
            url,
            _dir: None,
        })
    }

    /// A fresh MariaDB/MySQL database, or `None` (skip) when the server is down.
    pub async fn mysql() -> Option<TestDb> {
        let name = unique_name("migtui_t");
        let mut admin = match sqlx::MySqlConnection::connect(MYSQL_ADMIN_URL).await {
            Ok(c) => c,
            Err(e) => return unavailable("MariaDB", e),
        };
        admin
            .execute(
                format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
                    .as_str(),
            )
            .await
            .expect("create database");
        let url = format!("mysql://root@127.0.0.1:3306/{name}");
        Some(TestDb {
            kind: Kind::MySql,
            name,
            url,
            _dir: None,
        })
    }

    /// A fresh SQLite file in a temp dir (always available).
    pub async fn sqlite() -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("test.db");
        let url = format!("sqlite://{}?mode=rwc", path.display());
        Some(TestDb {
            kind: Kind::Sqlite,
            name: path.display().to_string(),
            url,
            _dir: Some(dir),
        })
    }

    /// The SQLite file, for tests that inspect it.
    pub fn sqlite_path(&self) -> Option<PathBuf> {
        (self.kind == Kind::Sqlite).then(|| PathBuf::from(&self.name))
    }

    /// Run a SQL script (several statements) in this database, through sqlx directly so the
    /// fixture does not depend on the code under test.
    pub async fn run_script(&self, sql: &str) {
        match self.kind {
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("script");
            }
            Kind::MySql => {
                let mut c = sqlx::MySqlConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("script");
            }
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::raw_sql(sql).execute(&mut c).await.expect("script");
            }
        }
    }

    /// Run a fixture file from `tests/fixtures/`.
    pub async fn run_fixture(&self, file: &str) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(file);
        let sql =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        self.run_script(&sql).await;
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, stmt) = match self.kind {
            Kind::Sqlite => return, // the TempDir removes the file
            Kind::Postgres => (
                PG_ADMIN_URL,
                format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
            ),
            Kind::MySql => (
                MYSQL_ADMIN_URL,
                format!("DROP DATABASE IF EXISTS `{}`", self.name),
            ),
        };
        let kind = self.kind;
        // Drop runs outside (or at the end of) the test's runtime: use a small one of its own.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                match kind {
                    Kind::Postgres => {
                        let mut c = sqlx::PgConnection::connect(admin).await.ok()?;
                        c.execute(stmt.as_str()).await.ok().map(|_| ())
                    }
                    _ => {
                        let mut c = sqlx::MySqlConnection::connect(admin).await.ok()?;
                        c.execute(stmt.as_str()).await.ok().map(|_| ())
                    }
                }
            })
        })
        .join();
        if !matches!(done, Ok(Some(_))) {
            eprintln!("note: could not drop test database {}", self.name);
        }
    }
}

/// Fresh databases on every engine that is up, for tests that run the same assertions on each.
pub async fn all_engines() -> Vec<TestDb> {
    let mut v = Vec::new();
    v.extend(TestDb::sqlite().await);
    v.extend(TestDb::postgres().await);
    v.extend(TestDb::mysql().await);
    v
}

impl TestDb {
    /// This database as the migration file would describe it (`name` is the file's name for
    /// it, e.g. `old`).
    pub fn config(&self, name: &str) -> migtui::config::DatabaseConfig {
        migtui::config::DatabaseConfig {
            name: name.to_string(),
            url: migtui::secret::SecretUrl::new(self.url.clone()),
            max_connections: 2,
            statement_timeout_ms: 30_000,
            at: Default::default(),
        }
    }

    /// Connect through migtui's own database layer (the code under test).
    pub async fn connect(&self) -> migtui::db::Db {
        migtui::db::connect(&self.config("test"), &migtui::secret::Secrets::default())
            .await
            .unwrap_or_else(|e| panic!("connect to {}: {e}", self.name))
    }
}
