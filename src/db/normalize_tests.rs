use std::str::FromStr;

use bigdecimal::BigDecimal;
use chrono::{NaiveDate, TimeZone, Utc};

use super::*;

fn d(s: &str) -> Value {
    Value::Decimal(BigDecimal::from_str(s).unwrap())
}

fn eq(a: &Value, b: &Value) -> bool {
    values_equal(a, b, &[], &Options::default())
}

fn ts(micros: u32) -> chrono::NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 5, 6)
        .unwrap()
        .and_hms_micro_opt(7, 8, 9, micros)
        .unwrap()
}

#[test]
fn decimals_compare_without_trailing_zeros() {
    assert!(eq(&d("1.50"), &d("1.5")));
    assert!(eq(&d("100"), &d("1E+2")));
    assert!(!eq(&d("1.50"), &d("1.51")));
    assert!(eq(&d("42.00"), &Value::Int(42)));
    assert!(eq(&d("18446744073709551615"), &Value::UInt(u64::MAX)));
    let two = Options {
        decimal_scale: Some(2),
        ..Options::default()
    };
    assert!(values_equal(&d("1.005"), &d("1.01"), &[], &two));
    assert!(values_equal(&d("-1.005"), &d("-1.01"), &[], &two));
}

#[test]
fn timestamps_without_zone_are_utc_and_truncate_to_the_precision() {
    let naive = ts(123_456);
    let tz = Utc.from_utc_datetime(&naive);
    assert!(eq(&Value::Timestamp(naive), &Value::TimestampTz(tz)));
    let ms = Options {
        timestamp_digits: 3,
        ..Options::default()
    };
    let a = Value::Timestamp(ts(123_999));
    let b = Value::TimestampTz(Utc.from_utc_datetime(&ts(123_000)));
    assert!(values_equal(&a, &b, &[], &ms), "truncates, never rounds");
    let c = Value::TimestampTz(Utc.from_utc_datetime(&ts(124_000)));
    assert!(!values_equal(&a, &c, &[], &ms));
    assert!(!eq(&a, &b), "at 6 digits they differ");
    // Truncation never carries into the next day.
    let late = NaiveDate::from_ymd_opt(2024, 12, 31)
        .unwrap()
        .and_hms_micro_opt(23, 59, 59, 999_999)
        .unwrap();
    let Value::TimestampTz(t) = normalize(
        &Value::Timestamp(late),
        &Options {
            timestamp_digits: 0,
            ..Options::default()
        },
    ) else {
        panic!()
    };
    assert_eq!(t.format("%F %T%.f").to_string(), "2024-12-31 23:59:59");
}

#[test]
fn timestamp_text_from_sqlite_meets_typed_timestamps() {
    let tz = Value::TimestampTz(Utc.from_utc_datetime(&ts(5)));
    assert!(eq(&Value::Text("2024-05-06 07:08:09.000005".into()), &tz));
    assert!(eq(
        &Value::Text("2024-05-06T09:08:09.000005+02:00".into()),
        &tz
    ));
    assert!(eq(&tz, &Value::Text("2024-05-06T07:08:09.000005Z".into())));
    assert!(!eq(&Value::Text("2024-05-06 07:08:10".into()), &tz));
    assert!(!eq(&Value::Text("not a time".into()), &tz));
}

#[test]
fn uuid_text_of_any_case_equals_the_uuid() {
    let u = uuid::Uuid::parse_str("6f9619ff-8b86-d011-b42d-00c04fc964ff").unwrap();
    assert!(eq(
        &Value::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into()),
        &Value::Uuid(u)
    ));
    assert!(eq(&Value::Uuid(u), &Value::Text(u.simple().to_string())));
    assert!(!eq(&Value::Text("6f9619ff".into()), &Value::Uuid(u)));
    // Two texts are texts: case is a real difference there.
    assert!(!eq(
        &Value::Text("6F9619FF-8B86-D011-B42D-00C04FC964FF".into()),
        &Value::Text("6f9619ff-8b86-d011-b42d-00c04fc964ff".into())
    ));
}

