//! Gathering the report from the state store and the migration file alone, so someone who was
//! not there can make it after the fact. Every list is bounded; times come from the store.

use std::collections::BTreeMap;

use crate::config::{Config, Side};
use crate::engine::backfill::checkpoint;
use crate::engine::flag::FlagValue;
use crate::engine::phase::Plan;
use crate::engine::probe::{budget, hist::SideStats, metrics};
use crate::engine::verify::{REDACTED, RateBound};
use crate::store::{
    AuditRecord, BackfillRun, DivergenceFilter, DivergenceStatus, MAX_METRIC_ROWS, MAX_PAGE,
    MetricRow, Store,
};

use super::model::*;
use super::risks::risks;
use super::{Options, ReportError};

/// The most divergent keys a report lists (the counts per status are always complete).
pub const MAX_DIVERGENCES: usize = 1000;
/// The most pages of latency snapshots a report reads (20,000 rows each; five are about a week
/// of one read path probed on both sides). Bounds the memory a report takes.
const MAX_METRIC_PAGES: usize = 5;
/// The most audit lines a report reads (the newest are kept when there are more).
const MAX_AUDIT: usize = 100_000;

/// Everything, as one value.
pub async fn gather(
    store: &Store,
    config: &Config,
    options: &Options,
) -> Result<Report, ReportError> {
    let generated = match options.now_us {
        Some(t) => t,
        None => store.now_us().await?,
    };
    let since = options.since_us.unwrap_or(i64::MIN);
    let state = store.state().await?;
    let migration = Migration {
        name: config.migration.name.clone(),
        description: config.migration.description.clone(),
        phase: state.phase,
        phase_since: Time(state.since_us),
        plan: Plan::new(&config.phases.skip).phases().to_vec(),
        state_database: config.state.database.clone(),
        databases: config
            .databases
            .values()
            .map(|d| Database {
                name: d.name.clone(),
                engine: d.url.scheme(),
                target: d.url.display_target(),
            })
            .collect(),
    };
    let audit = audit_lines(store, since).await?;
    let timeline = timeline(store, since).await?;
    let runs = store.backfill_runs(since).await?;
    let backfill = backfill(store, config, since, &runs).await?;
    let interruptions = super::interruptions::interruptions(&audit, &runs, &backfill);
    let verification = verification(store, config, options.since_us).await?;
    let divergences = divergences(store, config, since, options.include_values).await?;
    let latency = latency(store, config, since).await?;
    let backups = store
        .backups()
        .await?
        .into_iter()
        .map(|b| Backup {
            name: b.name,
            destination: b.destination,
            location: b.location,
            database: b.database,
            source_table: b.source_table,
            columns: b.columns.into_iter().map(|c| c.name).collect(),
            rows: b.rows,
            size_bytes: b.size_bytes,
            checksum: b.checksum,
            status: b.status.as_str().to_string(),
            detail: b.detail,
            created: Time(b.created_us),
            verified: b.verified_us.map(Time),
            restore_command: b.restore_command,
        })
        .collect();
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        generated_at: Time(generated),
        since: options.since_us.map(Time),
        include_values: options.include_values,
        migration,
        flag_flips: audit.iter().filter_map(flag_flip).collect(),
        contract: audit.iter().filter_map(contract_statement).collect(),
        audit: audit.into_iter().map(audit_line).collect(),
        timeline,
        backfill,
        verification,
        divergences,
        latency,
        backups,
        risks: Vec::new(),
        interruptions,
    };
    report.risks = risks(&report, config);
    Ok(report)
}

async fn audit_lines(store: &Store, since: i64) -> Result<Vec<AuditRecord>, ReportError> {
    let mut out: Vec<AuditRecord> = Vec::new();
    let mut after = 0;
    loop {
        let page = store.audit_since(after).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() >= MAX_PAGE;
        out.extend(page.into_iter().filter(|a| a.at_us >= since));
        if out.len() > MAX_AUDIT {
            out.drain(..out.len() - MAX_AUDIT);
        }
        if !full {
            break;
        }
    }
    Ok(out)
}

