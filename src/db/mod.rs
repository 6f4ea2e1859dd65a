//! migtui's own database layer: one sqlx pool per engine behind the [`Database`] trait.
//!
//! sqlx types never leave `postgres.rs`, `mysql.rs` and `sqlite.rs`; the rest of migtui sees
//! [`Value`]s, [`Rows`] and [`Params`]. SQL that differs by engine lives beside its engine, in
//! that engine's [`Dialect`].

pub mod backfill;
pub mod checksum;
mod driver;
mod error;
pub mod impact;
pub mod mysql;
pub mod normalize;
pub mod placeholders;
pub mod postgres;
pub mod rowhash;
mod rowhash_json;
pub mod sqlite;
mod value;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

pub use error::DbError;
pub use impact::Dependent;
pub use placeholders::{Param, Params};
pub use value::{Rows, Value};

use crate::config::DatabaseConfig;
use crate::secret::Secrets;

/// The engines migtui speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Postgres,
    /// MySQL and MariaDB.
    MySql,
    Sqlite,
}

impl Engine {
    /// The engine a URL scheme names, if any.
    pub fn from_scheme(scheme: &str) -> Option<Engine> {
        match scheme.to_ascii_lowercase().as_str() {
            "postgres" | "postgresql" => Some(Engine::Postgres),
            "mysql" | "mariadb" => Some(Engine::MySql),
            "sqlite" => Some(Engine::Sqlite),
            _ => None,
        }
    }

    pub fn dialect(self) -> &'static dyn Dialect {
        match self {
            Engine::Postgres => &postgres::PostgresDialect,
            Engine::MySql => &mysql::MySqlDialect,
            Engine::Sqlite => &sqlite::SqliteDialect,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Engine::Postgres => "PostgreSQL",
            Engine::MySql => "MySQL/MariaDB",
            Engine::Sqlite => "SQLite",
        }
    }
}

impl fmt::Display for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The SQL text that differs by engine. Each engine's implementation lives in its own module.
pub trait Dialect: Send + Sync {
    fn engine(&self) -> Engine;
    /// Quote one identifier: ANSI `"a""b"` unless the engine says otherwise (MySQL's backticks).
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    /// Quote a possibly qualified name (`schema.table`), part by part.
    fn quote_path(&self, path: &str) -> String {
        path.split('.')
            .map(|p| self.quote_ident(p))
            .collect::<Vec<_>>()
            .join(".")
    }
    /// The bind placeholder for the 1-based parameter `index` (`$1` or `?`).
    fn placeholder(&self, index: usize) -> String;
    /// An expression giving the server's current time as integer microseconds since the epoch.
    /// State timestamps use the database clock, so two laptops with skewed clocks agree.
    fn now_micros_sql(&self) -> &'static str;
    /// Column definition of an auto-increment 64-bit primary key.
    fn serial_primary_key(&self) -> &'static str;
    /// A text type usable in a primary key or index (MySQL cannot index unbounded TEXT).
    fn key_text_type(&self) -> &'static str {
        "TEXT"
    }
    /// Unbounded text.
    fn text_type(&self) -> &'static str {
        "TEXT"
    }
    /// True where `CREATE INDEX IF NOT EXISTS` is missing (MySQL): migtui's own tables then
    /// declare their indexes inside `CREATE TABLE IF NOT EXISTS`, idempotent as a whole.
    fn indexes_inline(&self) -> bool {
        false
    }
    /// Table options for migtui's own tables (MySQL: utf8mb4 with a binary collation, so
    /// reasons with emoji survive and keys compare exactly, whatever the database default).
    fn state_table_options(&self) -> &'static str {
        ""
    }
    /// Statement statistics for the drain check: a query returning `query_text` and `calls`
    /// per normalized statement of the current database, or `None` where the engine keeps
    /// none (SQLite).
    fn statement_stats_sql(&self) -> Option<&'static str> {
        None
    }
    /// A query returning one row with `enabled` = 1 when the statistics are collected, where
    /// the stats query would otherwise silently return nothing (MariaDB's performance_schema).
    fn statement_stats_enabled_sql(&self) -> Option<&'static str> {
        None
    }
    /// What to do when the statement statistics are not available.
    fn statement_stats_hint(&self) -> &'static str {
        "this engine keeps no statement statistics: watch the application's own metrics"
    }
    /// The 60-bit row hash of [`rowhash`] as an SQL expression over already-quoted columns,
    /// or `None` where the engine cannot hash in SQL (SQLite: rows are hashed in Rust).
    fn row_hash_sql(
        &self,
        _cols: &[rowhash::HashColumn],
        _opts: &rowhash::HashOptions,
    ) -> Option<String> {
        None
    }
    /// True when DDL runs inside a transaction and rolls back with it (not MySQL/MariaDB,
    /// where every DDL statement commits on its own).
    fn transactional_ddl(&self) -> bool {
        true
    }
    /// The statement that bounds how long this connection waits for a table lock, `ms`
    /// milliseconds (rounded up to what the engine can express); `None` where there is none.
    fn lock_timeout_sql(&self, _ms: u64) -> Option<String> {
        None
    }
    /// Undo [`Dialect::lock_timeout_sql`] on a pooled connection, where it is session-wide.
    fn lock_timeout_reset_sql(&self) -> Option<&'static str> {
        None
    }
    /// True when `err` says a lock was not granted within the lock timeout.
    fn is_lock_timeout(&self, _err: &DbError) -> bool {
        false
    }
    /// A `TABLESAMPLE` clause drawing about `percent` % of the table's pages, repeatable with
    /// `seed`; `None` where the engine has none (keys are then drawn by random probes).
    fn tablesample_sql(&self, _percent: f64, _seed: u32) -> Option<String> {
        None
    }
    /// True when a list inside `IN (…)` can be bound as one typed array
    /// ([`placeholders::translate_bound`]): one parameter instead of one per element.
    fn binds_arrays(&self) -> bool {
        false
    }
    /// The statement opening a read-only transaction whose reads all see one consistent
    /// snapshot (the full diff reads a chunk's checksum and its `(key, hash)` list in one).
    /// SQLite's deferred `BEGIN` holds its read snapshot from the first read to the end.
    fn snapshot_begin_sql(&self) -> &'static str {
        "BEGIN"
    }
    /// A cheaper 60-bit row hash valid only between two databases of this engine with the
    /// same column types and major version (PostgreSQL: `hash_record_extended`), or `None`.
    fn native_row_hash_sql(&self, _cols: &[String]) -> Option<String> {
        None
    }
    /// The backfill's SQL for this engine (chunk relations, upserts, keysets, cancels).
    fn backfill(&self) -> &'static dyn backfill::BackfillSql {
        match self.engine() {
            Engine::Postgres => &postgres::backfill::PostgresBackfill,
            Engine::MySql => &mysql::backfill::MySqlBackfill,
            Engine::Sqlite => &sqlite::backfill::SqliteBackfill,
        }
    }
}

