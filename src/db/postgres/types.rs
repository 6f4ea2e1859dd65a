//! PostgreSQL type mapping: `Value` → bound parameter, and column → `Value` by the column's type.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgColumn, PgRow, PgTypeInfo, PgTypeKind, PgValueRef, Postgres,
};
use sqlx::types::Json;
use sqlx::{Column, Decode, Encode, Row, Type, TypeInfo, ValueRef};

use crate::db::driver::Ctx;
use crate::db::placeholders::TypedArray;
use crate::db::{DbError, Value};

/// A NULL sent with an unspecified type (OID 0), so the server infers it from the context
/// (`WHERE int_col = $1`, `INSERT … VALUES ($1)`) instead of rejecting `integer = text`.
struct UntypedNull;

impl Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, PgArguments>;

/// Bind one value with its natural PostgreSQL type.
pub(super) fn bind(q: Query<'_>, v: Value) -> Query<'_> {
    match v {
        Value::Null => q.bind(UntypedNull),
        Value::Bool(b) => q.bind(b),
        Value::Int(i) => q.bind(i),
        // PostgreSQL has no unsigned type: small ones fit int8, the rest go exact as numeric.
        Value::UInt(u) => match i64::try_from(u) {
            Ok(i) => q.bind(i),
            Err(_) => q.bind(BigDecimal::from(u)),
        },
        Value::Decimal(d) => q.bind(d),
        Value::Float(f) => q.bind(f),
        Value::Text(s) => q.bind(s),
        Value::Bytes(b) => q.bind(b),
        Value::Date(d) => q.bind(d),
        Value::Time(t) => q.bind(t),
        Value::Timestamp(t) => q.bind(t),
        Value::TimestampTz(t) => q.bind(t),
        Value::Uuid(u) => q.bind(u),
        Value::Json(j) => q.bind(Json(j)),
    }
}

/// Bind a whole list as one typed array (`= ANY($1)`, `UNNEST($1, $2)`).
pub(super) fn bind_array(q: Query<'_>, a: TypedArray) -> Query<'_> {
    match a {
        TypedArray::Int(v) => q.bind(v),
        TypedArray::Text(v) => q.bind(v),
        TypedArray::Uuid(v) => q.bind(v),
        TypedArray::Decimal(v) => q.bind(v),
        TypedArray::Date(v) => q.bind(v),
        TypedArray::Timestamp(v) => q.bind(v),
        TypedArray::TimestampTz(v) => q.bind(v),
    }
}

/// What decoding needs to know about a result column.
pub(super) struct ColType {
    name: String,
    ty: PgTypeInfo,
}

pub(super) fn column_types(cols: &[PgColumn], _state: &()) -> Vec<ColType> {
    cols.iter()
        .map(|c| ColType {
            name: c.name().to_string(),
            ty: c.type_info().clone(),
        })
        .collect()
}

pub(super) fn decode_row(ctx: &Ctx, row: &PgRow, types: &[ColType]) -> Result<Vec<Value>, DbError> {
    let mut out = Vec::with_capacity(types.len());
    for (i, col) in types.iter().enumerate() {
        let raw = row
            .try_get_raw(i)
            .map_err(|e| ctx.decode_error(&col.name, col.ty.name(), e.to_string()))?;
        out.push(
            decode_value(raw, &col.ty)
                .map_err(|e| ctx.decode_error(&col.name, col.ty.name(), e.to_string()))?,
        );
    }
    Ok(out)
}

type Res = Result<Value, sqlx::error::BoxDynError>;

fn dec<'r, T: Decode<'r, Postgres>>(raw: PgValueRef<'r>) -> Result<T, sqlx::error::BoxDynError> {
    T::decode(raw)
}

fn decode_value(raw: PgValueRef<'_>, ty: &PgTypeInfo) -> Res {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    Ok(match ty.name() {
        "BOOL" => Value::Bool(dec(raw)?),
        "INT2" => Value::Int(dec::<i16>(raw)?.into()),
        "INT4" => Value::Int(dec::<i32>(raw)?.into()),
        "INT8" => Value::Int(dec(raw)?),
        "OID" => Value::Int(dec::<sqlx::postgres::types::Oid>(raw)?.0.into()),
        "NUMERIC" => Value::Decimal(dec(raw)?),
        // Through its shortest decimal form, so real 0.1 reads as 0.1, not 0.10000000149.
        "FLOAT4" => Value::Float(dec::<f32>(raw)?.to_string().parse()?),
        "FLOAT8" => Value::Float(dec(raw)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "CHAR" | "NAME" | "UNKNOWN" | "CITEXT" => {
            Value::Text(dec(raw)?)
        }
        "\"CHAR\"" => Value::Text(char::from(dec::<i8>(raw)? as u8).to_string()),
        "BYTEA" => Value::Bytes(dec(raw)?),
        "DATE" => Value::Date(dec::<NaiveDate>(raw)?),
        "TIME" => Value::Time(dec::<NaiveTime>(raw)?),
        "TIMESTAMP" => Value::Timestamp(dec::<NaiveDateTime>(raw)?),
        "TIMESTAMPTZ" => Value::TimestampTz(dec::<DateTime<Utc>>(raw)?),
        "UUID" => Value::Uuid(dec(raw)?),
        "JSON" | "JSONB" => Value::Json(dec::<Json<serde_json::Value>>(raw)?.0),
        "VOID" => Value::Null,
        other if other.ends_with("[]") => array(raw, other)?,
        other => match ty.kind() {
            // An enum's value travels as its label, in binary format too.
            PgTypeKind::Enum(_) => Value::Text(dec(raw)?),
            _ => {
                return Err(format!(
                    "migtui does not read PostgreSQL type {other}; cast it in the query \
                     (e.g. `col::text`)"
                )
                .into());
            }
        },
    })
}

/// A one-dimensional array of a common element type, as a JSON array (NULL elements as
/// `null`, numerics and uuids as strings so no digit is lost), compared as a document.
fn array(raw: PgValueRef<'_>, name: &str) -> Res {
    use serde_json::Value as J;
    fn list<T>(items: Vec<Option<T>>, f: impl Fn(T) -> J) -> Value {
        Value::Json(J::Array(
            items.into_iter().map(|i| i.map_or(J::Null, &f)).collect(),
        ))
    }
    Ok(match name {
        "BOOL[]" => list(dec::<Vec<Option<bool>>>(raw)?, J::from),
        "INT2[]" => list(dec::<Vec<Option<i16>>>(raw)?, J::from),
        "INT4[]" => list(dec::<Vec<Option<i32>>>(raw)?, J::from),
        "INT8[]" => list(dec::<Vec<Option<i64>>>(raw)?, J::from),
        "FLOAT4[]" => list(dec::<Vec<Option<f32>>>(raw)?, |f| J::from(f64::from(f))),
        "FLOAT8[]" => list(dec::<Vec<Option<f64>>>(raw)?, J::from),
        "NUMERIC[]" => list(dec::<Vec<Option<BigDecimal>>>(raw)?, |d| {
            J::from(d.normalized().to_plain_string())
        }),
        "TEXT[]" | "VARCHAR[]" | "BPCHAR[]" | "NAME[]" => {
            list(dec::<Vec<Option<String>>>(raw)?, J::from)
        }
        "UUID[]" => list(dec::<Vec<Option<uuid::Uuid>>>(raw)?, |u| {
            J::from(u.to_string())
        }),
        other => {
            return Err(format!(
                "migtui reads arrays of booleans, integers, floats, numerics, text and uuids, \
                 not PostgreSQL type {other}; cast it in the query (e.g. `col::text`)"
            )
            .into());
        }
    })
}
