//! `migtui flag get|set`: read the read flag, or flip it through a session (the lease, the
//! read-back and the audit log apply as in the cockpit).

use std::path::Path;

use super::output::Style;
use super::{exit, load_config};
use crate::engine::flag::Flag;
use crate::engine::preflight;
use crate::engine::session::{Command, Mode, Outcome};

pub async fn get(path: &Path, json: bool) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let (dbs, _) = preflight::connect_all(&config).await;
    let flag = Flag::new(config.flag.as_ref(), &dbs, &secrets);
    let result = match &flag {
        Ok(f) => f
            .get()
            .await
            .map(|v| (f.describe(), f.key().to_string(), v)),
        Err(_) => Err(crate::engine::flag::FlagError::NotConfigured),
    };
    let flag_err = flag.err();
    for db in dbs.values() {
        db.close().await;
    }
    match (result, flag_err) {
        (_, Some(e)) => {
            eprintln!("migtui: {}", secrets.mask(&e.to_string()));
            match e {
                crate::engine::flag::FlagError::NotConfigured => exit::USAGE,
                _ => exit::UNAVAILABLE,
            }
        }
        (Ok((location, key, value)), None) => {
            if json {
                let doc = serde_json::json!({
                    "key": key,
                    "location": location,
                    "value": value,
                    "reads_new": value.map(|v| v.reads_new()),
                });
                println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
            } else {
                let s = Style::stdout();
                let shown = value.map_or("absent (not set yet)".to_string(), |v| v.to_string());
                println!(
                    "{key} = {}  {}",
                    s.bold(&shown),
                    s.muted(&format!("({location})"))
                );
            }
            exit::OK
        }
        (Err(e), None) => {
            eprintln!("migtui: {}", secrets.mask(&e.to_string()));
            exit::UNAVAILABLE
        }
    }
}

pub async fn set(path: &Path, value: &str, reason: String) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let Some(flag) = &config.flag else {
        eprintln!("migtui: {}", crate::engine::flag::FlagError::NotConfigured);
        return exit::USAGE;
    };
    let value = match crate::engine::flag::FlagValue::parse_input(value, &flag.ramp) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("migtui: {}", secrets.mask(&e.to_string()));
            return exit::USAGE;
        }
    };
    let session = match super::start_session(config, Mode::Drive).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let result = session.request(Command::SetFlag { value, reason }).await;
    let flag = session.snapshot().flag;
    session.shutdown().await;
    match result {
        Ok(Outcome::Done) => {
            let s = Style::stdout();
            let location = flag.map(|f| f.location).unwrap_or_default();
            println!(
                "{} flag set to {} and read back  {}",
                s.pass(true),
                s.bold(&value.to_string()),
                s.muted(&format!("({location})"))
            );
            exit::OK
        }
        Ok(Outcome::Refused { why, .. }) => super::refused(&why, &secrets),
        Ok(Outcome::Moved { .. }) => exit::OK,
        Err(e) => super::session_failed(&e, &secrets),
    }
}
