//! `migtui backfill`: run the backfill steps headless through the session (the lease, the
//! audit log and the checkpoints are the cockpit's), with an indicatif bar on a terminal and
//! plain lines otherwise. `--dry-run` prints the statements and the chunk plan only.

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::{exit, load_config};
use crate::engine::backfill::{BackfillEvent, StepProgress, StepState};
use crate::engine::session::{Command, Event, Mode, Outcome};

pub async fn run(path: &Path, step: Option<String>, dry_run: bool) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    if dry_run {
        let (dbs, _) = crate::engine::preflight::connect_all(&config).await;
        let text = crate::engine::backfill::dry_run::describe(&config, &dbs, step.as_deref()).await;
        crate::engine::session::close_all(&dbs).await;
        return match text {
            Ok(t) => {
                print!("{t}");
                exit::OK
            }
            Err(e) => {
                eprintln!("migtui: {}", secrets.mask(&e.to_string()));
                exit::FAILED
            }
        };
    }
    let ttl = config.state.lease_ttl_secs;
    let session = match super::start_session(config, Mode::Drive).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    // A lease left by a process that died expires after its ttl; wait that long for it.
    let mut watch = session.watch();
    let deadline = Duration::from_secs(ttl + 3);
    // (The guard `wait_for` returns is dropped at once: held, it would block the session's
    // snapshot updates.)
    let driving = tokio::time::timeout(deadline, watch.wait_for(|s| s.lease.is_driving()))
        .await
        .is_ok_and(|r| r.is_ok());
    if !driving {
        let holder = session.snapshot().lease.holder();
        eprintln!("migtui: read-only: {holder} holds the lease for this migration");
        session.shutdown().await;
        return exit::LEASE_HELD;
    }
    let mut events = session.subscribe();
    match session.request(Command::StartBackfill { step }).await {
        Ok(Outcome::Refused { why, .. }) => {
            eprintln!("migtui: {why}");
            session.shutdown().await;
            return exit::FAILED;
        }
        Err(e) => {
            eprintln!("migtui: {}", secrets.mask(&e.to_string()));
            session.shutdown().await;
            return exit::FAILED;
        }
        Ok(_) => {}
    }
    let mut printer = Printer::new();
    let mut failed: Option<String> = None;
    let mut snapshots = session.watch();
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(Event::Backfill { update }) => printer.event(&update),
                Ok(Event::Error { context, message }) if context == "backfill" => failed = Some(message),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => break,
            },
            changed = snapshots.changed() => {
                if changed.is_err() { break; }
                let p = snapshots.borrow_and_update().backfill.clone();
                printer.progress(&p.steps);
                if !p.running && !p.steps.is_empty() {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => {
                eprintln!("migtui: interrupted; the step resumes from its checkpoint next time");
                session.shutdown().await;
                return exit::FAILED;
            }
        }
    }
    // Drain what the runner said last (a failure arrives as an event).
    while let Ok(ev) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        match ev {
            Ok(Event::Backfill { update }) => printer.event(&update),
            Ok(Event::Error { context, message }) if context == "backfill" => {
                failed = Some(message)
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    printer.finish();
    let steps = session.snapshot().backfill.steps;
    session.shutdown().await;
    if let Some(f) = failed.or_else(|| steps.iter().find_map(|s| s.error.clone())) {
        eprintln!("migtui: {f}");
        return exit::FAILED;
    }
    exit::OK
}

/// Progress on a terminal (a bar) or as plain lines (logs, CI), one line per chunk event at
/// most every few seconds.
struct Printer {
    bar: Option<ProgressBar>,
    step: String,
    last_line: std::time::Instant,
}

impl Printer {
    fn new() -> Self {
        Printer {
            bar: None,
            step: String::new(),
            last_line: std::time::Instant::now() - Duration::from_secs(60),
        }
    }

    fn tty() -> bool {
        std::io::stderr().is_terminal()
    }

    fn progress(&mut self, steps: &[StepProgress]) {
        let Some(s) = steps
            .iter()
            .find(|s| matches!(s.state, StepState::Running | StepState::Paused))
        else {
            return;
        };
        if Self::tty() {
            if self.step != s.step || self.bar.is_none() {
                if let Some(b) = self.bar.take() {
                    b.finish();
                }
                let bar = ProgressBar::new(s.total_rows.max(1));
                bar.set_style(
                    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                );
                bar.set_prefix(s.step.clone());
                self.bar = Some(bar);
                self.step = s.step.clone();
            }
            if let Some(b) = &self.bar {
                b.set_length(s.total_rows.max(s.rows_done).max(1));
                b.set_position(s.rows_done);
                b.set_message(summary(s));
            }
        }
    }

    fn event(&mut self, e: &BackfillEvent) {
        let line = match e {
            BackfillEvent::StepStarted {
                step,
                total_rows,
                total_exact,
                resumed_after,
            } => {
                let total = if *total_exact {
                    format!("{total_rows}")
                } else {
                    format!("~{total_rows} (estimate)")
                };
                let resumed = resumed_after
                    .as_ref()
                    .map(|k| format!(", resuming after {k}"))
                    .unwrap_or_default();
                Some(format!("step {step}: {total} rows{resumed}"))
            }
            BackfillEvent::Chunk {
                step, rows_done, ..
            } => {
                if Self::tty() || self.last_line.elapsed() < Duration::from_secs(2) {
                    None
                } else {
                    Some(format!("step {step}: {rows_done} rows done"))
                }
            }
            BackfillEvent::Paused { step, by } => {
                Some(format!("step {step}: paused by {}", by.join("; ")))
            }
            BackfillEvent::Resumed { step } => Some(format!("step {step}: resumed")),
            BackfillEvent::Retry {
                step,
                attempt,
                error,
            } => Some(format!(
                "step {step}: retry {attempt} after a transient error: {}",
                first_line(error)
            )),
            BackfillEvent::StepComplete { step, rows_done } => {
                if let Some(b) = self.bar.take() {
                    b.finish();
                }
                Some(format!("✓ step {step}: complete, {rows_done} rows"))
            }
            BackfillEvent::StepFailed { step, .. } => Some(format!("✗ step {step}: failed")),
            BackfillEvent::Cancelled { step } => Some(format!("step {step}: cancelled")),
        };
        if let Some(line) = line {
            self.last_line = std::time::Instant::now();
            match &self.bar {
                Some(b) => b.println(line),
                None => println!("{line}"),
            }
        }
    }

    fn finish(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish();
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn summary(s: &StepProgress) -> String {
    let eta = s
        .eta_secs
        .map(|(lo, hi)| format!(", ETA {:.0}–{:.0} s", lo, hi))
        .unwrap_or_default();
    let paused = if s.paused_by.is_empty() {
        String::new()
    } else {
        format!(", paused: {}", s.paused_by.join("; "))
    };
    format!(
        "{:.0} rows/s{eta}, chunk {} rows in {:.0} ms, {} retries{paused}",
        s.rows_per_second, s.chunk_rows, s.last_chunk_ms, s.retries
    )
}
