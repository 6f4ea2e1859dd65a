//! Backup records: one row per `[[backup]]` destination, saying where the copy is, what it
//! holds (key and columns with their original types), its row count and checksum, and whether
//! it verified. The contract guard and the restore read these, never the migration file alone.

use serde::{Deserialize, Serialize};

use crate::db::Params;

use super::row::{RowExt, now_sql};
use super::{Store, StoreError};

/// Where a backup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupStatus {
    /// Copy in progress (or interrupted: a crash leaves this status behind).
    Copying,
    /// Copied, not verified yet.
    Copied,
    /// Row count and checksum matched the live source (and the recorded checksum).
    Verified,
    /// A verification failed; `detail` says how.
    Failed,
}

impl BackupStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            BackupStatus::Copying => "copying",
            BackupStatus::Copied => "copied",
            BackupStatus::Verified => "verified",
            BackupStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "copying" => BackupStatus::Copying,
            "copied" => BackupStatus::Copied,
            "verified" => BackupStatus::Verified,
            "failed" => BackupStatus::Failed,
            other => {
                return Err(StoreError::Invalid(format!(
                    "migtui_backups: unknown status `{other}`"
                )));
            }
        })
    }
}

/// A column as it was when backed up: enough to re-add it after a drop.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpColumn {
    pub name: String,
    /// The engine's own type name (`text`, `varchar(32)`, `character varying(32)`).
    pub data_type: String,
    pub nullable: bool,
}

/// One backup destination as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupRecord {
    /// The `[[backup]]` name.
    pub name: String,
    /// `0:table`, `1:file`: the position in `to` and the kind, stable across runs.
    pub destination: String,
    /// The backup table's name or the file's path.
    pub location: String,
    /// The database holding the source table (and a backup table).
    pub database: String,
    pub source_table: String,
    pub key_columns: Vec<BackedUpColumn>,
    pub columns: Vec<BackedUpColumn>,
    pub rows: u64,
    /// `rows:sum` in hex, as computed over (key, columns) at backup time.
    pub checksum: String,
    pub size_bytes: u64,
    pub status: BackupStatus,
    pub detail: Option<String>,
    pub created_us: i64,
    pub verified_us: Option<i64>,
    /// The command that puts the columns back from this copy.
    pub restore_command: String,
}

const COLUMNS: &str = "name, destination, location, database_name, source_table, key_columns, \
                       columns, rows_copied, checksum, size_bytes, status, detail, created_us, \
                       verified_us, restore_command";

impl Store {
    /// Write (or replace) the record of one backup destination. `created_us` is taken from the
    /// database clock when the record is new or replaced.
    pub async fn put_backup(&self, r: &BackupRecord) -> Result<BackupRecord, StoreError> {
        let d = self.db.dialect();
        let mut tx = self.db.begin().await?;
        let key = Params::new()
            .bind("m", self.migration.as_str())
            .bind("n", r.name.as_str())
            .bind("dest", r.destination.as_str());
        tx.execute(
            "DELETE FROM migtui_backups WHERE migration = :m AND name = :n AND destination = :dest",
            &key,
        )
        .await?;
        let sql = format!(
            "INSERT INTO migtui_backups (migration, {COLUMNS}) VALUES (:m, :n, :dest, :loc, :db, \
             :src, :keys, :cols, :rows, :sum, :size, :status, :detail, {}, :verified, :restore)",
            now_sql(d)
        );
        let json = |v: &Vec<BackedUpColumn>| serde_json::to_string(v).unwrap_or_default();
        let p = key
            .bind("loc", r.location.as_str())
            .bind("db", r.database.as_str())
            .bind("src", r.source_table.as_str())
            .bind("keys", json(&r.key_columns))
            .bind("cols", json(&r.columns))
            .bind("rows", clamp(r.rows))
            .bind("sum", r.checksum.as_str())
            .bind("size", clamp(r.size_bytes))
            .bind("status", r.status.as_str())
            .bind("detail", r.detail.clone())
            .bind("verified", r.verified_us.map(crate::db::Value::Int))
            .bind("restore", r.restore_command.as_str());
        tx.execute(&sql, &p).await?;
        tx.commit().await?;
        self.backup(&r.name, &r.destination).await?.ok_or_else(|| {
            StoreError::Invalid("migtui_backups: the record just written vanished".into())
        })
    }

    /// Record the outcome of a verification: status, detail and (when verified) the time.
    pub async fn mark_backup(
        &self,
        name: &str,
        destination: &str,
        status: BackupStatus,
        detail: Option<&str>,
    ) -> Result<(), StoreError> {
        let verified = if status == BackupStatus::Verified {
            now_sql(self.db.dialect())
        } else {
            "verified_us"
        };
        let sql = format!(
            "UPDATE migtui_backups SET status = :status, detail = :detail, verified_us = {verified} \
             WHERE migration = :m AND name = :n AND destination = :dest"
        );
        let p = Params::new()
            .bind("status", status.as_str())
            .bind("detail", detail.map(str::to_string))
            .bind("m", self.migration.as_str())
            .bind("n", name)
            .bind("dest", destination);
        self.db.execute(&sql, &p).await?;
        Ok(())
    }

    /// Every backup record of this migration, by name then destination.
    pub async fn backups(&self) -> Result<Vec<BackupRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM migtui_backups WHERE migration = :m ORDER BY name, destination"
        );
        let rows = self
            .db
            .query(&sql, &Params::new().bind("m", self.migration.as_str()))
            .await?;
        (0..rows.len()).map(|i| record(&rows, i)).collect()
    }

    /// One backup destination's record, if it exists.
    pub async fn backup(
        &self,
        name: &str,
        destination: &str,
    ) -> Result<Option<BackupRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM migtui_backups \
             WHERE migration = :m AND name = :n AND destination = :dest"
        );
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("n", name)
            .bind("dest", destination);
        let rows = self.db.query(&sql, &p).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        record(&rows, 0).map(Some)
    }
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn record(rows: &crate::db::Rows, i: usize) -> Result<BackupRecord, StoreError> {
    let cols = |c: &str| -> Result<Vec<BackedUpColumn>, StoreError> {
        serde_json::from_value(rows.json(i, c)?).map_err(|e| {
            StoreError::Invalid(format!(
                "migtui_backups column `{c}` is not a column list: {e}"
            ))
        })
    };
    let verified_us = match rows.value(i, "verified_us")? {
        crate::db::Value::Null => None,
        _ => Some(rows.int(i, "verified_us")?),
    };
    Ok(BackupRecord {
        name: rows.text(i, "name")?,
        destination: rows.text(i, "destination")?,
        location: rows.text(i, "location")?,
        database: rows.text(i, "database_name")?,
        source_table: rows.text(i, "source_table")?,
        key_columns: cols("key_columns")?,
        columns: cols("columns")?,
        rows: rows.int(i, "rows_copied")?.max(0) as u64,
        checksum: rows.text(i, "checksum")?,
        size_bytes: rows.int(i, "size_bytes")?.max(0) as u64,
        status: BackupStatus::parse(&rows.text(i, "status")?)?,
        detail: rows.opt_text(i, "detail")?,
        created_us: rows.int(i, "created_us")?,
        verified_us,
        restore_command: rows.text(i, "restore_command")?,
    })
}
