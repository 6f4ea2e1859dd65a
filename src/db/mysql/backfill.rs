//! MySQL/MariaDB's backfill SQL: a chunk travels as one bound JSON document read by
//! `JSON_TABLE` (one round trip), `ON DUPLICATE KEY UPDATE` upserts with the version guard as `IF`s, composite
//! keysets spelled out column by column (MariaDB does not use an index for row comparisons),
//! `LOCK IN SHARE MODE` in pushdown reads, `KILL QUERY` to cancel, and replica lag from
//! `SHOW REPLICA STATUS`.

use crate::db::backfill::{self, BackfillSql, ChunkColumn, OnConflict};
use crate::db::{Dialect, Params, Rows, Value};

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
        // One bound JSON document of arrays, typed by `JSON_TABLE`. MariaDB 10.11 cannot carry
        // a chunk as a `VALUES` list of placeholders: inside a CTE they read as empty, and a
        // first `SELECT ? AS col` row fixes each column's length from its own value.
        // JSON strings cannot hold arbitrary bytes: binary columns travel as hex and are
        // decoded with UNHEX in the select list.
        let d = self.dialect();
        // A column is binary when typed so or when any value of this chunk is bytes (the
        // column's type comes from its first non-null value, which may be an empty text).
        let binary: Vec<bool> = (0..cols.len())
            .map(|i| {
                cols[i].sql_type == BINARY
                    || rows
                        .iter()
                        .any(|r| matches!(r.get(i), Some(Value::Bytes(_))))
            })
            .collect();
        let mut doc = String::with_capacity(rows.len() * 64);
        doc.push('[');
        for (r, row) in rows.iter().enumerate() {
            if r > 0 {
                doc.push(',');
            }
            let items: Vec<serde_json::Value> = row
                .iter()
                .enumerate()
                .map(|(i, v)| json_item(v, binary.get(i).copied().unwrap_or(false)))
                .collect();
            doc.push_str(&serde_json::Value::Array(items).to_string());
        }
        doc.push(']');
        params.set("migtui_json", crate::db::Param::One(Value::Text(doc)));
        let columns = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let ty = if c.sql_type.is_empty() || binary[i] {
                    "LONGTEXT"
                } else {
                    &c.sql_type
                };
                format!("{} {ty} PATH '$[{i}]'", d.quote_ident(&c.name))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let select = cols
            .iter()
            .zip(&binary)
            .map(|(c, is_binary)| {
                let q = d.quote_ident(&c.name);
                if *is_binary {
                    format!("UNHEX({q}) AS {q}")
                } else {
                    q
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "(SELECT {select} FROM JSON_TABLE(:migtui_json, '$[*]' COLUMNS ({columns})) AS migtui_j)"
        )
    }

    fn type_for(&self, value: &Value) -> &'static str {
        match value {
            Value::Int(_) | Value::Bool(_) => "BIGINT",
            Value::UInt(_) => "BIGINT UNSIGNED",
            Value::Decimal(_) => "DECIMAL(65, 20)",
            Value::Float(_) => "DOUBLE",
            Value::Date(_) => "DATE",
            Value::Time(_) => "TIME(6)",
            Value::Timestamp(_) | Value::TimestampTz(_) => "DATETIME(6)",
            Value::Bytes(_) => BINARY,
            _ => "LONGTEXT",
        }
    }

    fn max_bound_values(&self) -> usize {
        // Keeps a chunk's document well under the default 16 MB max_allowed_packet.
        200_000
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

    fn replica_lag_sql(&self) -> &'static [&'static str] {
        // Run where the `pause_when` points: on a replica this reports its own lag. MariaDB
        // ≥ 10.5.1 and MySQL ≥ 8.0.22 know `SHOW REPLICA STATUS` (MySQL 8.4 knows nothing
        // else); older servers only `SHOW SLAVE STATUS`.
        &["SHOW REPLICA STATUS", "SHOW SLAVE STATUS"]
    }

    fn replica_lag(&self, rows: &Rows) -> Option<f64> {
        // One row per replication channel; no row: not a replica. NULL lag (the SQL thread
        // stopped) is unknown, not zero.
        let col = rows.columns.iter().position(|c| {
            c.eq_ignore_ascii_case("Seconds_Behind_Master")
                || c.eq_ignore_ascii_case("Seconds_Behind_Source")
        })?;
        rows.rows
            .iter()
            .filter_map(|r| r.get(col).and_then(backfill::number))
            .reduce(f64::max)
    }
}

/// One value as an element of the chunk's JSON document: numbers as numbers, everything else
/// as its text (JSON documents too: `JSON_TABLE` would turn a JSON `null` into the text
/// `null`, and a text column keeps SQL NULL as NULL).
/// The chunk column type of bytes: carried as hex text, decoded by `UNHEX`.
const BINARY: &str = "LONGBLOB";

/// One value as a JSON item; in a binary column, bytes (and text) as hex.
fn json_item(v: &Value, binary: bool) -> serde_json::Value {
    use serde_json::Value as J;
    let hex = |b: &[u8]| J::String(b.iter().map(|x| format!("{x:02x}")).collect());
    match v {
        Value::Bytes(b) => hex(b),
        Value::Text(s) if binary => hex(s.as_bytes()),
        Value::Null => J::Null,
        Value::Bool(b) => J::from(i64::from(*b)),
        Value::Int(i) => J::from(*i),
        Value::UInt(u) => J::from(*u),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Text(s) => J::String(s.clone()),
        Value::Timestamp(t) => J::String(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
        Value::TimestampTz(t) => J::String(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()),
        other => J::String(other.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_travel_as_hex_and_are_unhexed() {
        let cols = vec![ChunkColumn {
            name: "b".into(),
            sql_type: "LONGTEXT".into(),
        }];
        let mut p = Params::new();
        let rel = MySqlBackfill.rows_relation(
            &cols,
            vec![
                vec![Value::Text(String::new())],
                vec![Value::Bytes(vec![0, 39, 255])],
            ],
            &mut p,
        );
        assert!(
            rel.starts_with("(SELECT UNHEX(`b`) AS `b` FROM JSON_TABLE("),
            "{rel}"
        );
        assert_eq!(
            p.get("migtui_json"),
            Some(&crate::db::Param::One(Value::Text(
                r#"[[""],["0027ff"]]"#.into()
            )))
        );
    }

    #[test]
    fn replica_lag_is_the_worst_channel_and_null_is_unknown() {
        let rows = |vals: Vec<Value>| Rows {
            columns: vec!["Master_Host".into(), "Seconds_Behind_Master".into()],
            rows: vals
                .into_iter()
                .map(|v| vec![Value::Text("h".into()), v])
                .collect(),
        };
        let b = MySqlBackfill;
        assert_eq!(b.replica_lag(&rows(vec![])), None);
        assert_eq!(b.replica_lag(&rows(vec![Value::Null])), None);
        assert_eq!(
            b.replica_lag(&rows(vec![Value::UInt(3), Value::Null, Value::UInt(12)])),
            Some(12.0)
        );
    }
}
