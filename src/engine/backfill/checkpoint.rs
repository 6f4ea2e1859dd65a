//! `migtui_checkpoints`: one row per step with its high-water mark, the last key written and
//! the rows done. After each chunk the row moves forward, in the chunk's own transaction when
//! the state store is the target database, so a restart resumes exactly after the last chunk
//! that committed.

use serde::{Deserialize, Serialize};

use crate::db::{Db, Params, Rows, Value};

use super::BackfillError;

/// Where a step stands, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub step: String,
    /// `running`, `complete` or `failed`.
    pub status: String,
    /// The key of the last source row when the step started; `None` for an empty source.
    pub high_water: Option<Vec<Value>>,
    /// The key of the last row written; `None` before the first chunk.
    pub last_key: Option<Vec<Value>>,
    pub rows_done: u64,
    pub chunks: u64,
    pub started_us: i64,
    pub updated_us: i64,
    pub error: Option<String>,
}

impl Checkpoint {
    pub fn is_complete(&self) -> bool {
        self.status == "complete"
    }
}

const COLUMNS: &str =
    "step, status, high_water, last_key, rows_done, chunks, started_us, updated_us, error";

fn store_err(e: impl std::fmt::Display) -> BackfillError {
    BackfillError::State(e.to_string())
}

fn key_json(key: &Option<Vec<Value>>) -> Value {
    match key {
        Some(k) => Value::Text(serde_json::to_string(k).unwrap_or_default()),
        None => Value::Null,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        other => Some(other.display()),
    }
}

fn int(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        Value::UInt(u) => i64::try_from(*u).unwrap_or(i64::MAX),
        Value::Decimal(d) => d.to_string().parse().unwrap_or(0),
        Value::Text(s) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

fn parse_key(v: &Value) -> Result<Option<Vec<Value>>, BackfillError> {
    match text(v) {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s).map(Some).map_err(|e| {
            store_err(format!(
                "migtui_checkpoints holds a key that is not valid JSON: {e}"
            ))
        }),
    }
}

fn from_rows(rows: &Rows) -> Result<Vec<Checkpoint>, BackfillError> {
    rows.rows
        .iter()
        .map(|r| {
            Ok(Checkpoint {
                step: text(&r[0]).unwrap_or_default(),
                status: text(&r[1]).unwrap_or_default(),
                high_water: parse_key(&r[2])?,
                last_key: parse_key(&r[3])?,
                rows_done: int(&r[4]).max(0) as u64,
                chunks: int(&r[5]).max(0) as u64,
                started_us: int(&r[6]),
                updated_us: int(&r[7]),
                error: text(&r[8]),
            })
        })
        .collect()
}

/// Every step's checkpoint of this migration.
pub async fn load_all(db: &Db, migration: &str) -> Result<Vec<Checkpoint>, BackfillError> {
    let sql =
        format!("SELECT {COLUMNS} FROM migtui_checkpoints WHERE migration = :m ORDER BY step");
    let rows = db
        .query(&sql, &Params::new().bind("m", migration))
        .await
        .map_err(store_err)?;
    from_rows(&rows)
}

/// One step's checkpoint, if it has started.
pub async fn load(
    db: &Db,
    migration: &str,
    step: &str,
) -> Result<Option<Checkpoint>, BackfillError> {
    let sql =
        format!("SELECT {COLUMNS} FROM migtui_checkpoints WHERE migration = :m AND step = :s");
    let p = Params::new().bind("m", migration).bind("s", step);
    let rows = db.query(&sql, &p).await.map_err(store_err)?;
    Ok(from_rows(&rows)?.into_iter().next())
}

/// Record a step's start with its high-water mark (replacing a failed attempt's row).
pub async fn start(
    db: &Db,
    migration: &str,
    step: &str,
    high_water: &Option<Vec<Value>>,
) -> Result<Checkpoint, BackfillError> {
    let now = db.dialect().now_micros_sql();
    let p = Params::new()
        .bind("m", migration)
        .bind("s", step)
        .bind("hw", key_json(high_water));
    db.execute(
        "DELETE FROM migtui_checkpoints WHERE migration = :m AND step = :s",
        &p,
    )
    .await
    .map_err(store_err)?;
    let sql = format!(
        "INSERT INTO migtui_checkpoints (migration, {COLUMNS}) \
         VALUES (:m, :s, 'running', :hw, NULL, 0, 0, {now}, {now}, NULL)"
    );
    db.execute(&sql, &p).await.map_err(store_err)?;
    load(db, migration, step).await?.ok_or_else(|| {
        store_err(format!(
            "the checkpoint of step {step} vanished after it was written"
        ))
    })
}

/// The statement that moves a step's checkpoint past a chunk: run it in the chunk's
/// transaction (store = target) or right after the chunk commits.
pub fn advance(
    d: &dyn crate::db::Dialect,
    migration: &str,
    step: &str,
    last_key: &[Value],
    rows_done: u64,
) -> (String, Params) {
    let sql = format!(
        "UPDATE migtui_checkpoints SET last_key = :lk, rows_done = :rd, chunks = chunks + 1, \
         updated_us = {} WHERE migration = :m AND step = :s",
        d.now_micros_sql()
    );
    let p = Params::new()
        .bind("lk", key_json(&Some(last_key.to_vec())))
        .bind("rd", i64::try_from(rows_done).unwrap_or(i64::MAX))
        .bind("m", migration)
        .bind("s", step);
    (sql, p)
}

/// Mark a step `complete` or `failed` (with the error's text).
pub async fn finish(
    db: &Db,
    migration: &str,
    step: &str,
    status: &str,
    error: Option<&str>,
) -> Result<(), BackfillError> {
    let sql = format!(
        "UPDATE migtui_checkpoints SET status = :st, error = :e, updated_us = {} \
         WHERE migration = :m AND step = :s",
        db.dialect().now_micros_sql()
    );
    let p = Params::new()
        .bind("st", status)
        .bind("e", error.map(str::to_string))
        .bind("m", migration)
        .bind("s", step);
    db.execute(&sql, &p).await.map_err(store_err)?;
    Ok(())
}
