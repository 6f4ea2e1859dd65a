//! Property tests of the value normalizer (`db::normalize`): canonical forms are idempotent,
//! comparison is reflexive and symmetric, the per-column rules of the migration file do what
//! docs/migration-file.md says, and a value read as text from one engine meets its typed twin.
//!
//! 256 cases per property; `PROPTEST_CASES=N` runs more.
mod prop_support;

use bigdecimal::BigDecimal;
use chrono::Duration;
use migtui::config::ColumnRule;
use migtui::db::Value;
use migtui::db::normalize::{Options, apply_rules, coerce_pair, normalize, values_equal};
use prop_support::{any_value, cases, decimal, text, timestamp};
use proptest::prelude::*;

fn options() -> impl Strategy<Value = Options> {
    (
        0u32..=6,
        prop::option::of(0u32..=8),
        prop_oneof![Just(0.0), Just(1e-9)],
    )
        .prop_map(
            |(timestamp_digits, decimal_scale, float_tolerance)| Options {
                timestamp_digits,
                decimal_scale,
                float_tolerance,
            },
        )
}

fn rule() -> impl Strategy<Value = ColumnRule> {
    prop_oneof![
        Just(ColumnRule::Lowercase),
        Just(ColumnRule::Trim),
        (0u32..=8).prop_map(ColumnRule::Round),
        (0u32..=6).prop_map(ColumnRule::TimestampDigits),
    ]
}

