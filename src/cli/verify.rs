//! `migtui verify`: compare the old and new models headless — a sample, typed keys, or the
//! full tables — print the numbers and the divergent keys; exit 3 when any row diverges.

use std::path::Path;

use super::output::Style;
use super::{exit, load_config};
use crate::config::Config;
use crate::db::Db;
use crate::engine::verify::full::{FullOptions, full_diff};
use crate::engine::verify::sample::{Rng, parse_keys, random_keys, random_pages};

use crate::engine::verify::{Difference, KeySourceKind, PageBound, RateBound, Verifier, key_text};
use crate::store::Store;

/// What to compare.
#[derive(Debug, Clone)]
pub struct VerifyArgs {
    pub check: Option<String>,
    pub full: bool,
    pub keys: Option<String>,
    pub sample: usize,
    pub json: bool,
    /// Throttle of the full diff, overriding the check's `full.max_rows_per_second`.
    pub max_rows_per_second: Option<f64>,
}

/// The divergent keys a full diff keeps for this output. Every one is recorded in
/// `migtui_divergences` (the cockpit pages them); each kept here holds both sides' rows, raw
/// and normalized, so the engine's default of 10,000 held about 40 MB of a 150 MB budget.
const FULL_KEYS_KEPT: usize = 1000;

/// Divergent keys printed in the human summary.
const KEYS_PRINTED: usize = 50;

/// One check's outcome, as printed.
#[derive(Debug, serde::Serialize)]
struct CheckOutcome {
    check: String,
    mode: &'static str,
    #[serde(flatten)]
    numbers: RateBound,
    healed: u64,
    in_flight: u64,
    divergent_keys: Vec<serde_json::Value>,
}

fn summary(d: &Difference) -> serde_json::Value {
    serde_json::json!({ "key": key_text(&d.key), "kind": d.kind, "columns": d.columns })
}

async fn connect(config: &Config, name: &str) -> Result<Db, String> {
    let cfg = config.databases.get(name).ok_or_else(|| {
        format!("the migration file declares no database `{name}` ([databases.{name}])")
    })?;
    crate::db::connect(cfg, &config.secrets)
        .await
        .map_err(|e| e.to_string())
}

pub async fn run(path: &Path, args: VerifyArgs) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let fail = |msg: String, code: u8| {
        eprintln!("migtui: {}", secrets.mask(&msg));
        code
    };
    let checks: Vec<_> = config
        .verify
        .iter()
        .filter(|c| args.check.as_ref().is_none_or(|n| &c.name == n))
        .cloned()
        .collect();
    if checks.is_empty() {
        let names: Vec<&str> = config.verify.iter().map(|c| c.name.as_str()).collect();
        return fail(
            match &args.check {
                Some(n) => format!(
                    "no [[verify]] check named `{n}` (checks: {})",
                    names.join(", ")
                ),
                None => "the migration file has no [[verify]] check".into(),
            },
            exit::USAGE,
        );
    }
    // The state database and each database the chosen checks name, connected once each.
    let mut names: Vec<&str> = vec![config.state.database.as_str()];
    for c in &checks {
        names.extend([c.old_database.as_str(), c.new_database.as_str()]);
    }
    names.sort_unstable();
    names.dedup();
    let mut dbs: std::collections::BTreeMap<String, Db> = std::collections::BTreeMap::new();
    for name in names {
        match connect(&config, name).await {
            Ok(db) => dbs.insert(name.to_string(), db),
            Err(e) => return fail(e, exit::UNAVAILABLE),
        };
    }
    let Some(state) = dbs.get(&config.state.database).cloned() else {
        return fail(
            "the state database did not connect".into(),
            exit::UNAVAILABLE,
        );
    };
    let store = match Store::open(state.clone(), &config.migration.name).await {
        Ok(s) => s,
        Err(e) => return fail(e.to_string(), exit::UNAVAILABLE),
    };
    let mut outcomes = Vec::new();
    for check in checks {
        let (Some(old), Some(new)) = (dbs.get(&check.old_database), dbs.get(&check.new_database))
        else {
            return fail(
                "a check's database did not connect".into(),
                exit::UNAVAILABLE,
            );
        };
        let v = Verifier::new(check, old.clone(), new.clone(), Some(store.clone()));
        match run_check(&v, &args).await {
            Ok(o) => outcomes.push(o),
            Err(e) => return fail(e, exit::FAILED),
        }
    }
    for db in dbs.values() {
        db.close().await;
    }
    let divergent: u64 = outcomes.iter().map(|o| o.numbers.divergent).sum();
    if args.json {
        let doc = serde_json::json!({
            "migration": config.migration.name,
            "divergent": divergent,
            "checks": outcomes,
        });
        println!(
            "{}",
            secrets.mask(&serde_json::to_string_pretty(&doc).unwrap_or_default())
        );
    } else {
        print!("{}", secrets.mask(&render(&outcomes, Style::stdout())));
    }
    if divergent > 0 {
        exit::DIVERGENT
    } else {
        exit::OK
    }
}

