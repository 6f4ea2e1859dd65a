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
        backfill::on_conflict_clause(self.dialect(), table, key, action)
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

    fn replica_lag_sql(&self) -> &'static [&'static str] {
        &[]
    }
}
