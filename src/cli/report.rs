//! `migtui report -c FILE`: the session report from the state store. Reads only: it opens the
//! state database, never the old or new one, and takes no lease, so anyone can make the report
//! after the fact, while a migration runs or long after.

use std::path::PathBuf;

use super::{exit, load_config};
use crate::report::{Format, Options};
use crate::store::Store;

#[derive(Debug, Clone, clap::Args)]
pub struct ReportArgs {
    /// The migration file (TOML).
    #[arg(
        short = 'c',
        long = "config",
        value_name = "FILE",
        env = "MIGTUI_CONFIG"
    )]
    pub config: PathBuf,
    /// Markdown (for a code host), JSON (for tools) or one self-contained HTML page.
    #[arg(long, value_enum, default_value_t = Format::Md)]
    pub format: Format,
    /// Write to this file instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// Only what happened since then: an RFC 3339 time (`2026-11-21T08:00:00Z`) or a duration
    /// back from now (`90m`, `2h`, `1d`).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show divergent values too (columns marked `redact` stay masked).
    #[arg(long)]
    pub include_values: bool,
}

pub async fn run(args: ReportArgs) -> u8 {
    let config = match load_config(&args.config) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let fail = |msg: String, code: u8| {
        eprintln!("migtui: {}", secrets.mask(&msg));
        code
    };
    let state = &config.state.database;
    let Some(db_cfg) = config.database(state) else {
        let msg = format!("the state database `{state}` is not declared in [databases]");
        return fail(msg, exit::USAGE);
    };
    let db = match crate::db::connect(db_cfg, &config.secrets).await {
        Ok(db) => db,
        Err(e) => return fail(e.to_string(), exit::UNAVAILABLE),
    };
    let result = report(&db, &config, &args).await;
    db.close().await;
    let text = match result {
        Ok(t) => t,
        Err((msg, code)) => return fail(msg, code),
    };
    match &args.output {
        None => {
            print!("{text}");
            exit::OK
        }
        Some(path) => match std::fs::write(path, text.as_bytes()) {
            Ok(()) => {
                eprintln!("migtui: wrote the report to {}", path.display());
                exit::OK
            }
            Err(e) => fail(
                format!(
                    "cannot write the report to {}: {e}\n  hint: check the directory exists and is writable",
                    path.display()
                ),
                exit::FAILED,
            ),
        },
    }
}

async fn report(
    db: &crate::db::Db,
    config: &crate::config::Config,
    args: &ReportArgs,
) -> Result<String, (String, u8)> {
    // A report of a migration that never ran would be empty and opening the store would
    // create its record: say so instead (a typo in the name, or the wrong state database).
    let name = config.migration.name.as_str();
    let known = db
        .query(
            "SELECT name FROM migtui_migration WHERE name = :m",
            &crate::db::Params::new().bind("m", name),
        )
        .await
        .is_ok_and(|rows| !rows.is_empty());
    if !known {
        return Err((
            format!(
                "the state store in database `{}` holds no migration named `{name}`\n  \
                 hint: check [migration] name and [state] database; the report reads what a \
                 session recorded",
                config.state.database
            ),
            exit::FAILED,
        ));
    }
    let store = Store::open(db.clone(), &config.migration.name)
        .await
        .map_err(|e| (e.to_string(), exit::UNAVAILABLE))?;
    let since_us = match &args.since {
        None => None,
        Some(s) => {
            let now = store
                .now_us()
                .await
                .map_err(|e| (e.to_string(), exit::UNAVAILABLE))?;
            Some(parse_since(s, now).map_err(|e| (e, exit::USAGE))?)
        }
    };
    let options = Options {
        format: args.format,
        since_us,
        include_values: args.include_values,
        now_us: None,
    };
    crate::report::build(&store, config, &options)
        .await
        .map_err(|e| (e.to_string(), exit::UNAVAILABLE))
}

/// `--since`: an RFC 3339 time, or a duration back from `now_us` (`45s`, `90m`, `2h`, `1d`).
pub fn parse_since(s: &str, now_us: i64) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.timestamp_micros());
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let secs = match (n.parse::<i64>(), unit) {
        (Ok(n), "s") => Some(n),
        (Ok(n), "m") => Some(n * 60),
        (Ok(n), "h") => Some(n * 3600),
        (Ok(n), "d") => Some(n * 86_400),
        _ => None,
    };
    match secs {
        Some(secs) => Ok(now_us - secs * 1_000_000),
        None => Err(format!(
            "--since `{s}` is neither an RFC 3339 time nor a duration\n  \
             hint: `--since 2026-11-21T08:00:00Z` or `--since 2h` (s, m, h, d)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_times_and_durations() {
        let now = 10_000_000_000;
        assert_eq!(parse_since("2h", now), Ok(now - 7_200_000_000));
        assert_eq!(parse_since("90m", now), Ok(now - 5_400_000_000));
        assert_eq!(parse_since("1970-01-01T00:00:01Z", now), Ok(1_000_000));
        assert!(parse_since("yesterday", now).is_err());
        assert!(parse_since("5w", now).is_err());
    }
}
