//! `migtui advance` and `migtui rollback`, for scripts: one command through the session, the
//! gates printed, the outcome as the exit status.

use std::path::Path;

use super::output::Style;
use super::{exit, load_config};
use crate::engine::session::{Command, Mode, Outcome};

pub async fn advance(path: &Path, reason: Option<String>, confirm: Option<String>) -> u8 {
    drive(
        path,
        Command::Advance {
            override_reason: reason,
            confirm,
        },
    )
    .await
}

pub async fn rollback(path: &Path, reason: Option<String>) -> u8 {
    drive(path, Command::Rollback { reason }).await
}

async fn drive(path: &Path, command: Command) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let session = match super::start_session(config, Mode::Drive).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = session.request(command).await;
    session.shutdown().await;
    let s = Style::stdout();
    match result {
        Ok(Outcome::Moved { record }) => {
            for g in &record.gates {
                println!(
                    "{} {}: {} (needs {})",
                    s.pass(g.pass),
                    g.name,
                    g.measured.as_deref().unwrap_or("not measured"),
                    g.threshold
                );
            }
            let how = match &record.reason {
                Some(r) => format!(" (reason: {r})"),
                None => String::new(),
            };
            println!("{} → {}{how}", record.from, s.bold(record.to.as_str()));
            exit::OK
        }
        Ok(Outcome::Refused { why, gates }) => {
            for g in &gates {
                println!(
                    "{} {}: {} (needs {})\n    {}",
                    s.pass(g.pass),
                    g.name,
                    g.measured.as_deref().unwrap_or("not measured"),
                    g.threshold,
                    g.explanation
                );
            }
            super::refused(&why, &secrets)
        }
        Ok(Outcome::Done) => exit::OK,
        Err(e) => super::session_failed(&e, &secrets),
    }
}
