use std::str::FromStr;

use bigdecimal::BigDecimal;
use chrono::{NaiveDate, NaiveTime, TimeZone, Utc};
use serde_json::json;

use super::*;

fn enc(v: Value, class: HashClass) -> Option<String> {
    encode_value(&v, class, &HashOptions::default())
}

#[test]
fn hash60_is_the_first_fifteen_hex_digits_of_md5() {
    // md5("") = d41d8cd98f00b204e9800998ecf8427e, md5("abc") = 900150983cd24fb0…
    assert_eq!(hash60(b""), 0xd41d8cd98f00b20);
    assert_eq!(hash60(b"abc"), 0x900150983cd24fb);
    assert!(hash60(b"anything") < 1 << 60);
}

#[test]
fn row_bytes_follow_the_documented_format() {
    let row = [Value::Int(1), Value::Null, Value::Text(String::new())];
    let classes = [HashClass::Int, HashClass::Text, HashClass::Text];
    let bytes = encode_row(&row, &classes, &HashOptions::default());
    assert_eq!(bytes, b"1\x1f0\x1f\x1f1\x1f\x1f0".to_vec());
}

#[test]
fn null_and_empty_string_differ() {
    let c = [HashClass::Int, HashClass::Text];
    let o = HashOptions::default();
    let a = row_hash(&[Value::Int(1), Value::Null], &c, &o);
    let b = row_hash(&[Value::Int(1), Value::Text(String::new())], &c, &o);
    assert_ne!(a, b);
}

#[test]
fn separator_shifts_cannot_collide() {
    let c = [HashClass::Text, HashClass::Text];
    let o = HashOptions::default();
    let a = row_hash(&["ab".into(), "c".into()], &c, &o);
    let b = row_hash(&["a".into(), "bc".into()], &c, &o);
    assert_ne!(a, b);
}

#[test]
fn trailing_space_and_case_count() {
    assert_ne!(
        enc("a ".into(), HashClass::Text),
        enc("a".into(), HashClass::Text)
    );
    assert_ne!(
        enc("A".into(), HashClass::Text),
        enc("a".into(), HashClass::Text)
    );
}

#[test]
fn numbers_encode_without_trailing_zeros() {
    let d = |s: &str| Value::Decimal(BigDecimal::from_str(s).unwrap());
    assert_eq!(enc(d("1.50"), HashClass::Decimal).unwrap(), "1.5");
    assert_eq!(enc(d("2.000"), HashClass::Decimal).unwrap(), "2");
    assert_eq!(enc(d("100"), HashClass::Decimal).unwrap(), "100");
    assert_eq!(enc(d("-0.00"), HashClass::Decimal).unwrap(), "0");
    assert_eq!(enc(Value::Int(-42), HashClass::Int).unwrap(), "-42");
    assert_eq!(
        enc(Value::UInt(u64::MAX), HashClass::Int).unwrap(),
        "18446744073709551615"
    );
    assert_eq!(enc(Value::Float(1.25), HashClass::Float).unwrap(), "1.25");
    assert_eq!(
        enc(Value::Float(0.1 + 0.2), HashClass::Float).unwrap(),
        "0.3"
    );
    assert_eq!(enc(Value::Float(-0.0), HashClass::Float).unwrap(), "0");
    // SQLite text in a numeric column encodes like the number.
    assert_eq!(enc("3.10".into(), HashClass::Decimal).unwrap(), "3.1");
}

#[test]
fn doubles_round_from_their_shortest_digits_in_full() {
    // Past 15 significant digits, and past what a DECIMAL(65) holds: every digit counts.
    assert_eq!(
        enc(Value::Float(1234567890.1234567), HashClass::Float).unwrap(),
        "1234567890.123457"
    );
    assert_eq!(
        enc(Value::Float(-1e66), HashClass::Float).unwrap(),
        format!("-1{}", "0".repeat(66))
    );
    assert_eq!(enc(Value::Float(1.5e-7), HashClass::Float).unwrap(), "0");
}

