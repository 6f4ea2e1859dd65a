//! Introspection shared by preflight and the gates: a per-run cache of table descriptions, and
//! messages that list what a table actually has.

use std::collections::{BTreeMap, HashMap};

use crate::db::{Db, TableInfo};

/// Table descriptions fetched once per (database, table) during one check run.
pub struct Schemas<'a> {
    dbs: &'a BTreeMap<String, Db>,
    cache: HashMap<(String, String), Option<TableInfo>>,
}

impl<'a> Schemas<'a> {
    pub fn new(dbs: &'a BTreeMap<String, Db>) -> Self {
        Schemas {
            dbs,
            cache: HashMap::new(),
        }
    }

    pub fn db(&self, name: &str) -> Option<&'a Db> {
        self.dbs.get(name)
    }

    /// The table in `database`, `Ok(None)` when it does not exist, `Err` when the database is
    /// not connected or introspection failed.
    pub async fn table(
        &mut self,
        database: &str,
        table: &str,
    ) -> Result<Option<TableInfo>, String> {
        let key = (database.to_string(), table.to_string());
        if let Some(t) = self.cache.get(&key) {
            return Ok(t.clone());
        }
        let db = self
            .dbs
            .get(database)
            .ok_or_else(|| not_connected(database))?;
        let info = db.table_info(table).await.map_err(|e| e.to_string())?;
        self.cache.insert(key, info.clone());
        Ok(info)
    }
}

/// `None` when every column exists, else a message naming the missing ones and what exists.
pub fn missing_columns(table: &TableInfo, wanted: &[String]) -> Option<String> {
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|c| table.column(c).is_none())
        .collect();
    if missing.is_empty() {
        return None;
    }
    let noun = if missing.len() == 1 {
        "column"
    } else {
        "columns"
    };
    Some(format!(
        "{noun} {} not found in table {} (columns: {})",
        quoted_list(&missing),
        table.name,
        table.column_names().join(", ")
    ))
}

/// `"a", "b"` for messages.
pub fn quoted_list<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The detail of a check that could not run because its database is down. Preflight folds
/// these into one line per database, recognising them with [`down_database`].
pub fn not_connected(database: &str) -> String {
    format!("database `{database}` not connected")
}

/// The database named by a [`not_connected`] detail, if `detail` is one.
pub fn down_database(detail: &str) -> Option<&str> {
    detail
        .strip_prefix("database `")
        .and_then(|r| r.strip_suffix("` not connected"))
}
