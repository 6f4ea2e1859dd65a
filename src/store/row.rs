//! Reading the state tables' rows: typed column access with errors that name the column, and
//! the database clock.

use crate::db::{Dialect, Rows, Transaction, Value};

use super::StoreError;

/// The database clock as integer microseconds, as an SQL expression. State times come from the
/// database, so two operators on laptops with skewed clocks agree on a lease's age.
pub(crate) fn now_sql(d: &dyn Dialect) -> &'static str {
    d.now_micros_sql()
}

/// Typed access to one column of one row, by name.
pub(crate) trait RowExt {
    fn value(&self, row: usize, col: &str) -> Result<&Value, StoreError>;

    fn int(&self, row: usize, col: &str) -> Result<i64, StoreError> {
        let v = self.value(row, col)?;
        let n = match v {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            Value::Decimal(d) => d.to_string().split('.').next().and_then(|s| s.parse().ok()),
            Value::Float(f) if f.is_finite() => Some(f.trunc() as i64),
            Value::Text(s) => s.trim().parse().ok(),
            _ => None,
        };
        n.ok_or_else(|| bad(col, "an integer", v))
    }

    fn text(&self, row: usize, col: &str) -> Result<String, StoreError> {
        self.opt_text(row, col)?
            .ok_or_else(|| StoreError::Invalid(format!("state table column `{col}` is NULL")))
    }

    fn opt_text(&self, row: usize, col: &str) -> Result<Option<String>, StoreError> {
        match self.value(row, col)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s.clone())),
            Value::Bytes(b) => Ok(Some(String::from_utf8_lossy(b).into_owned())),
            Value::Json(j) => Ok(Some(j.to_string())),
            other => Err(bad(col, "text", other)),
        }
    }

    fn json(&self, row: usize, col: &str) -> Result<serde_json::Value, StoreError> {
        let s = self.text(row, col)?;
        serde_json::from_str(&s).map_err(|e| {
            StoreError::Invalid(format!("state table column `{col}` is not valid JSON: {e}"))
        })
    }
}

impl RowExt for Rows {
    fn value(&self, row: usize, col: &str) -> Result<&Value, StoreError> {
        let idx = self.column_index(col).ok_or_else(|| {
            StoreError::Invalid(format!("state query returned no column `{col}`"))
        })?;
        self.rows
            .get(row)
            .and_then(|r| r.get(idx))
            .ok_or_else(|| StoreError::Invalid(format!("state query returned no row {row}")))
    }
}

fn bad(col: &str, want: &str, got: &Value) -> StoreError {
    StoreError::Invalid(format!(
        "state table column `{col}`: expected {want}, found {} `{}`",
        got.kind(),
        got.display()
    ))
}

/// The database clock, read inside a transaction.
pub(crate) async fn now_in(tx: &mut dyn Transaction, d: &dyn Dialect) -> Result<i64, StoreError> {
    let sql = format!("SELECT {} AS now_us", now_sql(d));
    let rows = tx.query(&sql, &crate::db::Params::new()).await?;
    rows.int(0, "now_us")
}
