//! The chaos run (issue #10, item 1): the whole playbook on PostgreSQL, plan → … → done,
//! through the real `migtui` binary, with a simulated application writing old and new all the
//! while, and faults at random, seeded moments: migtui `SIGKILL`ed mid-command and run again,
//! its connections terminated and its statements cancelled on the server, PostgreSQL
//! restarted, the shared lock table filled. At the end the new model equals the application's
//! truth exactly, every phase transition is in the audit log once, and the report accounts for
//! every interruption.
//!
//! It runs on a PostgreSQL cluster of its own (`pg_createcluster`, dropped at the end), never
//! the shared server. Every seed prints itself; `CHAOS_SEED=N cargo test --test chaos` replays
//! one (the fault schedule and the data are the seed's; timings are the machine's).
//! `CHAOS_SEEDS` (how many, from `CHAOS_SEED` or a random one; default 1), `CHAOS_ROWS` (default 1500) and `CHAOS_SECS` (each
//! seed's deadline, default 240) size a run; `scripts/chaos-soak` runs many.

#[path = "chaos/app.rs"]
mod app;
#[path = "chaos/checks.rs"]
mod checks;
#[path = "chaos/cluster.rs"]
mod cluster;
#[path = "common/mod.rs"]
mod common;
#[path = "chaos/driver.rs"]
mod driver;
#[path = "chaos/faults.rs"]
mod faults;
#[path = "chaos/playbook.rs"]
mod playbook;
#[path = "chaos/regressions.rs"]
mod regressions;
#[path = "chaos/scenario.rs"]
mod scenario;

use std::time::{Duration, Instant};

use app::{App, Writes};
use cluster::Cluster;
use driver::Driver;
use faults::by_kind;
use scenario::Size;

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// One seed, start to finish, on a fresh cluster. The summary line is `CHAOS_RESULT …`.
async fn one_seed(seed: u64, size: Size, secs: u64) -> Result<String, String> {
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(secs);
    let Some(cluster) = Cluster::create().await else {
        return Ok(format!("CHAOS_RESULT seed={seed} skipped=no-cluster"));
    };
    let rows = scenario::initial_rows(seed, size.rows);
    scenario::prepare(&cluster, &rows).await?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = scenario::migration_file(dir.path(), size)?;
    let mut app = App::start(
        &cluster.url("chaos_old"),
        &cluster.url("chaos_new"),
        rows,
        seed,
        Duration::from_millis(15),
        deadline,
    )
    .await?;
    let mut d = Driver::new(&cluster, seed, file, 0.6, deadline);
    let backfill_secs = (size.rows as u64 / size.rows_per_second).max(2) + 1;
    let played = playbook::play(&mut d, &mut app, backfill_secs).await;
    let played = match played {
        Ok(n) => n,
        Err(e) => {
            let _ = app.stop().await;
            return Err(format!(
                "at step `{}`: {e}\nfaults so far: {:#?}",
                d.step, d.faults
            ));
        }
    };
    d.step = "application stop".into();
    app.set(Writes::NewOnly).await?;
    let outcome = app.stop().await?;
    d.step = "final compare".into();
    let rows_checked = checks::data(&d, &outcome).await?;
    let report = checks::report(&mut d).await?;
    let i = &report["interruptions"];
    let faults: Vec<String> = by_kind(&d.faults)
        .into_iter()
        .map(|(k, (n, landed))| format!("{k}={n}/{landed}"))
        .collect();
    let failed_unkilled = d
        .runs
        .iter()
        .filter(|r| !r.killed && r.code != Some(0))
        .count();
    if std::env::var("CHAOS_VERBOSE").is_ok() {
        for f in &d.faults {
            println!(
                "  fault {} during `{}`: landed {} ({})",
                f.kind, f.during, f.landed, f.detail
            );
        }
        for r in d.runs.iter().filter(|r| r.killed || r.code != Some(0)) {
            let why = r.stderr.lines().next().unwrap_or("");
            println!(
                "  run `{}` pid {} code {:?} killed {}: {why}",
                r.args, r.pid, r.code, r.killed
            );
        }
    }
    Ok(format!(
        "CHAOS_RESULT seed={seed} ok secs={:.0} runs={} failed_runs={failed_unkilled} \
         rows_checked={rows_checked} faults(injected/landed): {} | app creates={} updates={} \
         retried_writes={} max_outbox={} | report not_released={} resumed_runs={} \
         backfill_runs={} retries={} | verify_rechecks={played}",
        t0.elapsed().as_secs_f64(),
        d.runs.len(),
        faults.join(" "),
        outcome.creates,
        outcome.updates,
        outcome.retried_writes,
        outcome.max_outbox,
        i["sessions_not_released"],
        i["backfill_resumed_runs"],
        i["backfill_runs"],
        i["backfill_retries"],
    ))
}

#[test]
fn the_playbook_survives_seeded_faults() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let first = env_u64("CHAOS_SEED").unwrap_or_else(|| fastrand::u64(..1_000_000));
    let seeds = env_u64("CHAOS_SEEDS").unwrap_or(1);
    let rows = env_u64("CHAOS_ROWS").unwrap_or(1500) as i64;
    let size = Size {
        rows,
        chunk_rows: (rows as u64 / 30).clamp(20, 500),
        rows_per_second: (rows as u64 / 4).clamp(200, 5000),
    };
    let secs = env_u64("CHAOS_SECS").unwrap_or(240);
    for seed in first..first + seeds {
        println!(
            "chaos: seed {seed} ({rows} rows) — replay with CHAOS_SEED={seed} cargo test --test chaos"
        );
        match rt.block_on(one_seed(seed, size, secs)) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                println!("CHAOS_RESULT seed={seed} FAILED");
                panic!(
                    "chaos seed {seed} failed {e}\nreplay: CHAOS_SEED={seed} cargo test --test chaos -- --nocapture"
                );
            }
        }
    }
}
