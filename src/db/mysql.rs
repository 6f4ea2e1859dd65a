//! MySQL and MariaDB: the sqlx pool, type mapping and the SQL that is MySQL's own.

pub mod backfill;
pub(crate) mod checksum;
mod impact;
mod types;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::mysql::{
    MySql, MySqlConnectOptions, MySqlConnection, MySqlDatabaseError, MySqlPoolOptions,
};
use sqlx::{Connection, Executor};

use super::driver::{self, CONNECT_TIMEOUT, Ctx, sqlx_database};
use super::{ColumnInfo, DbError, Dialect, Engine, Params, RowCount, TableInfo, Value};
use crate::config::DatabaseConfig;
use crate::secret::Secrets;
use types::{bind, bind_array, column_types, decode_row};

pub struct MySqlDialect;

impl Dialect for MySqlDialect {
    fn engine(&self) -> Engine {
        Engine::MySql
    }
    fn quote_ident(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }
    fn placeholder(&self, _index: usize) -> String {
        "?".into()
    }
    fn now_micros_sql(&self) -> &'static str {
        "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
    }
    fn serial_primary_key(&self) -> &'static str {
        "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    }
    fn key_text_type(&self) -> &'static str {
        "VARCHAR(191)"
    }
    fn text_type(&self) -> &'static str {
        "LONGTEXT"
    }
    fn indexes_inline(&self) -> bool {
        true
    }
    fn state_table_options(&self) -> &'static str {
        " DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
    }
    fn statement_stats_sql(&self) -> Option<&'static str> {
        Some(
            "SELECT DIGEST_TEXT AS query_text, COUNT_STAR AS calls \
             FROM performance_schema.events_statements_summary_by_digest \
             WHERE SCHEMA_NAME = DATABASE()",
        )
    }
    fn statement_stats_enabled_sql(&self) -> Option<&'static str> {
        Some("SELECT @@performance_schema AS enabled")
    }
    fn statement_stats_hint(&self) -> &'static str {
        "start the server with performance_schema=ON (my.cnf [mysqld]); it cannot be switched on at runtime"
    }
    fn row_hash_sql(
        &self,
        cols: &[super::rowhash::HashColumn],
        opts: &super::rowhash::HashOptions,
    ) -> Option<String> {
        checksum::row_hash_sql(cols, opts)
    }
    /// InnoDB's snapshot; it holds at the session's isolation level, REPEATABLE READ by
    /// default (under READ COMMITTED each statement would see its own).
    fn snapshot_begin_sql(&self) -> &'static str {
        "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY"
    }
    fn transactional_ddl(&self) -> bool {
        false
    }
    fn lock_timeout_sql(&self, ms: u64) -> Option<String> {
        // Metadata locks (what DDL waits for) time out in whole seconds.
        Some(format!(
            "SET SESSION lock_wait_timeout = {}",
            ms.div_ceil(1000).max(1)
        ))
    }
    fn lock_timeout_reset_sql(&self) -> Option<&'static str> {
        Some("SET SESSION lock_wait_timeout = DEFAULT")
    }
    fn is_lock_timeout(&self, err: &DbError) -> bool {
        err.code() == Some("1205")
    }
}

sqlx_database!(MySql, MySqlConnection, Engine::MySql, types::JsonColumns);

const URL_EXAMPLE: &str = "mysql://user:password@host:3306/database";

