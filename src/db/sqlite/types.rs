//! SQLite type mapping. SQLite stores five storage classes whatever a column declares, so
//! values bind to the storage class that keeps them exact and sort correctly, and read back by
//! the declared type first (BOOLEAN, DATE, TIME, DATETIME/TIMESTAMP), then the storage class.

use sqlx::sqlite::{
    Sqlite, SqliteArguments, SqliteColumn, SqliteRow, SqliteTypeInfo, SqliteValueRef,
};
use sqlx::{Column, Decode, Row, TypeInfo, ValueRef};

use crate::db::driver::Ctx;
use crate::db::normalize::parse_temporal;
use crate::db::{DbError, Value};

type Query<'q> = sqlx::query::Query<'q, Sqlite, SqliteArguments<'q>>;

/// The text form timestamps are written in: ISO 8601 with a space, as SQLite's own
/// `datetime()` writes them, so they sort and compare as text.
pub(crate) const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.f";

/// Bind one value: booleans as 0/1, exact decimals and unsigned integers beyond i64 as text
/// (REAL would round them), dates and times as ISO text, timestamps with zone as ISO text in
/// UTC with `+00:00`, uuids as lowercase hyphenated text, JSON as its text.
/// This dialect binds no arrays ([`crate::db::Dialect::binds_arrays`]), so lists reach it
/// expanded to one placeholder per element and this is never called with one; should it be,
/// the elements bind in order, as the expansion would.
pub(super) fn bind_array(q: Query<'_>, a: crate::db::placeholders::TypedArray) -> Query<'_> {
    a.into_values().into_iter().fold(q, bind)
}

pub(super) fn bind(q: Query<'_>, v: Value) -> Query<'_> {
    match v {
        Value::Null => q.bind(Option::<i64>::None),
        Value::Bool(b) => q.bind(i64::from(b)),
        Value::Int(i) => q.bind(i),
        Value::UInt(u) => match i64::try_from(u) {
            Ok(i) => q.bind(i),
            Err(_) => q.bind(u.to_string()),
        },
        Value::Decimal(d) => q.bind(d.to_string()),
        Value::Float(f) => q.bind(f),
        Value::Text(s) => q.bind(s),
        Value::Bytes(b) => q.bind(b),
        Value::Date(d) => q.bind(d.format("%Y-%m-%d").to_string()),
        Value::Time(t) => q.bind(t.format("%H:%M:%S%.f").to_string()),
        Value::Timestamp(t) => q.bind(t.format(TIMESTAMP_FORMAT).to_string()),
        Value::TimestampTz(t) => q.bind(format!("{}+00:00", t.format(TIMESTAMP_FORMAT))),
        Value::Uuid(u) => q.bind(u.hyphenated().to_string()),
        Value::Json(j) => q.bind(j.to_string()),
    }
}

/// What decoding needs to know about a result column.
pub(super) struct ColType {
    name: String,
    declared: SqliteTypeInfo,
}

pub(super) fn column_types(cols: &[SqliteColumn], _state: &()) -> Vec<ColType> {
    cols.iter()
        .map(|c| ColType {
            name: c.name().to_string(),
            declared: c.type_info().clone(),
        })
        .collect()
}

pub(super) fn decode_row(
    ctx: &Ctx,
    row: &SqliteRow,
    types: &[ColType],
) -> Result<Vec<Value>, DbError> {
    let mut out = Vec::with_capacity(types.len());
    for (i, col) in types.iter().enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| ctx.decode_error(&col.name, col.declared.name(), e.to_string()))?;
        out.push(
            decode_value(raw, &col.declared)
                .map_err(|e| ctx.decode_error(&col.name, col.declared.name(), e.to_string()))?,
        );
    }
    Ok(out)
}

fn decode_value(
    raw: SqliteValueRef<'_>,
    declared: &SqliteTypeInfo,
) -> Result<Value, sqlx::error::BoxDynError> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let storage = raw.type_info().name().to_string();
    Ok(match (declared.name(), storage.as_str()) {
        ("BOOLEAN", "INTEGER") => Value::Bool(<i64 as Decode<Sqlite>>::decode(raw)? != 0),
        ("DATE" | "TIME" | "DATETIME", "TEXT") => {
            let s = <String as Decode<Sqlite>>::decode(raw)?;
            parse_temporal(&s).unwrap_or(Value::Text(s))
        }
        (_, "INTEGER") => Value::Int(<i64 as Decode<Sqlite>>::decode(raw)?),
        (_, "REAL") => Value::Float(<f64 as Decode<Sqlite>>::decode(raw)?),
        (_, "BLOB") => Value::Bytes(<Vec<u8> as Decode<Sqlite>>::decode(raw)?),
        _ => Value::Text(<String as Decode<Sqlite>>::decode(raw)?),
    })
}
