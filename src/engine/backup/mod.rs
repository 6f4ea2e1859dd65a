//! Backups before the drop: copy a table's key and the columns the contract drops to a backup
//! table in the same database and/or a file, chunked by key and throttled, then verify each
//! copy — row count and checksum over (key, columns) — against the live source and against the
//! checksum recorded at copy time. Records live in `migtui_backups`; the contract guard and the
//! restore read them.

mod file;
pub mod restore;
mod source;
mod table;
mod verify;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

pub use file::{Format, cell_text, format_of, parse_cell};
pub use source::{Shape, checksum_table, format_checksum};
pub use verify::{VerifyResult, verify};

use crate::config::{BackupDestination, BackupSpec};
use crate::db::rowhash::Checksum;
use crate::db::{Db, DbError};
use crate::store::{BackedUpColumn, BackupRecord, BackupStatus, Store, StoreError};

/// Rows per chunk when the file does not say.
pub const DEFAULT_CHUNK_ROWS: u64 = 5_000;

/// What a backup is doing, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Copying,
    Verifying,
}

/// Progress of one backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackupProgress {
    pub name: String,
    pub stage: Stage,
    pub rows: u64,
    /// The source's row estimate, when known.
    pub total: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("backup `{name}`: {path}: {message}")]
    File {
        name: String,
        path: PathBuf,
        message: String,
    },
    #[error("backup `{name}`: {message}")]
    Invalid { name: String, message: String },
    #[error("backup `{0}` was cancelled; nothing under the final names was replaced")]
    Cancelled(String),
}

/// What a backup task needs around it.
pub struct BackupCtx<'a> {
    /// The database holding the source table (and the backup tables).
    pub db: &'a Db,
    pub store: &'a Store,
    /// The migration file, for the restore command recorded with each copy.
    pub config_path: &'a Path,
    pub progress: &'a (dyn Fn(BackupProgress) + Send + Sync),
    pub cancelled: &'a (dyn Fn() -> bool + Send + Sync),
}

