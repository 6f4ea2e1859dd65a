//! SQLite: the sqlx pool, type mapping and the SQL that is SQLite's own.

use super::{Db, DbError, Dialect, Engine};
use crate::config::DatabaseConfig;
use crate::secret::Secrets;

pub struct SqliteDialect;

impl Dialect for SqliteDialect {
    fn engine(&self) -> Engine {
        Engine::Sqlite
    }
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn placeholder(&self, index: usize) -> String {
        format!("?{index}")
    }
    fn now_micros_sql(&self) -> &'static str {
        "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER)"
    }
    fn serial_primary_key(&self) -> &'static str {
        "INTEGER PRIMARY KEY AUTOINCREMENT"
    }
    fn key_text_type(&self) -> &'static str {
        "TEXT"
    }
    fn text_type(&self) -> &'static str {
        "TEXT"
    }
}

pub async fn connect(cfg: &DatabaseConfig, secrets: &Secrets) -> Result<Db, DbError> {
    let _ = (cfg, secrets);
    unimplemented!("sqlite driver: being written")
}
