//! Where probe keys come from: a verify check's sample, a key query, or a list. Keys are drawn
//! round-robin from a pool refreshed every minute, so every key is probed as often as the next.

use std::time::{Duration, Instant};

use crate::config::{Config, KeySource, VerifyCheck};
use crate::db::{Db, DbError, Params, Value};

/// At most this many keys are kept per path.
pub const MAX_KEYS: usize = 1000;
/// Query and verify pools are read again after this long.
const REFRESH: Duration = Duration::from_secs(60);

/// The keys of one path.
#[derive(Debug)]
pub struct KeyPool {
    source: KeySource,
    keys: Vec<Value>,
    next: usize,
    loaded: Option<Instant>,
    /// Why the pool is empty, when it is.
    pub problem: Option<String>,
}

impl KeyPool {
    pub fn new(source: KeySource) -> KeyPool {
        KeyPool {
            source,
            keys: Vec::new(),
            next: 0,
            loaded: None,
            problem: None,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Load the keys when they were never loaded or are a minute old (lists load once).
    pub async fn refresh(&mut self, config: &Config, dbs: &std::collections::BTreeMap<String, Db>) {
        let due = match (&self.source, self.loaded) {
            (_, None) => true,
            (KeySource::List(_), Some(_)) => false,
            (_, Some(at)) => at.elapsed() >= REFRESH,
        };
        if !due {
            return;
        }
        self.loaded = Some(Instant::now());
        let loaded = match &self.source {
            KeySource::List(list) => Ok(list.iter().map(|k| list_value(k)).collect()),
            KeySource::Query { database, sql } => match dbs.get(database) {
                Some(db) => first_column(db, sql).await.map_err(|e| e.to_string()),
                None => Err(format!("database `{database}` is not connected")),
            },
            KeySource::Verify(name) => match config.verify.iter().find(|v| &v.name == name) {
                None => Err(format!("no [[verify]] check named `{name}`")),
                Some(check) => match dbs.get(&check.sample.database) {
                    Some(db) => verify_keys(db, check).await,
                    None => Err(format!(
                        "database `{}` is not connected",
                        check.sample.database
                    )),
                },
            },
        };
        match loaded {
            Ok(keys) if keys.is_empty() => {
                self.problem = Some("the key source returned no keys".into());
            }
            Ok(keys) => {
                self.keys = keys;
                self.next %= self.keys.len();
                self.problem = None;
            }
            // Keep the last good keys through a failed refresh.
            Err(e) => self.problem = Some(e),
        }
    }

    /// The next key, round-robin.
    pub fn draw(&mut self) -> Option<Value> {
        let key = self.keys.get(self.next % self.keys.len().max(1)).cloned();
        self.next = (self.next + 1) % self.keys.len().max(1);
        key
    }
}

/// A key from the file's list: integers bind as integers (an `id = :key` on a bigint column
/// must not compare against text), anything else as text.
fn list_value(k: &str) -> Value {
    k.trim()
        .parse::<i64>()
        .map_or_else(|_| Value::Text(k.to_string()), Value::Int)
}

async fn first_column(db: &Db, sql: &str) -> Result<Vec<Value>, DbError> {
    let rows = db.query(sql, &Params::new()).await?;
    Ok(rows
        .rows
        .into_iter()
        .filter_map(|r| r.into_iter().next())
        .filter(|v| !v.is_null())
        .take(MAX_KEYS)
        .collect())
}

/// The keys a verify check compares. Until the verifier publishes its sampled keys, draw them
/// the same cheap way: the check's sample table, newest first when it names a recency column.
/// The one place to point at the verifier's sampler when it lands.
pub async fn verify_keys(db: &Db, check: &VerifyCheck) -> Result<Vec<Value>, String> {
    let [key] = check.key.as_slice() else {
        return Err(format!(
            "[[verify]] `{}` has a composite key ({}); a read path probes one `:key`: give the path a key query instead",
            check.name,
            check.key.join(", ")
        ));
    };
    let d = db.dialect();
    let order = match &check.sample.recent_column {
        Some(c) => format!(" ORDER BY {} DESC", d.quote_ident(c)),
        None => String::new(),
    };
    let sql = format!(
        "SELECT {k} FROM {t}{order} LIMIT {MAX_KEYS}",
        k = d.quote_ident(key),
        t = d.quote_path(&check.sample.table)
    );
    first_column(db, &sql).await.map_err(|e| e.to_string())
}
