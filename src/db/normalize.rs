//! Normalization: the same logical value read from two engines compares equal.
//!
//! Pure functions over [`Value`], in three steps:
//! 1. [`normalize`] puts one value in canonical form, whatever engine it came from: decimals
//!    without trailing zeros (or at a given scale), timestamps in UTC at a stated precision
//!    (a timestamp without zone is taken to be UTC), unsigned integers that fit as signed,
//!    canonical JSON (sorted keys, integral numbers as integers), `-0.0` as `0.0`.
//! 2. [`coerce_pair`] reconciles two values of different kinds that mean the same thing: a
//!    `tinyint(1)` 0/1 and a boolean, text holding a uuid / JSON / number / timestamp (SQLite,
//!    MariaDB `CHAR(36)` or JSON-as-text) against the typed value from the other side,
//!    integer vs decimal, text vs bytes.
//! 3. [`apply_rules`] applies a check's per-column rules from the migration file (trim,
//!    lowercase, round(n), timestamp digits, ignore).
//!
//! [`values_equal`] runs all three and compares, floats with a relative tolerance.
//!
//! **Timestamp precision truncates**, it never rounds: truncation is idempotent, agrees with
//! MariaDB's own storing of extra digits, and never carries into the next second, day or year
//! (rounding 23:59:59.9999996 to 6 digits would change the date). So at 3 digits,
//! `12:00:00.1239` and `12:00:00.123` are equal and `12:00:00.1239` and `12:00:00.124` are not.
//! The same choice applies to `TIME` values.

use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode};
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};

use super::Value;
use crate::config::ColumnRule;

/// How values are normalized before they are compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Fractional-second digits timestamps and times keep (0..=6), truncating the rest.
    pub timestamp_digits: u32,
    /// `None`: decimals lose trailing zeros (`1.50` = `1.5`). `Some(s)`: decimals are rounded
    /// half away from zero to `s` places (as SQL `ROUND` does) and then lose trailing zeros.
    pub decimal_scale: Option<u32>,
    /// Relative tolerance when comparing floats (`0.0`: exact).
    pub float_tolerance: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timestamp_digits: 6,
            decimal_scale: None,
            float_tolerance: 1e-9,
        }
    }
}

/// One value in canonical form. Idempotent: `normalize(normalize(v)) == normalize(v)`.
pub fn normalize(v: &Value, opts: &Options) -> Value {
    match v {
        Value::UInt(u) => i64::try_from(*u).map_or(Value::UInt(*u), Value::Int),
        Value::Decimal(d) => Value::Decimal(decimal(d, opts.decimal_scale)),
        Value::Float(f) if *f == 0.0 => Value::Float(0.0),
        Value::Timestamp(t) => Value::TimestampTz(truncate_ts(t.and_utc(), opts.timestamp_digits)),
        Value::TimestampTz(t) => Value::TimestampTz(truncate_ts(*t, opts.timestamp_digits)),
        Value::Time(t) => Value::Time(truncate_time(*t, opts.timestamp_digits)),
        Value::Json(j) => Value::Json(canonical_json(j)),
        other => other.clone(),
    }
}

/// A decimal without trailing zeros, optionally rounded first to `scale` places.
pub fn decimal(d: &BigDecimal, scale: Option<u32>) -> BigDecimal {
    let d = match scale {
        Some(s) => d.with_scale_round(i64::from(s), RoundingMode::HalfUp),
        None => d.clone(),
    };
    d.normalized()
}

/// Truncate to `digits` fractional-second digits (0..=6; more than 6 keeps microseconds).
pub fn truncate_ts(t: DateTime<Utc>, digits: u32) -> DateTime<Utc> {
    let nanos = truncate_nanos(t.nanosecond(), digits);
    t.with_nanosecond(nanos).unwrap_or(t)
}

fn truncate_time(t: NaiveTime, digits: u32) -> NaiveTime {
    let nanos = truncate_nanos(t.nanosecond(), digits);
    t.with_nanosecond(nanos).unwrap_or(t)
}

fn truncate_nanos(nanos: u32, digits: u32) -> u32 {
    // A leap second is carried in nanos >= 1e9; keep it as a leap second.
    let (leap, frac) = (nanos / 1_000_000_000, nanos % 1_000_000_000);
    let unit = 10u32.pow(9 - digits.min(6));
    leap * 1_000_000_000 + frac / unit * unit
}

