//! `migtui backup`, `migtui contract` and `migtui restore`: one session command each, the
//! engine's events printed as they matter to a person at a terminal.

use std::path::Path;

use tokio::sync::broadcast;

use super::output::Style;
use super::{exit, load_config};
use crate::engine::session::{Command, Event, Mode, Outcome};

pub async fn backup(path: &Path, verify_only: bool) -> u8 {
    run(path, Command::RunBackup { verify_only }).await
}

pub async fn contract(path: &Path, confirm: Option<String>, reason: Option<String>) -> u8 {
    run(
        path,
        Command::Contract {
            confirm,
            override_reason: reason,
        },
    )
    .await
}

pub async fn restore(path: &Path, backup: String, dry_run: bool) -> u8 {
    run(path, Command::Restore { backup, dry_run }).await
}

async fn run(path: &Path, command: Command) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let session = match super::start_session(config, Mode::Drive).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let mut events = session.subscribe();
    let is_backup = matches!(command, Command::RunBackup { .. });
    let result = session.request(command).await;
    let backups = session.snapshot().backups;
    session.shutdown().await;
    let s = Style::stdout();
    print_events(&mut events, &s, &|t| secrets.mask(t));
    if is_backup && result.as_ref().is_ok_and(|o| *o == Outcome::Done) {
        let mut shown: Vec<&str> = Vec::new();
        for b in &backups {
            if !shown.contains(&b.name.as_str()) {
                println!("restore `{}` with: {}", b.name, b.restore_command);
                shown.push(&b.name);
            }
        }
    }
    match result {
        Ok(Outcome::Done) => exit::OK,
        Ok(Outcome::Refused { why, .. }) => super::refused(&why, &secrets),
        Ok(Outcome::Moved { .. }) => exit::OK,
        Err(e) => super::session_failed(&e, &secrets),
    }
}

fn print_events(events: &mut broadcast::Receiver<Event>, s: &Style, mask: &dyn Fn(&str) -> String) {
    let mut last_progress: Option<String> = None;
    while let Ok(event) = events.try_recv() {
        match event {
            Event::BackupProgress { progress } => {
                last_progress = Some(format!(
                    "{} `{}`: {} rows{}",
                    match progress.stage {
                        crate::engine::backup::Stage::Copying => "copied",
                        crate::engine::backup::Stage::Verifying => "verifying",
                    },
                    progress.name,
                    progress.rows,
                    progress
                        .total
                        .map(|t| format!(" of ~{t}"))
                        .unwrap_or_default()
                ));
            }
            Event::BackupVerified { results } => {
                if let Some(p) = last_progress.take() {
                    println!("{}", s.muted(&p));
                }
                for r in results {
                    println!(
                        "{} `{}` → {}: {}",
                        s.pass(r.verified),
                        r.name,
                        r.location,
                        mask(&r.detail)
                    );
                }
            }
            Event::ContractRan { report } => print_contract(&report, s, mask),
            Event::Restored { report } => {
                let verb = if report.dry_run { "would run" } else { "ran" };
                println!(
                    "restore `{}` from {} ({} rows); {verb}:",
                    report.name, report.from, report.rows
                );
                for st in &report.statements {
                    println!("  {}", mask(st));
                }
                for n in &report.notes {
                    println!("{} {n}", s.mark(crate::engine::preflight::Status::Warn));
                }
                if !report.dry_run {
                    println!(
                        "{} restored rows: checksum {} (recorded {})",
                        s.pass(report.verified),
                        report.after.as_deref().unwrap_or("?"),
                        report.recorded
                    );
                }
            }
            _ => {}
        }
    }
}

fn print_contract(
    r: &crate::engine::contract::ContractReport,
    s: &Style,
    mask: &dyn Fn(&str) -> String,
) {
    let p = &r.preview;
    println!(
        "{} the contract drops data in database `{}` ({}):",
        s.danger("DANGER:"),
        p.database,
        p.engine
    );
    for st in &p.statements {
        println!("  {}", s.bold(&mask(&st.sql)));
    }
    println!("runs {}", p.how);
    for c in &p.coverage {
        println!("{} {}: {}", s.pass(c.verified), c.dropped, mask(&c.detail));
    }
    for d in &p.dependents {
        let mark = if d.blocking {
            s.mark(crate::engine::preflight::Status::Fail)
        } else {
            s.mark(crate::engine::preflight::Status::Warn)
        };
        println!(
            "{mark} {} `{}` depends on {}: {}",
            d.kind,
            mask(&d.name),
            d.on,
            d.detail
        );
    }
    for a in &r.attempts {
        println!(
            "{} try {}: {} ({} ms): {}",
            s.pass(a.ok),
            a.attempt,
            mask(&a.sql),
            a.elapsed_ms,
            mask(&a.outcome)
        );
    }
    if r.refused.is_none() {
        println!(
            "{} of {} statements took effect",
            r.committed,
            p.statements.len()
        );
    }
}
