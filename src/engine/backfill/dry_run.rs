//! `--dry-run`: the statements and the chunk plan of each step, from the live schemas and the
//! source's high-water mark, with nothing written anywhere.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::config::Config;
use crate::db::{Db, Params, Value};

use super::plan::plan_step;
use super::{BackfillError, checkpoint};

/// The plan of every step (or only `only`), as text for a person.
pub async fn describe(
    config: &Config,
    dbs: &BTreeMap<String, Db>,
    only: Option<&str>,
) -> Result<String, BackfillError> {
    let mut out = String::new();
    let state = dbs.get(&config.state.database);
    for step in config
        .backfill
        .iter()
        .filter(|s| only.is_none_or(|o| o == s.name))
    {
        let urls = super::plan::database_urls(config);
        let plan = plan_step(step, dbs, &config.state.database, &urls).await?;
        let source = &dbs[&plan.source_db];
        let hw = source
            .query(&plan.high_water_sql(), &Params::new())
            .await
            .map_err(|e| BackfillError::Plan {
                step: plan.name.clone(),
                message: e.to_string(),
            })?
            .rows
            .into_iter()
            .next();
        let show = |k: &Option<Vec<Value>>| {
            k.as_ref()
                .map_or("none (the source is empty)".to_string(), |k| {
                    k.iter().map(Value::display).collect::<Vec<_>>().join(", ")
                })
        };
        let _ = writeln!(
            out,
            "step {} ({} → {})",
            plan.name, plan.source_db, plan.target_db
        );
        let _ = writeln!(
            out,
            "  key: ({}); high-water mark now: {}",
            plan.key.join(", "),
            show(&hw)
        );
        if let Some(table) = &plan.source_table
            && let Ok(c) = source.row_count(table, false).await
        {
            let _ = writeln!(
                out,
                "  source rows: {}{}",
                c.rows,
                if c.exact { "" } else { " (estimate)" }
            );
        }
        let chunks = match step.chunk_rows {
            Some(n) => format!("{n} rows per chunk (fixed)"),
            None => format!(
                "sized to about {} ms per chunk, starting at 1000 rows",
                step.target_chunk_ms
            ),
        };
        let rate = step
            .max_rows_per_second
            .map_or("no rate ceiling".to_string(), |r| {
                format!("at most {r} rows/s")
            });
        let _ = writeln!(out, "  chunks: {chunks}; {rate}");
        let _ = writeln!(
            out,
            "  checkpoint: {}; lost-update guard: {:?}",
            if plan.checkpoint_in_tx {
                "in the chunk's transaction (the state store is the target)"
            } else {
                "after each chunk (writes are idempotent upserts)"
            },
            plan.guard
        );
        if let Some(db) = state
            && let Ok(Some(cp)) = checkpoint::load(db, &config.migration.name, &plan.name).await
        {
            let _ = writeln!(
                out,
                "  recorded: {} after {} rows, last key {}",
                cp.status,
                cp.rows_done,
                show(&cp.last_key)
            );
        }
        if plan.pushdown {
            let _ = writeln!(
                out,
                "  chunk bound ({}):\n    {}",
                plan.source_db,
                plan.bound_sql(true)
            );
            let _ = writeln!(
                out,
                "  write ({}), one statement per chunk:\n    {}",
                plan.target_db,
                plan.pushdown_sql(true, false)
            );
        } else {
            let _ = writeln!(
                out,
                "  read ({}):\n    {}",
                plan.source_db,
                plan.read_sql(true)
            );
            let _ = writeln!(
                out,
                "  write ({}), one statement per chunk:\n    {}",
                plan.target_db,
                plan.write.render("<the chunk's rows>")
            );
        }
        if plan.plain_write.is_some() && (plan.pushdown || plan.copy.is_none()) {
            let _ = writeln!(
                out,
                "  each chunk first runs without the ON CONFLICT clause (a plain insert is \
                 cheaper); from the first chunk that meets an existing row, as written"
            );
        }
    }
    Ok(config.secrets.mask(&out))
}
