//! PostgreSQL: the sqlx pool, type mapping and the SQL that is PostgreSQL's own.

pub mod backfill;
pub(crate) mod checksum;
mod impact;
mod types;

use std::str::FromStr;
use std::sync::Arc;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPoolOptions, Postgres};

use super::driver::{self, CONNECT_TIMEOUT, Ctx, sqlx_database};
use super::{ColumnInfo, DbError, Dialect, Engine, Params, RowCount, TableInfo, Value};
use crate::config::DatabaseConfig;
use crate::secret::Secrets;
use types::{bind, bind_array, column_types, decode_row};

pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }
    fn placeholder(&self, index: usize) -> String {
        format!("${index}")
    }
    fn now_micros_sql(&self) -> &'static str {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
    }
    fn serial_primary_key(&self) -> &'static str {
        "BIGSERIAL PRIMARY KEY"
    }
    fn statement_stats_sql(&self) -> Option<&'static str> {
        Some(
            "SELECT query AS query_text, calls FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
    }
    fn statement_stats_hint(&self) -> &'static str {
        "add pg_stat_statements to shared_preload_libraries, restart, and run \
         CREATE EXTENSION pg_stat_statements in this database"
    }
    fn lock_timeout_sql(&self, ms: u64) -> Option<String> {
        // LOCAL: ends with the transaction, never leaks to the next user of the connection.
        Some(format!("SET LOCAL lock_timeout = '{}ms'", ms.max(1)))
    }
    fn is_lock_timeout(&self, err: &DbError) -> bool {
        err.code() == Some("55P03")
    }
    fn row_hash_sql(
        &self,
        cols: &[super::rowhash::HashColumn],
        opts: &super::rowhash::HashOptions,
    ) -> Option<String> {
        Some(checksum::row_hash_sql(cols, opts))
    }
    fn binds_arrays(&self) -> bool {
        true
    }
    fn snapshot_begin_sql(&self) -> &'static str {
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
    }
    fn native_row_hash_sql(&self, cols: &[String]) -> Option<String> {
        Some(checksum::native_row_hash_sql(cols))
    }
    fn tablesample_sql(&self, percent: f64, seed: u32) -> Option<String> {
        Some(format!(
            "TABLESAMPLE SYSTEM ({:.6}) REPEATABLE ({seed})",
            percent.clamp(0.000001, 100.0)
        ))
    }
}

sqlx_database!(Postgres, PgConnection, Engine::Postgres, ());

const URL_EXAMPLE: &str = "postgres://user:password@host:5432/database";

pub async fn connect(cfg: &DatabaseConfig, secrets: &Secrets) -> Result<super::Db, DbError> {
    let ctx = Ctx::new(cfg, secrets);
    let opts = PgConnectOptions::from_str(cfg.url.expose())
        .map_err(|e| ctx.bad_url(e, URL_EXAMPLE))?
        .application_name("migtui")
        // float8::text in shortest round-trip digits (PostgreSQL 12+, any value above 0): the
        // row hash reads doubles through it, as Rust writes them. Set here, not left to the
        // driver's default.
        .extra_float_digits(1)
        // Every session reads and writes timestamps in UTC, and no statement of ours runs
        // longer than the configured timeout.
        .options([
            ("TimeZone", "UTC".to_string()),
            ("statement_timeout", cfg.statement_timeout_ms.to_string()),
        ]);
    // One probe connection first: the pool would retry a refused connection until its own
    // timeout and then report only "timed out", losing the reason.
    let probe = tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&opts))
        .await
        .map_err(|_| ctx.timed_out())?
        .map_err(|e| connect_error(&ctx, &e))?;
    let _ = probe.close().await;
    let pool = PgPoolOptions::new()
        .max_connections(cfg.max_connections.max(1))
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect_lazy_with(opts);
    Ok(Arc::new(Db {
        ctx: Arc::new(ctx),
        pool,
        state: Arc::new(()),
    }))
}

fn connect_error(ctx: &Ctx, err: &sqlx::Error) -> DbError {
    let Some((code, message)) = driver::server_error(err) else {
        return driver::transport_connect_error(ctx, err);
    };
    let hint = match code.as_deref() {
        Some("28P01") => {
            "wrong password for this user: check the password in the URL (or the ${VARIABLE} \
             it comes from)"
        }
        Some("28000") => "the server refused this user: check the user name and pg_hba.conf",
        Some("3D000") => {
            "the database does not exist: create it (CREATE DATABASE …) or fix its name in the URL"
        }
        Some("53300") => "the server has no free connection slots: lower max_connections or retry",
        Some("57P03") => "the server is starting up or shutting down: retry in a moment",
        _ => "check the URL and the server's log",
    };
    let code = code.map(|c| format!(" [{c}]")).unwrap_or_default();
    ctx.connect_error(format!("{message}{code}"), hint)
}

/// SQLSTATEs worth a retry: deadlock, lock timeout, serialization failure, statement timeout
/// or cancel, server shutdown or restart, too many connections, the shared lock table full
/// (53200 "out of shared memory": another session holds a great many locks for a while), and
/// connection exceptions (class 08).
fn transient_sqlstate(code: &str) -> bool {
    matches!(
        code,
        "40P01" | "55P03" | "40001" | "57014" | "57P01" | "57P02" | "57P03" | "53300" | "53200"
    ) || code.starts_with("08")
}