#[test]
fn json_is_canonical_and_text_json_is_parsed_against_json() {
    let a = Value::Json(serde_json::json!({"b": [1.0, {"y": 2, "x": 1}], "a": null}));
    let b = Value::Text(r#"{ "a": null, "b": [1, {"x": 1, "y": 2.0}] }"#.into());
    assert!(eq(&a, &b));
    assert!(eq(&b, &a));
    assert!(!eq(&a, &Value::Text(r#"{"a": null, "b": [1]}"#.into())));
    let Value::Json(c) = normalize(&a, &Options::default()) else {
        panic!()
    };
    assert_eq!(c.to_string(), r#"{"a":null,"b":[1,{"x":1,"y":2}]}"#);
}

#[test]
fn tinyint_one_meets_boolean_and_unsigned_meets_signed() {
    assert!(eq(&Value::Int(1), &Value::Bool(true)));
    assert!(eq(&Value::Bool(false), &Value::Int(0)));
    assert!(!eq(&Value::Int(2), &Value::Bool(true)));
    assert!(!eq(&Value::Int(0), &Value::Bool(true)));
    assert!(eq(&Value::UInt(5), &Value::Int(5)));
    assert!(!eq(&Value::UInt(u64::MAX), &Value::Int(-1)));
    assert!(eq(&Value::Text("1".into()), &Value::Bool(true)));
}

#[test]
fn null_and_empty_text_stay_distinct() {
    assert!(!eq(&Value::Null, &Value::Text(String::new())));
    assert!(eq(&Value::Null, &Value::Null));
    assert!(!eq(&Value::Text("a ".into()), &Value::Text("a".into())));
}

#[test]
fn floats_use_a_relative_tolerance() {
    assert!(eq(&Value::Float(0.1 + 0.2), &Value::Float(0.3)));
    assert!(!eq(&Value::Float(0.3), &Value::Float(0.31)));
    assert!(eq(&Value::Float(-0.0), &Value::Float(0.0)));
    assert!(eq(&Value::Float(f64::NAN), &Value::Float(f64::NAN)));
    assert!(eq(&d("0.5"), &Value::Float(0.5)));
}

#[test]
fn text_and_bytes_compare_by_their_bytes() {
    assert!(eq(
        &Value::Text("abc".into()),
        &Value::Bytes(b"abc".to_vec())
    ));
    assert!(!eq(
        &Value::Text("abc".into()),
        &Value::Bytes(b"abd".to_vec())
    ));
}

#[test]
fn column_rules_trim_lowercase_round_digits_ignore() {
    let o = Options::default();
    let r = |rules: &[ColumnRule], a: Value, b: Value| values_equal(&a, &b, rules, &o);
    assert!(r(&[ColumnRule::Trim], " Open ".into(), "Open".into()));
    assert!(!r(&[ColumnRule::Trim], " Open ".into(), "open".into()));
    assert!(r(
        &[ColumnRule::Trim, ColumnRule::Lowercase],
        " Open ".into(),
        "open".into()
    ));
    assert!(r(&[ColumnRule::Round(1)], d("1.25"), d("1.3")));
    assert!(r(
        &[ColumnRule::Round(2)],
        Value::Float(2.675),
        Value::Float(2.68)
    ));
    assert!(r(
        &[ColumnRule::TimestampDigits(0)],
        Value::Timestamp(ts(999_999)),
        Value::Timestamp(ts(0))
    ));
    assert!(r(&[ColumnRule::Ignore], "x".into(), Value::Null));
    assert_eq!(apply_rules("x".into(), &[ColumnRule::Ignore]), None);
}

/// A small deterministic property check: normalization is idempotent and equality reflexive
/// over a spread of generated values.
#[test]
fn normalize_is_idempotent_and_equality_reflexive() {
    let o = Options {
        timestamp_digits: 3,
        ..Options::default()
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2_000 {
        let n = next();
        let v = match n % 7 {
            0 => Value::Int(n as i64),
            1 => Value::UInt(n),
            2 => Value::Decimal(BigDecimal::new((n as i64).into(), (n % 12) as i64 - 4)),
            3 => Value::Float(f64::from_bits(n >> 2)),
            4 => Value::Timestamp(
                chrono::DateTime::from_timestamp_micros((n % 4_000_000_000_000_000) as i64)
                    .unwrap()
                    .naive_utc(),
            ),
            5 => Value::Json(serde_json::json!({"k": n, "a": [n % 3, (n % 5) as f64]})),
            _ => Value::Text(format!("{n:x}")),
        };
        let once = normalize(&v, &o);
        assert_eq!(normalize(&once, &o), once, "{v:?}");
        assert!(values_equal(&v, &v, &[], &o), "{v:?}");
    }
}
