//! What the gate of each phase measures. A gate guards leaving a phase: `plan` is left when the
//! connections and schema checks pass, `expand` when the new model exists, and so on.
//!
//! Phases whose measurement belongs to a task that is not running (no backfill progress yet, no
//! comparison yet) report a failing gate that says so: never a false "all clear". The operator
//! may still advance by typing a reason, which the audit log keeps.

use std::collections::BTreeMap;

use super::phase::{Gate, PhaseId};
use super::preflight::{self, Status};
use super::schema::Schemas;
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
        PhaseId::DualWrite => vec![not_measured(
            "recent-row agreement",
            format!(
                "≥ {:.2}%",
                ctx.config.phases.dual_write_min_agreement * 100.0
            ),
            "no comparison of recently changed rows has run yet",
        )],
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
        PhaseId::Shadow => vec![not_measured(
            "divergence bound",
            format!(
                "95% bound ≤ {:.3}% over ≥ {} rows and ≥ {} min",
                ctx.config.phases.shadow_max_divergence_bound * 100.0,
                ctx.config.phases.shadow_min_samples,
                ctx.config.phases.shadow_min_minutes
            ),
            "no sampled comparison has run yet",
        )],
        PhaseId::ReadNew => vec![not_measured(
            "stable on new reads",
            format!(
                "{} min without new divergence",
                ctx.config.phases.read_new_stable_minutes
            ),
            "no comparison has run since reads moved to the new model",
        )],
        PhaseId::Backup => {
            if ctx.config.backups.is_empty() {
                vec![Gate::fail(
                    "verified backup",
                    Some("no [[backup]] configured".into()),
                    "every dropped column backed up",
                    "a drop never runs without a verified backup: declare [[backup]] sections for what [contract] drops",
                )]
            } else {
                vec![not_measured(
                    "verified backup",
                    format!(
                        "{} of {} backups verified",
                        ctx.config.backups.len(),
                        ctx.config.backups.len()
                    ),
                    "no backup has been verified yet",
                )]
            }
        }
        PhaseId::StopOldWrites | PhaseId::Drop | PhaseId::Done => Vec::new(),
    }
}

fn not_measured(name: &str, threshold: String, why: &str) -> Gate {
    Gate::fail(
        name,
        None,
        threshold,
        format!("not measured: {why}; advancing needs an override with a reason"),
    )
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
