//! The canonical row encoding and its 60-bit hash: the same logical row gives the same bytes,
//! and so the same hash, whichever engine (or backup file) it was read from.
//!
//! Every engine that can hash in SQL builds the same bytes with its own functions
//! (`postgres/checksum.rs`, `mysql/checksum.rs`); SQLite, backup files and MariaDB rows with a
//! JSON column (MariaDB cannot print `jsonb`'s form in SQL) are hashed here, in Rust, from
//! [`Value`]s. A table's checksum over a key range is `(count, exact sum of the row
//! hashes)`: a sum, never an XOR, so values swapped between rows and duplicated rows change it.
//!
//! # Byte format (version 1)
//!
//! A row is its columns in the order given (key columns first), each written as two fields,
//! the encoded value and a null flag, all fields joined by the unit separator `0x1F`:
//!
//! ```text
//! enc(c1) 0x1F flag(c1) 0x1F enc(c2) 0x1F flag(c2) … enc(cn) 0x1F flag(cn)
//! ```
//!
//! `flag` is `1` for NULL and `0` otherwise; a NULL's `enc` is empty, so NULL and `''` differ by
//! their flag. How a value is encoded depends on its column's [`HashClass`] (from the declared
//! type, so SQLite text holding a timestamp encodes as a timestamp):
//!
//! | class | encoding |
//! |---|---|
//! | `Int` | decimal digits, `-` for negatives |
//! | `Decimal` | plain notation without trailing fractional zeros (`1.50` → `1.5`, `2.0` → `2`); a value stored as a float (SQLite's REAL) by its shortest round-trip digits, unrounded |
//! | `Float` | its shortest round-trip decimal digits (`1e66` in full), rounded half away from zero to `float_digits` places, then as `Decimal` |
//! | `Bool` | `0` or `1` |
//! | `Text` | the UTF-8 bytes, unchanged (trailing spaces, tabs and newlines count) |
//! | `Bytes` | lowercase hex |
//! | `Date` | `YYYY-MM-DD` |
//! | `Time` | `HH:MM:SS.ffffff` truncated to `timestamp_digits` (no `.` at 0 digits) |
//! | `Timestamp` | UTC `YYYY-MM-DD HH:MM:SS.ffffff` truncated to `timestamp_digits`; a timestamp without zone is taken as UTC |
//! | `Uuid` | lowercase hyphenated, 36 characters |
//! | `Json` | PostgreSQL's `jsonb` text: keys by length then bytes, `", "` and `": "` separators |
//!
//! The hash is the first 15 hex digits of the MD5 of those bytes, read as an unsigned 60-bit
//! integer: positive on every engine, and a sum of 2^64 of them still fits a `u128` (and
//! PostgreSQL's `numeric`, MySQL's `DECIMAL(65)`) exactly.
//!
//! Truncation, not rounding, for fractional seconds: it matches [`super::normalize`] and never
//! carries into the next second, day or year.

use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode};
use chrono::{DateTime, NaiveDateTime, NaiveTime, Utc};
use md5::{Digest, Md5};

use super::Value;
use super::normalize::{decimal, parse_temporal};

/// Separator between fields: ASCII unit separator, which no key or flag contains.
pub const SEP: u8 = 0x1F;

/// The format version above; bump it if the bytes ever change.
pub const FORMAT_VERSION: u32 = 1;

/// One column as an SQL encoder sees it: its quoted name, its class, and whether it may be
/// NULL. A `NOT NULL` column's field pair is built without the NULL test (`enc 0x1F 0`, the
/// same bytes), which is most of the encoding's cost on narrow columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashColumn {
    pub sql: String,
    pub class: HashClass,
    pub nullable: bool,
}

/// How one column's values are encoded, chosen from its declared type. PostgreSQL arrays are
/// `Text`: their SQL encoding is the server's array text, and they are read as JSON arrays
/// for the row-by-row compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HashClass {
    Int,
    Decimal,
    Float,
    Bool,
    Text,
    Bytes,
    Date,
    Time,
    Timestamp,
    Uuid,
    Json,
}

