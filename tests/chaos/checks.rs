//! The end of a seed: the new model equals the application's truth exactly (full row sets),
//! the old model and its backup equal what the application last wrote there, every phase
//! transition is in the audit log exactly once, and `migtui report --json` accounts for every
//! interruption the harness caused.

use sqlx::{Connection, PgConnection};
use std::collections::BTreeMap;

use super::app::{AppOutcome, Truth};
use super::driver::Driver;

const TRANSITIONS: [(&str, &str); 9] = [
    ("plan", "expand"),
    ("expand", "dual_write"),
    ("dual_write", "backfill"),
    ("backfill", "shadow"),
    ("shadow", "read_new"),
    ("read_new", "stop_old_writes"),
    ("stop_old_writes", "backup"),
    ("backup", "drop"),
    ("drop", "done"),
];

async fn rows<T>(url: &str, sql: &str) -> Result<Vec<T>, String>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    let mut c = PgConnection::connect(url)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let r = sqlx::query_as::<_, T>(sql)
        .fetch_all(&mut c)
        .await
        .map_err(|e| format!("{sql}: {e}"));
    let _ = c.close().await;
    r
}

/// Compare two row sets by key; the error lists the first differences.
fn same<V: PartialEq + std::fmt::Debug>(
    what: &str,
    want: &BTreeMap<i64, V>,
    got: &BTreeMap<i64, V>,
) -> Result<(), String> {
    let mut diffs = Vec::new();
    for (k, w) in want {
        match got.get(k) {
            Some(g) if g == w => {}
            other => diffs.push(format!("id {k}: want {w:?}, got {other:?}")),
        }
    }
    for k in got.keys().filter(|k| !want.contains_key(k)) {
        diffs.push(format!("id {k}: not expected, got {:?}", got[k]));
    }
    if diffs.is_empty() {
        return Ok(());
    }
    let n = diffs.len();
    diffs.truncate(10);
    Err(format!(
        "{what}: {n} rows differ (of {}):\n  {}",
        want.len(),
        diffs.join("\n  ")
    ))
}

pub async fn data(d: &Driver<'_>, app: &AppOutcome) -> Result<u64, String> {
    let new: Vec<(i64, i64, String, i64)> = rows(
        &d.cluster.url("chaos_new"),
        "SELECT id, org, status, ver FROM accounts ORDER BY id",
    )
    .await?;
    let got: Truth = new.into_iter().map(|(i, o, s, v)| (i, (o, s, v))).collect();
    same("new model vs the application's truth", &app.truth, &got)?;

    let old: Vec<(i64, i64, i64)> = rows(
        &d.cluster.url("chaos_old"),
        "SELECT id, org, ver FROM accounts ORDER BY id",
    )
    .await?;
    let got: BTreeMap<i64, (i64, i64)> = old.into_iter().map(|(i, o, v)| (i, (o, v))).collect();
    let want: BTreeMap<i64, (i64, i64)> = app
        .old_truth
        .iter()
        .map(|(k, (o, _, v))| (*k, (*o, *v)))
        .collect();
    same("old model (status dropped) vs the old writes", &want, &got)?;

    let backup: Vec<(i64, String)> = rows(
        &d.cluster.url("chaos_old"),
        "SELECT id, status FROM migtui_backup_accounts_status ORDER BY id",
    )
    .await?;
    let got: BTreeMap<i64, String> = backup.into_iter().collect();
    let want: BTreeMap<i64, String> = app
        .old_truth
        .iter()
        .map(|(k, (_, s, _))| (*k, s.clone()))
        .collect();
    same("backup of old.status vs the old writes", &want, &got)?;

    let flag: Vec<(String,)> = rows(
        &d.cluster.url("chaos_new"),
        "SELECT value FROM feature_flags WHERE key = 'accounts.read_from_new'",
    )
    .await?;
    if flag.first().map(|f| f.0.as_str()) != Some("true") {
        return Err(format!("the read flag is {flag:?}, not true"));
    }
    Ok((app.truth.len() + 2 * app.old_truth.len()) as u64)
}

