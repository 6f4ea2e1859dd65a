//! `migtui check`: the file, the connections, the schemas. One line per check; changes nothing.

use std::path::Path;

use super::output::Style;
use super::{exit, load_config};
use crate::engine::preflight::{self, Check, Status};

pub async fn run(path: &Path, json: bool) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let summary = format!(
        "{} database(s), {} backfill step(s), {} verify check(s), {} read path(s), {} backup(s)",
        config.databases.len(),
        config.backfill.len(),
        config.verify.len(),
        config.paths.len(),
        config.backups.len()
    );
    let mut checks = vec![Check {
        subject: "migration file".into(),
        status: Status::Ok,
        detail: summary,
        fix: None,
    }];
    let (dbs, connect_checks) = preflight::connect_all(&config).await;
    checks.extend(connect_checks);
    checks.extend(preflight::schema_checks(&config, &dbs).await);
    for db in dbs.values() {
        db.close().await;
    }
    // Everything printed passes through the secret mask, driver messages included.
    let checks: Vec<Check> = checks
        .into_iter()
        .map(|c| Check {
            detail: config.secrets.mask(&c.detail),
            fix: c.fix.map(|f| config.secrets.mask(&f)),
            ..c
        })
        .collect();
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();

    if json {
        let doc = serde_json::json!({
            "migration": config.migration.name,
            "file": path.display().to_string(),
            "ok": failed == 0,
            "checks": checks,
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        let s = Style::stdout();
        println!(
            "{} {}",
            s.bold(&format!("migtui check — {}", config.migration.name)),
            s.muted(&format!("({})", path.display()))
        );
        for c in &checks {
            println!("{} {}: {}", s.mark(c.status), c.subject, c.detail);
            if let Some(fix) = &c.fix {
                println!("    {} {fix}", s.muted("fix:"));
            }
        }
        let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
        match failed {
            0 => println!(
                "\nall {} checks pass{}",
                checks.len(),
                if warned > 0 {
                    format!(" ({warned} warning(s))")
                } else {
                    String::new()
                }
            ),
            n => println!("\n{n} of {} checks failed", checks.len()),
        }
    }
    if failed == 0 { exit::OK } else { exit::FAILED }
}