#[test]
fn a_decimal_stored_as_a_float_keeps_its_digits() {
    // SQLite's REAL in a DECIMAL column: the decimal it holds, not rounded to float_digits.
    assert_eq!(
        enc(Value::Float(1.1234567), HashClass::Decimal).unwrap(),
        "1.1234567"
    );
    assert_eq!(enc(Value::Float(2.0), HashClass::Decimal).unwrap(), "2");
    assert_eq!(
        enc(Value::Float(123456789012345.0), HashClass::Decimal).unwrap(),
        "123456789012345"
    );
}

#[test]
fn booleans_are_zero_or_one_whatever_the_engine_says() {
    assert_eq!(enc(Value::Bool(true), HashClass::Bool).unwrap(), "1");
    assert_eq!(enc(Value::Int(0), HashClass::Bool).unwrap(), "0");
    assert_eq!(enc("t".into(), HashClass::Bool).unwrap(), "1");
}

#[test]
fn timestamps_are_utc_text_truncated_to_the_stated_digits() {
    let t = NaiveDate::from_ymd_opt(2024, 2, 29)
        .unwrap()
        .and_hms_micro_opt(23, 59, 59, 999_999)
        .unwrap();
    let o3 = HashOptions {
        timestamp_digits: 3,
        float_digits: 6,
    };
    assert_eq!(
        encode_value(&Value::Timestamp(t), HashClass::Timestamp, &o3).unwrap(),
        "2024-02-29 23:59:59.999"
    );
    assert_eq!(
        enc(Value::TimestampTz(t.and_utc()), HashClass::Timestamp).unwrap(),
        "2024-02-29 23:59:59.999999"
    );
    let o0 = HashOptions {
        timestamp_digits: 0,
        float_digits: 6,
    };
    assert_eq!(
        encode_value(&Value::Timestamp(t), HashClass::Timestamp, &o0).unwrap(),
        "2024-02-29 23:59:59"
    );
    // SQLite's text with an offset is converted to UTC first.
    assert_eq!(
        enc(
            "2024-03-01T01:59:59.999999+02:00".into(),
            HashClass::Timestamp
        )
        .unwrap(),
        "2024-02-29 23:59:59.999999"
    );
    let one_ms_off = Utc.timestamp_millis_opt(1_700_000_000_001).unwrap();
    let base = Utc.timestamp_millis_opt(1_700_000_000_000).unwrap();
    assert_ne!(
        enc(Value::TimestampTz(one_ms_off), HashClass::Timestamp),
        enc(Value::TimestampTz(base), HashClass::Timestamp)
    );
    assert_eq!(
        enc(
            Value::Time(NaiveTime::from_hms_micro_opt(1, 2, 3, 4).unwrap()),
            HashClass::Time
        )
        .unwrap(),
        "01:02:03.000004"
    );
    assert_eq!(
        enc(
            Value::Date(NaiveDate::from_ymd_opt(2024, 1, 5).unwrap()),
            HashClass::Date
        )
        .unwrap(),
        "2024-01-05"
    );
}