/// The shape of a backup as the source is now: its primary key and the columns, with types.
pub async fn shape(spec: &BackupSpec, db: &Db) -> Result<Shape, BackupError> {
    let invalid = |message: String| BackupError::Invalid {
        name: spec.name.clone(),
        message,
    };
    let info = db.table_info(&spec.table).await?.ok_or_else(|| {
        invalid(format!(
            "table `{}` does not exist in database `{}` ({})",
            spec.table,
            db.name(),
            spec.at
        ))
    })?;
    if info.primary_key.is_empty() {
        return Err(invalid(format!(
            "table `{}` has no primary key; a backup needs a key to put the columns back by",
            spec.table
        )));
    }
    let col = |name: &str| -> Result<BackedUpColumn, BackupError> {
        let c = info.column(name).ok_or_else(|| {
            invalid(format!(
                "column `{name}` not found in table `{}` (columns: {}) ({})",
                spec.table,
                info.column_names().join(", "),
                spec.at
            ))
        })?;
        Ok(BackedUpColumn {
            name: c.name.clone(),
            data_type: c.data_type.clone(),
            nullable: c.nullable,
        })
    };
    let key = info
        .primary_key
        .iter()
        .map(|k| col(k))
        .collect::<Result<Vec<_>, _>>()?;
    let columns = spec
        .columns
        .iter()
        .filter(|c| !info.primary_key.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .map(|c| col(c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Shape {
        table: spec.table.clone(),
        key,
        columns,
    })
}

/// The record key of a destination: its position in `to` and its kind.
pub fn destination_id(i: usize, d: &BackupDestination) -> String {
    match d {
        BackupDestination::Table(_) => format!("{i}:table"),
        BackupDestination::File(_) => format!("{i}:file"),
    }
}

pub fn location(d: &BackupDestination) -> String {
    match d {
        BackupDestination::Table(t) => t.clone(),
        BackupDestination::File(p) => p.display().to_string(),
    }
}

/// The command that restores this backup.
pub fn restore_command(config_path: &Path, name: &str) -> String {
    format!(
        "migtui restore -c {} --backup {name}",
        shell_word(&config_path.display().to_string())
    )
}

fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// Copy one `[[backup]]` to every destination, record it, then verify every copy. Returns the
/// verification results; a copy that does not verify is recorded as failed.
pub async fn run(spec: &BackupSpec, ctx: &BackupCtx<'_>) -> Result<Vec<VerifyResult>, BackupError> {
    let shape = shape(spec, ctx.db).await?;
    // The old copies are about to be emptied or replaced: until the new ones are recorded, no
    // earlier "verified" may stand for them.
    for r in ctx
        .store
        .backups()
        .await?
        .iter()
        .filter(|r| r.name == spec.name)
    {
        let detail = "a new copy is being made; if this stays, it was interrupted";
        ctx.store
            .mark_backup(&r.name, &r.destination, BackupStatus::Copying, Some(detail))
            .await?;
    }
    let records = copy(spec, &shape, ctx).await?;
    for r in &records {
        ctx.store.put_backup(r).await?;
    }
    verify(spec, ctx).await
}

/// Copy the rows to every destination in one pass over the source.
async fn copy(
    spec: &BackupSpec,
    shape: &Shape,
    ctx: &BackupCtx<'_>,
) -> Result<Vec<BackupRecord>, BackupError> {
    let name = &spec.name;
    let file_err = |path: &Path, e: std::io::Error| BackupError::File {
        name: name.clone(),
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let names = shape.names();
    let mut tables = Vec::new();
    let mut files = Vec::new();
    for d in &spec.to {
        match d {
            BackupDestination::Table(t) => {
                table::prepare(ctx.db, t, shape)
                    .await
                    .map_err(|message| BackupError::Invalid {
                        name: name.clone(),
                        message,
                    })?;
                tables.push(t.clone());
            }
            BackupDestination::File(p) => {
                let w = file::FileWriter::create(p, &names).map_err(|e| file_err(p, e))?;
                files.push((p.clone(), w));
            }
        }
    }
    let total = ctx
        .db
        .row_count(&spec.table, false)
        .await
        .ok()
        .map(|c| c.rows);
    let classes = shape.classes();
    let mut sum = Checksum::default();
    let mut reader = source::ChunkReader::new(ctx.db, &spec.table, shape, spec.chunk_rows);
    let started = Instant::now();
    let result: Result<(), BackupError> = async {
        while let Some(rows) = reader.next().await? {
            if (ctx.cancelled)() {
                return Err(BackupError::Cancelled(name.clone()));
            }
            for t in &tables {
                table::insert(ctx.db, t, shape, &rows.rows).await?;
            }
            for (p, w) in &mut files {
                w.write_rows(&rows.rows).map_err(|e| file_err(p, e))?;
            }
            source::checksum_rows(&rows, &classes, &mut sum);
            (ctx.progress)(BackupProgress {
                name: name.clone(),
                stage: Stage::Copying,
                rows: sum.count,
                total,
            });
            throttle(started, sum.count, spec.max_rows_per_second).await;
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        for (_, w) in files {
            w.abandon();
        }
        return Err(e);
    }
    let checksum = format_checksum(&sum);
    let restore = restore_command(ctx.config_path, name);
    let mut records = Vec::new();
    let mut sizes = Vec::new();
    for (p, w) in files {
        let size = w.finish().map_err(|e| file_err(&p, e))?;
        sizes.push((p, size));
    }
    for (i, d) in spec.to.iter().enumerate() {
        let size = match d {
            BackupDestination::File(p) => sizes.iter().find(|(q, _)| q == p).map_or(0, |(_, s)| *s),
            BackupDestination::Table(_) => 0,
        };
        records.push(BackupRecord {
            name: name.clone(),
            destination: destination_id(i, d),
            location: location(d),
            database: spec.database.clone(),
            source_table: spec.table.clone(),
            key_columns: shape.key.clone(),
            columns: shape.columns.clone(),
            rows: sum.count,
            checksum: checksum.clone(),
            size_bytes: size,
            status: BackupStatus::Copied,
            detail: None,
            created_us: 0,
            verified_us: None,
            restore_command: restore.clone(),
        });
    }
    Ok(records)
}

/// Sleep as long as needed to keep the average rate at or under `max_per_second`.
async fn throttle(started: Instant, rows: u64, max_per_second: Option<f64>) {
    let Some(rate) = max_per_second.filter(|r| *r > 0.0) else {
        return;
    };
    let due = Duration::from_secs_f64(rows as f64 / rate);
    if let Some(wait) = due.checked_sub(started.elapsed()) {
        tokio::time::sleep(wait).await;
    }
}
