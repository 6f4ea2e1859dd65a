//! Restore: put backed-up columns back from a verified copy. A dropped column is re-added with
//! the type recorded at backup time (a dropped table is re-created with the key and those
//! columns), the values are filled in by key from the backup table (or from the file, through
//! a staging table), and the result is verified with the same checksum as the backup: the
//! restored rows' (key, columns) must equal the recorded checksum.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::file::FileReader;
use super::source::{ChunkReader, Shape, checksum_rows, format_checksum};
use super::table;
use super::verify::{read_copy, record_shape};
use super::{BackupCtx, BackupError};
use crate::config::BackupDestination;
use crate::db::rowhash::Checksum;
use crate::db::{Db, Params};
use crate::store::{BackupRecord, BackupStatus, Operator};

/// What a restore does (or, with `--dry-run`, would do).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreReport {
    pub name: String,
    /// The copy it restores from.
    pub from: String,
    pub table: String,
    pub statements: Vec<String>,
    pub dry_run: bool,
    /// Rows in the copy.
    pub rows: u64,
    /// `rows:sum` recorded at backup time, and of the restored rows afterwards.
    pub recorded: String,
    pub after: Option<String>,
    pub verified: bool,
    /// What the operator should know (constraints not restored, rows without a value).
    pub notes: Vec<String>,
}

/// Restore the `[[backup]]` called `name` (see the module documentation).
pub async fn restore(
    name: &str,
    ctx: &BackupCtx<'_>,
    operator: &Operator,
    dry_run: bool,
) -> Result<RestoreReport, BackupError> {
    let invalid = |message: String| BackupError::Invalid {
        name: name.to_string(),
        message,
    };
    let records: Vec<BackupRecord> = ctx
        .store
        .backups()
        .await?
        .into_iter()
        .filter(|r| r.name == name)
        .collect();
    if records.is_empty() {
        return Err(invalid(
            "no copy is recorded under this name; `migtui status` lists the backups".into(),
        ));
    }
    // The first verified copy that still reads back as recorded: tables first (faster).
    let mut candidates: Vec<&BackupRecord> = records
        .iter()
        .filter(|r| r.status == BackupStatus::Verified)
        .collect();
    candidates.sort_by_key(|r| !r.destination.ends_with(":table"));
    let mut chosen = None;
    let mut rejected = Vec::new();
    for r in candidates {
        let shape = record_shape(r);
        match read_copy(ctx, &dest_of(r), &shape, 10_000).await {
            Ok(c) if format_checksum(&c) == r.checksum => {
                chosen = Some(r);
                break;
            }
            Ok(c) => rejected.push(format!(
                "{}: now {} ≠ recorded {}",
                r.location,
                format_checksum(&c),
                r.checksum
            )),
            Err(e) => rejected.push(format!("{}: {e}", r.location)),
        }
    }
    let Some(rec) = chosen else {
        return Err(invalid(format!(
            "no verified copy reads back as recorded ({}); nothing was changed",
            if rejected.is_empty() {
                "none is verified: run `migtui backup --verify-only`".to_string()
            } else {
                rejected.join("; ")
            }
        )));
    };
    let shape = record_shape(rec);
    let db = ctx.db;
    let d = db.dialect();
    let tq = d.quote_path(&rec.source_table);
    let info = db.table_info(&rec.source_table).await?;
    let mut statements = Vec::new();
    let mut notes = Vec::new();
    match &info {
        None => statements.push(table::create_sql(db, &rec.source_table, &shape)),
        Some(info) => {
            for k in &shape.key {
                if info.column(&k.name).is_none() {
                    return Err(invalid(format!(
                        "key column `{}` is missing from `{}`: cannot put values back by key",
                        k.name, rec.source_table
                    )));
                }
            }
            for c in &shape.columns {
                if info.column(&c.name).is_none() {
                    statements.push(format!(
                        "ALTER TABLE {tq} ADD COLUMN {} {}",
                        d.quote_ident(&c.name),
                        c.data_type
                    ));
                    if !c.nullable {
                        notes.push(format!(
                            "`{}` was NOT NULL; it comes back nullable (rows added since the \
                             backup have no value): add the constraint once they are filled",
                            c.name
                        ));
                    }
                }
            }
        }
    }
    let staging = match dest_of(rec) {
        BackupDestination::Table(t) => (t, false),
        BackupDestination::File(_) => (format!("migtui_restore_{}", sanitize(name)), true),
    };
    let fill = fill_sql(db, &rec.source_table, &staging.0, &shape, info.is_none());
    statements.push(fill.clone());
    let mut report = RestoreReport {
        name: name.to_string(),
        from: rec.location.clone(),
        table: rec.source_table.clone(),
        statements: statements.clone(),
        dry_run,
        rows: rec.rows,
        recorded: rec.checksum.clone(),
        after: None,
        verified: false,
        notes,
    };
    if dry_run {
        return Ok(report);
    }
    let result = apply(ctx, rec, &shape, &statements, &staging).await;
    let outcome = match &result {
        Ok(after) => {
            report.after = Some(format_checksum(after));
            report.verified = report.after.as_deref() == Some(rec.checksum.as_str());
            if report.verified {
                "ok: verified".to_string()
            } else {
                format!(
                    "failed: restored rows checksum {} ≠ recorded {}",
                    format_checksum(after),
                    rec.checksum
                )
            }
        }
        Err(e) => format!("failed: {e}"),
    };
    ctx.store
        .audit(
            "restore",
            json!({ "backup": name, "from": rec.location, "statements": statements }),
            &outcome,
            operator,
        )
        .await?;
    result.map(|_| report)
}