impl HashClass {
    /// The class of an engine's declared type name (`information_schema.data_type`,
    /// `column_type` or SQLite's declared type), falling back to `Text`. MySQL's
    /// `tinyint(1)` is a boolean; SQLite's affinity rules apply to names it does not know.
    pub fn from_type_name(type_name: &str) -> HashClass {
        let t = type_name.trim().to_ascii_lowercase();
        // A PostgreSQL array (`integer[]`, `character varying(20)[]`) hashes as its text form
        // (`{1,2}`), not as its element type.
        if t.ends_with(']') {
            return HashClass::Text;
        }
        let base = t.split(['(', ' ']).next().unwrap_or("");
        if t.starts_with("tinyint(1)") || base == "bool" || base == "boolean" || base == "bit" {
            return HashClass::Bool;
        }
        match base {
            "smallint" | "integer" | "int" | "bigint" | "tinyint" | "mediumint" | "int2"
            | "int4" | "int8" | "serial" | "bigserial" | "smallserial" | "year" => HashClass::Int,
            "numeric" | "decimal" | "dec" | "fixed" | "money" => HashClass::Decimal,
            "real" | "float" | "double" | "float4" | "float8" => HashClass::Float,
            "bytea" | "blob" | "binary" | "varbinary" | "tinyblob" | "mediumblob" | "longblob" => {
                HashClass::Bytes
            }
            "date" => HashClass::Date,
            "time" | "timetz" => HashClass::Time,
            "timestamp" | "timestamptz" | "datetime" => HashClass::Timestamp,
            "uuid" => HashClass::Uuid,
            "json" | "jsonb" => HashClass::Json,
            _ if t.starts_with("double") => HashClass::Float,
            _ if t.starts_with("timestamp") => HashClass::Timestamp,
            _ if t.starts_with("time ") => HashClass::Time,
            // SQLite affinity: a name containing INT is an integer column.
            _ if t.contains("int") => HashClass::Int,
            _ => HashClass::Text,
        }
    }
}

/// Precision choices shared by every encoder of one comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashOptions {
    /// Fractional-second digits kept (0..=6), truncating the rest.
    pub timestamp_digits: u32,
    /// Decimal places floats are rounded to before hashing.
    pub float_digits: u32,
}

impl Default for HashOptions {
    fn default() -> Self {
        HashOptions {
            timestamp_digits: 6,
            float_digits: 6,
        }
    }
}

/// A chunk's checksum: rows and the exact sum of their 60-bit hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Checksum {
    pub count: u64,
    pub sum: u128,
}

impl Checksum {
    /// Add one row's hash.
    pub fn add(&mut self, hash: u64) {
        self.count += 1;
        self.sum += u128::from(hash);
    }

    /// Combine two disjoint chunks.
    pub fn merge(self, other: Checksum) -> Checksum {
        Checksum {
            count: self.count + other.count,
            sum: self.sum + other.sum,
        }
    }
}

