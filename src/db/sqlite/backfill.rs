//! SQLite's backfill SQL: a chunk travels as a multi-row `VALUES` list in a CTE, upserts with
//! `ON CONFLICT … DO UPDATE … WHERE` (after the `WHERE true` SQLite's parser needs), row-value
//! keysets. SQLite runs in process and has one writer: no share locks, nothing to cancel on a
//! server, no replicas.

use crate::db::backfill::{self, BackfillSql, ChunkColumn, OnConflict};
use crate::db::{Dialect, Params, Value};

pub struct SqliteBackfill;

impl BackfillSql for SqliteBackfill {
    fn dialect(&self) -> &'static dyn Dialect {
        &super::SqliteDialect
    }

    fn rows_relation(
        &self,
        cols: &[ChunkColumn],
        rows: Vec<Vec<Value>>,
        params: &mut Params,
    ) -> String {
        backfill::values_relation(self.dialect(), cols, rows, params)
    }

    fn max_bound_values(&self) -> usize {
        // SQLITE_MAX_VARIABLE_NUMBER's default since 3.32.
        32_766
    }

    fn insert_select_filler(&self) -> &'static str {
        " WHERE true"
    }

    fn on_conflict(&self, table: &str, key: &[String], action: &OnConflict) -> String {
        let d = self.dialect();
        let keys = key.iter().map(|k| d.quote_ident(k)).collect::<Vec<_>>();
        match action {
            OnConflict::Update { columns, version } if !columns.is_empty() => {
                let set = columns
                    .iter()
                    .map(|c| format!("{0} = excluded.{0}", d.quote_ident(c)))
                    .collect::<Vec<_>>()
                    .join(", ");
                let guard = version.as_ref().map_or(String::new(), |v| {
                    let v = d.quote_ident(v);
                    format!(
                        " WHERE {}.{v} IS NULL OR {0}.{v} <= excluded.{v}",
                        d.quote_path(table)
                    )
                });
                format!(
                    " ON CONFLICT ({}) DO UPDATE SET {set}{guard}",
                    keys.join(", ")
                )
            }
            _ => format!(" ON CONFLICT ({}) DO NOTHING", keys.join(", ")),
        }
    }

    fn share_lock(&self) -> &'static str {
        ""
    }

    fn backend_id_sql(&self) -> Option<&'static str> {
        None
    }

    fn cancel_sql(&self) -> Option<&'static str> {
        None
    }

    fn replica_lag_sql(&self) -> Option<&'static str> {
        None
    }
}
