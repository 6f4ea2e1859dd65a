//! PostgreSQL's backfill SQL: a chunk travels as one bound text array per column, `UNNEST`ed
//! into rows on the server (one round trip, one parameter per column whatever the chunk size);
//! `ON CONFLICT` upserts; row-comparison keysets; `FOR SHARE` in pushdown reads.

use crate::db::backfill::{self, BackfillSql, ChunkColumn, OnConflict};
use crate::db::{Dialect, Params, Value};

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

    fn replica_lag_sql(&self) -> Option<&'static str> {
        Some(
            "SELECT CAST(EXTRACT(EPOCH FROM max(COALESCE(replay_lag, write_lag))) AS DOUBLE PRECISION) \
             FROM pg_stat_replication",
        )
    }
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
