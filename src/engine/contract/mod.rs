//! The contract step: the last one-way door. Its statements are shown in full, parsed enough to
//! name what they drop, and refused while a dropped column or table has no verified backup or
//! something still depends on it — unless the operator overrides with a reason. The operator
//! types the table's name to confirm. Every statement and outcome is audited.

mod parse;
mod run;

use serde::{Deserialize, Serialize};

pub use parse::{Dropped, Statement, parse, same_table};
pub use run::{Attempt, ContractReport, execute};

use crate::config::{BackupSpec, Config};
use crate::db::{Db, Dependent};
use crate::engine::backup::{self, BackupCtx};
use crate::store::{BackupStatus, Operator, Store};

/// Whether one dropped object is backed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    pub dropped: Dropped,
    /// The `[[backup]]` that covers it, if any.
    pub backup: Option<String>,
    pub verified: bool,
    pub detail: String,
}

/// Everything the operator sees before the drop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preview {
    pub database: String,
    pub engine: String,
    pub statements: Vec<Statement>,
    pub coverage: Vec<Coverage>,
    /// What still depends on the dropped objects (views, foreign keys, …).
    pub dependents: Vec<Dependent>,
    /// How the statements will run (one transaction with a lock timeout, or one by one).
    pub how: String,
    /// What the operator must type to confirm: the table names, comma-separated.
    pub confirm: String,
    /// Why the drop is refused without an override; empty when it may run.
    pub blockers: Vec<String>,
}

/// What the contract step needs around it.
pub struct ContractCtx<'a> {
    pub config: &'a Config,
    /// The database the statements run in.
    pub db: &'a Db,
    pub store: &'a Store,
    pub operator: &'a Operator,
}

#[derive(Debug, thiserror::Error)]
pub enum ContractError {
    #[error("the migration file has no [contract] section: nothing to run")]
    NotConfigured,
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Db(#[from] crate::db::DbError),
}

/// The tables a confirmation must name, from what the statements drop.
fn confirm_text(config: &Config, statements: &[Statement]) -> String {
    let mut tables: Vec<String> = Vec::new();
    for d in statements.iter().flat_map(|s| &s.drops) {
        if !tables.iter().any(|t| t.eq_ignore_ascii_case(d.table())) {
            tables.push(d.table().to_string());
        }
    }
    if tables.is_empty() {
        config.migration.name.clone()
    } else {
        tables.join(", ")
    }
}

/// True when `typed` confirms `expected` (names in any order, case-insensitive).
pub fn confirms(expected: &str, typed: &str) -> bool {
    let norm = |s: &str| {
        let mut v: Vec<String> = s
            .split(',')
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect();
        v.sort();
        v
    };
    !typed.trim().is_empty() && norm(expected) == norm(typed)
}

/// The backups that cover a dropped object: same database and table, and (for a column) the
/// column among theirs; a dropped table needs every one of its columns backed up.
fn covering<'c>(config: &'c Config, database: &str, d: &Dropped) -> Vec<&'c BackupSpec> {
    config
        .backups
        .iter()
        .filter(|b| b.database == database && same_table(&b.table, d.table()))
        .filter(|b| match d {
            Dropped::Column { column, .. } => {
                b.columns.iter().any(|c| c.eq_ignore_ascii_case(column))
            }
            Dropped::Table { .. } => true,
        })
        .collect()
}