fn audit_line(a: AuditRecord) -> AuditLine {
    AuditLine {
        id: a.id,
        at: Time(a.at_us),
        user: a.user,
        host: a.host,
        action: a.action,
        params: a.params,
        outcome: a.outcome,
    }
}

/// A JSON value as short text: strings bare, flag values as the cockpit shows them.
fn text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(match serde_json::from_value::<FlagValue>(other.clone()) {
            Ok(f) => f.to_string(),
            Err(_) => other.to_string(),
        }),
    }
}

fn flag_flip(a: &AuditRecord) -> Option<FlagFlip> {
    if a.action != "flag.set" {
        return None;
    }
    let p = &a.params;
    Some(FlagFlip {
        at: Time(a.at_us),
        operator: format!("{}@{}", a.user, a.host),
        from: text(&p["from"]),
        to: text(&p["to"]).unwrap_or_else(|| "?".into()),
        reason: text(&p["reason"]),
        automatic: p["automatic"].as_bool().unwrap_or(false),
        outcome: a.outcome.clone(),
    })
}

fn contract_statement(a: &AuditRecord) -> Option<ContractStatement> {
    if a.action != "contract.statement" {
        return None;
    }
    Some(ContractStatement {
        at: Time(a.at_us),
        operator: format!("{}@{}", a.user, a.host),
        sql: text(&a.params["sql"]).unwrap_or_default(),
        attempt: a.params["attempt"].as_i64(),
        elapsed_ms: a.params["elapsed_ms"].as_f64(),
        outcome: a.outcome.clone(),
    })
}

async fn timeline(store: &Store, since: i64) -> Result<Vec<Transition>, ReportError> {
    let mut history = store.history(MAX_PAGE).await?;
    history.reverse();
    Ok(history
        .into_iter()
        .filter(|h| h.at_us >= since)
        .map(|h| Transition {
            at: Time(h.at_us),
            from: h.from,
            to: h.to,
            kind: h.kind.as_str().to_string(),
            reason: h.reason,
            operator: format!("{}@{}", h.operator.user, h.operator.host),
            one_way_door: h.to.is_one_way_door() && h.to > h.from,
            failing_gates: h
                .gates
                .iter()
                .filter(|g| !g.pass)
                .map(|g| g.name.clone())
                .collect(),
            gates: h.gates,
        })
        .collect())
}

async fn backfill(
    store: &Store,
    config: &Config,
    since: i64,
    runs: &[BackfillRun],
) -> Result<Vec<BackfillStep>, ReportError> {
    let checkpoints = checkpoint::load_all(store.db(), store.migration())
        .await
        .map_err(|e| ReportError::Backfill(e.to_string()))?;
    let samples = store.backfill_samples(since).await?;
    let mut names: Vec<String> = config.backfill.iter().map(|s| s.name.clone()).collect();
    for cp in &checkpoints {
        if !names.contains(&cp.step) {
            names.push(cp.step.clone());
        }
    }
    Ok(names
        .into_iter()
        .map(|name| {
            let cp = checkpoints.iter().find(|c| c.step == name);
            let mine = samples.iter().filter(|s| s.step == name);
            let (retries, throttled_ms) = mine
                .clone()
                .fold((0, 0), |(r, t), s| (r + s.retries, t + s.throttled_ms));
            let rate_over_time = mine
                .filter(|s| s.interval_ms > 0)
                .map(|s| RatePoint {
                    at: Time(s.at_us),
                    rows_per_second: s.rows as f64 * 1000.0 / s.interval_ms as f64,
                })
                .collect();
            let duration = cp
                .map(|c| (c.updated_us - c.started_us) as f64 / 1e6)
                .filter(|d| *d > 0.0);
            BackfillStep {
                status: cp.map_or("pending".into(), |c| c.status.clone()),
                rows: cp.map_or(0, |c| c.rows_done),
                chunks: cp.map_or(0, |c| c.chunks),
                started: cp.map(|c| Time(c.started_us)),
                updated: cp.map(|c| Time(c.updated_us)),
                duration_secs: duration,
                rows_per_second: duration.zip(cp).map(|(d, c)| c.rows_done as f64 / d),
                retries: retries.max(0) as u64,
                throttled_secs: throttled_ms.max(0) as f64 / 1000.0,
                runs: runs.iter().filter(|r| r.step == name).count() as u64,
                resumed_runs: runs
                    .iter()
                    .filter(|r| r.step == name && r.resumed_after.is_some())
                    .count() as u64,
                error: cp.and_then(|c| c.error.clone()),
                rate_over_time,
                step: name,
            }
        })
        .collect())
}

