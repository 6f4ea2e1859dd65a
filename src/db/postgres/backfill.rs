//! PostgreSQL's backfill SQL: a chunk travels as one bound text array per column, `UNNEST`ed
//! into rows on the server (one round trip, one parameter per column whatever the chunk size);
//! `ON CONFLICT` upserts; row-comparison keysets; `FOR SHARE` in pushdown reads.
//!
//! The fast path for a PostgreSQL target: a chunk is `COPY`ed into a temporary staging table
//! (streamed straight from a PostgreSQL source's `COPY … TO STDOUT` in binary, or encoded as
//! COPY text from another engine's rows) and written by one `INSERT … SELECT` from it.

use crate::db::backfill::{self, BackfillSql, ChunkColumn, OnConflict};
use crate::db::{Db, DbError, Dialect, Params, Transaction, Value};

pub struct PostgresBackfill;

impl BackfillSql for PostgresBackfill {
    fn dialect(&self) -> &'static dyn Dialect {
        &super::PostgresDialect
    }

    fn rows_relation(
        &self,
        cols: &[ChunkColumn],
        rows: Vec<Vec<Value>>,
        params: &mut Params,
    ) -> String {
        let d = self.dialect();
        let mut arrays: Vec<String> = cols.iter().map(|_| String::from("{")).collect();
        for (r, row) in rows.iter().enumerate() {
            for (arr, v) in arrays.iter_mut().zip(row) {
                if r > 0 {
                    arr.push(',');
                }
                push_element(arr, v);
            }
        }
        let mut unnest = Vec::with_capacity(cols.len());
        for (i, (col, mut arr)) in cols.iter().zip(arrays).enumerate() {
            arr.push('}');
            let name = format!("migtui_a{i}");
            let ty = if col.sql_type.is_empty() {
                "text"
            } else {
                &col.sql_type
            };
            unnest.push(format!("CAST(:{name} AS {ty}[])"));
            params.set(&name, crate::db::Param::One(Value::Text(arr)));
        }
        let names = cols
            .iter()
            .map(|c| d.quote_ident(&c.name))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "(SELECT * FROM UNNEST({}) AS migtui_u({names}))",
            unnest.join(", ")
        )
    }

    fn type_for(&self, value: &Value) -> &'static str {
        match value {
            Value::Null | Value::Text(_) => "text",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "bigint",
            Value::UInt(_) | Value::Decimal(_) => "numeric",
            Value::Float(_) => "double precision",
            Value::Bytes(_) => "bytea",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "jsonb",
        }
    }

    fn max_bound_values(&self) -> usize {
        // One array per column: the chunk size is bounded by memory, not by parameters.
        usize::MAX
    }

    fn on_conflict(&self, table: &str, key: &[String], action: &OnConflict) -> String {
        backfill::on_conflict_clause(self.dialect(), table, key, action)
    }

    fn share_lock(&self) -> &'static str {
        " FOR SHARE"
    }

    fn backend_id_sql(&self) -> Option<&'static str> {
        Some("SELECT CAST(pg_backend_pid() AS BIGINT)")
    }

    fn cancel_sql(&self) -> Option<&'static str> {
        Some("SELECT pg_cancel_backend(CAST(:id AS INTEGER))")
    }

    fn replica_lag_sql(&self) -> &'static [&'static str] {
        &[
            "SELECT CAST(EXTRACT(EPOCH FROM max(COALESCE(replay_lag, write_lag))) AS DOUBLE PRECISION) \
           FROM pg_stat_replication",
        ]
    }
}

