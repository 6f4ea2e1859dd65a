//! PostgreSQL: the sqlx pool, type mapping and the SQL that is PostgreSQL's own.

use super::{Db, DbError, Dialect, Engine};
use crate::config::DatabaseConfig;
use crate::secret::Secrets;

pub struct PostgresDialect;

impl Dialect for PostgresDialect {
    fn engine(&self) -> Engine {
        Engine::Postgres
    }
    fn quote_ident(&self, ident: &str) -> String {
        format!("\"{}\"", ident.replace('"', "\"\""))
    }
    fn placeholder(&self, index: usize) -> String {
        format!("${index}")
    }
    fn now_micros_sql(&self) -> &'static str {
        "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)"
    }
    fn serial_primary_key(&self) -> &'static str {
        "BIGSERIAL PRIMARY KEY"
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
    unimplemented!("postgres driver: being written")
}
