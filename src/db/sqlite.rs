//! SQLite: the sqlx pool, type mapping and the SQL that is SQLite's own.

pub mod backfill;
mod impact;
mod types;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection;
use sqlx::sqlite::{Sqlite, SqliteConnectOptions, SqliteConnection, SqlitePoolOptions};

use super::driver::{self, CONNECT_TIMEOUT, Ctx, sqlx_database};
use super::{ColumnInfo, DbError, Dialect, Engine, Params, RowCount, TableInfo, Value};
use crate::config::DatabaseConfig;
use crate::secret::Secrets;
use types::{bind, bind_array, column_types, decode_row};

pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }
    fn placeholder(&self, index: usize) -> String {
        format!("?{index}")
    }
    fn now_micros_sql(&self) -> &'static str {
        "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
    }
    fn serial_primary_key(&self) -> &'static str {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    }
}

sqlx_database!(Sqlite, SqliteConnection, Engine::Sqlite, ());

const URL_EXAMPLE: &str = "sqlite://path/to/file.db (add ?mode=rwc to create it)";

pub async fn connect(cfg: &DatabaseConfig, secrets: &Secrets) -> Result<super::Db, DbError> {
    let ctx = Ctx::new(cfg, secrets);
    let url = cfg.url.expose();
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|e| ctx.bad_url(e, URL_EXAMPLE))?
        // Writers wait for each other up to the statement timeout instead of failing at once.
        .busy_timeout(Duration::from_millis(cfg.statement_timeout_ms));
    let query = url.split_once('?').map(|x| x.1).unwrap_or_default();
    let creates = query.split('&').any(|kv| kv == "mode=rwc");
    let in_memory = url.contains(":memory:") || query.split('&').any(|kv| kv == "mode=memory");
    let file = opts.get_filename().to_path_buf();
    if !creates && !in_memory && !file.exists() {
        return Err(ctx.connect_error(
            format!("file not found: {}", file.display()),
            "create it, or add ?mode=rwc to the URL to let migtui create it",
        ));
    }
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, SqliteConnection::connect_with(&opts))
        .await
        .map_err(|_| ctx.timed_out())?
        .map_err(|e| match driver::server_error(&e) {
            Some((code, message)) => ctx.connect_error(
                format!("{message} [{}]", code.unwrap_or_default()),
                "check that the file is an SQLite database and that migtui may read and write it",
            ),
            None => driver::transport_connect_error(&ctx, &e),
        })?;
    let _ = probe.close().await;
    let pool = SqlitePoolOptions::new()
        .max_connections(cfg.max_connections.max(1))
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(opts);
    Ok(Arc::new(Db {
        ctx: Arc::new(ctx),
        pool,
        state: Arc::new(()),
    }))
}

/// SQLITE_BUSY (5) and SQLITE_LOCKED (6), with their extended codes, are worth a retry.
fn classify(ctx: &Ctx, sql: &str, err: sqlx::Error) -> DbError {
    match driver::server_error(&err) {
        Some((code, message)) => {
            let primary = code
                .as_deref()
                .and_then(|c| c.parse::<i64>().ok())
                .map(|c| c & 0xff);
            let transient = matches!(primary, Some(5 | 6));
            ctx.query_error(sql, &message, code, transient)
        }
        None => ctx.query_error(
            sql,
            &err.to_string(),
            None,
            driver::transport_is_transient(&err),
        ),
    }
}

/// `schema.table` → (schema, table); unqualified names live in `main`.
fn split_name(table: &str) -> (String, String) {
    match table.split_once('.') {
        Some((s, t)) => (s.to_string(), t.to_string()),
        None => ("main".to_string(), table.to_string()),
    }
}

impl Db {
    /// Nothing cached between queries.
    async fn after_script(&self) {}

    async fn server_version(&self) -> Result<String, DbError> {
        let rows = super::Database::query(self, "SELECT sqlite_version()", &Params::new()).await?;
        Ok(rows.scalar().map(Value::display).unwrap_or_default())
    }

    async fn table_info(&self, table: &str) -> Result<Option<TableInfo>, DbError> {
        let (schema, name) = split_name(table);
        let master = format!("{}.sqlite_master", SqliteDialect.quote_ident(&schema));
        let p = Params::new()
            .bind("name", name.clone())
            .bind("schema", schema);
        let exists = super::Database::query(
            self,
            &format!(
                "SELECT count(*) FROM {master} WHERE type IN ('table', 'view') \
                 AND name = :name COLLATE NOCASE"
            ),
            &p,
        )
        .await?;
        if !matches!(exists.scalar(), Some(Value::Int(n)) if *n > 0) {
            return Ok(None);
        }
        let cols = super::Database::query(
            self,
            "SELECT name, type, \"notnull\", pk FROM pragma_table_info(:name, :schema) ORDER BY cid",
            &p,
        )
        .await?;
        let mut info = TableInfo {
            name: table.to_string(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            unique: Vec::new(),
        };
        let mut pk: Vec<(i64, String)> = Vec::new();
        for r in &cols.rows {
            let name = r[0].to_text();
            let pk_pos = int(&r[3]);
            if pk_pos > 0 {
                pk.push((pk_pos, name.clone()));
            }
            info.columns.push(ColumnInfo {
                name,
                data_type: r[1].to_text(),
                // A primary key column is reported NOT NULL, as on the other engines.
                nullable: int(&r[2]) == 0 && pk_pos == 0,
            });
        }
        pk.sort();
        info.primary_key = pk.into_iter().map(|(_, n)| n).collect();
        // Unique indexes and constraints; the primary key's own index, partial indexes and
        // indexes over expressions are not keys here.
        let idx = super::Database::query(
            self,
            "SELECT l.name, json_group_array(i.name) \
             FROM pragma_index_list(:name, :schema) l, pragma_index_info(l.name, :schema) i \
             WHERE l.\"unique\" = 1 AND l.origin <> 'pk' AND l.partial = 0 \
             GROUP BY l.name HAVING count(i.name) = count(*) ORDER BY l.name",
            &p,
        )
        .await?;
        for r in &idx.rows {
            if let Ok(serde_json::Value::Array(a)) = serde_json::from_str(&r[1].to_text()) {
                info.unique.push(
                    a.iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
                        .collect(),
                );
            }
        }
        Ok(Some(info))
    }

    /// SQLite keeps no row estimate; counting is exact (and the only way).
    async fn row_count(&self, table: &str, _exact: bool) -> Result<RowCount, DbError> {
        driver::exact_count(self, table).await
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    }
}