/// Build the preview: parse, re-verify the covering backups against the live source now,
/// list the dependents, and say what blocks the drop.
pub async fn preview(ctx: &ContractCtx<'_>) -> Result<Preview, ContractError> {
    let contract = ctx
        .config
        .contract
        .as_ref()
        .ok_or(ContractError::NotConfigured)?;
    let statements: Vec<Statement> = contract.sql.iter().map(|s| parse(s)).collect();
    let mut blockers = Vec::new();
    for s in &statements {
        if let Some(why) = &s.not_understood {
            blockers.push(format!(
                "cannot tell everything `{}` drops ({why}); check it yourself and override with a \
                 reason",
                s.sql
            ));
        }
    }
    let dropped: Vec<Dropped> = statements.iter().flat_map(|s| s.drops.clone()).collect();
    let mut coverage = Vec::new();
    let mut verified_specs: Vec<(String, bool, String)> = Vec::new();
    for d in &dropped {
        let specs = covering(ctx.config, &contract.database, d);
        let mut cov = Coverage {
            dropped: d.clone(),
            backup: specs.first().map(|s| s.name.clone()),
            verified: false,
            detail: String::new(),
        };
        if let Dropped::Table { table } = d
            && let Some(info) = ctx.db.table_info(table).await?
        {
            let backed: Vec<&String> = specs.iter().flat_map(|s| &s.columns).collect();
            let missing: Vec<String> = info
                .columns
                .iter()
                .filter(|c| {
                    !info
                        .primary_key
                        .iter()
                        .any(|k| k.eq_ignore_ascii_case(&c.name))
                })
                .filter(|c| !backed.iter().any(|b| b.eq_ignore_ascii_case(&c.name)))
                .map(|c| c.name.clone())
                .collect();
            if !missing.is_empty() {
                cov.detail = format!("no [[backup]] covers its columns {}", missing.join(", "));
                blockers.push(format!("{d}: {}", cov.detail));
                coverage.push(cov);
                continue;
            }
        }
        if specs.is_empty() {
            cov.detail = "no [[backup]] covers it".into();
            blockers.push(format!(
                "{d} has no backup: add a [[backup]] for it and run `migtui backup`"
            ));
            coverage.push(cov);
            continue;
        }
        let mut details = Vec::new();
        let mut all = true;
        for spec in specs {
            let known = verified_specs
                .iter()
                .find(|(n, _, _)| *n == spec.name)
                .cloned();
            let (ok, detail) = match known {
                Some((_, ok, detail)) => (ok, detail),
                None => {
                    let (ok, detail) = reverify(ctx, spec).await?;
                    verified_specs.push((spec.name.clone(), ok, detail.clone()));
                    (ok, detail)
                }
            };
            all &= ok;
            details.push(format!("`{}`: {detail}", spec.name));
        }
        cov.verified = all;
        cov.detail = details.join("; ");
        if !all {
            blockers.push(format!("{d} has no verified backup: {}", cov.detail));
        }
        coverage.push(cov);
    }
    let dependents = impact(ctx.db, &dropped).await?;
    for dep in dependents.iter().filter(|d| d.blocking) {
        blockers.push(format!(
            "{} `{}` depends on {}: {}",
            dep.kind, dep.name, dep.on, dep.detail
        ));
    }
    let d = ctx.db.dialect();
    let how = if d.transactional_ddl() {
        match d.lock_timeout_sql(contract.lock_timeout_ms) {
            Some(_) => format!(
                "in one transaction, waiting at most {} ms for each lock, retried up to {} times \
                 when a lock is not granted",
                contract.lock_timeout_ms, contract.retries
            ),
            None => "in one transaction (DDL is transactional here)".to_string(),
        }
    } else {
        format!(
            "one by one: DDL is NOT transactional on {}, each statement commits by itself, and the \
             run stops at the first failure (what ran before it stays done); each waits at most \
             {} s for its lock, retried up to {} times",
            ctx.db.engine(),
            contract.lock_timeout_ms.div_ceil(1000).max(1),
            contract.retries
        )
    };
    Ok(Preview {
        database: contract.database.clone(),
        engine: ctx.db.engine().to_string(),
        confirm: confirm_text(ctx.config, &statements),
        statements,
        coverage,
        dependents,
        how,
        blockers,
    })
}

/// Verify a covering backup again, now: one verified copy is enough.
async fn reverify(
    ctx: &ContractCtx<'_>,
    spec: &BackupSpec,
) -> Result<(bool, String), ContractError> {
    let bctx = BackupCtx {
        db: ctx.db,
        store: ctx.store,
        config_path: &ctx.config.path,
        progress: &|_| {},
        cancelled: &|| false,
    };
    let results = match backup::verify(spec, &bctx).await {
        Ok(r) => r,
        Err(backup::BackupError::Invalid { message, .. }) => return Ok((false, message)),
        Err(backup::BackupError::Db(e)) => return Err(e.into()),
        Err(backup::BackupError::Store(e)) => return Err(e.into()),
        Err(e) => return Ok((false, e.to_string())),
    };
    let records = ctx.store.backups().await?;
    let ok: Vec<&backup::VerifyResult> = results.iter().filter(|r| r.verified).collect();
    let verified = !ok.is_empty()
        && records
            .iter()
            .any(|r| r.name == spec.name && r.status == BackupStatus::Verified);
    let detail = match ok.first() {
        Some(r) => format!("verified now in {} ({})", r.location, r.detail),
        None => results
            .iter()
            .map(|r| format!("{}: {}", r.location, r.detail))
            .collect::<Vec<_>>()
            .join("; "),
    };
    Ok((verified, detail))
}

/// Everything that depends on the dropped objects, per table.
pub async fn impact(db: &Db, dropped: &[Dropped]) -> Result<Vec<Dependent>, ContractError> {
    let mut tables: Vec<(String, Vec<String>)> = Vec::new();
    for d in dropped {
        let (table, col) = match d {
            Dropped::Column { table, column } => (table, Some(column.clone())),
            Dropped::Table { table } => (table, None),
        };
        match tables
            .iter_mut()
            .find(|(t, _)| t.eq_ignore_ascii_case(table))
        {
            Some((_, cols)) => cols.extend(col),
            None => tables.push((table.clone(), col.into_iter().collect())),
        }
    }
    let mut out = Vec::new();
    for (table, columns) in tables {
        let whole = dropped
            .iter()
            .any(|d| matches!(d, Dropped::Table { table: t } if t.eq_ignore_ascii_case(&table)));
        let cols = if whole { Vec::new() } else { columns };
        out.extend(db.dependents(&table, &cols).await?);
    }
    Ok(out)
}