#[test]
fn uuids_bytes_and_json_have_one_form() {
    let u = uuid::Uuid::parse_str("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11").unwrap();
    assert_eq!(
        enc(Value::Uuid(u), HashClass::Uuid),
        enc(
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11".into(),
            HashClass::Uuid
        )
    );
    assert_eq!(
        enc(Value::Uuid(u), HashClass::Uuid).unwrap(),
        "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    );
    assert_eq!(
        enc(Value::Bytes(vec![0, 0xab]), HashClass::Bytes).unwrap(),
        "00ab"
    );
    let j = json!({"bb": [1, "x\ny"], "a": null, "c": true});
    assert_eq!(
        enc(Value::Json(j), HashClass::Json).unwrap(),
        r#"{"a": null, "c": true, "bb": [1, "x\ny"]}"#
    );
    assert_eq!(
        enc(
            r#"{"c":true,"bb":[1,"x\ny"],"a":null}"#.into(),
            HashClass::Json
        )
        .unwrap(),
        r#"{"a": null, "c": true, "bb": [1, "x\ny"]}"#
    );
}

#[test]
fn classes_come_from_declared_types() {
    use HashClass::*;
    for (name, class) in [
        ("bigint", Int),
        ("INTEGER", Int),
        ("int(11) unsigned", Int),
        ("tinyint(1)", Bool),
        ("boolean", Bool),
        ("numeric(10,2)", Decimal),
        ("double precision", Float),
        ("character varying", Text),
        ("varchar(255)", Text),
        ("timestamp with time zone", Timestamp),
        ("timestamp without time zone", Timestamp),
        ("datetime(6)", Timestamp),
        ("DATETIME", Timestamp),
        ("time without time zone", Time),
        ("uuid", Uuid),
        ("jsonb", Json),
        ("longtext", Text),
        ("bytea", Bytes),
    ] {
        assert_eq!(HashClass::from_type_name(name), class, "{name}");
    }
}

#[test]
fn checksums_sum_and_merge_exactly() {
    let mut a = Checksum::default();
    a.add((1 << 60) - 1);
    a.add((1 << 60) - 1);
    let mut b = Checksum::default();
    b.add(7);
    let m = a.merge(b);
    assert_eq!(m.count, 3);
    assert_eq!(m.sum, 2 * ((1u128 << 60) - 1) + 7);
}

#[test]
fn swapped_values_change_the_sum() {
    let c = [HashClass::Int, HashClass::Text];
    let o = HashOptions::default();
    let sum = |rows: &[(i64, &str)]| {
        let mut s = Checksum::default();
        for (k, v) in rows {
            s.add(row_hash(
                &[Value::Int(*k), Value::Text((*v).into())],
                &c,
                &o,
            ));
        }
        s
    };
    assert_ne!(
        sum(&[(6, "aaaaaaaaaa"), (11, "bbbbbbbbbb")]),
        sum(&[(6, "bbbbbbbbbb"), (11, "aaaaaaaaaa")])
    );
}

#[test]
fn the_fast_encoders_write_what_encode_value_writes() {
    let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
    let times = [
        day(2019, 1, 1).and_hms_micro_opt(0, 0, 3, 154_111).unwrap(),
        day(0, 1, 1).and_hms_micro_opt(0, 0, 0, 0).unwrap(),
        day(9999, 12, 31)
            .and_hms_micro_opt(23, 59, 59, 999_999)
            .unwrap(),
        day(10_000, 1, 1).and_hms_micro_opt(0, 0, 0, 1).unwrap(),
        day(-1, 6, 15)
            .and_hms_micro_opt(12, 30, 0, 500_000)
            .unwrap(),
        // A leap second: chrono keeps it as 1.5e9 ns.
        day(2016, 12, 31)
            .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
            .unwrap(),
        day(2020, 2, 29)
            .and_hms_nano_opt(7, 8, 9, 1_234_567)
            .unwrap(),
    ];
    let mut cases: Vec<(Value, HashClass)> = Vec::new();
    for t in times {
        cases.push((Value::Timestamp(t), HashClass::Timestamp));
        cases.push((
            Value::TimestampTz(Utc.from_utc_datetime(&t)),
            HashClass::Timestamp,
        ));
    }
    for i in [i64::MIN, -1, 0, 7, i64::MAX] {
        for class in [HashClass::Int, HashClass::Decimal, HashClass::Float] {
            cases.push((Value::Int(i), class));
        }
    }
    for s in [
        "",
        "a b ",
        "é\t\n",
        "{\"b\":1,\"a\":[1.0,{\"y\":2,\"x\":3}]}",
    ] {
        cases.push((Value::Text(s.into()), HashClass::Text));
        cases.push((Value::Text(s.into()), HashClass::Json));
    }
    for text in ["{\"a\": \"\\u00e9\"}", "not json", "{\"a\":1,\"a\":2}"] {
        cases.push((Value::Text(text.into()), HashClass::Json));
    }
    for digits in 0..=7 {
        let o = HashOptions {
            timestamp_digits: digits,
            ..HashOptions::default()
        };
        for (v, class) in &cases {
            let mut want = encode_value(v, *class, &o).unwrap().into_bytes();
            want.extend_from_slice(b"\x1f0");
            let row = [v.clone()];
            assert_eq!(encode_row(&row, &[*class], &o), want, "{v:?} as {class:?}");
            assert_eq!(row_hash(&row, &[*class], &o), hash60(&want));
        }
    }
}
