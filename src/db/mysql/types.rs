//! MySQL/MariaDB type mapping: `Value` → bound parameter, and column → `Value` by the
//! column's type.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::mysql::{MySql, MySqlArguments, MySqlColumn, MySqlRow, MySqlTypeInfo, MySqlValueRef};
use sqlx::{Column, Decode, Row, TypeInfo, ValueRef};

use crate::db::driver::Ctx;
use crate::db::{DbError, Value};

type Query<'q> = sqlx::query::Query<'q, MySql, MySqlArguments>;

/// Bind one value. Uuid and JSON go as text: sqlx would send a uuid as 16 raw bytes, while
/// MariaDB's `UUID` type and the usual `CHAR(36)` columns both take the hyphenated text.
/// This dialect binds no arrays ([`crate::db::Dialect::binds_arrays`]), so lists reach it
/// expanded to one placeholder per element and this is never called with one; should it be,
/// the elements bind in order, as the expansion would.
pub(super) fn bind_array(q: Query<'_>, a: crate::db::placeholders::TypedArray) -> Query<'_> {
    a.into_values().into_iter().fold(q, bind)
}

pub(super) fn bind(q: Query<'_>, v: Value) -> Query<'_> {
    match v {
        Value::Null => q.bind(Option::<i64>::None),
        Value::Bool(b) => q.bind(b),
        Value::Int(i) => q.bind(i),
        Value::UInt(u) => q.bind(u),
        Value::Decimal(d) => q.bind(d),
        Value::Float(f) => q.bind(f),
        Value::Text(s) => q.bind(s),
        Value::Bytes(b) => q.bind(b),
        Value::Date(d) => q.bind(d),
        Value::Time(t) => q.bind(t),
        Value::Timestamp(t) => q.bind(t),
        // Sessions run with time_zone '+00:00', so the UTC wall time is the instant.
        Value::TimestampTz(t) => q.bind(t.naive_utc()),
        Value::Uuid(u) => q.bind(u.hyphenated().to_string()),
        Value::Json(j) => q.bind(j.to_string()),
    }
}

/// MariaDB declares `JSON` as `LONGTEXT` with a `CHECK (json_valid(col))`, and the protocol
/// (as sqlx reads it) names neither the column's origin nor the JSON format. So the driver
/// remembers the names of the columns of the current database that carry that check (read at
/// connect and after every `execute_script`), and decodes a TEXT/BLOB result column of that name
/// as JSON when its text parses. A JSON column read under an alias stays text; `normalize`
/// still compares it fairly with a JSON value.
#[derive(Default)]
pub(crate) struct JsonColumns(std::sync::RwLock<std::collections::HashSet<String>>);

/// The check clauses of the current database, from which [`JsonColumns::set`] picks the JSON
/// columns.
pub(super) const JSON_CHECKS_SQL: &str = "SELECT CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS \
     WHERE CONSTRAINT_SCHEMA = DATABASE()";

impl JsonColumns {
    pub(super) fn set(&self, check_clauses: &[String]) {
        let names = check_clauses
            .iter()
            .filter_map(|c| {
                let c: String = c.chars().filter(|ch| !ch.is_whitespace()).collect();
                let inner = c.strip_prefix("json_valid(`")?.strip_suffix("`)")?;
                Some(inner.replace("``", "`").to_lowercase())
            })
            .collect();
        if let Ok(mut w) = self.0.write() {
            *w = names;
        }
    }

    fn contains(&self, column: &str) -> bool {
        self.0
            .read()
            .is_ok_and(|s| s.contains(&column.to_lowercase()))
    }
}

/// What decoding needs to know about a result column.
pub(super) struct ColType {
    name: String,
    ty: MySqlTypeInfo,
    /// Declared JSON on MariaDB (see [`JsonColumns`]).
    json: bool,
}

pub(super) fn column_types(cols: &[MySqlColumn], json: &JsonColumns) -> Vec<ColType> {
    cols.iter()
        .map(|c| ColType {
            name: c.name().to_string(),
            ty: c.type_info().clone(),
            // The protocol sends every TEXT/BLOB size as one type, so match them all.
            json: {
                let t = c.type_info().name();
                (t.ends_with("TEXT") || t.ends_with("BLOB")) && json.contains(c.name())
            },
        })
        .collect()
}

pub(super) fn decode_row(
    ctx: &Ctx,
    row: &MySqlRow,
    types: &[ColType],
) -> Result<Vec<Value>, DbError> {
    let mut out = Vec::with_capacity(types.len());
    for (i, col) in types.iter().enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| ctx.decode_error(&col.name, col.ty.name(), e.to_string()))?;
        let value = decode_value(raw, &col.ty)
            .map_err(|e| ctx.decode_error(&col.name, col.ty.name(), e.to_string()))?;
        out.push(match value {
            Value::Text(s) if col.json => match serde_json::from_str(&s) {
                Ok(j) => Value::Json(j),
                Err(_) => Value::Text(s),
            },
            v => v,
        });
    }
    Ok(out)
}

