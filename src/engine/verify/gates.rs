//! The verification halves of the phase gates, one `Gate` per `[[verify]]` check, from the
//! counts recorded since the current phase began:
//! - `dual_write`: recent-row agreement at least `dual_write_min_agreement`;
//! - `shadow`: the 95% upper bound on the divergence rate at most
//!   `shadow_max_divergence_bound`, over at least `shadow_min_samples` rows and
//!   `shadow_min_minutes` minutes (the latency half belongs to the probes); a check with
//!   `sample.unit = "pages"` is held to its bound over pages;
//! - `read_new`: no new divergence for `read_new_stable_minutes`.

use super::stats::{PageBound, RateBound};
use crate::config::SampleUnit;
use crate::engine::gates::GateContext;
use crate::engine::phase::Gate;
use crate::store::{StoreError, WindowCounts};

const MINUTE_US: i64 = 60_000_000;

fn pct(x: f64) -> String {
    format!("{:.3}%", x * 100.0)
}

/// Counts of each check since the phase began, the phase's age in minutes, or the error.
async fn counts(ctx: &GateContext<'_>) -> Result<(Vec<(String, WindowCounts)>, f64), StoreError> {
    counts_of(ctx, |name| name.to_string()).await
}

/// The same, from the counter `counter` names for each check.
async fn counts_of(
    ctx: &GateContext<'_>,
    counter: impl Fn(&str) -> String,
) -> Result<(Vec<(String, WindowCounts)>, f64), StoreError> {
    let state = ctx.store.state().await?;
    let now = ctx.store.now_us().await?;
    let from = state.since_us - state.since_us.rem_euclid(MINUTE_US);
    let mut out = Vec::new();
    for c in &ctx.config.verify {
        out.push((
            c.name.clone(),
            ctx.store
                .verify_counts(&counter(&c.name), Some(from))
                .await?,
        ));
    }
    Ok((out, (now - state.since_us) as f64 / MINUTE_US as f64))
}

fn unavailable(name: &str, threshold: String, e: StoreError) -> Vec<Gate> {
    vec![Gate::fail(
        name,
        None,
        threshold,
        format!("cannot read the verification counts: {e}"),
    )]
}

fn no_checks(name: &str, threshold: String) -> Vec<Gate> {
    vec![Gate::fail(
        name,
        None,
        threshold,
        "not measured: the file declares no [[verify]] check; add one, or override with a reason",
    )]
}

/// `dual_write`: the share of recently changed rows that agree.
pub async fn dual_write(ctx: &GateContext<'_>) -> Vec<Gate> {
    let min = ctx.config.phases.dual_write_min_agreement;
    let threshold = format!("≥ {:.2}%", min * 100.0);
    if ctx.config.verify.is_empty() {
        return no_checks("recent-row agreement", threshold);
    }
    let (checks, _) = match counts(ctx).await {
        Ok(c) => c,
        Err(e) => return unavailable("recent-row agreement", threshold, e),
    };
    checks
        .into_iter()
        .map(|(name, c)| {
            let gate = format!("recent-row agreement: {name}");
            if c.compared == 0 {
                return Gate::fail(
                    &gate,
                    None,
                    threshold.clone(),
                    "not measured: no row compared in this phase yet; the verifier samples \
                     while this session drives",
                );
            }
            let agree = 1.0 - c.divergent as f64 / c.compared as f64;
            let measured = format!("{:.2}% of {} rows", agree * 100.0, c.compared);
            if agree >= min {
                Gate::pass(&gate, measured, threshold.clone(), "the new model agrees")
            } else {
                Gate::fail(
                    &gate,
                    Some(measured),
                    threshold.clone(),
                    format!(
                        "{} divergent rows: look at them in the divergence list, fix the \
                         dual write, and let the verifier sample again",
                        c.divergent
                    ),
                )
            }
        })
        .collect()
}

