//! The `backfill` phase's gate: every step complete up to its high-water mark, as recorded in
//! `migtui_checkpoints` (not in memory: another operator's run counts too).

use crate::config::Config;
use crate::engine::phase::Gate;
use crate::store::Store;

use super::checkpoint;

/// Pass when every `[[backfill]]` step's checkpoint says `complete`.
pub async fn measure(config: &Config, store: &Store) -> Gate {
    let name = "backfill complete";
    let total = config.backfill.len();
    let threshold = format!("{total} of {total} steps complete");
    let cps = match checkpoint::load_all(store.db(), store.migration()).await {
        Ok(c) => c,
        Err(e) => {
            return Gate::fail(
                name,
                None::<String>,
                threshold,
                format!("the checkpoints could not be read: {e}"),
            );
        }
    };
    let mut done = 0;
    let mut open = Vec::new();
    for step in &config.backfill {
        match cps.iter().find(|c| c.step == step.name) {
            Some(c) if c.is_complete() => done += 1,
            Some(c) if c.status == "failed" => open.push(format!(
                "{} failed after {} rows: {}",
                step.name,
                c.rows_done,
                c.error.as_deref().unwrap_or("no error recorded")
            )),
            Some(c) => open.push(format!("{} at {} rows", step.name, c.rows_done)),
            None => open.push(format!("{} not started", step.name)),
        }
    }
    let measured = format!("{done} of {total} steps complete");
    if open.is_empty() {
        Gate::pass(
            name,
            measured,
            threshold,
            "every step reached its high-water mark",
        )
    } else {
        Gate::fail(
            name,
            Some(measured),
            threshold,
            format!("{}; run `migtui backfill -c FILE`", open.join("; ")),
        )
    }
}