/// One value's encoding, `None` for NULL. A value that does not fit its class (SQLite's
/// dynamic typing) is encoded by its own text form, so it hashes differently from a fitting
/// one and is caught.
pub fn encode_value(v: &Value, class: HashClass, opts: &HashOptions) -> Option<String> {
    if v.is_null() {
        return None;
    }
    Some(match class {
        HashClass::Int | HashClass::Decimal => match v {
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::Decimal(d) => plain(d),
            // SQLite keeps a DECIMAL column's `1.1234567` as REAL: its shortest digits are the
            // decimal the other engines hold, so it is not rounded as a FLOAT column would be.
            Value::Float(f) => float_decimal(*f).map_or_else(|| f.to_string(), |d| plain(&d)),
            Value::Text(s) => match BigDecimal::from_str(s.trim()) {
                Ok(d) => plain(&d),
                Err(_) => s.clone(),
            },
            other => other.to_text(),
        },
        HashClass::Float => match v {
            Value::Float(f) => float_text(*f, opts.float_digits),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Decimal(d) => plain(&decimal(d, Some(opts.float_digits))),
            Value::Text(s) => match s.trim().parse::<f64>() {
                Ok(f) => float_text(f, opts.float_digits),
                Err(_) => s.clone(),
            },
            other => other.to_text(),
        },
        HashClass::Bool => match v {
            Value::Bool(b) => u8::from(*b).to_string(),
            Value::Int(i) => i.to_string(),
            Value::UInt(u) => u.to_string(),
            Value::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
                "t" | "true" => "1".into(),
                "f" | "false" => "0".into(),
                _ => s.clone(),
            },
            other => other.to_text(),
        },
        HashClass::Text => match v {
            Value::Bool(b) => u8::from(*b).to_string(),
            other => other.to_text(),
        },
        HashClass::Bytes => match v {
            Value::Bytes(b) => hex(b),
            Value::Text(s) => hex(s.as_bytes()),
            other => other.to_text(),
        },
        HashClass::Date => match temporal(v) {
            Some(Value::Date(d)) => d.format("%Y-%m-%d").to_string(),
            Some(Value::Timestamp(t)) => t.format("%Y-%m-%d").to_string(),
            Some(Value::TimestampTz(t)) => t.format("%Y-%m-%d").to_string(),
            _ => v.to_text(),
        },
        HashClass::Time => match temporal(v) {
            Some(Value::Time(t)) => time_text(t, opts.timestamp_digits),
            _ => v.to_text(),
        },
        HashClass::Timestamp => match temporal(v) {
            Some(Value::Timestamp(t)) => timestamp_text(t, opts.timestamp_digits),
            Some(Value::TimestampTz(t)) => timestamp_text(t.naive_utc(), opts.timestamp_digits),
            Some(Value::Date(d)) => {
                timestamp_text(d.and_time(NaiveTime::MIN), opts.timestamp_digits)
            }
            _ => v.to_text(),
        },
        HashClass::Uuid => match v {
            Value::Uuid(u) => u.hyphenated().to_string(),
            Value::Text(s) => match uuid::Uuid::parse_str(s.trim()) {
                Ok(u) => u.hyphenated().to_string(),
                Err(_) => s.clone(),
            },
            Value::Bytes(b) => match uuid::Uuid::from_slice(b) {
                Ok(u) => u.hyphenated().to_string(),
                Err(_) => hex(b),
            },
            other => other.to_text(),
        },
        HashClass::Json => match v {
            Value::Json(j) => jsonb_text(j),
            Value::Text(s) => match serde_json::from_str::<serde_json::Value>(s) {
                Ok(j) => jsonb_text(&j),
                Err(_) => s.clone(),
            },
            other => other.to_text(),
        },
    })
}

/// The canonical bytes of a row (see the module documentation).
pub fn encode_row(values: &[Value], classes: &[HashClass], opts: &HashOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() * 16);
    encode_row_into(values, classes, opts, &mut out);
    out
}

/// [`encode_row`], appended to `out`.
fn encode_row_into(values: &[Value], classes: &[HashClass], opts: &HashOptions, out: &mut Vec<u8>) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(SEP);
        }
        let class = classes.get(i).copied().unwrap_or(HashClass::Text);
        if v.is_null() {
            out.push(SEP);
            out.push(b'1');
            continue;
        }
        if !encode_fast(v, class, opts, out)
            && let Some(enc) = encode_value(v, class, opts)
        {
            out.extend_from_slice(enc.as_bytes());
        }
        out.push(SEP);
        out.push(b'0');
    }
}

/// The common (class, value) pairs written straight into `out`, the same bytes as
/// [`encode_value`] without its allocations; `false` (nothing written) for the rest.
fn encode_fast(v: &Value, class: HashClass, opts: &HashOptions, out: &mut Vec<u8>) -> bool {
    match (class, v) {
        (HashClass::Int | HashClass::Decimal | HashClass::Float, Value::Int(i)) => {
            use std::io::Write as _;
            write!(out, "{i}").is_ok()
        }
        (HashClass::Text, Value::Text(s)) => {
            out.extend_from_slice(s.as_bytes());
            true
        }
        (HashClass::Timestamp, Value::Timestamp(t)) => {
            push_timestamp(t, opts.timestamp_digits, out)
        }
        (HashClass::Timestamp, Value::TimestampTz(t)) => {
            push_timestamp(&t.naive_utc(), opts.timestamp_digits, out)
        }
        (HashClass::Json, Value::Text(s)) => super::rowhash_json::canonical_json(s, out),
        _ => false,
    }
}

