//! Values as each engine stores the demo's columns: timestamps (text on SQLite, `DATETIME(6)`
//! on MariaDB, `timestamptz` on PostgreSQL) and the JSON payload.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};

use crate::db::{Engine, Value};

/// A timestamp to millisecond precision, as `engine` stores it. Milliseconds because SQLite's
/// fixture text has three digits: both sides of a dual write then hold the same instant.
pub fn timestamp(engine: Engine, t: DateTime<Utc>) -> Value {
    let t = t
        .with_nanosecond(t.nanosecond() / 1_000_000 * 1_000_000)
        .unwrap_or(t);
    match engine {
        Engine::Postgres => Value::TimestampTz(t),
        Engine::MySql | Engine::Sqlite => Value::Timestamp(t.naive_utc()),
    }
}

/// A timestamp read from any engine, as an instant (UTC), when it is one.
pub fn instant(v: &Value) -> Option<DateTime<Utc>> {
    match v {
        Value::TimestampTz(t) => Some(*t),
        Value::Timestamp(t) => Some(t.and_utc()),
        Value::Text(s) => {
            let s = s.trim_end_matches("+00:00");
            NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc())
        }
        _ => None,
    }
}

/// A value read from one engine, converted for a column of the same meaning on `engine`:
/// timestamps re-typed, JSON text parsed for PostgreSQL's `jsonb`.
pub fn convert(v: Value, engine: Engine) -> Value {
    match (&v, engine) {
        (Value::Timestamp(_) | Value::TimestampTz(_), _) => match instant(&v) {
            Some(t) => timestamp(engine, t),
            None => v,
        },
        (Value::Text(s), Engine::Postgres) => match serde_json::from_str(s) {
            Ok(j @ serde_json::Value::Object(_)) => Value::Json(j),
            _ => match instant(&v) {
                Some(t) => timestamp(engine, t),
                None => v,
            },
        },
        (Value::Text(_), Engine::MySql) => match instant(&v) {
            Some(t) => timestamp(engine, t),
            None => v,
        },
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_text_becomes_a_timestamptz_on_postgres() {
        let v = convert(
            Value::Text("2024-01-01 00:01:00.250".into()),
            Engine::Postgres,
        );
        let Value::TimestampTz(t) = v else {
            panic!("not a timestamptz: {v:?}")
        };
        assert_eq!(t.timestamp_millis() % 1000, 250);
    }

    #[test]
    fn json_text_becomes_json_on_postgres_only() {
        let text = Value::Text(r#"{"source":"api"}"#.into());
        assert!(matches!(
            convert(text.clone(), Engine::Postgres),
            Value::Json(_)
        ));
        assert_eq!(convert(text.clone(), Engine::Sqlite), text);
    }

    #[test]
    fn timestamps_keep_milliseconds_only() {
        let t = DateTime::parse_from_rfc3339("2024-05-01T10:00:00.123456Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let Value::Timestamp(n) = timestamp(Engine::Sqlite, t) else {
            panic!("not a timestamp")
        };
        assert_eq!(n.and_utc().timestamp_subsec_micros(), 123_000);
    }
}
