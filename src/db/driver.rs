//! What the three sqlx drivers share: masking, connect-error wording, query-error mapping, and
//! the macro that writes the `Database`/`Transaction` plumbing once for all three.
//!
//! Private to `db/`: sqlx types appear here only as the drivers' common vocabulary
//! (`sqlx::Error`), never in anything `db/` exports.

use std::time::Duration;

use super::DbError;
use crate::config::DatabaseConfig;
use crate::secret::Secrets;

/// How long a first connection may take before we give up with a clear error.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything a driver needs to word an error about one database without leaking credentials.
#[derive(Clone)]
pub(crate) struct Ctx {
    /// The database's name in the migration file.
    pub name: String,
    /// The URL with the password masked.
    pub redacted: String,
    /// `host:port/db` or the SQLite file.
    pub target: String,
    secrets: Secrets,
    /// The URL's own password and the whole raw URL, masked even when they did not come from
    /// `${ENV}` (a literal URL in a test or a CLI flag).
    extra: Vec<(String, String)>,
}

impl Ctx {
    pub fn new(cfg: &DatabaseConfig, secrets: &Secrets) -> Ctx {
        let redacted = cfg.url.redacted();
        let mut extra = vec![(cfg.url.expose().to_string(), redacted.clone())];
        if let Some(pw) = cfg.url.password().filter(|p| p.chars().count() >= 3) {
            extra.push((pw, "***".into()));
        }
        if let Some(raw) = url::Url::parse(cfg.url.expose())
            .ok()
            .and_then(|u| u.password().map(str::to_string))
            .filter(|p| p.chars().count() >= 3)
        {
            extra.push((raw, "***".into()));
        }
        Ctx {
            name: cfg.name.clone(),
            redacted,
            target: cfg.url.display_target(),
            secrets: secrets.clone(),
            extra,
        }
    }

    /// `text` with every secret of this migration and this URL replaced by `***`.
    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (secret, shown) in &self.extra {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), shown);
            }
        }
        self.secrets.mask(&out)
    }

    pub fn connect_error(&self, reason: impl AsRef<str>, hint: impl AsRef<str>) -> DbError {
        DbError::Connect {
            db: self.name.clone(),
            target: self.redacted.clone(),
            reason: self.mask(reason.as_ref()),
            hint: self.mask(hint.as_ref()),
        }
    }

    pub fn bad_url(&self, err: impl std::fmt::Display, example: &str) -> DbError {
        self.connect_error(
            format!("the URL is not valid: {err}"),
            format!("write it as {example}"),
        )
    }

    pub fn timed_out(&self) -> DbError {
        self.connect_error(
            format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
            "check the host and port, firewalls, and that the server is up and not overloaded",
        )
    }

    pub fn query_error(
        &self,
        sql: &str,
        message: &str,
        code: Option<String>,
        transient: bool,
    ) -> DbError {
        let mut message = self.mask(message);
        if let Some(hint) = hint_for(code.as_deref(), &message) {
            message.push_str("\n  hint: ");
            message.push_str(hint);
        }
        DbError::Query {
            db: self.name.clone(),
            sql: self.mask(sql),
            message,
            code,
            transient,
        }
    }

    pub fn decode_error(&self, column: &str, type_name: &str, message: impl AsRef<str>) -> DbError {
        DbError::Decode {
            db: self.name.clone(),
            column: column.to_string(),
            type_name: type_name.to_string(),
            message: self.mask(message.as_ref()),
        }
    }
}

/// What to do about a server error whose own message does not say.
fn hint_for(code: Option<&str>, message: &str) -> Option<&'static str> {
    match code {
        // PostgreSQL `character_not_in_repertoire` for a NUL byte in text.
        Some("22021") if message.contains("0x00") => Some(
            "PostgreSQL text cannot hold NUL (0x00) characters: strip them in the source query \
             (e.g. replace(col, chr(0), '') or REPLACE(col, CHAR(0), '')) or store the column as bytea",
        ),
        _ => None,
    }
}

/// The server's own code and message of a database error, the part of `sqlx::Error` every
/// engine shares; `None` for errors that did not come from the server.
pub(crate) fn server_error(err: &sqlx::Error) -> Option<(Option<String>, String)> {
    err.as_database_error()
        .map(|d| (d.code().map(|c| c.into_owned()), d.message().to_string()))
}

