//! The playbook, plan → … → done, through the binary only: `status --json` says where the
//! migration stands (so a command killed after it committed is never repeated), `advance`,
//! `backfill`, `verify`, `flag set`, `backup` and `contract` move it on. The application
//! switches from old-only to dual writes to new-only writes at the phases that say so.

use std::time::Duration;

use super::app::{App, Writes};
use super::driver::Driver;
use super::scenario::{CONTRACT_TABLE, MIGRATION};

/// How long a short command (status, advance, flag set, a sample) takes here: its faults land
/// within this.
const SHORT: Duration = Duration::from_millis(700);

/// The phase the state store records, asked through `migtui status --json`.
pub async fn phase(d: &mut Driver<'_>) -> Result<String, String> {
    let run = d.until(&["status", "--json"], &[0], SHORT).await?;
    let doc: serde_json::Value = serde_json::from_str(&run.stdout)
        .map_err(|e| format!("status --json is not JSON ({e}): {}", run.stdout))?;
    doc["status"]["phase"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("status --json has no status.phase: {doc}"))
}

/// Advance from `from` to `to`, however many tries the faults cost; `extra` are the arguments
/// the gate or the door needs.
async fn advance(d: &mut Driver<'_>, from: &str, to: &str, extra: &[&str]) -> Result<(), String> {
    d.step = format!("advance {from} → {to}");
    let mut refusals = 0;
    loop {
        let now = phase(d).await?;
        if now == to {
            return Ok(());
        }
        if now != from {
            return Err(format!(
                "expected phase `{from}` or `{to}`, the store says `{now}`"
            ));
        }
        let mut args = vec!["advance"];
        args.extend_from_slice(extra);
        let run = d.once(&args, SHORT).await?;
        if !run.killed && run.code == Some(1) {
            refusals += 1;
            if refusals > 5 {
                return Err(format!(
                    "advance refused 5 times:\n{}{}",
                    run.stdout, run.stderr
                ));
            }
        }
        if run.code == Some(5) {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// A verification until it finds nothing: a divergence is re-checked a few times after the
/// application's outbox has caught up (its dual writes may trail a fault by a moment); one that
/// stays is reported.
async fn verify_clean(d: &mut Driver<'_>, args: &[&str], horizon: Duration) -> Result<u32, String> {
    for round in 0..6 {
        let run = d.until(args, &[0, 3], horizon).await?;
        if run.code == Some(0) {
            return Ok(round);
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let last = d.runs.last().map(|r| r.stdout.clone()).unwrap_or_default();
    Err(format!(
        "`migtui {}` kept finding divergences:\n{last}",
        args.join(" ")
    ))
}

/// Walk every phase. Returns how many verification rounds found transient differences.
pub async fn play(d: &mut Driver<'_>, app: &mut App, backfill_secs: u64) -> Result<u32, String> {
    let confirm = ["--confirm", MIGRATION];
    advance(d, "plan", "expand", &[]).await?;
    advance(d, "expand", "dual_write", &[]).await?;
    d.step = "dual writes on".into();
    app.set(Writes::Dual).await?;
    // Headless `verify` samples uniformly, and before the backfill most rows are missing from
    // the new model by design; the harness checks the dual writes itself at the end.
    let reason = [
        "--reason",
        "chaos: the harness checks the dual writes row by row at the end",
    ];
    advance(d, "dual_write", "backfill", &reason).await?;

    d.step = "backfill".into();
    let horizon = Duration::from_secs(backfill_secs);
    d.until(&["backfill"], &[0], horizon).await?;
    // The backfill promises to retry transient errors: a run that stopped on its own with a
    // failed step (exit 1) broke that promise, even though the next run resumed.
    if let Some(r) = d
        .runs
        .iter()
        .find(|r| r.args == "backfill" && r.code == Some(1))
    {
        return Err(format!(
            "a backfill run failed instead of retrying:\n{}{}",
            r.stdout, r.stderr
        ));
    }
    d.step = "verify --full after the backfill".into();
    let mut rechecked = verify_clean(d, &["verify", "--full"], Duration::from_secs(3)).await?;
    advance(d, "backfill", "shadow", &[]).await?;

    d.step = "shadow sample".into();
    rechecked += verify_clean(d, &["verify", "--sample", "300"], SHORT).await?;
    advance(d, "shadow", "read_new", &[]).await?;

    d.step = "flag set".into();
    d.until(
        &[
            "flag",
            "set",
            "true",
            "--reason",
            "chaos: shadow gate green",
        ],
        &[0],
        SHORT,
    )
    .await?;
    rechecked += verify_clean(d, &["verify", "--sample", "200"], SHORT).await?;
    advance(d, "read_new", "stop_old_writes", &confirm).await?;
    d.step = "old writes off".into();
    app.set(Writes::NewOnly).await?;
    advance(d, "stop_old_writes", "backup", &[]).await?;

    d.step = "backup".into();
    d.until(&["backup"], &[0], Duration::from_secs(3)).await?;
    advance(d, "backup", "drop", &confirm).await?;

    d.step = "contract".into();
    d.until(&["contract", "--confirm", CONTRACT_TABLE], &[0], SHORT)
        .await?;
    advance(d, "drop", "done", &[]).await?;
    Ok(rechecked)
}