/// `migtui report --json` (no faults: the run is over), checked against the harness's log.
pub async fn report(d: &mut Driver<'_>) -> Result<serde_json::Value, String> {
    d.step = "report".into();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args(["report", "-c"])
        .arg(d.config())
        .args(["--format", "json"])
        .envs(d.env())
        .output()
        .await
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "report failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("report --format json is not JSON: {e}"))?;
    transitions(&doc)?;
    interruptions(d, &doc)?;
    Ok(doc)
}

/// Every transition of the plan in the audit log exactly once, and nothing else moved.
fn transitions(doc: &serde_json::Value) -> Result<(), String> {
    let mut seen: BTreeMap<(String, String), u32> = BTreeMap::new();
    for a in doc["audit"].as_array().into_iter().flatten() {
        // Refused advances are audited too (outcome `refused: …`); transitions end `ok`.
        let moved = a["outcome"] == "ok";
        if moved && (a["action"] == "advance" || a["action"] == "rollback") {
            let p = &a["params"];
            let key = (
                p["from"].as_str().unwrap_or("?").to_string(),
                p["to"].as_str().unwrap_or("?").to_string(),
            );
            *seen.entry(key).or_default() += 1;
        }
    }
    let want: BTreeMap<(String, String), u32> = TRANSITIONS
        .iter()
        .map(|(f, t)| ((f.to_string(), t.to_string()), 1))
        .collect();
    if seen != want {
        return Err(format!(
            "phase transitions in the audit log: {seen:?}, want each of {want:?} once"
        ));
    }
    let timeline = doc["timeline"].as_array().map_or(0, Vec::len);
    if timeline != TRANSITIONS.len() {
        return Err(format!(
            "the report's timeline has {timeline} transitions, want 9"
        ));
    }
    Ok(())
}

/// Count lines of a run's output that contain `needle`.
fn lines(s: &str, needle: &str) -> u64 {
    s.lines().filter(|l| l.contains(needle)).count() as u64
}

/// The run printed the start of the step (`step accounts: N rows[, resuming after K]`), which
/// it does only after recording the run.
fn started_step(stdout: &str) -> bool {
    stdout.lines().any(|l| {
        l.starts_with("step accounts: ")
            && l.contains(" rows")
            && !l.contains("retry")
            && !l.contains("rows done")
    })
}

/// The report accounts for every interruption the harness caused.
fn interruptions(d: &Driver<'_>, doc: &serde_json::Value) -> Result<(), String> {
    let i = &doc["interruptions"];
    let n = |k: &str| i[k].as_u64().unwrap_or(0);
    // Each killed lease holder ended without releasing: the next session found its lease
    // expired, and the report names its pid.
    let pids: Vec<i64> = i["expired_leases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["pid"].as_i64())
        .collect();
    for r in d.runs.iter().filter(|r| r.killed && r.held_lease) {
        if !pids.contains(&i64::from(r.pid)) {
            return Err(format!(
                "`migtui {}` (pid {}) was killed holding the lease, but the report's expired \
                 leases are {pids:?}",
                r.args, r.pid
            ));
        }
    }
    let backfills: Vec<_> = d.runs.iter().filter(|r| r.args == "backfill").collect();
    let printed_runs = backfills.iter().filter(|r| started_step(&r.stdout)).count() as u64;
    let resumed: u64 = backfills
        .iter()
        .map(|r| lines(&r.stdout, "resuming after"))
        .sum();
    let retries_all: u64 = backfills
        .iter()
        .map(|r| lines(&r.stdout, "after a transient error"))
        .sum();
    let retries_done: u64 = backfills
        .iter()
        .filter(|r| r.ok())
        .map(|r| lines(&r.stdout, "after a transient error"))
        .sum();
    let reported = n("backfill_retries");
    if n("backfill_resumed_runs") < resumed {
        return Err(format!(
            "{resumed} backfill runs said they resumed, the report counts {}",
            n("backfill_resumed_runs")
        ));
    }
    if n("backfill_runs") < printed_runs {
        return Err(format!(
            "{printed_runs} backfill runs started a step, the report counts {}",
            n("backfill_runs")
        ));
    }
    if reported < retries_done || reported > retries_all {
        return Err(format!(
            "the report counts {reported} backfill retries; the runs printed {retries_all} \
             ({retries_done} in runs that finished)"
        ));
    }
    if n("backfill_failed_steps") != 0 {
        return Err(format!(
            "the report has a failed backfill step: {}",
            doc["backfill"]
        ));
    }
    Ok(())
}
