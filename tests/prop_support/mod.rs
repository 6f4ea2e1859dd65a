//! Shared generators for the property tests (`tests/prop_*.rs`): arbitrary [`Value`]s and the
//! case count, which `PROPTEST_CASES` raises for a longer run.
#![allow(dead_code)]

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use migtui::db::Value;
use proptest::prelude::*;

/// `default` cases, or `PROPTEST_CASES` when set.
pub fn cases(default: u32) -> ProptestConfig {
    let n = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default);
    ProptestConfig::with_cases(n)
}

/// Text with what breaks encoders: unicode, trailing and leading spaces, tabs, newlines,
/// quotes, backslashes, the unit separator. No NUL (PostgreSQL text cannot store it).
pub fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9]{0,4}",
            1 => Just(" ".to_string()),
            1 => Just("  ".to_string()),
            1 => Just("\t".to_string()),
            1 => Just("\n".to_string()),
            1 => Just("\r\n".to_string()),
            1 => Just("'".to_string()),
            1 => Just("\"".to_string()),
            1 => Just("\\".to_string()),
            1 => Just("\u{1f}".to_string()),
            1 => Just("é".to_string()),
            1 => Just("日本".to_string()),
            1 => Just("☕🚀".to_string()),
            1 => Just("\u{301}".to_string()),
            1 => "\\PC{1,3}",
        ],
        0..8,
    )
    .prop_map(|v| v.concat().replace('\0', ""))
}

/// A decimal with up to `int_digits` integer digits and `scale` fractional digits (the last
/// of which may be zero: `1.50` keeps its scale as read).
pub fn decimal(int_digits: u32, scale: u32) -> impl Strategy<Value = BigDecimal> {
    let max = 10i128.pow(int_digits + scale) - 1;
    (-max..=max, 0..=scale).prop_map(move |(n, s)| {
        // Trim to `s` fractional digits, but keep the declared scale (trailing zeros).
        let unit = 10i128.pow(scale - s);
        BigDecimal::new((n / unit * unit).into(), i64::from(scale))
    })
}

pub fn date() -> impl Strategy<Value = NaiveDate> {
    (1i32..=9999, 1u32..=366).prop_map(|(y, d)| {
        NaiveDate::from_yo_opt(y, d).unwrap_or_else(|| NaiveDate::from_yo_opt(y, 365).unwrap())
    })
}

/// A time of day to the microsecond (what every engine keeps).
pub fn time() -> impl Strategy<Value = NaiveTime> {
    (0u32..86_400, 0u32..1_000_000)
        .prop_map(|(s, us)| NaiveTime::from_num_seconds_from_midnight_opt(s, us * 1_000).unwrap())
}

/// A timestamp to the microsecond in `years`.
pub fn timestamp(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = NaiveDateTime> {
    (years, 1u32..=365, time())
        .prop_map(|(y, d, t)| NaiveDate::from_yo_opt(y, d).unwrap().and_time(t))
}

pub fn timestamptz(years: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = DateTime<Utc>> {
    timestamp(years).prop_map(|t| t.and_utc())
}

/// JSON documents: nested objects and arrays, unicode and escaped strings, integers, bools,
/// nulls (no floats: each engine prints them its own way; see the checksum test).
pub fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        (-1_000_000i64..1_000_000).prop_map(serde_json::Value::from),
        text().prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z]{0,3}|é|k k", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Any value of any kind, including what no engine stores (NaN, ±∞, nanosecond times), for
/// the pure properties.
pub fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<u64>().prop_map(Value::UInt),
        decimal(20, 10).prop_map(Value::Decimal),
        any::<f64>().prop_map(Value::Float),
        text().prop_map(Value::Text),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(Value::Bytes),
        date().prop_map(Value::Date),
        (time(), 0u32..1000)
            .prop_map(|(t, ns)| Value::Time(t + chrono::Duration::nanoseconds(i64::from(ns)))),
        (timestamp(1..=9999), 0u32..1000)
            .prop_map(|(t, ns)| Value::Timestamp(t + chrono::Duration::nanoseconds(i64::from(ns)))),
        timestamptz(1..=9999).prop_map(Value::TimestampTz),
        any::<u128>().prop_map(|u| Value::Uuid(uuid::Uuid::from_u128(u))),
        json().prop_map(Value::Json),
    ]
}
