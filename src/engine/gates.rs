//! What the gate of each phase measures. A gate guards leaving a phase: `plan` is left when the
//! connections and schema checks pass, `expand` when the new model exists, and so on.
//!
//! A gate with nothing measured yet (no backfill progress, no comparison, no verified backup)
//! fails and says so: never a false "all clear". The operator may still advance by typing a
//! reason, which the audit log keeps.

use std::collections::BTreeMap;

use super::phase::{Gate, PhaseId};
use super::preflight::{self, Status};
use super::schema::Schemas;
use super::verify;
use crate::config::Config;
use crate::db::Db;
use crate::store::Store;

/// What the gates may look at.
pub struct GateContext<'a> {
    pub config: &'a Config,
    /// The databases that are connected, by name.
    pub dbs: &'a BTreeMap<String, Db>,
    pub store: &'a Store,
}

/// Measure the gates that guard leaving `phase`.
pub async fn measure(phase: PhaseId, ctx: &GateContext<'_>) -> Vec<Gate> {
    match phase {
        PhaseId::Plan => plan(ctx).await,
        PhaseId::Expand => expand(ctx).await,
        PhaseId::DualWrite => verify::gates::dual_write(ctx).await,
        PhaseId::Backfill => {
            if ctx.config.backfill.is_empty() {
                vec![Gate::pass(
                    "backfill steps",
                    "none configured",
                    "every step complete",
                    "the file declares no [[backfill]] step",
                )]
            } else {
                vec![crate::engine::backfill::gate::measure(ctx.config, ctx.store).await]
            }
        }
        PhaseId::Shadow => {
            let mut gates = verify::gates::shadow(ctx).await;
            gates.extend(crate::engine::probe::gates::shadow(ctx).await);
            gates
        }
        PhaseId::ReadNew => {
            let mut gates = verify::gates::read_new(ctx).await;
            gates.extend(crate::engine::probe::gates::read_new(ctx).await);
            gates
        }
        PhaseId::Backup => vec![backup_gate(ctx).await],
        PhaseId::StopOldWrites | PhaseId::Drop | PhaseId::Done => Vec::new(),
    }
}

async fn plan(ctx: &GateContext<'_>) -> Vec<Gate> {
    let total = ctx.config.databases.len();
    let connected = ctx
        .config
        .databases
        .keys()
        .filter(|n| ctx.dbs.contains_key(*n))
        .count();
    let missing: Vec<&str> = ctx
        .config
        .databases
        .keys()
        .filter(|n| !ctx.dbs.contains_key(*n))
        .map(String::as_str)
        .collect();
    let connections = if missing.is_empty() {
        Gate::pass(
            "connections",
            format!("{connected} of {total}"),
            format!("{total} of {total}"),
            "every database answers",
        )
    } else {
        Gate::fail(
            "connections",
            Some(format!("{connected} of {total}")),
            format!("{total} of {total}"),
            format!(
                "not connected: {}; run `migtui check` for the error and the fix",
                missing.join(", ")
            ),
        )
    };
    let checks = preflight::schema_checks(ctx.config, ctx.dbs).await;
    let failed: Vec<_> = checks.iter().filter(|c| c.status == Status::Fail).collect();
    let passed = checks.len() - failed.len();
    let schema = match failed.first() {
        None => Gate::pass(
            "schema checks",
            format!("{passed} of {}", checks.len()),
            "all pass",
            "tables, columns, keys, queries and the state store check out",
        ),
        Some(first) => Gate::fail(
            "schema checks",
            Some(format!("{passed} of {}", checks.len())),
            "all pass",
            format!(
                "{} failing, first: {}: {}; run `migtui check`",
                failed.len(),
                first.subject,
                first.detail
            ),
        ),
    };
    vec![connections, schema]
}

/// The new model must exist: the `[expand]` expectations, or else every backfill target table.
async fn expand(ctx: &GateContext<'_>) -> Vec<Gate> {
    let mut schemas = Schemas::new(ctx.dbs);
    let (database, expect, at) = match &ctx.config.expand {
        Some(e) => (e.database.clone(), e.expect.clone(), e.at.clone()),
        None => {
            let tables = ctx
                .config
                .backfill
                .iter()
                .filter_map(|s| match &s.to.write {
                    crate::config::TargetWrite::Copy { table, .. } => Some(table.clone()),
                    crate::config::TargetWrite::Statement { .. } => None,
                });
            ("new".to_string(), tables.collect(), Default::default())
        }
    };
    if expect.is_empty() {
        return vec![Gate::pass(
            "new model present",
            "nothing to check",
            "all present",
            "no [expand] expect list and no copy targets",
        )];
    }
    let checks = preflight::expected_objects(&database, &expect, false, &at, &mut schemas).await;
    let missing: Vec<&str> = checks
        .iter()
        .filter(|c| c.status != Status::Ok)
        .map(|c| c.subject.trim_start_matches("[expand] "))
        .collect();
    let found = checks.len() - missing.len();
    if missing.is_empty() {
        vec![Gate::pass(
            "new model present",
            format!("{found} of {}", checks.len()),
            "all present",
            "every expected table and column exists",
        )]
    } else {
        vec![Gate::fail(
            "new model present",
            Some(format!("{found} of {}", checks.len())),
            "all present",
            format!(
                "missing in database `{database}`: {}; run the expand DDL",
                missing.join(", ")
            ),
        )]
    }
}

/// Every `[[backup]]` needs at least one copy whose last verification passed.
async fn backup_gate(ctx: &GateContext<'_>) -> Gate {
    let total = ctx.config.backups.len();
    if total == 0 {
        return Gate::fail(
            "verified backup",
            Some("no [[backup]] configured".into()),
            "every dropped column backed up",
            "a drop never runs without a verified backup: declare [[backup]] sections for what [contract] drops",
        );
    }
    let records = match ctx.store.backups().await {
        Ok(r) => r,
        Err(e) => {
            return Gate::fail(
                "verified backup",
                None,
                format!("{total} of {total} backups verified"),
                format!("the backup records cannot be read: {e}"),
            );
        }
    };
    let pending: Vec<&str> = ctx
        .config
        .backups
        .iter()
        .filter(|b| {
            !records
                .iter()
                .any(|r| r.name == b.name && r.status == crate::store::BackupStatus::Verified)
        })
        .map(|b| b.name.as_str())
        .collect();
    let verified = total - pending.len();
    let measured = format!("{verified} of {total}");
    let threshold = format!("{total} of {total} backups verified");
    if pending.is_empty() {
        Gate::pass(
            "verified backup",
            measured,
            threshold,
            "every backup has a copy whose count and checksum matched the live source",
        )
    } else {
        Gate::fail(
            "verified backup",
            Some(measured),
            threshold,
            format!(
                "not verified: {}; run `migtui backup` (or `--verify-only` to check again)",
                pending.join(", ")
            ),
        )
    }
}
