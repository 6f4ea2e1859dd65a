//! `migtui demo`: a live migration in one command. Builds the old and new databases (SQLite
//! files, or the servers named by `--postgres`/`--mysql`), writes the migration file next to
//! them, starts the simulated application, and opens the cockpit on it, or walks every phase
//! headless (`--headless --auto`).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::exit;
use crate::demo::app::{AppOptions, SimApp};
use crate::demo::auto::{AutoOptions, Walk};
use crate::demo::fixture::{self, FixtureOptions};
use crate::demo::migration::{self, Endpoint, NEW_URL_VAR, OLD_URL_VAR};
use crate::engine::session::{Mode, SessionHandle};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Keep the databases, the migration file and the report in this directory (default: a
    /// temporary directory, removed at the end).
    #[arg(long, value_name = "PATH")]
    pub dir: Option<PathBuf>,
    /// Incidents in the old model.
    #[arg(long, value_name = "N", default_value_t = 200_000)]
    pub rows: u64,
    /// Organisations the incidents belong to.
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub orgs: u64,
    /// Share of the application's dual writes that go wrong (0 turns fault injection off).
    #[arg(long, value_name = "RATE", default_value_t = 0.002)]
    pub faults: f64,
    /// Operations per second of the simulated application.
    #[arg(long, value_name = "N", default_value_t = 200.0)]
    pub ops: f64,
    /// No cockpit: print status lines (until Ctrl-C, or to the end with --auto).
    #[arg(long)]
    pub headless: bool,
    /// Walk every phase from `plan` to `done`, advancing only when the gates pass, and write
    /// the session report (implies --headless). Exit status 0 only with zero divergences and a
    /// verified backup.
    #[arg(long)]
    pub auto: bool,
    /// Put the new model and migtui's state on this PostgreSQL database.
    #[arg(long, value_name = "URL")]
    pub postgres: Option<String>,
    /// Put the old model on this MariaDB/MySQL database.
    #[arg(long, value_name = "URL")]
    pub mysql: Option<String>,
    /// Drop the demo's tables (and migtui's state tables) when they already exist.
    #[arg(long)]
    pub reset: bool,
    /// Seed of the generated data (the same seed builds the same incidents).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// The longest wait for one phase's gates in --auto, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 600)]
    pub phase_timeout: u64,
}

pub async fn run(args: DemoArgs) -> u8 {
    if !(0.0..=1.0).contains(&args.faults) {
        eprintln!("migtui: --faults is a share of writes between 0 and 1 (e.g. 0.002)");
        return exit::USAGE;
    }
    if args.rows == 0 || args.orgs == 0 || args.ops <= 0.0 {
        eprintln!("migtui: --rows, --orgs and --ops must be positive");
        return exit::USAGE;
    }
    let (dir, temporary) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!(
                "migtui-demo-{}-{}",
                std::process::id(),
                chrono::Utc::now().timestamp_millis()
            )),
            true,
        ),
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("migtui: cannot create {}: {e}", dir.display());
        return exit::UNAVAILABLE;
    }
    let dir = dir.canonicalize().unwrap_or(dir);
    let code = run_in(&args, &dir, temporary).await;
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    code
}

fn endpoints(args: &DemoArgs, dir: &Path) -> (Endpoint, Endpoint) {
    let file = |name: &str| format!("sqlite://{}?mode=rwc", dir.join(name).display());
    let old = args.mysql.clone().unwrap_or_else(|| file("old.db"));
    let new = args.postgres.clone().unwrap_or_else(|| file("new.db"));
    (
        Endpoint::new(old, OLD_URL_VAR),
        Endpoint::new(new, NEW_URL_VAR),
    )
}

async fn run_in(args: &DemoArgs, dir: &Path, temporary: bool) -> u8 {
    let (old_ep, new_ep) = endpoints(args, dir);
    let path = match migration::write(dir, &old_ep, &new_ep) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("migtui: {e}");
            return exit::UNAVAILABLE;
        }
    };
    let env = |name: &str| match name {
        OLD_URL_VAR => Some(old_ep.url.clone()),
        NEW_URL_VAR => Some(new_ep.url.clone()),
        other => std::env::var(other).ok(),
    };
    let config = match crate::config::load_with_env(&path, &env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("migtui: the demo's migration file does not load (a bug):\n{e}");
            return exit::USAGE;
        }
    };
    let secrets = config.secrets.clone();
    let say = |e: &dyn std::fmt::Display| eprintln!("migtui: {}", secrets.mask(&e.to_string()));
    let (old, new) = match connect(&config).await {
        Ok(dbs) => dbs,
        Err(e) => {
            say(&e);
            return exit::UNAVAILABLE;
        }
    };
    println!(
        "building the demo: {} incidents across {} organisations (old: {}, new: {})",
        args.rows,
        args.orgs,
        old_ep.shown(),
        new_ep.shown()
    );
    let opts = FixtureOptions {
        rows: args.rows,
        orgs: args.orgs,
        seed: args.seed,
        reset: args.reset,
    };
    match fixture::build(&old, &new, &opts).await {
        Ok(r) => println!(
            "built in {:.2} s ({:.0} rows/s)",
            r.elapsed.as_secs_f64(),
            r.rows as f64 / r.elapsed.as_secs_f64().max(1e-6)
        ),
        Err(e) => {
            say(&e);
            close(&old, &new).await;
            return exit::FAILED;
        }
    }
    // Headless without --auto only follows the phase: the operator drives from another
    // terminal (`migtui -c FILE`), which takes the lease this session leaves free.
    let mode = match args.headless && !args.auto {
        true => Mode::Observe,
        false => Mode::Drive,
    };
    let session = match super::start_session(config.clone(), mode).await {
        Ok(s) => s,
        Err(code) => {
            close(&old, &new).await;
            return code;
        }
    };
    let app_opts = AppOptions {
        ops_per_second: args.ops,
        fault_rate: args.faults,
        seed: args.seed,
        orgs: args.orgs,
    };
    let app = match SimApp::start(old.clone(), new.clone(), session.watch(), app_opts).await {
        Ok(a) => a,
        Err(e) => {
            say(&e);
            session.shutdown().await;
            close(&old, &new).await;
            return exit::UNAVAILABLE;
        }
    };
    where_things_are(dir, &path, &old_ep, &new_ep, temporary);
    let code = if args.auto {
        auto(args, dir, &session, &app, &config).await
    } else if args.headless {
        headless(&session, &app).await
    } else {
        cockpit(&session).await
    };
    app.stop().await;
    session.shutdown().await;
    close(&old, &new).await;
    code
}