/// JSON with object keys sorted and integral numbers written as integers (`1.0` → `1`), so
/// PostgreSQL `jsonb`, MariaDB JSON text and SQLite text compare and hash the same.
pub fn canonical_json(j: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match j {
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = serde_json::Map::new();
            for k in keys {
                if let Some(v) = m.get(k) {
                    out.insert(k.clone(), canonical_json(v));
                }
            }
            J::Object(out)
        }
        J::Array(a) => J::Array(a.iter().map(canonical_json).collect()),
        J::Number(n) if n.as_i64().is_none() && n.as_u64().is_none() => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => J::from(f as i64),
            _ => j.clone(),
        },
        other => other.clone(),
    }
}

/// Two normalized values of different kinds brought to one kind when they can mean the same
/// thing. Values of the same kind, or that cannot be reconciled, are returned unchanged (and
/// then compare unequal).
pub fn coerce_pair(a: Value, b: Value, opts: &Options) -> (Value, Value) {
    match (a, b) {
        (a, b) if std::mem::discriminant(&a) == std::mem::discriminant(&b) => (a, b),
        (Value::Text(s), other) => {
            let (o, t) = coerce_text(other, s, opts);
            (t, o)
        }
        (other, Value::Text(s)) => coerce_text(other, s, opts),
        (a, b) => coerce_typed(a, b),
    }
}

/// `typed` against text from the other side: parse the text as `typed`'s kind.
fn coerce_text(typed: Value, text: String, opts: &Options) -> (Value, Value) {
    let parsed = match &typed {
        Value::Uuid(_) => uuid::Uuid::parse_str(text.trim()).ok().map(Value::Uuid),
        Value::Json(_) => serde_json::from_str(&text)
            .ok()
            .map(|j: serde_json::Value| Value::Json(canonical_json(&j))),
        Value::Int(_) | Value::UInt(_) | Value::Decimal(_) => BigDecimal::from_str(text.trim())
            .ok()
            .map(|d| Value::Decimal(decimal(&d, opts.decimal_scale))),
        Value::Float(_) => text.trim().parse::<f64>().ok().map(Value::Float),
        Value::Bool(_) => match text.trim().to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Some(Value::Bool(true)),
            "0" | "f" | "false" => Some(Value::Bool(false)),
            _ => None,
        },
        Value::Bytes(_) => Some(Value::Bytes(text.clone().into_bytes())),
        Value::Date(_) | Value::Time(_) | Value::Timestamp(_) | Value::TimestampTz(_) => {
            parse_temporal(&text).map(|v| normalize(&v, opts))
        }
        Value::Null | Value::Text(_) => None,
    };
    match parsed {
        // A decimal read from text meets an integer as a decimal.
        Some(p @ Value::Decimal(_)) => coerce_typed(typed, p),
        Some(p) => (typed, p),
        None => (typed, Value::Text(text)),
    }
}

/// Two typed values of different kinds.
fn coerce_typed(a: Value, b: Value) -> (Value, Value) {
    match (a, b) {
        (Value::Bool(x), Value::Int(i @ (0 | 1))) => (Value::Bool(x), Value::Bool(i == 1)),
        (Value::Int(i @ (0 | 1)), Value::Bool(y)) => (Value::Bool(i == 1), Value::Bool(y)),
        (Value::Int(i), d @ Value::Decimal(_)) => (Value::Decimal(BigDecimal::from(i)), d),
        (d @ Value::Decimal(_), Value::Int(i)) => (d, Value::Decimal(BigDecimal::from(i))),
        (Value::UInt(u), d @ Value::Decimal(_)) => (Value::Decimal(BigDecimal::from(u)), d),
        (d @ Value::Decimal(_), Value::UInt(u)) => (d, Value::Decimal(BigDecimal::from(u))),
        (Value::Int(i), f @ Value::Float(_)) => (Value::Float(i as f64), f),
        (f @ Value::Float(_), Value::Int(i)) => (f, Value::Float(i as f64)),
        (Value::Decimal(d), f @ Value::Float(_)) => (to_float(&d), f),
        (f @ Value::Float(_), Value::Decimal(d)) => (f, to_float(&d)),
        // A date against a timestamp at midnight (Oracle-style DATE columns, SQLite text).
        (Value::Date(d), t @ Value::TimestampTz(_)) => (date_ts(d), t),
        (t @ Value::TimestampTz(_), Value::Date(d)) => (t, date_ts(d)),
        (a, b) => (a, b),
    }
}

