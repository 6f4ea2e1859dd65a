//! MySQL/MariaDB's backfill SQL: a chunk travels as a multi-row `VALUES` list in a CTE (one
//! round trip), `ON DUPLICATE KEY UPDATE` upserts with the version guard as `IF`s, composite
//! keysets spelled out column by column (MariaDB does not use an index for row comparisons),
//! `LOCK IN SHARE MODE` in pushdown reads, and `KILL QUERY` to cancel.

use crate::db::backfill::{self, BackfillSql, ChunkColumn, OnConflict};
use crate::db::{Dialect, Params, Value};

pub struct MySqlBackfill;

impl BackfillSql for MySqlBackfill {
    fn dialect(&self) -> &'static dyn Dialect {
        &super::MySqlDialect
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
        // The prepared-statement protocol counts parameters in 16 bits.
        65_535
    }

    fn on_conflict(&self, table: &str, key: &[String], action: &OnConflict) -> String {
        let d = self.dialect();
        let t = d.quote_path(table);
        match action {
            OnConflict::Update { columns, version } if !columns.is_empty() => {
                // Assignments run left to right and see earlier ones: the version column goes
                // last so every guard compares against the stored version.
                let mut cols: Vec<&String> = columns
                    .iter()
                    .filter(|c| Some(*c) != version.as_ref())
                    .collect();
                if let Some(v) = version.as_ref().filter(|v| columns.contains(v)) {
                    cols.push(v);
                }
                let set = cols
                    .iter()
                    .map(|c| {
                        let c = d.quote_ident(c);
                        match version {
                            Some(v) => {
                                let v = d.quote_ident(v);
                                format!(
                                    "{c} = IF({t}.{v} IS NULL OR {t}.{v} <= VALUES({v}), VALUES({c}), {t}.{c})"
                                )
                            }
                            None => format!("{c} = VALUES({c})"),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                format!(" ON DUPLICATE KEY UPDATE {set}")
            }
            _ => {
                let k = d.quote_ident(&key[0]);
                format!(" ON DUPLICATE KEY UPDATE {k} = {t}.{k}")
            }
        }
    }

    fn key_compare(&self, key: &[String], op: &str, prefix: &str) -> String {
        backfill::expanded_compare(self.dialect(), key, op, prefix)
    }

    fn share_lock(&self) -> &'static str {
        " LOCK IN SHARE MODE"
    }

    fn backend_id_sql(&self) -> Option<&'static str> {
        Some("SELECT CAST(CONNECTION_ID() AS SIGNED)")
    }

    fn cancel_sql(&self) -> Option<&'static str> {
        Some("KILL QUERY :id")
    }

    fn replica_lag_sql(&self) -> Option<&'static str> {
        None
    }
}