async fn connect(
    config: &crate::config::Config,
) -> Result<(crate::db::Db, crate::db::Db), crate::db::DbError> {
    let mut out = Vec::new();
    for name in ["old", "new"] {
        let Some(cfg) = config.database(name) else {
            continue;
        };
        out.push(crate::db::connect(cfg, &config.secrets).await?);
    }
    match (out.pop(), out.pop()) {
        (Some(new), Some(old)) => Ok((old, new)),
        _ => Err(crate::db::DbError::Connect {
            db: "old/new".into(),
            target: String::new(),
            reason: "the demo's migration file lacks a database".into(),
            hint: "this is a bug in the demo".into(),
        }),
    }
}

async fn close(old: &crate::db::Db, new: &crate::db::Db) {
    old.close().await;
    new.close().await;
}

fn where_things_are(dir: &Path, path: &Path, old: &Endpoint, new: &Endpoint, temporary: bool) {
    println!("migration file: {}", path.display());
    let mut vars = String::new();
    for ep in [old, new] {
        if let Some(var) = ep.env {
            vars.push_str(&format!("{var}='{}' ", ep.shown()));
        }
    }
    if temporary {
        println!(
            "files in {} (removed at the end; keep them with --dir PATH)",
            dir.display()
        );
        println!(
            "watch it from another terminal: {vars}migtui -c {}",
            path.display()
        );
    } else {
        println!(
            "reopen the cockpit on it: {vars}migtui -c {}",
            path.display()
        );
    }
}

async fn cockpit(session: &SessionHandle) -> u8 {
    match crate::tui::run(session.clone(), crate::tui::Options::default()).await {
        Ok(()) => exit::OK,
        Err(e) => {
            eprintln!(
                "migtui: the cockpit could not open: {e}\n  hint: `migtui demo --headless` \
                 prints status lines instead, `--headless --auto` walks every phase"
            );
            exit::FAILED
        }
    }
}

/// Status lines every few seconds until Ctrl-C.
async fn headless(session: &SessionHandle, app: &SimApp) -> u8 {
    println!("running; Ctrl-C stops (drive it from another terminal with migtui -c FILE)");
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return exit::OK,
            _ = tick.tick() => println!("{}", status_line(session, app)),
        }
    }
}

/// One line: phase, the application's writes and reads, the verifier, the backfill.
pub fn status_line(session: &SessionHandle, app: &SimApp) -> String {
    let s = session.snapshot();
    let a = app.stats();
    let ms = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.1} ms"));
    let mut line = format!(
        "{:<16} app: {} creates, {} updates, writes old {} new {}, reads old {} (p95 {}) new {} \
         (p95 {}), {} faults, {} errors",
        s.phase.as_str(),
        a.creates,
        a.updates,
        a.writes_old,
        a.writes_new,
        a.reads_old,
        ms(a.read_p95_ms_old),
        a.reads_new,
        ms(a.read_p95_ms_new),
        a.faults,
        a.errors
    );
    for v in &s.verify {
        line.push_str(&format!(
            " | verify {}: {} compared, {} divergent",
            v.check, v.phase.compared, v.phase.divergent
        ));
    }
    for step in &s.backfill.steps {
        line.push_str(&format!(
            " | backfill {} {:.0}%",
            step.step,
            step.fraction() * 100.0
        ));
    }
    line
}

async fn auto(
    args: &DemoArgs,
    dir: &Path,
    session: &SessionHandle,
    app: &SimApp,
    config: &crate::config::Config,
) -> u8 {
    let started = Instant::now();
    let walk = Walk {
        session,
        app,
        config,
        opts: AutoOptions {
            dir: dir.to_path_buf(),
            phase_timeout: Duration::from_secs(args.phase_timeout),
        },
    };
    let result = tokio::select! {
        r = walk.run() => r,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("migtui: interrupted; the state is kept (reopen with migtui -c FILE)");
            return exit::FAILED;
        }
    };
    let stats = app.stats();
    match result {
        Ok(outcome) if outcome.problems.is_empty() => {
            let faults = match outcome.injected.len() {
                0 => "no fault injected".to_string(),
                n => format!("{n} faults injected, all found and repaired"),
            };
            println!(
                "demo ok in {:.0} s: zero divergences, backup verified; the application made \
                 {} creates and {} updates ({} errors), {faults}",
                started.elapsed().as_secs_f64(),
                stats.creates,
                stats.updates,
                stats.errors,
            );
            exit::OK
        }
        Ok(outcome) => {
            for p in &outcome.problems {
                eprintln!("migtui: {}", config.secrets.mask(p));
            }
            exit::FAILED
        }
        Err(e) => {
            eprintln!(
                "migtui: the auto run stopped: {}",
                config.secrets.mask(&e.to_string())
            );
            if let Some(err) = stats.last_error {
                eprintln!(
                    "  the application's last error: {}",
                    config.secrets.mask(&err)
                );
            }
            exit::FAILED
        }
    }
}
