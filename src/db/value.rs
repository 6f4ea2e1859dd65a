//! The values migtui reads from any engine, and the rows that carry them.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::{Deserialize, Serialize};

/// One value as read from (or bound to) any engine. Each driver maps its own types onto these,
/// so a row from MariaDB and a row from PostgreSQL can be normalized and compared fairly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// Unsigned integers above `i64::MAX` (MariaDB `BIGINT UNSIGNED`).
    UInt(u64),
    /// Exact decimal (`numeric`, `DECIMAL(p,s)`), scale preserved as read.
    Decimal(BigDecimal),
    Float(f64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    /// Timestamp without zone (`timestamp`, MariaDB `DATETIME`).
    Timestamp(NaiveDateTime),
    /// Timestamp with zone, held in UTC (`timestamptz`, MariaDB `TIMESTAMP`).
    TimestampTz(DateTime<Utc>),
    Uuid(uuid::Uuid),
    Json(serde_json::Value),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// A short name of the variant, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) => "integer",
            Value::UInt(_) => "unsigned integer",
            Value::Decimal(_) => "decimal",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytes",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::TimestampTz(_) => "timestamptz",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "json",
        }
    }

    /// The text of a `Text` value, or the display form of any other (introspection reads
    /// names and type names this way, whatever type the catalog returns them as).
    pub fn to_text(&self) -> String {
        match self {
            Value::Text(s) => s.clone(),
            other => other.display(),
        }
    }

    /// A human rendering for screens and reports (not SQL; values are never spliced into SQL).
    pub fn display(&self) -> String {
        match self {
            Value::Null => "NULL".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Decimal(d) => d.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Text(s) => s.clone(),
            Value::Bytes(b) => {
                let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
                format!("\\x{hex}")
            }
            Value::Date(d) => d.to_string(),
            Value::Time(t) => t.to_string(),
            Value::Timestamp(t) => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
            Value::TimestampTz(t) => t.format("%Y-%m-%d %H:%M:%S%.fZ").to_string(),
            Value::Uuid(u) => u.to_string(),
            Value::Json(j) => j.to_string(),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Rows of one result set: column names once, values per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Index of a column by name (case-insensitive, as engines fold names differently).
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// The first row's first value, for `SELECT count(*)` and friends.
    pub fn scalar(&self) -> Option<&Value> {
        self.rows.first().and_then(|r| r.first())
    }
}
