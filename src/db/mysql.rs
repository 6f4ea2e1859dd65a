//! MySQL and MariaDB: the sqlx pool, type mapping and the SQL that is MySQL's own.

use super::{Db, DbError, Dialect, Engine};
use crate::config::DatabaseConfig;
use crate::secret::Secrets;

pub struct MySqlDialect;

impl Dialect for MySqlDialect {
    fn engine(&self) -> Engine {
        Engine::MySql
    }
    fn quote_ident(&self, ident: &str) -> String {
        format!("`{}`", ident.replace('`', "``"))
    }
    fn placeholder(&self, _index: usize) -> String {
        "?".into()
    }
    fn now_micros_sql(&self) -> &'static str {
        "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"
    }
    fn serial_primary_key(&self) -> &'static str {
        "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY"
    }
    fn key_text_type(&self) -> &'static str {
        "VARCHAR(191)"
    }
    fn text_type(&self) -> &'static str {
        "LONGTEXT"
    }
}

pub async fn connect(cfg: &DatabaseConfig, secrets: &Secrets) -> Result<Db, DbError> {
    let _ = (cfg, secrets);
    unimplemented!("mysql driver: being written")
}