/// [`timestamp_text`] for years 0–9999 outside leap seconds (what chrono prints as four
/// digits and `:SS`); `false` for the rest.
fn push_timestamp(t: &NaiveDateTime, digits: u32, out: &mut Vec<u8>) -> bool {
    use chrono::{Datelike, Timelike};
    let year = t.year();
    if !(0..=9999).contains(&year) || t.nanosecond() >= 1_000_000_000 {
        return false;
    }
    let two = |n: u32, sep: u8, out: &mut Vec<u8>| {
        out.push(sep);
        out.push(b'0' + (n / 10) as u8);
        out.push(b'0' + (n % 10) as u8);
    };
    let y = year as u32;
    out.extend_from_slice(&[
        b'0' + (y / 1000) as u8,
        b'0' + (y / 100 % 10) as u8,
        b'0' + (y / 10 % 10) as u8,
        b'0' + (y % 10) as u8,
    ]);
    two(t.month(), b'-', out);
    two(t.day(), b'-', out);
    two(t.hour(), b' ', out);
    two(t.minute(), b':', out);
    two(t.second(), b':', out);
    let digits = digits.min(6);
    if digits > 0 {
        out.push(b'.');
        let micros = t.nanosecond() / 1000;
        for p in (6 - digits..6).rev() {
            out.push(b'0' + (micros / 10u32.pow(p) % 10) as u8);
        }
    }
    true
}

/// The first 60 bits (15 hex digits) of the MD5 of `bytes`.
pub fn hash60(bytes: &[u8]) -> u64 {
    let digest = Md5::digest(bytes);
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) >> 4
}

/// A row's 60-bit hash.
pub fn row_hash(values: &[Value], classes: &[HashClass], opts: &HashOptions) -> u64 {
    // One buffer per thread: the full diff hashes millions of rows.
    thread_local!(static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    BUF.with(|b| match b.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            encode_row_into(values, classes, opts, &mut buf);
            hash60(&buf)
        }
        Err(_) => hash60(&encode_row(values, classes, opts)),
    })
}

fn plain(d: &BigDecimal) -> String {
    let s = d.normalized().to_plain_string();
    if s == "-0" { "0".into() } else { s }
}

/// A finite double as the decimal of its shortest round-trip digits (Rust's `Display`, which
/// PostgreSQL's `float8::text` and MariaDB's `CAST(… AS CHAR)` also print); `None` for NaN, ±∞.
fn float_decimal(f: f64) -> Option<BigDecimal> {
    if !f.is_finite() {
        return None;
    }
    BigDecimal::from_str(&f.to_string()).ok()
}

fn float_text(f: f64, digits: u32) -> String {
    match float_decimal(f) {
        Some(d) => plain(&d.with_scale_round(i64::from(digits), RoundingMode::HalfUp)),
        None => f.to_string(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn temporal(v: &Value) -> Option<Value> {
    match v {
        Value::Text(s) => parse_temporal(s),
        other => Some(other.clone()),
    }
}

/// `HH:MM:SS.ffffff` cut to `digits` fractional digits (no `.` at 0).
fn time_text(t: NaiveTime, digits: u32) -> String {
    cut(t.format("%H:%M:%S%.6f").to_string(), 8, digits)
}

fn timestamp_text(t: NaiveDateTime, digits: u32) -> String {
    cut(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), 19, digits)
}

fn cut(mut s: String, whole: usize, digits: u32) -> String {
    let digits = digits.min(6) as usize;
    s.truncate(if digits == 0 {
        whole
    } else {
        whole + 1 + digits
    });
    s
}

/// A timestamp's canonical text, for the engines' SQL encoders' tests and for display.
pub fn timestamp_canonical(t: DateTime<Utc>, digits: u32) -> String {
    timestamp_text(t.naive_utc(), digits)
}

/// JSON as PostgreSQL's `jsonb` prints it: object keys ordered by length then bytes, `", "`
/// between items and `": "` after keys, non-ASCII characters unescaped.
pub fn jsonb_text(j: &serde_json::Value) -> String {
    let mut out = String::new();
    write_jsonb(j, &mut out);
    out
}

fn write_jsonb(j: &serde_json::Value, out: &mut String) {
    use serde_json::Value as J;
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => out.push_str(&n.to_string()),
        J::String(s) => write_json_string(s, out),
        J::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_jsonb(v, out);
            }
            out.push(']');
        }
        J::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort_by(|a, b| {
                a.len()
                    .cmp(&b.len())
                    .then_with(|| a.as_bytes().cmp(b.as_bytes()))
            });
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_json_string(k, out);
                out.push_str(": ");
                if let Some(v) = m.get(k) {
                    write_jsonb(v, out);
                }
            }
            out.push('}');
        }
    }
}

/// A JSON string escaped as PostgreSQL's `escape_json` does.
fn write_json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[path = "rowhash_tests.rs"]
mod tests;