/// Errors below the SQL level that are worth a retry: the connection broke or the pool was
/// momentarily exhausted.
pub(crate) fn transport_is_transient(err: &sqlx::Error) -> bool {
    matches!(
        err,
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::WorkerCrashed
    ) || matches!(err, sqlx::Error::Protocol(m) if m.contains("closed") || m.contains("reset"))
}

/// Reason and hint for a connect failure that is not a server error (network, TLS, URL).
pub(crate) fn transport_connect_error(ctx: &Ctx, err: &sqlx::Error) -> DbError {
    match err {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => ctx
            .connect_error(
                format!("connection refused at {}", ctx.target),
                "nothing is listening there: is the server running, and are the host and port \
                 in the URL right?",
            ),
        sqlx::Error::Io(io) => ctx.connect_error(
            format!("network error: {io}"),
            "check the host name and port in the URL, DNS and firewalls",
        ),
        sqlx::Error::Tls(e) => ctx.connect_error(
            format!("TLS failed: {e}"),
            "check the sslmode/ssl-mode parameter and the server's certificate",
        ),
        sqlx::Error::Configuration(e) => ctx.connect_error(
            format!("the URL is not valid: {e}"),
            "check the URL's parameters against the driver's documentation",
        ),
        sqlx::Error::PoolTimedOut => ctx.timed_out(),
        other => ctx.connect_error(
            other.to_string(),
            "check the URL, and that the server accepts connections",
        ),
    }
}