fn to_float(d: &BigDecimal) -> Value {
    d.to_string()
        .parse::<f64>()
        .map_or_else(|_| Value::Decimal(d.clone()), Value::Float)
}

fn date_ts(d: NaiveDate) -> Value {
    Value::TimestampTz(d.and_time(NaiveTime::MIN).and_utc())
}

/// A date, time or timestamp in one of the text forms applications write (ISO 8601 with a
/// space or `T`, optional fraction, optional offset); with an offset it becomes UTC.
pub fn parse_temporal(s: &str) -> Option<Value> {
    let s = s.trim();
    for f in [
        "%Y-%m-%d %H:%M:%S%.f%:z",
        "%Y-%m-%dT%H:%M:%S%.f%:z",
        "%Y-%m-%d %H:%M:%S%.f%#z",
        "%Y-%m-%dT%H:%M:%S%.f%#z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(Value::TimestampTz(t.to_utc()));
        }
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(Value::TimestampTz(t.to_utc()));
    }
    for f in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Value::Timestamp(t));
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Some(Value::Date(d));
    }
    for f in ["%H:%M:%S%.f", "%H:%M"] {
        if let Ok(t) = NaiveTime::parse_from_str(s, f) {
            return Some(Value::Time(t));
        }
    }
    None
}

/// Apply a column's rules from the migration file, in order. `None` when the column is
/// ignored.
pub fn apply_rules(v: Value, rules: &[ColumnRule]) -> Option<Value> {
    let mut v = v;
    for rule in rules {
        v = match (rule, v) {
            (ColumnRule::Ignore, _) => return None,
            (ColumnRule::Trim, Value::Text(s)) => Value::Text(s.trim().to_string()),
            (ColumnRule::Lowercase, Value::Text(s)) => Value::Text(s.to_lowercase()),
            (ColumnRule::Round(n), Value::Decimal(d)) => Value::Decimal(decimal(&d, Some(*n))),
            (ColumnRule::Round(n), Value::Float(f)) => Value::Float(round_float(f, *n)),
            (ColumnRule::TimestampDigits(n), Value::TimestampTz(t)) => {
                Value::TimestampTz(truncate_ts(t, *n))
            }
            (ColumnRule::TimestampDigits(n), Value::Timestamp(t)) => {
                Value::TimestampTz(truncate_ts(t.and_utc(), *n))
            }
            (ColumnRule::TimestampDigits(n), Value::Time(t)) => Value::Time(truncate_time(t, *n)),
            (_, v) => v,
        };
    }
    Some(v)
}

/// Round half away from zero to `n` decimal places, through the decimal form so that
/// `2.675` rounds the way a person reading it expects.
fn round_float(f: f64, n: u32) -> f64 {
    if !f.is_finite() {
        return f;
    }
    BigDecimal::from_str(&f.to_string())
        .ok()
        .map(|d| d.with_scale_round(i64::from(n), RoundingMode::HalfUp))
        .and_then(|d| d.to_string().parse().ok())
        .unwrap_or(f)
}

/// Normalize both sides, apply the column's rules, reconcile their kinds and compare. An
/// ignored column is always equal.
pub fn values_equal(a: &Value, b: &Value, rules: &[ColumnRule], opts: &Options) -> bool {
    let (a, b) = coerce_pair(normalize(a, opts), normalize(b, opts), opts);
    let (Some(a), Some(b)) = (apply_rules(a, rules), apply_rules(b, rules)) else {
        return true;
    };
    match (&a, &b) {
        (Value::Float(x), Value::Float(y)) => floats_equal(*x, *y, opts.float_tolerance),
        _ => a == b,
    }
}

/// Relative tolerance, with NaN equal to NaN (the same stored value on both sides).
pub fn floats_equal(x: f64, y: f64, tolerance: f64) -> bool {
    if x.is_nan() || y.is_nan() {
        return x.is_nan() && y.is_nan();
    }
    if x == y {
        return true;
    }
    (x - y).abs() <= tolerance * x.abs().max(y.abs())
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