pub async fn connect(cfg: &DatabaseConfig, secrets: &Secrets) -> Result<super::Db, DbError> {
    let ctx = Ctx::new(cfg, secrets);
    let opts = MySqlConnectOptions::from_str(cfg.url.expose())
        .map_err(|e| ctx.bad_url(e, URL_EXAMPLE))?
        // UTC sessions (sqlx's default, stated here because comparisons depend on it), utf8mb4
        // on the wire whatever the column's character set, and the server's own sql_mode:
        // the migration's SQL is the application's SQL, so `||` keeps its MySQL meaning.
        .timezone(Some("+00:00".to_string()))
        .charset("utf8mb4")
        .pipes_as_concat(false);
    let mut probe = tokio::time::timeout(CONNECT_TIMEOUT, MySqlConnection::connect_with(&opts))
        .await
        .map_err(|_| ctx.timed_out())?
        .map_err(|e| connect_error(&ctx, &e))?;
    let version: (String,) = sqlx::query_as("SELECT VERSION()")
        .fetch_one(&mut probe)
        .await
        .map_err(|e| connect_error(&ctx, &e))?;
    let json = types::JsonColumns::default();
    // MySQL before 8.0.16 has no CHECK_CONSTRAINTS: then no column is MariaDB-style JSON.
    if let Ok(checks) = sqlx::query_scalar::<_, String>(types::JSON_CHECKS_SQL)
        .fetch_all(&mut probe)
        .await
    {
        json.set(&checks);
    }
    let _ = probe.close().await;
    // MariaDB: max_statement_time in seconds; MySQL: max_execution_time in ms (SELECT only).
    let timeout_sql = if version.0.contains("MariaDB") {
        format!(
            "SET SESSION max_statement_time = {}",
            cfg.statement_timeout_ms as f64 / 1000.0
        )
    } else {
        format!(
            "SET SESSION max_execution_time = {}",
            cfg.statement_timeout_ms
        )
    };
    let pool = MySqlPoolOptions::new()
        .max_connections(cfg.max_connections.max(1))
        .acquire_timeout(CONNECT_TIMEOUT)
        .after_connect(move |conn, _meta| {
            let sql = timeout_sql.clone();
            Box::pin(async move {
                conn.execute(sql.as_str()).await?;
                Ok(())
            })
        })
        .connect_lazy_with(opts);
    Ok(Arc::new(Db {
        ctx: Arc::new(ctx),
        pool,
        state: Arc::new(json),
    }))
}

fn error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()
        .and_then(|d| d.try_downcast_ref::<MySqlDatabaseError>())
        .map(MySqlDatabaseError::number)
}

fn connect_error(ctx: &Ctx, err: &sqlx::Error) -> DbError {
    let (Some(number), Some((_, message))) = (error_number(err), driver::server_error(err)) else {
        return driver::transport_connect_error(ctx, err);
    };
    let hint = match number {
        1045 => {
            "wrong user name or password: check the URL (or the ${VARIABLE} the password \
             comes from)"
        }
        1044 => "this user may not use the database: GRANT it access or use another user",
        1049 => {
            "the database does not exist: create it (CREATE DATABASE …) or fix its name in the URL"
        }
        1130 => "the server does not accept this user from this host: check the user's host part",
        1040 => "the server has no free connection slots: lower max_connections or retry",
        _ => "check the URL and the server's log",
    };
    ctx.connect_error(format!("{message} [{number}]"), hint)
}

/// Error numbers worth a retry: deadlock, lock wait timeout, statement timeouts (MariaDB 1969,
/// MySQL 3024), interrupted or killed query, server shutdown, too many connections.
fn transient_number(n: u16) -> bool {
    matches!(
        n,
        1213 | 1205 | 1969 | 3024 | 1317 | 1927 | 1053 | 1040 | 2006 | 2013
    )
}

fn classify(ctx: &Ctx, sql: &str, err: sqlx::Error) -> DbError {
    match (error_number(&err), driver::server_error(&err)) {
        (Some(n), Some((_, message))) => {
            ctx.query_error(sql, &message, Some(n.to_string()), transient_number(n))
        }
        _ => ctx.query_error(
            sql,
            &err.to_string(),
            None,
            driver::transport_is_transient(&err),
        ),
    }
}

/// `db.table` → (Some(db), table); MySQL's schemas are its databases.
fn split_name(table: &str) -> (Option<String>, String) {
    match table.split_once('.') {
        Some((s, t)) => (Some(s.to_string()), t.to_string()),
        None => (None, table.to_string()),
    }
}