fn dest_of(r: &BackupRecord) -> BackupDestination {
    if r.destination.ends_with(":file") {
        BackupDestination::File(r.location.clone().into())
    } else {
        BackupDestination::Table(r.location.clone())
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The statement that copies the values back by key: an `INSERT` into a re-created table, or
/// an `UPDATE` with correlated subqueries (portable across the three engines).
fn fill_sql(db: &Db, target: &str, from: &str, shape: &Shape, created: bool) -> String {
    let d = db.dialect();
    let (t, b) = (d.quote_path(target), d.quote_path(from));
    let cols: Vec<String> = shape.names().iter().map(|c| d.quote_ident(c)).collect();
    if created {
        return format!("INSERT INTO {t} ({0}) SELECT {0} FROM {b}", cols.join(", "));
    }
    let by_key = key_match(db, target, from, shape);
    let sets: Vec<String> = shape
        .columns
        .iter()
        .map(|c| {
            let q = d.quote_ident(&c.name);
            format!("{q} = (SELECT {b}.{q} FROM {b} WHERE {by_key})")
        })
        .collect();
    format!(
        "UPDATE {t} SET {} WHERE EXISTS (SELECT 1 FROM {b} WHERE {by_key})",
        sets.join(", ")
    )
}

/// `b.k1 = t.k1 AND …` between the backup (or staging) table and the restored table.
fn key_match(db: &Db, target: &str, from: &str, shape: &Shape) -> String {
    let d = db.dialect();
    let (t, b) = (d.quote_path(target), d.quote_path(from));
    shape
        .key
        .iter()
        .map(|k| {
            let q = d.quote_ident(&k.name);
            format!("{b}.{q} = {t}.{q}")
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

async fn apply(
    ctx: &BackupCtx<'_>,
    rec: &BackupRecord,
    shape: &Shape,
    statements: &[String],
    staging: &(String, bool),
) -> Result<Checksum, BackupError> {
    let db = ctx.db;
    let (from, is_staging) = (staging.0.as_str(), staging.1);
    if is_staging {
        load_staging(ctx, rec, shape, from).await?;
    }
    let result = async {
        for sql in statements {
            db.execute_script(sql).await?;
        }
        // Verify: the restored rows whose key is in the copy, hashed like the backup.
        let filter = format!(
            "EXISTS (SELECT 1 FROM {} WHERE {})",
            db.dialect().quote_path(from),
            key_match(db, &rec.source_table, from, shape)
        );
        let classes = shape.classes();
        let mut reader = ChunkReader::new(db, &rec.source_table, shape, 10_000).filtered(filter);
        let mut sum = Checksum::default();
        while let Some(rows) = reader.next().await? {
            checksum_rows(&rows, &classes, &mut sum);
        }
        Ok::<_, BackupError>(sum)
    }
    .await;
    if is_staging {
        let drop = format!("DROP TABLE {}", db.dialect().quote_path(from));
        let _ = db.execute(&drop, &Params::new()).await;
    }
    result
}

/// Load a backup file into a staging table shaped like the backup.
async fn load_staging(
    ctx: &BackupCtx<'_>,
    rec: &BackupRecord,
    shape: &Shape,
    staging: &str,
) -> Result<(), BackupError> {
    let file_err = |message: String| BackupError::File {
        name: rec.name.clone(),
        path: rec.location.clone().into(),
        message,
    };
    let db = ctx.db;
    if db.table_info(staging).await?.is_some() {
        let drop = format!("DROP TABLE {}", db.dialect().quote_path(staging));
        db.execute(&drop, &Params::new()).await?;
    }
    db.execute_script(&table::create_sql(db, staging, shape))
        .await?;
    let path = std::path::PathBuf::from(&rec.location);
    let mut reader = FileReader::open(&path, &shape.names(), &shape.classes())
        .map_err(|e| file_err(e.to_string()))?;
    loop {
        let rows = reader
            .next_rows(5_000)
            .map_err(|e| file_err(e.to_string()))?;
        if rows.is_empty() {
            return Ok(());
        }
        table::insert(db, staging, shape, &rows).await?;
    }
}
