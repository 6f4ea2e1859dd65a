//! Verification of backup copies: each copy's row count and checksum over (key, columns) must
//! equal the checksum recorded when it was made (so a copy changed or truncated since is
//! caught) and, while the source columns still exist, the live source's at the time of the
//! check (so a source that moved on since the copy needs a new backup).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::file::FileReader;
use super::source::{Shape, checksum_table, format_checksum};
use super::{BackupCtx, BackupError, BackupProgress, Stage};
use crate::config::{BackupDestination, BackupSpec};
use crate::db::Db;
use crate::db::rowhash::{Checksum, HashOptions, row_hash};
use crate::store::{BackupRecord, BackupStatus};

/// The outcome of verifying one copy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifyResult {
    pub name: String,
    pub destination: String,
    pub location: String,
    pub verified: bool,
    /// `rows:sum` of the copy as read now.
    pub copy: Option<String>,
    /// `rows:sum` recorded at copy time.
    pub recorded: String,
    /// `rows:sum` of the live source now; `None` once its columns are dropped.
    pub source: Option<String>,
    /// Why it failed, or what it was compared with.
    pub detail: String,
}

/// The shape a record describes (what was copied, with the types of that time).
pub fn record_shape(r: &BackupRecord) -> Shape {
    Shape {
        table: r.source_table.clone(),
        key: r.key_columns.clone(),
        columns: r.columns.clone(),
    }
}

/// True while every backed-up column still exists in the source table.
pub async fn source_has_columns(db: &Db, shape: &Shape) -> Result<bool, BackupError> {
    Ok(match db.table_info(&shape.table).await? {
        None => false,
        Some(info) => shape.all().all(|c| info.column(&c.name).is_some()),
    })
}

/// Verify every recorded copy of one `[[backup]]` and record each outcome.
pub async fn verify(
    spec: &BackupSpec,
    ctx: &BackupCtx<'_>,
) -> Result<Vec<VerifyResult>, BackupError> {
    let records: Vec<BackupRecord> = ctx
        .store
        .backups()
        .await?
        .into_iter()
        .filter(|r| r.name == spec.name)
        .collect();
    if records.is_empty() {
        return Err(BackupError::Invalid {
            name: spec.name.clone(),
            message: "nothing to verify: no copy has been made yet; run `migtui backup` first"
                .into(),
        });
    }
    let mut results = Vec::new();
    let mut live: Option<Option<Checksum>> = None;
    for r in &records {
        let shape = record_shape(r);
        if live.is_none() {
            (ctx.progress)(progress(&spec.name, 0, Some(r.rows)));
            live = Some(if source_has_columns(ctx.db, &shape).await? {
                Some(checksum_table(ctx.db, &shape.table, &shape, spec.chunk_rows).await?)
            } else {
                None
            });
        }
        let source = live.flatten();
        let dest = spec
            .to
            .iter()
            .find(|d| super::location(d) == r.location)
            .cloned()
            .unwrap_or_else(|| {
                if r.destination.ends_with(":file") {
                    BackupDestination::File(r.location.clone().into())
                } else {
                    BackupDestination::Table(r.location.clone())
                }
            });
        let copy = read_copy(ctx, &dest, &shape, spec.chunk_rows).await;
        let result = judge(r, copy, source);
        let status = if result.verified {
            BackupStatus::Verified
        } else {
            BackupStatus::Failed
        };
        ctx.store
            .mark_backup(&r.name, &r.destination, status, Some(&result.detail))
            .await?;
        (ctx.progress)(progress(&spec.name, r.rows, Some(r.rows)));
        results.push(result);
    }
    Ok(results)
}

fn progress(name: &str, rows: u64, total: Option<u64>) -> BackupProgress {
    BackupProgress {
        name: name.to_string(),
        stage: Stage::Verifying,
        rows,
        total,
    }
}

/// The checksum of a copy as it is now, or why it cannot be read.
pub async fn read_copy(
    ctx: &BackupCtx<'_>,
    dest: &BackupDestination,
    shape: &Shape,
    chunk: u64,
) -> Result<Checksum, String> {
    match dest {
        BackupDestination::Table(t) => {
            if ctx
                .db
                .table_info(t)
                .await
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!("the backup table `{t}` no longer exists"));
            }
            checksum_table(ctx.db, t, shape, chunk)
                .await
                .map_err(|e| e.to_string())
        }
        BackupDestination::File(p) => checksum_file(p, shape, chunk as usize),
    }
}

/// The checksum of a backup file, read back with the recorded column types.
pub fn checksum_file(path: &Path, shape: &Shape, chunk: usize) -> Result<Checksum, String> {
    let classes = shape.classes();
    let mut reader = FileReader::open(path, &shape.names(), &classes)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut sum = Checksum::default();
    let opts = HashOptions::default();
    loop {
        let rows = reader
            .next_rows(chunk.max(1))
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if rows.is_empty() {
            return Ok(sum);
        }
        for row in &rows {
            sum.add(row_hash(row, &classes, &opts));
        }
    }
}

fn judge(
    r: &BackupRecord,
    copy: Result<Checksum, String>,
    source: Option<Checksum>,
) -> VerifyResult {
    let mut out = VerifyResult {
        name: r.name.clone(),
        destination: r.destination.clone(),
        location: r.location.clone(),
        verified: false,
        copy: None,
        recorded: r.checksum.clone(),
        source: source.as_ref().map(format_checksum),
        detail: String::new(),
    };
    let copy = match copy {
        Ok(c) => c,
        Err(e) => {
            out.detail = format!("{e}; make the backup again");
            return out;
        }
    };
    let now = format_checksum(&copy);
    out.copy = Some(now.clone());
    if r.status == BackupStatus::Copying {
        out.detail = "the copy never finished (interrupted); make the backup again".into();
    } else if now != r.checksum {
        out.detail = format!(
            "the copy changed since it was made: {} rows / checksum {now} now, {} recorded \
             (tampered with or truncated); make the backup again",
            copy.count, r.checksum
        );
    } else if let Some(src) = &source
        && format_checksum(src) != now
    {
        out.detail = format!(
            "the live source no longer matches: {} rows / checksum {} in `{}`, {} rows / {now} \
             in the copy; the source changed since the backup, make it again",
            src.count,
            format_checksum(src),
            r.source_table,
            copy.count
        );
    } else {
        out.verified = true;
        out.detail = match source {
            Some(_) => format!(
                "{} rows, checksum {now}: equal to the live source and to the recorded checksum",
                copy.count
            ),
            None => format!(
                "{} rows, checksum {now}: equal to the recorded checksum (the source columns are \
                 gone)",
                copy.count
            ),
        };
    }
    out
}