/// Equality that treats NaN as equal to itself (the normalizer keeps NaN as NaN).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Float(x), Value::Float(y)) => {
            x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan())
        }
        _ => a == b,
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn normalize_is_idempotent(v in any_value(), opts in options()) {
        let once = normalize(&v, &opts);
        let twice = normalize(&once, &opts);
        prop_assert!(same(&once, &twice), "{:?} -> {:?} -> {:?}", v, once, twice);
    }

    #[test]
    fn rules_are_idempotent(v in any_value(), rules in prop::collection::vec(rule(), 0..4), opts in options()) {
        let n = normalize(&v, &opts);
        let once = apply_rules(n, &rules);
        let twice = once.clone().and_then(|v| apply_rules(v, &rules));
        match (&once, &twice) {
            (Some(a), Some(b)) => prop_assert!(same(a, b), "{:?} -> {:?} -> {:?}", v, a, b),
            _ => prop_assert_eq!(once.is_none(), twice.is_none()),
        }
    }

    #[test]
    fn comparison_is_reflexive_and_symmetric(a in any_value(), b in any_value(), opts in options(), rules in prop::collection::vec(rule(), 0..3)) {
        prop_assert!(values_equal(&a, &a, &rules, &opts), "{:?} != itself", a);
        prop_assert_eq!(
            values_equal(&a, &b, &rules, &opts),
            values_equal(&b, &a, &rules, &opts),
            "{:?} vs {:?}", a, b
        );
        // Coercion never changes the answer for values of one kind.
        let (x, y) = coerce_pair(normalize(&a, &opts), normalize(&a, &opts), &opts);
        prop_assert!(same(&x, &y));
    }

    #[test]
    fn ignore_makes_any_two_values_equal(a in any_value(), b in any_value(), opts in options()) {
        prop_assert!(values_equal(&a, &b, &[ColumnRule::Ignore], &opts));
    }

    #[test]
    fn trim_and_lowercase_hide_only_what_they_say(s in text(), pad in "[ \t\n]{0,3}", other in text()) {
        let opts = Options::default();
        let padded = Value::Text(format!("{pad}{s}{pad}"));
        let plain = Value::Text(s.clone());
        prop_assert!(values_equal(&padded, &plain, &[ColumnRule::Trim], &opts));
        let shouted = Value::Text(s.to_ascii_uppercase());
        let lower = Value::Text(s.to_ascii_lowercase());
        prop_assert!(values_equal(&shouted, &lower, &[ColumnRule::Lowercase], &opts));
        // Without the rule the difference counts; with it, a different text still differs.
        if !pad.is_empty() {
            prop_assert!(!values_equal(&padded, &plain, &[], &opts));
        }
        if other.trim() != s.trim() {
            prop_assert!(!values_equal(&Value::Text(other), &plain, &[ColumnRule::Trim], &opts));
        }
    }

    #[test]
    fn round_n_equates_decimals_that_round_alike(d in decimal(12, 8), n in 0u32..=6, bump in 1i64..9) {
        let opts = Options::default();
        let rounded = d.with_scale_round(i64::from(n), bigdecimal::RoundingMode::HalfUp);
        prop_assert!(values_equal(&Value::Decimal(d.clone()), &Value::Decimal(rounded.clone()), &[ColumnRule::Round(n)], &opts));
        // One unit at the n-th place apart is a real difference, rule or not.
        let unit = BigDecimal::new(bump.into(), i64::from(n));
        let off = &rounded + unit;
        prop_assert!(!values_equal(&Value::Decimal(d), &Value::Decimal(off), &[ColumnRule::Round(n)], &opts));
        // Trailing zeros never count: 1.50 = 1.5.
        let widened = rounded.with_scale(i64::from(n) + 3);
        prop_assert!(values_equal(&Value::Decimal(rounded), &Value::Decimal(widened), &[], &opts));
    }

    #[test]
    fn timestamp_digits_truncate_never_round(t in timestamp(1..=9998), n in 0u32..=6, frac in 0i64..1000) {
        let opts = Options::default();
        let unit = 10i64.pow(6 - n); // microseconds per kept digit
        let floor_us = t.and_utc().timestamp_subsec_micros() as i64 / unit * unit;
        let base = t.with_nanosecond_floor(floor_us);
        // Anything inside the same truncated unit is equal at n digits…
        let inside = base + Duration::microseconds(frac % unit);
        prop_assert!(values_equal(&Value::Timestamp(base), &Value::Timestamp(inside), &[ColumnRule::TimestampDigits(n)], &opts));
        // …the next unit is not, even when it is closer than half a unit (no rounding).
        let next = base + Duration::microseconds(unit);
        prop_assert!(!values_equal(&Value::Timestamp(inside), &Value::Timestamp(next), &[ColumnRule::TimestampDigits(n)], &opts));
        // A zoned and an unzoned timestamp of the same UTC instant are the same value.
        prop_assert!(values_equal(&Value::Timestamp(t), &Value::TimestampTz(t.and_utc()), &[], &opts));
    }

    #[test]
    fn text_from_one_engine_meets_its_typed_twin(
        i in any::<i64>(), u in any::<u128>(), d in decimal(15, 6), t in timestamp(1..=9999),
        j in prop_support::json(), b in any::<bool>(),
    ) {
        let opts = Options::default();
        let eq = |a: Value, b: Value| values_equal(&a, &b, &[], &opts);
        prop_assert!(eq(Value::Int(i), Value::Text(i.to_string())));
        let id = uuid::Uuid::from_u128(u);
        prop_assert!(eq(Value::Uuid(id), Value::Text(id.hyphenated().to_string().to_uppercase())));
        let wide = d.with_scale(9).to_string();
        prop_assert!(eq(Value::Decimal(d.clone()), Value::Text(wide)));
        prop_assert!(eq(Value::Timestamp(t), Value::Text(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())));
        prop_assert!(eq(Value::TimestampTz(t.and_utc()), Value::Text(t.and_utc().to_rfc3339())));
        prop_assert!(eq(Value::Json(j.clone()), Value::Text(serde_json::to_string_pretty(&j).unwrap())));
        prop_assert!(eq(Value::Bool(b), Value::Int(i64::from(b))));
        // …and a different value still differs.
        prop_assert!(!eq(Value::Int(i), Value::Text(i.wrapping_add(1).to_string())));
    }
}

/// Floor a timestamp's sub-second part to `us` microseconds.
trait FloorMicros {
    fn with_nanosecond_floor(self, us: i64) -> Self;
}

impl FloorMicros for chrono::NaiveDateTime {
    fn with_nanosecond_floor(self, us: i64) -> Self {
        use chrono::Timelike;
        self.with_nanosecond(us as u32 * 1_000).unwrap()
    }
}