async fn verification(
    store: &Store,
    config: &Config,
    since: Option<i64>,
) -> Result<Vec<Check>, ReportError> {
    let mut out = Vec::new();
    for check in &config.verify {
        let windows = store.verify_windows(&check.name, since).await?;
        let (mut compared, mut divergent, mut healed, mut in_flight) = (0, 0, 0, 0);
        let mut over_time = Vec::new();
        for (at, w) in &windows {
            compared += w.compared;
            divergent += w.divergent;
            healed += w.healed;
            in_flight += w.in_flight;
            let b = RateBound::new(compared, divergent, None);
            over_time.push(CheckPoint {
                at: Time(*at),
                compared: w.compared,
                divergent: w.divergent,
                cumulative_rate: b.observed,
                cumulative_upper_bound_95: b.upper,
            });
        }
        let b = RateBound::new(compared, divergent, None);
        let full_diff = store.full_checkpoint(&check.name).await?.map(|f| FullDiff {
            started: Time(f.started_us),
            rows_compared: f.rows_done,
            divergent: f.divergent,
            finished: f.finished,
        });
        let pages = if check.sample.unit == crate::config::SampleUnit::Pages {
            let c = store
                .verify_counts(&crate::engine::verify::pages_counter(&check.name), since)
                .await?;
            Some(CheckPages {
                compared: c.compared,
                divergent: c.divergent,
                upper_bound_95: RateBound::new(c.compared, c.divergent, None).upper,
            })
        } else {
            None
        };
        out.push(Check {
            pages,
            check: check.name.clone(),
            compared,
            divergent,
            healed,
            in_flight,
            rate: b.observed,
            upper_bound_95: b.upper,
            over_time,
            full_diff,
        });
    }
    Ok(out)
}

async fn divergences(
    store: &Store,
    config: &Config,
    since: i64,
    include_values: bool,
) -> Result<Divergences, ReportError> {
    let by_status = store
        .divergence_counts(None)
        .await?
        .into_iter()
        .map(|(s, n)| (s.as_str().to_string(), n))
        .collect();
    let mut items = Vec::new();
    let mut truncated = false;
    let mut after: Option<(String, String)> = None;
    let filter = DivergenceFilter::default();
    'pages: loop {
        let cursor = after.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
        let page = store.divergence_page(&filter, cursor, MAX_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some((last.check.clone(), last.key_text.clone()));
        let full = page.len() >= MAX_PAGE;
        for d in page.into_iter().filter(|d| d.last_seen_us >= since) {
            if items.len() >= MAX_DIVERGENCES {
                truncated = true;
                break 'pages;
            }
            let redact: &[String] = config
                .verify
                .iter()
                .find(|c| c.name == d.check)
                .map_or(&[], |c| c.redact.as_slice());
            let values = |v: &Option<serde_json::Value>| {
                include_values.then(|| v.as_ref().map(|v| row_values(v, redact)))?
            };
            items.push(Divergence {
                old: values(&d.old_raw),
                new: values(&d.new_raw),
                check: d.check,
                key: d.key_text,
                kind: d.kind,
                columns: d.columns,
                status: d.status.as_str().to_string(),
                source: d.source,
                first_seen: Time(d.first_seen_us),
                last_seen: Time(d.last_seen_us),
                times_seen: d.times_seen,
                note: d.note,
            });
        }
        if !full {
            break;
        }
    }
    Ok(Divergences {
        by_status,
        items,
        truncated,
    })
}