async fn run_check(v: &Verifier, args: &VerifyArgs) -> Result<CheckOutcome, String> {
    let table_rows = v
        .sample_db()
        .row_count(&v.check.sample.table, false)
        .await
        .ok()
        .map(|r| r.rows);
    if args.full {
        let mut opts = FullOptions::for_check(&v.check);
        opts.keep = FULL_KEYS_KEPT;
        if args.max_rows_per_second.is_some() {
            opts.max_rows_per_second = args.max_rows_per_second;
        }
        let r = full_diff(v, &opts, &mut |_| {})
            .await
            .map_err(|e| e.to_string())?;
        let compared = r.rows_old.max(r.rows_new);
        return Ok(CheckOutcome {
            check: v.check.name.clone(),
            mode: "full",
            numbers: RateBound::new(compared, r.divergent, Some(compared)),
            healed: r.healed,
            in_flight: r.in_flight,
            divergent_keys: r.differences.iter().map(summary).collect(),
        });
    }
    if args.keys.is_none() && v.counts_pages() {
        return sample_pages(v, args, table_rows).await;
    }
    let (keys, source, mode) = match &args.keys {
        Some(text) => (
            parse_keys(text, v.check.key.len())?,
            KeySourceKind::Keys,
            "keys",
        ),
        None => {
            let mut rng = Rng::from_time();
            let keys = random_keys(
                v.sample_db().as_ref(),
                &v.check.sample.table,
                &v.check.key,
                args.sample,
                &mut rng,
            )
            .await
            .map_err(|e| e.to_string())?;
            (keys, KeySourceKind::Sample, "sample")
        }
    };
    let mut report = crate::engine::verify::BatchReport::default();
    for batch in keys.chunks(1000) {
        let r = v
            .verify_keys(batch, source)
            .await
            .map_err(|e| e.to_string())?;
        report.compared += r.compared;
        report.matched += r.matched;
        report.open.extend(r.open);
        report.healed.extend(r.healed);
        report.in_flight.extend(r.in_flight);
    }
    Ok(CheckOutcome {
        check: v.check.name.clone(),
        mode,
        numbers: RateBound::new(report.compared, report.open.len() as u64, table_rows),
        healed: report.healed.len() as u64,
        in_flight: report.in_flight.len() as u64,
        divergent_keys: report.open.iter().map(summary).collect(),
    })
}

/// A check that counts pages (`sample.unit = "pages"`): whole pages drawn by `TABLESAMPLE`,
/// the bound over pages as the shadow gate reads it, the row numbers beside it.
async fn sample_pages(
    v: &Verifier,
    args: &VerifyArgs,
    table_rows: Option<u64>,
) -> Result<CheckOutcome, String> {
    let seed = (Rng::from_time().next_u64() >> 33) as u32;
    let db = v.sample_db();
    let sample = random_pages(
        db.as_ref(),
        &v.check.sample.table,
        &v.check.key,
        args.sample,
        seed,
    )
    .await
    .map_err(|e| e.to_string())?;
    let (report, (pages, bad)) = v.verify_pages(&sample).await.map_err(|e| e.to_string())?;
    let mut numbers = RateBound::new(report.compared, report.open.len() as u64, table_rows);
    numbers.pages = Some(PageBound::new(pages, bad, v.table_pages().await));
    Ok(CheckOutcome {
        check: v.check.name.clone(),
        mode: "pages",
        numbers,
        healed: report.healed.len() as u64,
        in_flight: report.in_flight.len() as u64,
        divergent_keys: report.open.iter().map(summary).collect(),
    })
}

fn percent(x: f64) -> String {
    format!("{:.4}%", x * 100.0)
}

/// The human summary.
fn render(outcomes: &[CheckOutcome], s: Style) -> String {
    let mut out = String::new();
    for o in outcomes {
        let n = &o.numbers;
        out += &format!(
            "{} {} ({}): {} compared, {} divergent ({}), 95% upper bound {}",
            s.pass(n.divergent == 0),
            s.bold(&o.check),
            o.mode,
            n.compared,
            n.divergent,
            percent(n.observed),
            percent(n.upper)
        );
        if let (Some(rows), Some(bound)) = (n.table_rows, n.table_bound) {
            out += &format!(", at most {bound} of {rows} rows");
        }
        out.push('\n');
        if let Some(p) = &n.pages {
            out += &format!(
                "    pages: {} compared, {} with a divergent row, 95% upper bound {}",
                p.compared,
                p.divergent,
                percent(p.upper)
            );
            if let (Some(all), Some(bound)) = (p.table_pages, p.table_bound) {
                out += &format!(", at most {bound} of {all} pages");
            }
            out.push('\n');
        }
        if o.healed + o.in_flight > 0 {
            out += &format!(
                "    {}\n",
                s.muted(&format!(
                    "{} healed at recheck, {} in flight",
                    o.healed, o.in_flight
                ))
            );
        }
        for d in o.divergent_keys.iter().take(KEYS_PRINTED) {
            let cols = d["columns"]
                .as_array()
                .map(|c| {
                    c.iter()
                        .filter_map(|x| x.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default();
            let kind = d["kind"].as_str().unwrap_or("");
            let key = d["key"].as_str().unwrap_or("");
            out += &format!(
                "    {} {key}: {kind}{}\n",
                s.danger("≠"),
                if cols.is_empty() {
                    String::new()
                } else {
                    format!(" ({cols})")
                }
            );
        }
        let printed = o.divergent_keys.len().min(KEYS_PRINTED) as u64;
        if o.numbers.divergent > printed {
            let listed = o.divergent_keys.len();
            let json = if (listed as u64) < o.numbers.divergent {
                format!("--json lists {listed}; all are in migtui_divergences")
            } else {
                "use --json".to_string()
            };
            out += &format!(
                "    … and {} more ({json})\n",
                o.numbers.divergent - printed
            );
        }
    }
    out
}

/// `--max-rows-per-second`: a positive, finite number.
pub(super) fn positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r > 0.0 && r.is_finite() => Ok(r),
        _ => Err(format!("`{s}` is not a positive number of rows per second")),
    }
}
