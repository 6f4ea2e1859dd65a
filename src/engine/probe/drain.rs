//! The drain check: after reads move to the new model, is the old path's query still being
//! called by the application? Read from the engine's statement statistics (PostgreSQL
//! `pg_stat_statements`, MariaDB/MySQL `performance_schema` digests) and net of migtui's own
//! old-side probes. Where the statistics are not available, it says so plainly.

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::db::{Db, Params};

/// The drain check of one read path, as the cockpit shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DrainStatus {
    pub path: String,
    pub database: String,
    pub available: bool,
    /// One line: how many calls, or why the check cannot run and how to enable it.
    pub detail: String,
    /// Calls of the old query counted by the engine since its statistics were reset.
    pub calls: Option<i64>,
    /// The application's calls per minute since the previous look (migtui's probes removed).
    pub app_calls_per_min: Option<f64>,
}

/// The statement's shape, for matching against the engine's normalized texts: lower case,
/// quotes dropped, every placeholder and literal parameter as `?`, no spacing around symbols.
pub fn fingerprint(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        let piece: Option<String> = match c {
            '`' | '"' => None,
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                Some("?".into())
            }
            ':' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') =>
            {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '_')
                {
                    chars.next();
                }
                Some("?".into())
            }
            c if c.is_whitespace() => {
                pending_space = true;
                None
            }
            c => Some(c.to_lowercase().collect()),
        };
        if let Some(p) = piece {
            let symbol = |s: &str| s.chars().all(|c| "(),=<>;?".contains(c));
            let last_symbol = out.chars().last().is_some_and(|c| "(),=<>".contains(c));
            if pending_space && !out.is_empty() && !symbol(&p) && !last_symbol {
                out.push(' ');
            }
            pending_space = false;
            out.push_str(&p);
        }
    }
    out.trim_end_matches(';').to_string()
}

/// Calls of `sql` counted by the engine, or why they cannot be read (with the fix).
pub async fn calls(db: &Db, sql: &str) -> Result<i64, String> {
    let d = db.dialect();
    let unavailable = |why: String| {
        format!(
            "statement statistics unavailable on {} (`{}`): {why}; {}",
            db.engine(),
            db.name(),
            d.statement_stats_hint()
        )
    };
    let Some(stats_sql) = d.statement_stats_sql() else {
        return Err(unavailable("the engine keeps none".into()));
    };
    if let Some(enabled_sql) = d.statement_stats_enabled_sql() {
        let on = db
            .query(enabled_sql, &Params::new())
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let enabled = on
            .rows
            .first()
            .and_then(|r| r.first())
            .is_some_and(|v| v.to_text().trim() == "1" || v.to_text() == "true");
        if !enabled {
            return Err(unavailable("they are switched off".into()));
        }
    }
    let rows = db
        .query(stats_sql, &Params::new())
        .await
        .map_err(|e| unavailable(first_line(&e.to_string())))?;
    let want = fingerprint(sql);
    let mut total = 0i64;
    for r in &rows.rows {
        let (Some(text), Some(n)) = (r.first(), r.get(1)) else {
            continue;
        };
        if fingerprint(&text.to_text()) == want {
            total += n.to_text().trim().parse::<f64>().unwrap_or(0.0) as i64;
        }
    }
    Ok(total)
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

/// Follows one path's old-query calls between looks.
#[derive(Debug, Default)]
pub struct Tracker {
    last: Option<(Instant, i64, u64)>,
}

impl Tracker {
    /// Look now: `probes` is how many old-side probes migtui has run so far.
    pub async fn look(&mut self, path: &str, db: &Db, sql: &str, probes: u64) -> DrainStatus {
        let now = Instant::now();
        let mut status = DrainStatus {
            path: path.to_string(),
            database: db.name().to_string(),
            available: false,
            detail: String::new(),
            calls: None,
            app_calls_per_min: None,
        };
        match calls(db, sql).await {
            Err(why) => {
                self.last = None;
                status.detail = why;
            }
            Ok(n) => {
                status.available = true;
                status.calls = Some(n);
                if let Some((t, before, probes_before)) = self.last {
                    let mins = now.saturating_duration_since(t).as_secs_f64() / 60.0;
                    let app = (n - before) as f64 - probes.saturating_sub(probes_before) as f64;
                    let rate = (mins > 0.0).then(|| (app.max(0.0)) / mins);
                    status.app_calls_per_min = rate;
                    status.detail = match rate {
                        Some(r) if r < 0.5 => {
                            "drained: the application no longer calls the old query".into()
                        }
                        Some(r) => format!("still called: {r:.1} calls/min by the application"),
                        None => "measuring".into(),
                    };
                } else {
                    status.detail = format!("{n} calls so far; the rate follows at the next look");
                }
                self.last = Some((now, n, probes));
            }
        }
        status
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprint;

    #[test]
    fn engines_normalized_texts_match_the_configured_query() {
        let ours = fingerprint("SELECT status FROM incidents WHERE id = :key");
        assert_eq!(ours, "select status from incidents where id=?");
        assert_eq!(
            fingerprint("SELECT `status` FROM `incidents` WHERE `id` = ? "),
            ours
        );
        assert_eq!(
            fingerprint("select status\n  from incidents where id=$1;"),
            ours
        );
        assert_ne!(
            fingerprint("SELECT name FROM incidents WHERE id = $1"),
            ours
        );
    }
}
