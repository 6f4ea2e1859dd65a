//! The latency gates: a `shadow` gate per read path (its budget met over the last
//! `shadow_min_minutes`), and in `read_new` the flag fully on new and each budget met since the
//! flip for `read_new_stable_minutes`. Measured from `migtui_metrics`, so they hold across
//! restarts and for `migtui status`, which runs no probes itself.

use std::collections::BTreeMap;

use super::budget::{self, Verdict};
use super::hist::Tally;
use super::metrics;
use crate::config::{ReadPath, Side};
use crate::engine::flag::{Flag, FlagValue};
use crate::engine::gates::GateContext;
use crate::engine::phase::Gate;
use crate::store::MetricRow;

const MINUTE_US: i64 = 60_000_000;

/// The `shadow` latency gates, one per read path.
pub async fn shadow(ctx: &GateContext<'_>) -> Vec<Gate> {
    let minutes = ctx.config.phases.shadow_min_minutes.max(1) as i64;
    let what = format!("over the last {minutes} min");
    match window(ctx, None, minutes).await {
        Err(e) => vec![store_failed("latency budgets", &e)],
        Ok((since, now, rows)) => judge_paths(ctx, &rows, since, now, minutes, "", &what),
    }
}

/// The `read_new` gates: every read on new, and each budget met since the flip.
pub async fn read_new(ctx: &GateContext<'_>) -> Vec<Gate> {
    let mut gates = vec![flag_on_new(ctx).await];
    let minutes = ctx.config.phases.read_new_stable_minutes.max(1) as i64;
    let state = match ctx.store.state().await {
        Ok(s) => s,
        Err(e) => return vec![store_failed("latency on new reads", &e.to_string())],
    };
    let what = format!("for {minutes} min since reads moved to new");
    match window(ctx, Some(state.since_us), minutes).await {
        Err(e) => gates.push(store_failed("latency on new reads", &e)),
        Ok((since, now, rows)) => gates.extend(judge_paths(
            ctx,
            &rows,
            since,
            now,
            minutes,
            " on new reads",
            &what,
        )),
    }
    gates
}

/// The metric rows to judge: the last `minutes`, or everything since `from_us` (which must
/// then be at least `minutes` ago). Returns the start of the span, now, and the rows.
async fn window(
    ctx: &GateContext<'_>,
    from_us: Option<i64>,
    minutes: i64,
) -> Result<(i64, i64, Vec<MetricRow>), String> {
    let now = ctx.store.now_us().await.map_err(|e| e.to_string())?;
    let since = from_us.unwrap_or(now - minutes * MINUTE_US);
    let rows = ctx
        .store
        .metrics_since(since)
        .await
        .map_err(|e| e.to_string())?;
    Ok((since, now, rows))
}

fn judge_paths(
    ctx: &GateContext<'_>,
    rows: &[MetricRow],
    since: i64,
    now: i64,
    minutes: i64,
    suffix: &str,
    what: &str,
) -> Vec<Gate> {
    let merged = metrics::merge(rows);
    let mut first: BTreeMap<&str, i64> = BTreeMap::new();
    for r in rows {
        let start = r.at_us - r.secs * 1_000_000;
        first
            .entry(r.path.as_str())
            .and_modify(|t| *t = (*t).min(start))
            .or_insert(start);
    }
    ctx.config
        .paths
        .iter()
        .map(|path| {
            let name = format!("latency `{}`{suffix}", path.name);
            let threshold = format!("{} {what}", budget::threshold(&path.budget));
            let covered_us = first
                .get(path.name.as_str())
                .map_or(0, |t| now - (*t).max(since));
            // One snapshot interval of slack: the first one starts when probing starts.
            let needed_us = minutes * MINUTE_US - metrics::EVERY.as_micros() as i64;
            let stats = |side| {
                merged
                    .get(&(path.name.clone(), side))
                    .map_or_else(|| Tally::default().stats(), Tally::stats)
            };
            judge_one(
                path,
                &name,
                threshold,
                stats(Side::Old),
                stats(Side::New),
                covered_us,
                needed_us,
            )
        })
        .collect()
}

fn judge_one(
    path: &ReadPath,
    name: &str,
    threshold: String,
    old: super::hist::SideStats,
    new: super::hist::SideStats,
    covered_us: i64,
    needed_us: i64,
) -> Gate {
    match budget::judge(path, &old, &new) {
        Verdict::Breached(b) => Gate::fail(
            name,
            Some(b.join("; ")),
            threshold,
            "the budget is breached; look at the latency panel before advancing",
        ),
        Verdict::TooFew(m) => Gate::fail(
            name,
            Some(m),
            threshold,
            "not enough probes yet: the probes run while a session drives in backfill, shadow and read_new",
        ),
        Verdict::Met(m) if covered_us < needed_us => Gate::fail(
            name,
            Some(m),
            threshold,
            format!(
                "measured for {:.1} min only; wait until the whole span is covered",
                covered_us.max(0) as f64 / MINUTE_US as f64
            ),
        ),
        Verdict::Met(m) => Gate::pass(name, m, threshold, "the budget held over the whole span"),
    }
}

/// Before old writes stop (a one-way door), every read must be on the new model.
async fn flag_on_new(ctx: &GateContext<'_>) -> Gate {
    let name = "reads on new";
    let threshold = "the read flag sends every read to new";
    let flag = match Flag::new(ctx.config.flag.as_ref(), ctx.dbs, &ctx.config.secrets) {
        Ok(f) => f,
        Err(e) => {
            return Gate::fail(
                name,
                None,
                threshold,
                ctx.config.secrets.mask(&e.to_string()),
            );
        }
    };
    match flag.get().await {
        Ok(Some(v @ (FlagValue::Bool(true) | FlagValue::Percent(100)))) => {
            Gate::pass(name, v.to_string(), threshold, flag.describe())
        }
        Ok(v) => Gate::fail(
            name,
            Some(v.map_or("absent".into(), |v| v.to_string())),
            threshold,
            "flip the flag to new (all the way, on a ramp) and let it settle: `migtui flag set true --reason …`",
        ),
        Err(e) => Gate::fail(
            name,
            None,
            threshold,
            ctx.config.secrets.mask(&e.to_string()),
        ),
    }
}

fn store_failed(name: &str, e: &str) -> Gate {
    Gate::fail(
        name,
        None,
        "measured from migtui_metrics",
        format!("the latency history could not be read: {e}"),
    )
}