/// A stored row (column → `Value` as JSON) as column → text, `redact` columns masked again
/// whatever the store holds.
fn row_values(row: &serde_json::Value, redact: &[String]) -> BTreeMap<String, String> {
    let Some(map) = row.as_object() else {
        return BTreeMap::new();
    };
    map.iter()
        .map(|(col, v)| {
            let shown = if redact.iter().any(|r| r.eq_ignore_ascii_case(col)) {
                REDACTED.to_string()
            } else {
                match serde_json::from_value::<crate::db::Value>(v.clone()) {
                    Ok(val) => val.display(),
                    Err(_) => v.to_string(),
                }
            };
            (col.clone(), shown)
        })
        .collect()
}

async fn latency(
    store: &Store,
    config: &Config,
    since: i64,
) -> Result<Vec<PathLatency>, ReportError> {
    let rows = metric_rows(store, since).await?;
    let merged = metrics::merge(&rows);
    let ms = |us: Option<i64>| us.map(|u| u as f64 / 1000.0);
    let mut out = Vec::new();
    for path in &config.paths {
        let stats = |side: Side| {
            merged
                .get(&(path.name.clone(), side))
                .map(|t| t.stats())
                .unwrap_or_default()
        };
        let (old, new) = (stats(Side::Old), stats(Side::New));
        let (verdict, breaches) = match budget::judge(path, &old, &new) {
            budget::Verdict::Met(_) => ("met", Vec::new()),
            budget::Verdict::TooFew(_) => ("too_few", Vec::new()),
            budget::Verdict::Breached(b) => ("breached", b),
        };
        let mut points: BTreeMap<i64, LatencyPoint> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.path == path.name) {
            let p = points.entry(r.at_us).or_insert(LatencyPoint {
                at: Time(r.at_us),
                old_p50_ms: None,
                old_p95_ms: None,
                old_p99_ms: None,
                new_p50_ms: None,
                new_p95_ms: None,
                new_p99_ms: None,
            });
            match r.side.as_str() {
                "old" => {
                    (p.old_p50_ms, p.old_p95_ms, p.old_p99_ms) =
                        (ms(r.p50_us), ms(r.p95_us), ms(r.p99_us))
                }
                "new" => {
                    (p.new_p50_ms, p.new_p95_ms, p.new_p99_ms) =
                        (ms(r.p50_us), ms(r.p95_us), ms(r.p99_us))
                }
                _ => {}
            }
        }
        out.push(PathLatency {
            path: path.name.clone(),
            budget: Budget {
                p95_ms: path.budget.p95_ms,
                new_over_old_at_most: path.budget.new_over_old_at_most,
                error_rate_at_most: path.budget.error_rate_at_most,
                text: budget::threshold(&path.budget),
            },
            new_over_old_p95: budget::ratio(new.p95_ms, old.p95_ms),
            old: side(&old),
            new: side(&new),
            verdict: verdict.to_string(),
            breaches,
            over_time: points.into_values().collect(),
        });
    }
    Ok(out)
}

/// Every metric row since `since`, page by page (a page ends on a whole snapshot: rows of one
/// snapshot share their time), up to [`MAX_METRIC_PAGES`] pages.
async fn metric_rows(store: &Store, since: i64) -> Result<Vec<MetricRow>, ReportError> {
    let mut out: Vec<MetricRow> = Vec::new();
    let mut from = since;
    for _ in 0..MAX_METRIC_PAGES {
        let mut page = store.metrics_since(from).await?;
        let full = page.len() >= MAX_METRIC_ROWS;
        if full && let Some(last) = page.last().map(|r| r.at_us) {
            // The last snapshot may be cut short: read it again with the next page.
            if page.iter().all(|r| r.at_us == last) {
                out.extend(page);
                break;
            }
            page.retain(|r| r.at_us != last);
            from = last;
        }
        out.extend(page);
        if !full {
            break;
        }
    }
    Ok(out)
}

fn side(s: &SideStats) -> SideLatency {
    SideLatency {
        count: s.count,
        errors: s.errors,
        timeouts: s.timeouts,
        p50_ms: s.p50_ms,
        p95_ms: s.p95_ms,
        p99_ms: s.p99_ms,
        max_ms: s.max_ms,
    }
}

/// Open divergences count as a risk; the others are settled or transient.
pub fn open_divergences(by_status: &BTreeMap<String, u64>) -> u64 {
    by_status
        .get(DivergenceStatus::Open.as_str())
        .copied()
        .unwrap_or(0)
}