type Res = Result<Value, sqlx::error::BoxDynError>;

fn dec<'r, T: Decode<'r, MySql>>(raw: MySqlValueRef<'r>) -> Result<T, sqlx::error::BoxDynError> {
    T::decode(raw)
}

fn unsigned(u: u64) -> Value {
    i64::try_from(u).map_or(Value::UInt(u), Value::Int)
}

/// Binary string types. The protocol marks `_bin`-collated text columns (and MariaDB's JSON,
/// which is `LONGTEXT COLLATE utf8mb4_bin`) with the same BINARY flag as true binary columns,
/// and sqlx does not pass on the character set that would tell them apart. The connection's
/// character set is utf8mb4, so text columns always arrive as valid UTF-8: valid UTF-8 is read
/// as text, anything else as bytes. (A binary column holding valid UTF-8 reads as text;
/// `normalize` compares text and bytes by their bytes.)
fn binary_or_text(raw: MySqlValueRef<'_>) -> Res {
    let bytes: Vec<u8> = dec(raw)?;
    Ok(match String::from_utf8(bytes) {
        Ok(s) => Value::Text(s),
        Err(e) => Value::Bytes(e.into_bytes()),
    })
}

fn decode_value(raw: MySqlValueRef<'_>, ty: &MySqlTypeInfo) -> Res {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty.name() {
        // TINYINT(1): MySQL's BOOLEAN.
        "BOOLEAN" => Value::Bool(dec::<i8>(raw)? != 0),
        "TINYINT" => Value::Int(dec::<i8>(raw)?.into()),
        "SMALLINT" => Value::Int(dec::<i16>(raw)?.into()),
        "MEDIUMINT" | "INT" => Value::Int(dec::<i32>(raw)?.into()),
        "BIGINT" => Value::Int(dec(raw)?),
        "TINYINT UNSIGNED" => Value::Int(dec::<u8>(raw)?.into()),
        "SMALLINT UNSIGNED" => Value::Int(dec::<u16>(raw)?.into()),
        "MEDIUMINT UNSIGNED" | "INT UNSIGNED" => Value::Int(dec::<u32>(raw)?.into()),
        "BIGINT UNSIGNED" => unsigned(dec(raw)?),
        "YEAR" => Value::Int(dec::<u16>(raw)?.into()),
        "BIT" => unsigned(dec(raw)?),
        "DECIMAL" => Value::Decimal(dec::<BigDecimal>(raw)?),
        // Through its shortest decimal form, so FLOAT 0.1 reads as 0.1.
        "FLOAT" => Value::Float(dec::<f32>(raw)?.to_string().parse()?),
        "DOUBLE" => Value::Float(dec(raw)?),
        "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Value::Text(dec(raw)?)
        }
        "BINARY" | "VARBINARY" | "TINYBLOB" | "BLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
            binary_or_text(raw)?
        }
        "DATE" => Value::Date(dec::<NaiveDate>(raw)?),
        "TIME" => Value::Time(dec::<NaiveTime>(raw)?),
        "DATETIME" => Value::Timestamp(dec::<NaiveDateTime>(raw)?),
        "TIMESTAMP" => Value::TimestampTz(dec::<DateTime<Utc>>(raw)?),
        "JSON" => Value::Json(serde_json::from_str(dec::<&str>(raw)?)?),
        "NULL" => Value::Null,
        other => {
            return Err(format!(
                "migtui does not read MySQL type {other}; convert it in the query \
                 (e.g. `CAST(col AS CHAR)`)"
            )
            .into());
        }
    })
}