fn classify(ctx: &Ctx, sql: &str, err: sqlx::Error) -> DbError {
    match driver::server_error(&err) {
        Some((code, message)) => {
            let transient = code.as_deref().is_some_and(transient_sqlstate);
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

/// `schema.table` → (Some(schema), table); names are matched as written, then lowercased (the
/// way PostgreSQL folds unquoted names).
fn split_name(table: &str) -> (Option<&str>, &str) {
    match table.split_once('.') {
        Some((s, t)) => (Some(s), t),
        None => (None, table),
    }
}

impl Db {
    /// Nothing cached between queries.
    async fn after_script(&self) {}

    async fn server_version(&self) -> Result<String, DbError> {
        let rows = super::Database::query(self, "SELECT version()", &Params::new()).await?;
        Ok(rows.scalar().map(Value::display).unwrap_or_default())
    }

    /// The table's oid, or `None` when there is no such table, view or partitioned table.
    async fn table_oid(&self, table: &str) -> Result<Option<i64>, DbError> {
        let (schema, name) = split_name(table);
        let sql = "SELECT c.oid::int8 FROM pg_class c \
                   JOIN pg_namespace n ON n.oid = c.relnamespace \
                   WHERE c.relname IN (:name, lower(:name)) \
                     AND n.nspname IN (COALESCE(:schema, current_schema()), \
                                       lower(COALESCE(:schema, current_schema()))) \
                     AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
                   ORDER BY (c.relname = :name) DESC, (n.nspname = COALESCE(:schema, '')) DESC \
                   LIMIT 1";
        let params = Params::new()
            .bind("name", name)
            .bind("schema", schema.map(str::to_string));
        let rows = super::Database::query(self, sql, &params).await?;
        Ok(match rows.scalar() {
            Some(Value::Int(oid)) => Some(*oid),
            _ => None,
        })
    }

    async fn table_info(&self, table: &str) -> Result<Option<TableInfo>, DbError> {
        let Some(oid) = self.table_oid(table).await? else {
            return Ok(None);
        };
        let p = Params::new().bind("oid", oid);
        let cols = super::Database::query(
            self,
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull \
             FROM pg_attribute a \
             WHERE a.attrelid = CAST(:oid AS oid) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attnum",
            &p,
        )
        .await?;
        let columns = cols
            .rows
            .iter()
            .map(|r| ColumnInfo {
                name: r[0].to_text(),
                data_type: r[1].to_text(),
                nullable: matches!(r[2], Value::Bool(true)),
            })
            .collect();
        // Unique indexes over plain columns; partial and expression indexes are not keys.
        let idx = super::Database::query(
            self,
            "SELECT i.indisprimary, json_agg(a.attname ORDER BY k.ord) \
             FROM pg_index i \
             CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = CAST(:oid AS oid) AND i.indisunique AND i.indpred IS NULL \
               AND NOT (0 = ANY (i.indkey::int2[])) \
             GROUP BY i.indexrelid, i.indisprimary \
             ORDER BY i.indisprimary DESC, i.indexrelid",
            &p,
        )
        .await?;
        let mut info = TableInfo {
            name: table.to_string(),
            columns,
            primary_key: Vec::new(),
            unique: Vec::new(),
        };
        for r in &idx.rows {
            let names = json_names(&r[1]);
            if matches!(r[0], Value::Bool(true)) {
                info.primary_key = names;
            } else {
                info.unique.push(names);
            }
        }
        Ok(Some(info))
    }

    async fn row_count(&self, table: &str, exact: bool) -> Result<RowCount, DbError> {
        if !exact && let Some(oid) = self.table_oid(table).await? {
            let rows = super::Database::query(
                self,
                "SELECT reltuples::int8 FROM pg_class WHERE oid = CAST(:oid AS oid)",
                &Params::new().bind("oid", oid),
            )
            .await?;
            // -1: never vacuumed or analyzed; then only counting knows.
            if let Some(Value::Int(n)) = rows.scalar()
                && *n >= 0
            {
                return Ok(RowCount {
                    rows: *n as u64,
                    exact: false,
                });
            }
        }
        driver::exact_count(self, table).await
    }
}

fn json_names(v: &Value) -> Vec<String> {
    match v {
        Value::Json(serde_json::Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::transient_sqlstate;

    #[test]
    fn a_full_lock_table_is_retried_and_a_constraint_violation_is_not() {
        // 53200: "out of shared memory … increase max_locks_per_transaction", seen when one
        // session holds many locks; it passes when that session ends (found by tests/chaos.rs).
        assert!(transient_sqlstate("53200"));
        for code in ["57014", "57P01", "40P01", "08006", "53300"] {
            assert!(transient_sqlstate(code), "{code}");
        }
        for code in ["23505", "42P01", "22P02", "53100"] {
            assert!(!transient_sqlstate(code), "{code}");
        }
    }
}
