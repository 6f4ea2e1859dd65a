//! `migtui probe`: probe every read path for a while and print the percentiles per path and
//! side, the new/old ratios and the verdict on each budget. Reads only; takes no lease.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::output::Style;
use super::{exit, load_config};
use crate::engine::preflight;
use crate::engine::probe::{self, PathLatency, budget::ms};

pub async fn run(path: &Path, seconds: u64, json: bool) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if config.paths.is_empty() {
        eprintln!(
            "migtui: the migration file declares no [[path]]\n  hint: add a read path (see docs/migration-file.md)"
        );
        return exit::USAGE;
    }
    let secrets = config.secrets.clone();
    let (dbs, checks) = preflight::connect_all(&config).await;
    for side in ["old", "new"] {
        if !dbs.contains_key(side) {
            let why = checks
                .iter()
                .find(|c| c.subject == format!("database {side}"))
                .map_or_else(|| "not connected".to_string(), |c| c.detail.clone());
            eprintln!("migtui: database `{side}`: {}", secrets.mask(&why));
            for db in dbs.values() {
                db.close().await;
            }
            return exit::UNAVAILABLE;
        }
    }
    if !json {
        eprintln!(
            "probing {} read path(s) for {seconds} s …",
            config.paths.len()
        );
    }
    let reports = probe::probe_for(Arc::new(config), &dbs, Duration::from_secs(seconds)).await;
    for db in dbs.values() {
        db.close().await;
    }
    let breached = reports.iter().any(|r| r.breached);
    if json {
        let doc = serde_json::json!({ "schema_version": 1, "seconds": seconds, "paths": reports });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        println!("{}", secrets.mask(&text));
    } else {
        let s = Style::stdout();
        for r in &reports {
            print!("{}", secrets.mask(&render(r, &s)));
        }
    }
    if breached { exit::FAILED } else { exit::OK }
}

/// One path as text: the session window per side, the ratios, the verdict.
fn render(r: &PathLatency, s: &Style) -> String {
    let mut out = format!(
        "{} {}\n",
        s.bold(&format!("path {}", r.path)),
        s.muted(&format!("({} keys, budget: {})", r.keys, r.budget))
    );
    let Some(w) = r.windows.iter().find(|w| w.window == "session") else {
        return out;
    };
    out.push_str("  side  probes  errors  timeouts      p50      p95      p99      max\n");
    for (side, st) in [("old", &w.old), ("new", &w.new)] {
        out.push_str(&format!(
            "  {side:<4}  {:>6}  {:>6}  {:>8}  {:>7}  {:>7}  {:>7}  {:>7}\n",
            st.count,
            st.errors,
            st.timeouts,
            ms(st.p50_ms),
            ms(st.p95_ms),
            ms(st.p99_ms),
            ms(st.max_ms)
        ));
    }
    let ratio = |r: Option<f64>| r.map_or("–".to_string(), |r| format!("{r:.2}×"));
    out.push_str(&format!(
        "  new/old  p50 {}  p95 {}  p99 {}\n",
        ratio(w.ratio_p50),
        ratio(w.ratio_p95),
        ratio(w.ratio_p99)
    ));
    for (side, e) in [("old", &r.last_error_old), ("new", &r.last_error_new)] {
        if let Some(e) = e {
            out.push_str(&format!(
                "  last {side} error: {}\n",
                e.lines().next().unwrap_or_default()
            ));
        }
    }
    if let Some(p) = &r.problem {
        out.push_str(&format!("  {} {p}\n", s.danger("!")));
    }
    let mark = s.pass(!r.breached);
    out.push_str(&format!("  {mark} {}\n", r.verdict));
    if let Some(o) = r.overhead_us_per_probe {
        out.push_str(&s.muted(&format!(
            "  probe overhead: {o:.1} µs per probe beyond the query\n"
        )));
    }
    out
}