/// A column as introspected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    /// The engine's own type name, as `information_schema` or `PRAGMA` reports it.
    pub data_type: String,
    pub nullable: bool,
}

/// A table as introspected: columns in order, primary key and unique indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableInfo {
    pub name: String,
    pub columns: Vec<ColumnInfo>,
    pub primary_key: Vec<String>,
    /// Each unique index or constraint, as its column list (the primary key excluded).
    pub unique: Vec<Vec<String>>,
}

impl TableInfo {
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    /// True when `cols` (in any order) is the primary key or a unique index.
    pub fn is_unique_key(&self, cols: &[String]) -> bool {
        let same = |idx: &[String]| {
            idx.len() == cols.len()
                && cols
                    .iter()
                    .all(|c| idx.iter().any(|i| i.eq_ignore_ascii_case(c)))
        };
        (!self.primary_key.is_empty() && same(&self.primary_key))
            || self.unique.iter().any(|u| same(u))
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|c| c.name.clone()).collect()
    }
}

/// A row count and whether it is exact or the engine's estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowCount {
    pub rows: u64,
    pub exact: bool,
}

/// One database migtui talks to. Implementations own a sqlx pool; clones share it.
#[async_trait]
pub trait Database: Send + Sync + fmt::Debug {
    /// The name this database has in the migration file (`old`, `new`, …).
    fn name(&self) -> &str;
    /// The engine's own handle, for engine-specific fast paths (PostgreSQL `COPY`).
    fn as_any(&self) -> &dyn std::any::Any;
    fn engine(&self) -> Engine;
    fn dialect(&self) -> &'static dyn Dialect {
        self.engine().dialect()
    }
    /// `host:port/db` or the SQLite file, credentials removed.
    fn target(&self) -> String;

    /// Run a statement with `:name` placeholders and return its rows.
    async fn query(&self, sql: &str, params: &Params) -> Result<Rows, DbError>;
    /// Run a statement with `:name` placeholders and return the rows it affected.
    async fn execute(&self, sql: &str, params: &Params) -> Result<u64, DbError>;
    /// Run a query and return, per row, its first `nkey` values and the [`rowhash`] of all of
    /// them, hashed as the rows arrive instead of kept (the full diff where SQL cannot hash).
    async fn query_hashed(
        &self,
        sql: &str,
        params: &Params,
        h: &RowHashing<'_>,
    ) -> Result<KeyHashes, DbError>;
    /// Run a script of statements with no parameters (DDL).
    async fn execute_script(&self, sql: &str) -> Result<(), DbError>;
    /// Start a transaction on one pooled connection.
    async fn begin(&self) -> Result<Box<dyn Transaction>, DbError>;
    /// Start a read-only transaction whose reads all see one snapshot
    /// ([`Dialect::snapshot_begin_sql`]); end it with `rollback` (or `commit`).
    async fn begin_snapshot(&self) -> Result<Box<dyn Transaction>, DbError>;

    /// The server's version string (`PostgreSQL 15.19 …`, `10.11.19-MariaDB`, `3.46.0`).
    async fn server_version(&self) -> Result<String, DbError>;
    /// The table's columns, primary key and unique indexes, or `None` when it does not exist.
    /// `table` may be qualified (`schema.table`); unqualified names use the current schema.
    async fn table_info(&self, table: &str) -> Result<Option<TableInfo>, DbError>;
    /// Rows in a table: exact (`count(*)`) or the engine's cheap estimate.
    async fn row_count(&self, table: &str, exact: bool) -> Result<RowCount, DbError>;
    /// Prepare a statement without running it and return its result column names: the server
    /// checks syntax, tables and columns (preflight uses this for every query in the file).
    async fn describe(&self, sql: &str, params: &Params) -> Result<Vec<String>, DbError>;

    /// Close the pool, waiting for connections to finish.
    async fn close(&self);

    /// What depends on `table` (all of it when `columns` is empty) or on some of its columns:
    /// views, foreign keys, indexes, triggers, generated columns, functions, and recent
    /// statements where the engine records them. The contract's impact check.
    async fn dependents(&self, table: &str, columns: &[String]) -> Result<Vec<Dependent>, DbError>;
}