/// `shadow`: the divergence bound over enough rows and time.
pub async fn shadow(ctx: &GateContext<'_>) -> Vec<Gate> {
    let p = &ctx.config.phases;
    let threshold = format!(
        "95% bound ≤ {} over ≥ {} rows and ≥ {} min",
        pct(p.shadow_max_divergence_bound),
        p.shadow_min_samples,
        p.shadow_min_minutes
    );
    if ctx.config.verify.is_empty() {
        return no_checks("divergence bound", threshold);
    }
    let (checks, minutes) = match counts(ctx).await {
        Ok(c) => c,
        Err(e) => return unavailable("divergence bound", threshold, e),
    };
    let pages = match counts_of(ctx, super::pages_counter).await {
        Ok((p, _)) => p,
        Err(e) => return unavailable("divergence bound", threshold, e),
    };
    checks
        .into_iter()
        .zip(pages)
        .zip(&ctx.config.verify)
        .map(|(((name, c), (_, pc)), check)| {
            let gate = format!("divergence bound: {name}");
            let rows = RateBound::new(c.compared, c.divergent, None);
            // A check counting pages gates on the bound over pages: clustered errors make
            // the row bound too low.
            let b = if check.sample.unit == SampleUnit::Pages {
                rows.with_pages(PageBound::new(pc.compared, pc.divergent, None))
            } else {
                rows
            };
            let over_pages = b.pages.map_or(String::new(), |p| {
                format!(", {} of {} pages", p.divergent, p.compared)
            });
            let measured = format!(
                "{} ({} of {} rows{over_pages}) over {:.0} min",
                pct(b.gating_upper()),
                c.divergent,
                c.compared,
                minutes.floor()
            );
            let mut short = Vec::new();
            if c.compared < p.shadow_min_samples {
                short.push(format!(
                    "{} more rows to compare",
                    p.shadow_min_samples - c.compared
                ));
            }
            if minutes < p.shadow_min_minutes as f64 {
                short.push(format!(
                    "{:.0} more minutes to run",
                    (p.shadow_min_minutes as f64 - minutes).ceil()
                ));
            }
            if b.gating_upper() > p.shadow_max_divergence_bound {
                short.push(format!(
                    "the bound {} is above {}",
                    pct(b.gating_upper()),
                    pct(p.shadow_max_divergence_bound)
                ));
            }
            if short.is_empty() {
                Gate::pass(
                    &gate,
                    measured,
                    threshold.clone(),
                    "enough rows, time and agreement",
                )
            } else {
                Gate::fail(&gate, Some(measured), threshold.clone(), short.join("; "))
            }
        })
        .collect()
}

/// `read_new`: no new divergence for the configured time.
pub async fn read_new(ctx: &GateContext<'_>) -> Vec<Gate> {
    let want = ctx.config.phases.read_new_stable_minutes;
    let threshold = format!("{want} min without new divergence");
    if ctx.config.verify.is_empty() {
        return no_checks("stable on new reads", threshold);
    }
    let (checks, minutes) = match counts(ctx).await {
        Ok(c) => c,
        Err(e) => return unavailable("stable on new reads", threshold, e),
    };
    checks
        .into_iter()
        .map(|(name, c)| {
            let gate = format!("stable on new reads: {name}");
            let measured = format!(
                "{} divergent of {} rows over {:.0} min",
                c.divergent,
                c.compared,
                minutes.floor()
            );
            if c.divergent > 0 {
                Gate::fail(
                    &gate,
                    Some(measured),
                    threshold.clone(),
                    "new divergences since reads moved: consider flipping reads back",
                )
            } else if c.compared == 0 || minutes < want as f64 {
                Gate::fail(
                    &gate,
                    Some(measured),
                    threshold.clone(),
                    "not long enough yet: the verifier keeps sampling while this session drives",
                )
            } else {
                Gate::pass(
                    &gate,
                    measured,
                    threshold.clone(),
                    "no divergence since the flip",
                )
            }
        })
        .collect()
}