impl Db {
    /// Re-read which columns are MariaDB JSON: the script may have created or altered some.
    async fn after_script(&self) {
        if let Ok(checks) = sqlx::query_scalar::<_, String>(types::JSON_CHECKS_SQL)
            .fetch_all(&self.pool)
            .await
        {
            self.state.set(&checks);
        }
    }

    async fn server_version(&self) -> Result<String, DbError> {
        let rows = super::Database::query(self, "SELECT VERSION()", &Params::new()).await?;
        Ok(rows.scalar().map(Value::display).unwrap_or_default())
    }

    fn name_params(table: &str) -> Params {
        let (schema, name) = split_name(table);
        Params::new().bind("schema", schema).bind("name", name)
    }

    async fn table_info(&self, table: &str) -> Result<Option<TableInfo>, DbError> {
        let p = Self::name_params(table);
        let exists = super::Database::query(
            self,
            "SELECT COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name",
            &p,
        )
        .await?;
        if !matches!(exists.scalar(), Some(Value::Int(n)) if *n > 0) {
            return Ok(None);
        }
        // MariaDB's JSON is LONGTEXT with a `json_valid(col)` check: report such columns as
        // `json`, the type they were declared with.
        let cols = super::Database::query(
            self,
            "SELECT c.COLUMN_NAME, c.COLUMN_TYPE, c.IS_NULLABLE, \
                    EXISTS (SELECT 1 FROM information_schema.CHECK_CONSTRAINTS k \
                            WHERE k.CONSTRAINT_SCHEMA = c.TABLE_SCHEMA \
                              AND k.TABLE_NAME = c.TABLE_NAME \
                              AND REPLACE(k.CHECK_CLAUSE, ' ', '') = \
                                  CONCAT('json_valid(`', c.COLUMN_NAME, '`)')) AS is_json \
             FROM information_schema.COLUMNS c \
             WHERE c.TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND c.TABLE_NAME = :name \
             ORDER BY c.ORDINAL_POSITION",
            &p,
        )
        .await?;
        let columns = cols
            .rows
            .iter()
            .map(|r| ColumnInfo {
                name: r[0].to_text(),
                data_type: if matches!(r[3], Value::Int(1) | Value::Bool(true)) {
                    "json".to_string()
                } else {
                    r[1].to_text()
                },
                nullable: r[2].to_text() == "YES",
            })
            .collect();
        // Unique indexes over plain columns (a functional index part has no COLUMN_NAME).
        let idx = super::Database::query(
            self,
            "SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS \
             WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name \
               AND NON_UNIQUE = 0 \
             ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX",
            &p,
        )
        .await?;
        let mut info = TableInfo {
            name: table.to_string(),
            columns,
            primary_key: Vec::new(),
            unique: Vec::new(),
        };
        let mut current: Option<(String, Vec<String>, bool)> = None;
        let finish = |info: &mut TableInfo, done: Option<(String, Vec<String>, bool)>| {
            if let Some((name, cols, complete)) = done {
                if !complete {
                } else if name == "PRIMARY" {
                    info.primary_key = cols;
                } else {
                    info.unique.push(cols);
                }
            }
        };
        for r in &idx.rows {
            let index = r[0].to_text();
            if current.as_ref().is_none_or(|c| c.0 != index) {
                finish(&mut info, current.take());
                current = Some((index, Vec::new(), true));
            }
            if let Some(c) = current.as_mut() {
                match &r[1] {
                    Value::Null => c.2 = false,
                    v => c.1.push(v.to_text()),
                }
            }
        }
        finish(&mut info, current.take());
        Ok(Some(info))
    }

    async fn row_count(&self, table: &str, exact: bool) -> Result<RowCount, DbError> {
        if !exact {
            let rows = super::Database::query(
                self,
                "SELECT TABLE_ROWS FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = COALESCE(:schema, DATABASE()) AND TABLE_NAME = :name",
                &Self::name_params(table),
            )
            .await?;
            if let Some(Value::Int(n)) = rows.scalar() {
                return Ok(RowCount {
                    rows: (*n).max(0) as u64,
                    exact: false,
                });
            }
        }
        driver::exact_count(self, table).await
    }
}
