//! The SQL a backfill needs that differs by engine: the relation that carries a chunk's rows to
//! the target in one statement, the upsert tail, key comparisons, share locks, and the calls
//! that find and cancel a server-side statement. Each engine implements it beside itself
//! (`postgres/backfill.rs`, `mysql/backfill.rs`, `sqlite/backfill.rs`).

use super::{Dialect, Params, Rows, Value};

/// One column of a chunk as the target sees it: its name and, where the engine needs one to
/// type a bound array (PostgreSQL), the SQL type to read it as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkColumn {
    pub name: String,
    pub sql_type: String,
}

/// How an upsert treats a row that already exists in the target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnConflict {
    /// Leave the existing row alone (the dual writes keep it current).
    Nothing,
    /// Overwrite these columns; with a version column, only when the incoming version is not
    /// older than the stored one (never put back an older value over a newer one).
    Update {
        columns: Vec<String>,
        version: Option<String>,
    },
}

/// The backfill's engine-specific SQL.
pub trait BackfillSql: Send + Sync {
    fn dialect(&self) -> &'static dyn Dialect;

    /// A parenthesized relation (`(SELECT …)`) yielding `rows` with the columns `cols`, in one
    /// statement; the values travel as bound parameters added to `params`.
    fn rows_relation(
        &self,
        cols: &[ChunkColumn],
        rows: Vec<Vec<Value>>,
        params: &mut Params,
    ) -> String;

    /// The SQL type a column of values of this kind is read as in [`Self::rows_relation`], where
    /// the engine needs one (PostgreSQL); empty elsewhere.
    fn type_for(&self, _value: &Value) -> &'static str {
        ""
    }

    /// The most values one statement may bind (the chunk size is capped to fit).
    fn max_bound_values(&self) -> usize;

    /// Text between `INSERT … SELECT … FROM src` and the conflict clause (SQLite needs
    /// `WHERE true` there to parse `ON CONFLICT`).
    fn insert_select_filler(&self) -> &'static str {
        ""
    }

    /// The conflict clause of an `INSERT … SELECT` into `table` keyed by `key`.
    fn on_conflict(&self, table: &str, key: &[String], action: &OnConflict) -> String;

    /// `(a, b) > (:p0, :p1)` (`op` is `>` or `<=`), or its expansion where row comparisons do
    /// not use the index (MariaDB).
    fn key_compare(&self, key: &[String], op: &str, prefix: &str) -> String {
        let d = self.dialect();
        let names =
            |f: &dyn Fn(usize) -> String| (0..key.len()).map(f).collect::<Vec<_>>().join(", ");
        if key.len() == 1 {
            return format!("{} {op} :{prefix}0", d.quote_ident(&key[0]));
        }
        format!(
            "({}) {op} ({})",
            names(&|i| d.quote_ident(&key[i])),
            names(&|i| format!(":{prefix}{i}"))
        )
    }

    /// The locking clause a pushdown chunk reads its source rows with, so a concurrent update
    /// of a source row waits for the chunk (or the chunk reads its newest version).
    fn share_lock(&self) -> &'static str;

    /// A query returning this connection's server-side id, or `None` (SQLite: in process).
    fn backend_id_sql(&self) -> Option<&'static str>;

    /// A statement cancelling what the connection `:id` is running.
    fn cancel_sql(&self) -> Option<&'static str>;

    /// Queries that report replica lag, tried in order until one runs (older servers lack the
    /// newer spelling); empty where the engine has no replicas.
    fn replica_lag_sql(&self) -> &'static [&'static str];

    /// The lag in seconds from what [`Self::replica_lag_sql`] returned: the worst replica's;
    /// `None` when there is no replica (or its lag is unknown). By default the first value.
    fn replica_lag(&self, rows: &Rows) -> Option<f64> {
        number(rows.scalar()?)
    }
}

/// A numeric value as `f64`; `None` for NULL or anything else.
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Float(f) => Some(*f),
        Value::Int(i) => Some(*i as f64),
        Value::UInt(u) => Some(*u as f64),
        Value::Decimal(d) => d.to_string().parse().ok(),
        Value::Text(t) => t.trim().parse().ok(),
        _ => None,
    }
}

/// `(a > :p0 OR (a = :p0 AND b > :p1))`: a row comparison spelled out column by column.
pub fn expanded_compare(d: &dyn Dialect, key: &[String], op: &str, prefix: &str) -> String {
    let strict = match op {
        "<=" => "<",
        ">=" => ">",
        o => o,
    };
    let mut alts = Vec::new();
    for i in 0..key.len() {
        let mut terms: Vec<String> = (0..i)
            .map(|j| format!("{} = :{prefix}{j}", d.quote_ident(&key[j])))
            .collect();
        let last = if i + 1 == key.len() { op } else { strict };
        terms.push(format!("{} {last} :{prefix}{i}", d.quote_ident(&key[i])));
        alts.push(if terms.len() == 1 {
            terms.remove(0)
        } else {
            format!("({})", terms.join(" AND "))
        });
    }
    format!("({})", alts.join(" OR "))
}

/// `ON CONFLICT (key) DO UPDATE SET c = excluded.c … [WHERE version guard]` or `DO NOTHING`:
/// the upsert PostgreSQL and SQLite share.
pub fn on_conflict_clause(
    d: &dyn Dialect,
    table: &str,
    key: &[String],
    action: &OnConflict,
) -> String {
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

/// `(WITH c(a, b) AS (VALUES (?, ?), …) SELECT * FROM c)`: a multi-row `VALUES` list as a
/// relation with named columns (MariaDB ≥ 10.3 and SQLite).
pub fn values_relation(
    d: &dyn Dialect,
    cols: &[ChunkColumn],
    rows: Vec<Vec<Value>>,
    params: &mut Params,
) -> String {
    let names = cols
        .iter()
        .map(|c| d.quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    params.set("migtui_rows", super::Param::Tuples(rows));
    format!("(WITH migtui_c({names}) AS (VALUES :migtui_rows) SELECT * FROM migtui_c)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Engine;

    #[test]
    fn expanded_comparison_spells_out_composite_keys() {
        let d = Engine::MySql.dialect();
        let key = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            expanded_compare(d, &key, ">", "k"),
            "(`a` > :k0 OR (`a` = :k0 AND `b` > :k1))"
        );
        assert_eq!(
            expanded_compare(d, &key, "<=", "h"),
            "(`a` < :h0 OR (`a` = :h0 AND `b` <= :h1))"
        );
        assert_eq!(expanded_compare(d, &key[..1], ">", "k"), "(`a` > :k0)");
    }
}