/// The column types of a PostgreSQL table, in `columns` order, when every one is a built-in
/// type (so a staging table in another database can have the very same types and binary COPY
/// data reads back as it was written); `None` otherwise.
pub async fn builtin_column_types(
    db: &Db,
    table: &str,
    columns: &[String],
) -> Result<Option<Vec<String>>, DbError> {
    let Some(pg) = db.as_any().downcast_ref::<super::Db>() else {
        return Ok(None);
    };
    let Some(oid) = pg.table_oid(table).await? else {
        return Ok(None);
    };
    let rows = db
        .query(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), \
             t.typnamespace = CAST('pg_catalog' AS regnamespace) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             WHERE a.attrelid = CAST(:oid AS oid) AND a.attnum > 0 AND NOT a.attisdropped",
            &Params::new().bind("oid", oid),
        )
        .await?;
    let mut out = Vec::with_capacity(columns.len());
    for c in columns {
        let found = rows.rows.iter().find(|r| r[0].to_text() == *c);
        match found {
            Some(r) if matches!(r[2], Value::Bool(true)) => out.push(r[1].to_text()),
            _ => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// Bytes of COPY data gathered before one `CopyData` message goes to the target: the source
/// sends a message per row, and a write (a system call, a packet) per row cost more than the
/// rows' own work on the server.
const COPY_BATCH: usize = 256 * 1024;

/// Stream `COPY … TO STDOUT` on `source` into `COPY … FROM STDIN` in the transaction `tx`;
/// returns the rows copied. Both statements use the same format; nothing is held beyond one
/// batch of [`COPY_BATCH`] bytes.
pub async fn copy_between(
    source: &Db,
    out_sql: &str,
    tx: &mut dyn Transaction,
    in_sql: &str,
) -> Result<u64, DbError> {
    use futures::StreamExt as _;
    let src = pg_db(source)?;
    let dst = pg_tx(tx)?;
    let conn = src
        .pool
        .acquire()
        .await
        .map_err(|e| super::classify(&src.ctx, out_sql, e))?;
    let mut conn = CloseUnlessClean(conn, false);
    let mut rows = conn
        .0
        .copy_out_raw(out_sql)
        .await
        .map_err(|e| super::classify(&src.ctx, out_sql, e))?;
    let mut sink = dst
        .tx
        .copy_in_raw(in_sql)
        .await
        .map_err(|e| super::classify(&dst.ctx, in_sql, e))?;
    let mut batch: Vec<u8> = Vec::with_capacity(COPY_BATCH + 4096);
    loop {
        let part = rows.next().await;
        let end = part.is_none();
        if let Some(part) = part {
            match part {
                Ok(p) => batch.extend_from_slice(&p),
                Err(e) => {
                    let _ = sink.abort("the source COPY failed").await;
                    return Err(super::classify(&src.ctx, out_sql, e));
                }
            }
        }
        if (end && !batch.is_empty()) || batch.len() >= COPY_BATCH {
            if let Err(e) = sink.send(batch.as_slice()).await {
                drop(sink);
                return Err(super::classify(&dst.ctx, in_sql, e));
            }
            batch.clear();
        }
        if end {
            break;
        }
    }
    // The source stream ran to its end (CommandComplete, ReadyForQuery): its connection is
    // idle again and may serve the next chunk.
    drop(rows);
    conn.1 = true;
    sink.finish()
        .await
        .map_err(|e| super::classify(&dst.ctx, in_sql, e))
}

/// A source connection that goes back to the pool only once its COPY ran to the end: a COPY
/// stream dropped before then (a failed write, a cancel) leaves it mid-protocol, and sqlx
/// would hand it out again, so it is closed instead.
struct CloseUnlessClean(sqlx::pool::PoolConnection<sqlx::Postgres>, bool);

impl Drop for CloseUnlessClean {
    fn drop(&mut self) {
        if !self.1 {
            self.0.close_on_drop();
        }
    }
}

/// Send COPY text `data` through `COPY … FROM STDIN` in the transaction `tx`; returns the rows.
pub async fn copy_in(tx: &mut dyn Transaction, in_sql: &str, data: &[u8]) -> Result<u64, DbError> {
    let dst = pg_tx(tx)?;
    let mut sink = dst
        .tx
        .copy_in_raw(in_sql)
        .await
        .map_err(|e| super::classify(&dst.ctx, in_sql, e))?;
    if let Err(e) = sink.send(data).await {
        drop(sink);
        return Err(super::classify(&dst.ctx, in_sql, e));
    }
    sink.finish()
        .await
        .map_err(|e| super::classify(&dst.ctx, in_sql, e))
}

fn not_postgres(db: &str) -> DbError {
    DbError::Query {
        db: db.to_string(),
        sql: "COPY".into(),
        message: "COPY needs a PostgreSQL database".into(),
        code: None,
        transient: false,
    }
}

fn pg_db(db: &Db) -> Result<&super::Db, DbError> {
    db.as_any()
        .downcast_ref::<super::Db>()
        .ok_or_else(|| not_postgres(db.name()))
}

fn pg_tx(tx: &mut dyn Transaction) -> Result<&mut super::Tx, DbError> {
    tx.as_any_mut()
        .downcast_mut::<super::Tx>()
        .ok_or_else(|| not_postgres("the target"))
}

/// Rows as COPY text: tab-separated, `\N` for NULL, backslash escapes; each value in the text
/// form the server parses as the staging column's type.
pub fn copy_text(rows: &[Vec<Value>], out: &mut Vec<u8>) {
    for row in rows {
        for (i, v) in row.iter().enumerate() {
            if i > 0 {
                out.push(b'\t');
            }
            let text = match v {
                Value::Null => {
                    out.extend_from_slice(b"\\N");
                    continue;
                }
                Value::Text(s) => std::borrow::Cow::Borrowed(s.as_str()),
                Value::Float(f) if f.is_infinite() => {
                    std::borrow::Cow::Borrowed(if *f > 0.0 { "Infinity" } else { "-Infinity" })
                }
                other => std::borrow::Cow::Owned(other.display()),
            };
            for &b in text.as_bytes() {
                match b {
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    b => out.push(b),
                }
            }
        }
        out.push(b'\n');
    }
}

/// A value as a PostgreSQL string literal (`E'…'`), for statements that take no parameters
/// (`COPY (SELECT …) TO STDOUT`); the server casts it to the column it is compared with.
pub fn literal(v: &Value) -> String {
    if v.is_null() {
        return "NULL".into();
    }
    let text = v.display();
    let mut out = String::with_capacity(text.len() + 3);
    out.push_str("E'");
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

/// One element of a PostgreSQL array literal: `NULL`, or the value's text in double quotes
/// with `"` and `\` escaped. The server parses it as the array's element type.
fn push_element(out: &mut String, v: &Value) {
    let text = match v {
        Value::Null => {
            out.push_str("NULL");
            return;
        }
        Value::Text(s) => std::borrow::Cow::Borrowed(s.as_str()),
        Value::Float(f) if f.is_infinite() => {
            std::borrow::Cow::Borrowed(if *f > 0.0 { "Infinity" } else { "-Infinity" })
        }
        other => std::borrow::Cow::Owned(other.display()),
    };
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrays_quote_every_element_and_keep_nulls() {
        let cols = vec![
            ChunkColumn {
                name: "id".into(),
                sql_type: "bigint".into(),
            },
            ChunkColumn {
                name: "t".into(),
                sql_type: String::new(),
            },
        ];
        let mut p = Params::new();
        let rel = PostgresBackfill.rows_relation(
            &cols,
            vec![
                vec![Value::Int(1), Value::Text("a\"b\\c".into())],
                vec![Value::Int(2), Value::Null],
            ],
            &mut p,
        );
        assert_eq!(
            rel,
            "(SELECT * FROM UNNEST(CAST(:migtui_a0 AS bigint[]), CAST(:migtui_a1 AS text[])) \
             AS migtui_u(\"id\", \"t\"))"
        );
        assert_eq!(
            p.get("migtui_a0"),
            Some(&crate::db::Param::One(Value::Text("{\"1\",\"2\"}".into())))
        );
        assert_eq!(
            p.get("migtui_a1"),
            Some(&crate::db::Param::One(Value::Text(
                "{\"a\\\"b\\\\c\",NULL}".into()
            )))
        );
    }
}
