//! Backfill test support: a table with every awkward kind of value, its rows read back in a
//! form that compares across engines, migration files with backfill steps, and a run of the
//! backfill through the session.

use std::path::Path;
use std::time::Duration;

use migtui::config::Config;
use migtui::db::{Db, Params, Value};
use migtui::engine::backfill::BackfillProgress;
use migtui::engine::session::{Command, Event, Mode, Outcome, Session, SessionHandle};

use super::{Kind, TestDb};

/// `items`: a composite key (a, b), nullable unicode text, large text, JSON, an integer version.
pub fn items_ddl(kind: Kind, table: &str) -> String {
    match kind {
        Kind::Postgres => format!(
            "CREATE TABLE {table} (a BIGINT NOT NULL, b BIGINT NOT NULL, name TEXT, body TEXT, \
             doc JSONB, ver BIGINT NOT NULL, PRIMARY KEY (a, b))"
        ),
        Kind::MySql => format!(
            "CREATE TABLE {table} (a BIGINT NOT NULL, b BIGINT NOT NULL, name VARCHAR(200), \
             body LONGTEXT, doc JSON, ver BIGINT NOT NULL, PRIMARY KEY (a, b)) DEFAULT CHARSET = utf8mb4"
        ),
        Kind::Sqlite => format!(
            "CREATE TABLE {table} (a INTEGER NOT NULL, b INTEGER NOT NULL, name TEXT, body TEXT, \
             doc TEXT, ver INTEGER NOT NULL, PRIMARY KEY (a, b))"
        ),
    }
}

/// `n` deterministic rows: keys with large gaps, two rows per `a`, NULLs, unicode, one
/// 200 kB text, JSON documents (and NULL ones).
pub fn item_rows(n: usize, ver: i64) -> Vec<Vec<Value>> {
    (0..n)
        .map(|i| {
            let a = (i as i64 / 2) * (i as i64 / 2) * 1_000 + 3;
            let b = (i % 2) as i64 + 1;
            let name = match i % 5 {
                0 => Value::Null,
                1 => Value::Text(format!("café ☕ 日本 {i}")),
                2 => Value::Text(format!("quote ' \" \\ , {{ }} {i}")),
                3 => Value::Text(String::new()),
                _ => Value::Text(format!("plain {i}")),
            };
            let body = if i == 3 {
                Value::Text("ü".repeat(100_000))
            } else if i % 7 == 0 {
                Value::Null
            } else {
                Value::Text(format!("body {i}"))
            };
            let doc = if i % 6 == 0 {
                Value::Null
            } else {
                Value::Json(
                    serde_json::json!({"n": i, "tags": ["x", "ü"], "deep": {"ok": i % 2 == 0}}),
                )
            };
            vec![
                Value::Int(a),
                Value::Int(b),
                name,
                body,
                doc,
                Value::Int(ver),
            ]
        })
        .collect()
}

pub async fn insert_items(db: &Db, table: &str, rows: Vec<Vec<Value>>) {
    for batch in rows.chunks(200) {
        let sql = format!("INSERT INTO {table} (a, b, name, body, doc, ver) VALUES :rows");
        db.execute(&sql, &Params::new().bind_tuples("rows", batch.to_vec()))
            .await
            .unwrap_or_else(|e| panic!("seed {table}: {e}"));
    }
}

/// One value as comparable text: JSON parsed and re-serialized (engines store it differently).
fn norm(v: &Value) -> String {
    match v {
        Value::Json(j) => j.to_string(),
        Value::Text(s) if s.starts_with('{') => serde_json::from_str::<serde_json::Value>(s)
            .map(|j| j.to_string())
            .unwrap_or_else(|_| s.clone()),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.display(),
    }
}

/// Every row of `sql`, normalized, in the order the query gives.
pub async fn rows_of(db: &Db, sql: &str) -> Vec<Vec<String>> {
    db.query(sql, &Params::new())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .rows
        .iter()
        .map(|r| r.iter().map(norm).collect())
        .collect()
}

pub async fn all_items(db: &Db, table: &str) -> Vec<Vec<String>> {
    rows_of(
        db,
        &format!("SELECT a, b, name, body, doc, ver FROM {table} ORDER BY a, b"),
    )
    .await
}

/// A migration file with `old`, `new` and `body` (the `[[backfill]]` steps and anything else).
pub fn migration(name: &str, old: &TestDb, new: &TestDb, state: &str, body: &str) -> Config {
    let text = format!(
        r#"
[migration]
name = "{name}"

[databases.old]
url = "{}"

[databases.new]
url = "{}"

[state]
database = "{state}"
lease_ttl_secs = 2

{body}
"#,
        old.url, new.url
    );
    migtui::config::parse_text(Path::new("backfill-test.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("test migration file:\n{e}\n{text}"))
}

/// Start a driving session.
pub async fn drive(config: Config) -> SessionHandle {
    let s = Session::start(config, Mode::Drive).await.expect("session");
    let mut w = s.watch();
    tokio::time::timeout(
        Duration::from_secs(10),
        w.wait_for(|s| s.lease.is_driving()),
    )
    .await
    .expect("lease in time")
    .expect("session alive");
    s
}

/// Wait until the backfill has stopped (complete, failed or cancelled).
pub async fn finished(s: &SessionHandle, within: Duration) -> BackfillProgress {
    let mut w = s.watch();
    let snap = tokio::time::timeout(
        within,
        w.wait_for(|s| !s.backfill.running && !s.backfill.steps.is_empty()),
    )
    .await
    .expect("backfill finishes in time")
    .expect("session alive");
    snap.backfill.clone()
}

/// Run the backfill (or one step) through a session and return its final progress and events.
pub async fn run(config: Config, step: Option<&str>) -> (BackfillProgress, Vec<Event>) {
    let s = drive(config).await;
    let mut events = s.subscribe();
    let out = s
        .request(Command::StartBackfill {
            step: step.map(str::to_string),
        })
        .await
        .expect("start");
    assert_eq!(out, Outcome::Done);
    let progress = finished(&s, Duration::from_secs(60)).await;
    s.shutdown().await;
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    (progress, seen)
}

/// Start the backfill and wait until its first chunk is done (the high-water mark is taken).
pub async fn start_and_wait_for_rows(s: &SessionHandle) {
    s.request(Command::StartBackfill { step: None })
        .await
        .expect("start");
    let mut w = s.watch();
    tokio::time::timeout(
        Duration::from_secs(20),
        w.wait_for(|x| x.backfill.steps.first().is_some_and(|st| st.rows_done > 0)),
    )
    .await
    .expect("the step starts")
    .expect("session alive");
}
