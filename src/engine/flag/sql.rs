//! The `sql` backend: one key/value row in a table of one of the databases. migtui updates the
//! row (inserting it when absent) but never creates the table: `migtui check` prints its DDL.

use super::{FlagError, FlagValue, Raw};
use crate::db::{Db, Params, Value};

pub(super) struct SqlFlag {
    db: Db,
    table: String,
    select: String,
    update: String,
    insert: String,
}

impl SqlFlag {
    pub fn new(db: Db, table: &str, key_column: &str, value_column: &str) -> SqlFlag {
        let d = db.dialect();
        let (t, k, v) = (
            d.quote_path(table),
            d.quote_ident(key_column),
            d.quote_ident(value_column),
        );
        SqlFlag {
            select: format!("SELECT {v} AS flag_value FROM {t} WHERE {k} = :key"),
            update: format!("UPDATE {t} SET {v} = :value WHERE {k} = :key"),
            insert: format!("INSERT INTO {t} ({k}, {v}) VALUES (:key, :value)"),
            table: table.to_string(),
            db,
        }
    }

    pub fn describe(&self, key: &str) -> String {
        format!(
            "row `{key}` of table {} in database `{}`",
            self.table,
            self.db.name()
        )
    }

    pub async fn get(&self, key: &str) -> Result<Option<Raw>, FlagError> {
        let rows = self
            .db
            .query(&self.select, &Params::new().bind("key", key))
            .await?;
        if rows.rows.len() > 1 {
            return Err(FlagError::Read {
                key: key.to_string(),
                message: format!("{} rows match in {}", rows.rows.len(), self.table),
                hint: "make the key column the table's primary key".into(),
            });
        }
        Ok(rows
            .rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| match v {
                Value::Null => None,
                Value::Bool(b) => Some(Raw::Value(FlagValue::Bool(*b))),
                other => Some(Raw::Text(other.to_text())),
            }))
    }

    pub async fn set(&self, key: &str, value: FlagValue) -> Result<(), FlagError> {
        let params = Params::new()
            .bind("key", key)
            .bind("value", value.storage_text());
        let updated = self.db.execute(&self.update, &params).await?;
        if updated == 0 {
            self.db
                .execute(&self.insert, &params)
                .await
                .map_err(|e| FlagError::Write {
                    key: key.to_string(),
                    message: format!("the row was absent and inserting it failed: {e}"),
                    hint: format!("insert the row into {} by hand", self.table),
                })?;
        }
        Ok(())
    }
}