/// A transaction on one connection. Dropped without `commit`, it rolls back.
#[async_trait]
pub trait Transaction: Send {
    /// The engine's own transaction, for engine-specific fast paths (PostgreSQL `COPY`).
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
    async fn query(&mut self, sql: &str, params: &Params) -> Result<Rows, DbError>;
    /// [`Database::query_hashed`] in this transaction.
    async fn query_hashed(
        &mut self,
        sql: &str,
        params: &Params,
        h: &RowHashing<'_>,
    ) -> Result<KeyHashes, DbError>;
    async fn execute(&mut self, sql: &str, params: &Params) -> Result<u64, DbError>;
    async fn commit(self: Box<Self>) -> Result<(), DbError>;
    async fn rollback(self: Box<Self>) -> Result<(), DbError>;
}

/// How [`Database::query_hashed`] hashes each row: the first `nkey` values are its key.
#[derive(Debug, Clone, Copy)]
pub struct RowHashing<'a> {
    pub nkey: usize,
    pub classes: &'a [rowhash::HashClass],
    pub options: &'a rowhash::HashOptions,
}

impl RowHashing<'_> {
    /// One row's key and hash.
    pub fn hash(&self, mut row: Vec<Value>) -> (Vec<Value>, u64) {
        let h = rowhash::row_hash(&row, self.classes, self.options);
        row.truncate(self.nkey);
        (row, h)
    }
}

/// `(key values, row hash)` per row, in the order read.
pub type KeyHashes = Vec<(Vec<Value>, u64)>;

/// A shared handle to one database.
pub type Db = Arc<dyn Database>;

/// Connect to a database from the migration file. Fails fast (a few seconds) with an error
/// that says which database, where (without credentials), what went wrong and what to try.
pub async fn connect(cfg: &DatabaseConfig, secrets: &Secrets) -> Result<Db, DbError> {
    let scheme = cfg.url.scheme();
    match Engine::from_scheme(&scheme) {
        Some(Engine::Postgres) => postgres::connect(cfg, secrets).await,
        Some(Engine::MySql) => mysql::connect(cfg, secrets).await,
        Some(Engine::Sqlite) => sqlite::connect(cfg, secrets).await,
        None => Err(DbError::Connect {
            db: cfg.name.clone(),
            target: cfg.url.redacted(),
            reason: format!("unknown URL scheme `{scheme}`"),
            hint: "use postgres://, mysql:// (MariaDB too) or sqlite://".into(),
        }),
    }
}