/// Writes `Db`/`Tx` structs with the `Database` and `Transaction` impls over one sqlx engine.
/// The engine module provides `bind(query, Value)`, `bind_array(query, TypedArray)`, `decode_row(&ctx, &row, &types)`,
/// `column_types(columns, &state)`, `classify(&ctx, sql, err) -> DbError`, the
/// `server_version`, `table_info`, `row_count`, `after_script` and `dependents` (the impact
/// check, in `<engine>/impact.rs`) inherent methods on `Db`, and
/// `$State`: what the engine remembers between queries (MariaDB: its JSON columns).
macro_rules! sqlx_database {
    ($DB:ty, $Conn:ty, $engine:expr, $State:ty) => {
        /// One database behind a sqlx pool. Clones share the pool.
        #[derive(Clone)]
        pub struct Db {
            ctx: std::sync::Arc<$crate::db::driver::Ctx>,
            pool: sqlx::Pool<$DB>,
            state: std::sync::Arc<$State>,
        }

        impl std::fmt::Debug for Db {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct("Db")
                    .field("name", &self.ctx.name)
                    .field("engine", &$engine)
                    .field("target", &self.ctx.target)
                    .finish()
            }
        }

        /// Run one statement on one connection and return its rows, column names included
        /// (even for an empty result, from the prepared statement).
        async fn run_query(
            ctx: &$crate::db::driver::Ctx,
            state: &$State,
            conn: &mut $Conn,
            sql: &str,
            params: &$crate::db::Params,
        ) -> Result<$crate::db::Rows, $crate::db::DbError> {
            use sqlx::{Column as _, Executor as _, Row as _, Statement as _};
            let (text, values) =
                $crate::db::placeholders::translate_bound(sql, params, $engine.dialect())?;
            let mut q = sqlx::query::<$DB>(&text);
            for v in values {
                q = match v {
                    $crate::db::placeholders::Bind::One(v) => bind(q, v),
                    $crate::db::placeholders::Bind::Array(a) => bind_array(q, a),
                };
            }
            let raw = q
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| classify(ctx, sql, e))?;
            let mut out = $crate::db::Rows::default();
            let Some(first) = raw.first() else {
                let stmt = (&mut *conn)
                    .prepare(text.as_str())
                    .await
                    .map_err(|e| classify(ctx, sql, e))?;
                out.columns = stmt
                    .columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect();
                return Ok(out);
            };
            out.columns = first
                .columns()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            let types = column_types(first.columns(), state);
            out.rows.reserve(raw.len());
            for row in &raw {
                out.rows.push(decode_row(ctx, row, &types)?);
            }
            Ok(out)
        }

        /// [`run_query`], each row hashed as it arrives and then dropped: a full diff's
        /// chunk never holds its rows, only their keys and hashes.
        async fn run_hashed(
            ctx: &$crate::db::driver::Ctx,
            state: &$State,
            conn: &mut $Conn,
            sql: &str,
            params: &$crate::db::Params,
            h: &$crate::db::RowHashing<'_>,
        ) -> Result<$crate::db::KeyHashes, $crate::db::DbError> {
            use futures::TryStreamExt as _;
            use sqlx::Row as _;
            let (text, values) =
                $crate::db::placeholders::translate_bound(sql, params, $engine.dialect())?;
            let mut q = sqlx::query::<$DB>(&text);
            for v in values {
                q = match v {
                    $crate::db::placeholders::Bind::One(v) => bind(q, v),
                    $crate::db::placeholders::Bind::Array(a) => bind_array(q, a),
                };
            }
            let mut rows = q.fetch(&mut *conn);
            let mut types = None;
            let mut out = Vec::new();
            while let Some(row) = rows.try_next().await.map_err(|e| classify(ctx, sql, e))? {
                let types = types.get_or_insert_with(|| column_types(row.columns(), state));
                out.push(h.hash(decode_row(ctx, &row, types)?));
            }
            Ok(out)
        }

        /// Several statements with no parameters, in one round trip (`sqlx::raw_sql`).
        fn run_script(
            conn: &mut $Conn,
            sql: String,
        ) -> futures::future::BoxFuture<'_, Result<(), sqlx::Error>> {
            Box::pin(async move {
                use futures::TryStreamExt as _;
                let mut results = sqlx::raw_sql(&sql).execute_many(conn);
                while results.try_next().await?.is_some() {}
                Ok(())
            })
        }

        async fn run_execute(
            ctx: &$crate::db::driver::Ctx,
            conn: &mut $Conn,
            sql: &str,
            params: &$crate::db::Params,
        ) -> Result<u64, $crate::db::DbError> {
            let (text, values) =
                $crate::db::placeholders::translate_bound(sql, params, $engine.dialect())?;
            let mut q = sqlx::query::<$DB>(&text);
            for v in values {
                q = match v {
                    $crate::db::placeholders::Bind::One(v) => bind(q, v),
                    $crate::db::placeholders::Bind::Array(a) => bind_array(q, a),
                };
            }
            let done = q
                .execute(&mut *conn)
                .await
                .map_err(|e| classify(ctx, sql, e))?;
            Ok(done.rows_affected())
        }

        #[async_trait::async_trait]
        impl $crate::db::Database for Db {
            fn name(&self) -> &str {
                &self.ctx.name
            }
            fn as_any(&self) -> &dyn std::any::Any {
                self
            }
            fn engine(&self) -> $crate::db::Engine {
                $engine
            }
            fn target(&self) -> String {
                self.ctx.target.clone()
            }

            async fn query(
                &self,
                sql: &str,
                params: &$crate::db::Params,
            ) -> Result<$crate::db::Rows, $crate::db::DbError> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                run_query(&self.ctx, &self.state, &mut conn, sql, params).await
            }

            async fn query_hashed(
                &self,
                sql: &str,
                params: &$crate::db::Params,
                h: &$crate::db::RowHashing<'_>,
            ) -> Result<$crate::db::KeyHashes, $crate::db::DbError> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                run_hashed(&self.ctx, &self.state, &mut conn, sql, params, h).await
            }

            async fn execute(
                &self,
                sql: &str,
                params: &$crate::db::Params,
            ) -> Result<u64, $crate::db::DbError> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                run_execute(&self.ctx, &mut conn, sql, params).await
            }

            async fn execute_script(&self, sql: &str) -> Result<(), $crate::db::DbError> {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                run_script(&mut conn, sql.to_string())
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                drop(conn);
                // Scripts are where DDL runs: let the engine re-read what it caches.
                self.after_script().await;
                Ok(())
            }

            async fn begin(&self) -> Result<Box<dyn $crate::db::Transaction>, $crate::db::DbError> {
                let tx = self
                    .pool
                    .begin()
                    .await
                    .map_err(|e| classify(&self.ctx, "BEGIN", e))?;
                Ok(Box::new(Tx {
                    ctx: self.ctx.clone(),
                    state: self.state.clone(),
                    tx,
                }))
            }

            async fn begin_snapshot(
                &self,
            ) -> Result<Box<dyn $crate::db::Transaction>, $crate::db::DbError> {
                let sql = $engine.dialect().snapshot_begin_sql();
                let tx = self
                    .pool
                    .begin_with(sql)
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                Ok(Box::new(Tx {
                    ctx: self.ctx.clone(),
                    state: self.state.clone(),
                    tx,
                }))
            }

            async fn server_version(&self) -> Result<String, $crate::db::DbError> {
                Db::server_version(self).await
            }

            async fn table_info(
                &self,
                table: &str,
            ) -> Result<Option<$crate::db::TableInfo>, $crate::db::DbError> {
                Db::table_info(self, table).await
            }

            async fn row_count(
                &self,
                table: &str,
                exact: bool,
            ) -> Result<$crate::db::RowCount, $crate::db::DbError> {
                Db::row_count(self, table, exact).await
            }

            async fn describe(
                &self,
                sql: &str,
                params: &$crate::db::Params,
            ) -> Result<Vec<String>, $crate::db::DbError> {
                use sqlx::{Column as _, Executor as _, Statement as _};
                let (text, _) =
                    $crate::db::placeholders::translate(sql, params, $engine.dialect())?;
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                // sqlx caches the prepared statement by its text, with the parameter types
                // the server inferred (PostgreSQL: `1 <= $1` is int4). A later query of the
                // same text binding an i64 would reuse it and fail ("incorrect binary data
                // format"): this connection is closed after describing, cache and all.
                conn.close_on_drop();
                let stmt = (&mut *conn)
                    .prepare(text.as_str())
                    .await
                    .map_err(|e| classify(&self.ctx, sql, e))?;
                Ok(stmt
                    .columns()
                    .iter()
                    .map(|c| c.name().to_string())
                    .collect())
            }

            async fn close(&self) {
                self.pool.close().await;
            }

            async fn dependents(
                &self,
                table: &str,
                columns: &[String],
            ) -> Result<Vec<$crate::db::Dependent>, $crate::db::DbError> {
                Db::dependents(self, table, columns).await
            }
        }

        /// A transaction on one pooled connection; sqlx rolls it back when dropped uncommitted.
        pub struct Tx {
            ctx: std::sync::Arc<$crate::db::driver::Ctx>,
            state: std::sync::Arc<$State>,
            tx: sqlx::Transaction<'static, $DB>,
        }

        #[async_trait::async_trait]
        impl $crate::db::Transaction for Tx {
            fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
                self
            }
            async fn query(
                &mut self,
                sql: &str,
                params: &$crate::db::Params,
            ) -> Result<$crate::db::Rows, $crate::db::DbError> {
                run_query(&self.ctx, &self.state, &mut self.tx, sql, params).await
            }
            async fn query_hashed(
                &mut self,
                sql: &str,
                params: &$crate::db::Params,
                h: &$crate::db::RowHashing<'_>,
            ) -> Result<$crate::db::KeyHashes, $crate::db::DbError> {
                run_hashed(&self.ctx, &self.state, &mut self.tx, sql, params, h).await
            }
            async fn execute(
                &mut self,
                sql: &str,
                params: &$crate::db::Params,
            ) -> Result<u64, $crate::db::DbError> {
                run_execute(&self.ctx, &mut self.tx, sql, params).await
            }
            async fn commit(self: Box<Self>) -> Result<(), $crate::db::DbError> {
                let ctx = self.ctx.clone();
                self.tx
                    .commit()
                    .await
                    .map_err(|e| classify(&ctx, "COMMIT", e))
            }
            async fn rollback(self: Box<Self>) -> Result<(), $crate::db::DbError> {
                let ctx = self.ctx.clone();
                self.tx
                    .rollback()
                    .await
                    .map_err(|e| classify(&ctx, "ROLLBACK", e))
            }
        }
    };
}

pub(crate) use sqlx_database;

/// The exact row count of a table, `SELECT count(*)`, for every engine.
pub(crate) async fn exact_count(
    db: &dyn super::Database,
    table: &str,
) -> Result<super::RowCount, DbError> {
    let sql = format!("SELECT count(*) FROM {}", db.dialect().quote_path(table));
    let rows = db.query(&sql, &super::Params::new()).await?;
    let rows = match rows.scalar() {
        Some(super::Value::Int(n)) => (*n).max(0) as u64,
        Some(super::Value::UInt(n)) => *n,
        _ => 0,
    };
    Ok(super::RowCount { rows, exact: true })
}
