//! The full-table diff: split the key space into chunks, compare each chunk's
//! `(count, exact sum of 60-bit row hashes)` computed inside each database
//! ([`crate::db::checksum`]), and for the chunks that differ, read `(key, row hash)` from both
//! sides and match them to the exact keys; then fetch those rows, compare them with the
//! check's normalization (so an encoding difference the hash saw but the rules forgive is not
//! reported) and record what differs.
//!
//! Progress is checkpointed after every chunk (`migtui_verify_full`), so an interrupted run
//! resumes from the first key it had not compared; a throttle bounds rows per second.
//!
//! Keys whose first column is an integer are chunked by arithmetic over that column's
//! `[min, max]` on both sides (the first and last chunks are open-ended, so rows beyond either
//! side's range are still covered; a composite key's other columns ride along inside a chunk);
//! other keys are compared as one chunk. Each difference is re-read `recheck_after_ms` later,
//! like a sampled one, and recorded as healed, in flight or open. Within a differing chunk the
//! two `(key, hash)` lists are matched by canonical key text, which is immune to the engines'
//! different collations. Each side's reads of a chunk share one snapshot, so concurrent
//! writes never make a chunk's checksum and its `(key, hash)` list disagree.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::{
    BatchOutcome, BatchReport, Difference, KeySourceKind, Verifier, VerifyError, classify, key_text,
};
use crate::config::ColumnRule;
use crate::db::checksum::{
    HashSpec, KeyRange, checksum_in, key_bounds, key_hashes_in, native_compatible,
};
use crate::db::rowhash::HashOptions;
use crate::db::{Database, Params, Value};
use crate::store::{DivergenceStatus, FullCheckpoint};

/// Rows per checksum chunk unless the check says otherwise.
pub const DEFAULT_CHUNK_ROWS: u64 = 10_000;

/// How a full diff runs.
#[derive(Debug, Clone)]
pub struct FullOptions {
    pub chunk_rows: u64,
    /// Chunks checksummed at once (each reads both sides concurrently).
    pub parallel: usize,
    /// Throttle, in rows of the old table per second.
    pub max_rows_per_second: Option<f64>,
    /// Keep at most this many differences in the report (all are counted and recorded).
    pub keep: usize,
    /// Continue an interrupted run from its checkpoint (needs the verifier's store).
    pub resume: bool,
}

impl Default for FullOptions {
    fn default() -> Self {
        FullOptions {
            chunk_rows: DEFAULT_CHUNK_ROWS,
            // Four chunks in flight: each side then runs up to four checksum queries at once,
            // which keeps a slower side (MariaDB's MD5 over the canonical text costs about
            // 1.5x PostgreSQL's) from leaving cores idle. Bounded by each pool's connections.
            parallel: 4,
            max_rows_per_second: None,
            keep: 10_000,
            resume: true,
        }
    }
}

impl FullOptions {
    /// The defaults with the check's `full` settings (chunk size, throttle) applied.
    pub fn for_check(check: &crate::config::VerifyCheck) -> FullOptions {
        let d = FullOptions::default();
        FullOptions {
            chunk_rows: check.full.chunk_rows.unwrap_or(d.chunk_rows),
            max_rows_per_second: check.full.max_rows_per_second,
            ..d
        }
    }
}

/// Progress, after each chunk.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FullProgress {
    pub chunks_done: u64,
    pub chunks_total: u64,
    pub chunks_differing: u64,
    pub rows_done: u64,
    pub divergent: u64,
    pub elapsed_ms: u64,
    pub eta_ms: Option<u64>,
    /// This run continued an interrupted one (its rows and divergences are included).
    pub resumed: bool,
}

/// The result of a full diff.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FullReport {
    pub progress: FullProgress,
    pub rows_old: u64,
    pub rows_new: u64,
    /// Still different at the recheck: divergences.
    pub divergent: u64,
    /// Different at the first read, equal at the recheck (`recheck_after_ms` later).
    pub healed: u64,
    /// Different at both reads but changed in between: writes in progress.
    pub in_flight: u64,
    /// The first [`FullOptions::keep`] open differences, in chunk order.
    pub differences: Vec<Difference>,
}

/// The two sides' hash specs for a check: its `full` tables and columns, minus ignored ones.
pub async fn specs(v: &Verifier) -> Result<(HashSpec, HashSpec), VerifyError> {
    let full = &v.check.full;
    let old_table = full
        .old_table
        .clone()
        .unwrap_or(v.check.sample.table.clone());
    let new_table = full
        .new_table
        .clone()
        .unwrap_or(v.check.sample.table.clone());
    let ignored = |c: &str| {
        v.check
            .normalize
            .iter()
            .any(|(col, rules)| col.eq_ignore_ascii_case(c) && rules.contains(&ColumnRule::Ignore))
    };
    let digits = v
        .check
        .normalize
        .values()
        .flatten()
        .filter_map(|r| match r {
            ColumnRule::TimestampDigits(n) => Some(*n),
            _ => None,
        })
        .min()
        .unwrap_or(6);
    let opts = HashOptions {
        timestamp_digits: digits,
        ..HashOptions::default()
    };
    let cols: Vec<String> = match &full.columns {
        Some(c) => c.clone(),
        None => {
            let info = v.old.table_info(&old_table).await?.ok_or_else(|| {
                v.error(
                    format!("table {old_table} does not exist on `{}`", v.old.name()),
                    "set `full = { old_table = \"…\" }` in the check",
                )
            })?;
            info.column_names()
        }
    };
    let cols: Vec<String> = cols.into_iter().filter(|c| !ignored(c)).collect();
    let old = HashSpec::for_table(v.old.as_ref(), &old_table, &v.check.key, Some(&cols), opts);
    let new = HashSpec::for_table(v.new.as_ref(), &new_table, &v.check.key, Some(&cols), opts);
    let (old, new) = tokio::join!(old, new);
    let (mut old, mut new) = (old?, new?);
    let native = native_compatible(
        v.old.as_ref(),
        &old_table,
        v.new.as_ref(),
        &new_table,
        &old.column_names(),
    )
    .await?;
    old.native = native;
    new.native = native;
    Ok((old, new))
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    }
}

async fn rows_estimate(db: &dyn Database, table: &str) -> Result<u64, VerifyError> {
    let est = db.row_count(table, false).await?.rows;
    Ok(if est < 10_000 {
        db.row_count(table, true).await?.rows
    } else {
        est
    })
}

/// The key ranges covering both sides.
async fn plan(
    v: &Verifier,
    old: &HashSpec,
    new: &HashSpec,
    chunk_rows: u64,
) -> Result<Vec<KeyRange>, VerifyError> {
    let (ob, nb) = tokio::join!(
        key_bounds(v.old.as_ref(), old),
        key_bounds(v.new.as_ref(), new)
    );
    let bounds: Vec<(Value, Value)> = [ob?, nb?].into_iter().flatten().collect();
    let ints: Option<Vec<(i64, i64)>> = bounds
        .iter()
        .map(|(a, b)| Some((as_int(a)?, as_int(b)?)))
        .collect();
    let Some(ints) = ints.filter(|i| !i.is_empty()) else {
        return Ok(vec![KeyRange::all()]);
    };
    let lo = ints.iter().map(|b| b.0).min().unwrap_or(0);
    let hi = ints.iter().map(|b| b.1).max().unwrap_or(0);
    let (ro, rn) = tokio::join!(
        rows_estimate(v.old.as_ref(), &old.table),
        rows_estimate(v.new.as_ref(), &new.table)
    );
    let rows = ro?.max(rn?);
    let chunks = rows.div_ceil(chunk_rows.max(1)).max(1) as i128;
    let span = hi as i128 - lo as i128 + 1;
    let mut cuts: Vec<i64> = (1..chunks)
        .map(|i| (lo as i128 + span * i / chunks) as i64)
        .collect();
    cuts.dedup();
    let mut ranges = Vec::with_capacity(cuts.len() + 1);
    let mut from: Option<Value> = None;
    for c in cuts {
        ranges.push(KeyRange {
            from: from.take(),
            to: Some(Value::Int(c)),
        });
        from = Some(Value::Int(c));
    }
    ranges.push(KeyRange { from, to: None });
    Ok(ranges)
}

/// The keys of one chunk whose rows differ (by hash, or present on one side only).
/// `dense`: most chunks so far differed, so skip the checksum and read `(key, hash)` directly
/// (one pass instead of two when differences are spread over every chunk).
///
/// Each side's checksum and `(key, hash)` list are read in one read-only snapshot
/// ([`Database::begin_snapshot`]), so a chunk never mixes two states of a side while writes
/// go on; what still differs is rechecked after the lag like any other difference.
/// `acquiring` is held while the two snapshots are opened: a chunk holding one connection
/// and waiting for the other then only waits for chunks that hold both and will finish, so
/// more chunks in flight than connections (or one pool for both sides) cannot deadlock.
async fn chunk_keys(
    v: &Verifier,
    (old, new): (&HashSpec, &HashSpec),
    range: &KeyRange,
    dense: bool,
    acquiring: &tokio::sync::Mutex<()>,
) -> Result<(u64, u64, Vec<Vec<Value>>), VerifyError> {
    let (mut ta, mut tb) = {
        let _turn = acquiring.lock().await;
        let ta = v.old.begin_snapshot().await?;
        (ta, v.new.begin_snapshot().await?)
    };
    let (a, b) = (v.old.as_ref(), v.new.as_ref());
    let read = async {
        if !dense {
            let (sa, sb) = tokio::join!(
                checksum_in(a, Some(ta.as_mut()), old, range),
                checksum_in(b, Some(tb.as_mut()), new, range)
            );
            let (sa, sb) = (sa?, sb?);
            if sa == sb {
                return Ok::<_, VerifyError>((sa.count, sb.count, Vec::new()));
            }
        }
        let (ka, kb) = tokio::join!(
            key_hashes_in(a, Some(ta.as_mut()), old, range),
            key_hashes_in(b, Some(tb.as_mut()), new, range)
        );
        Ok(diff_hashes(ka?, kb?))
    }
    .await;
    // Read-only: ending the snapshots keeps nothing and gives the connections back.
    let (ra, rb) = tokio::join!(ta.rollback(), tb.rollback());
    let out = read?;
    ra?;
    rb?;
    Ok(out)
}

/// Merge two `(key, hash)` lists to the keys whose hash differs or that one side lacks,
/// matched by canonical key text (immune to the engines' different collations).
fn diff_hashes(
    ka: Vec<(Vec<Value>, u64)>,
    kb: Vec<(Vec<Value>, u64)>,
) -> (u64, u64, Vec<Vec<Value>>) {
    let (count_a, count_b) = (ka.len() as u64, kb.len() as u64);
    let mut newer: HashMap<String, (Vec<Value>, u64)> = kb
        .into_iter()
        .map(|(k, h)| (key_text(&k), (k, h)))
        .collect();
    let mut out = Vec::new();
    for (k, h) in ka {
        match newer.remove(&key_text(&k)) {
            Some((_, nh)) if nh == h => {}
            _ => out.push(k),
        }
    }
    out.extend(newer.into_values().map(|(k, _)| k));
    (count_a, count_b, out)
}

/// Read `keys` from one side's table, the spec's columns.
async fn fetch(
    db: &dyn Database,
    spec: &HashSpec,
    keys: &[Vec<Value>],
) -> Result<crate::db::Rows, VerifyError> {
    let d = db.dialect();
    let cols = spec
        .column_names()
        .iter()
        .map(|c| d.quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let table = d.quote_path(&spec.table);
    let (sql, p) = if spec.key.len() == 1 {
        let key = d.quote_ident(&spec.key[0]);
        let p = Params::new().bind_list("keys", keys.iter().map(|k| k[0].clone()).collect());
        (
            format!("SELECT {cols} FROM {table} WHERE {key} IN (:keys)"),
            p,
        )
    } else {
        let key = spec
            .key
            .iter()
            .map(|k| d.quote_ident(k))
            .collect::<Vec<_>>()
            .join(", ");
        let p = Params::new().bind_tuples("keys", keys.to_vec());
        (
            format!("SELECT {cols} FROM {table} WHERE ({key}) IN (:keys)"),
            p,
        )
    };
    Ok(db.query(&sql, &p).await?)
}

/// Read `keys` on both sides and compare them with the check's rules.
async fn compare_fetched(
    v: &Verifier,
    old: &HashSpec,
    new: &HashSpec,
    keys: &[Vec<Value>],
) -> Result<BatchOutcome, VerifyError> {
    let mut out = BatchOutcome::default();
    for batch in keys.chunks(1000) {
        let (o, n) = tokio::join!(
            fetch(v.old.as_ref(), old, batch),
            fetch(v.new.as_ref(), new, batch)
        );
        let r = v
            .comparer
            .compare(batch, &o?, &n?)
            .map_err(|e| v.error(e, "check the `full` columns of the check"))?;
        out.compared += r.compared;
        out.matched += r.matched;
        out.differences.extend(r.differences);
    }
    Ok(out)
}

/// Differences found but not yet rechecked, and when the oldest was read.
#[derive(Default)]
struct Pending {
    differences: Vec<Difference>,
    since: Option<Instant>,
}

/// Recheck the pending differences once `recheck_after_ms` has passed since the oldest was
/// read (waiting for it when `wait`), record each with its verdict and count it.
async fn settle(
    v: &Verifier,
    specs: (&HashSpec, &HashSpec),
    pending: &mut Pending,
    report: &mut FullReport,
    keep: usize,
    wait: bool,
) -> Result<bool, VerifyError> {
    let Some(since) = pending.since else {
        return Ok(true);
    };
    let lag = Duration::from_millis(v.check.recheck_after_ms);
    let left = lag.saturating_sub(since.elapsed());
    if !left.is_zero() {
        if !wait {
            return Ok(false);
        }
        v.pause(left).await?;
    }
    let first = std::mem::take(&mut pending.differences);
    pending.since = None;
    let mut verdict = BatchReport::default();
    if lag.is_zero() {
        verdict.open = first;
    } else {
        let keys: Vec<Vec<Value>> = first.iter().map(|d| d.key.clone()).collect();
        let second = compare_fetched(v, specs.0, specs.1, &keys).await?;
        classify(first, &second, &mut verdict);
    }
    report.divergent += verdict.open.len() as u64;
    report.healed += verdict.healed.len() as u64;
    report.in_flight += verdict.in_flight.len() as u64;
    if let Some(store) = &v.store {
        let mut all: Vec<(&Difference, DivergenceStatus)> = Vec::new();
        for (list, status) in [
            (&verdict.open, DivergenceStatus::Open),
            (&verdict.in_flight, DivergenceStatus::InFlight),
            (&verdict.healed, DivergenceStatus::Healed),
        ] {
            all.extend(list.iter().map(|d| (d, status)));
        }
        // A few hundred per transaction: few commits, and their JSON never all in memory.
        for part in all.chunks(RECORD_BATCH) {
            let recs: Vec<_> = part
                .iter()
                .map(|(d, status)| v.record(d, KeySourceKind::Full, *status))
                .collect();
            store.record_divergences(&recs).await?;
        }
    }
    let room = keep.saturating_sub(report.differences.len());
    report
        .differences
        .extend(verdict.open.into_iter().take(room));
    Ok(true)
}

/// Differences held for their recheck before they are forced through it. Each holds both
/// sides' rows, raw and normalized: 10,000 of them took a 10M-row, 100,000-divergence run to
/// 165 MB, past the 150 MB bound; a forced recheck only waits out the lag once more.
const MAX_PENDING: usize = 2_500;

/// Divergences recorded per store transaction.
const RECORD_BATCH: usize = 500;

/// Compare the two tables of a check in full; `progress` is called after every chunk.
pub async fn full_diff(
    v: &Verifier,
    opts: &FullOptions,
    progress: &mut (dyn FnMut(&FullProgress) + Send),
) -> Result<FullReport, VerifyError> {
    let started = Instant::now();
    let (old, new) = specs(v).await?;
    let mut ranges = plan(v, &old, &new, opts.chunk_rows).await?;
    let mut report = FullReport::default();
    let mut cp = match &v.store {
        Some(store) => {
            let saved = store.full_checkpoint(&v.check.name).await?;
            let resume = saved.filter(|c| opts.resume && !c.finished);
            match resume {
                Some(c) => c,
                None => FullCheckpoint {
                    started_us: store.now_us().await?,
                    ..FullCheckpoint::default()
                },
            }
        }
        None => FullCheckpoint::default(),
    };
    let resume_at = cp
        .resume_key
        .as_ref()
        .and_then(|k| serde_json::from_value::<Value>(k.clone()).ok())
        .and_then(|k| as_int(&k));
    if let Some(k) = resume_at {
        ranges.retain(|r| r.to.as_ref().and_then(as_int).is_none_or(|t| t > k));
        if let Some(first) = ranges.first_mut() {
            let from = first.from.as_ref().and_then(as_int).map_or(k, |f| f.max(k));
            first.from = Some(Value::Int(from));
        }
        report.divergent = cp.divergent;
        report.progress.rows_done = cp.rows_done;
        report.progress.divergent = cp.divergent;
        report.progress.resumed = true;
    }
    report.progress.chunks_total = ranges.len() as u64;
    let (done, differing) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (done_c, differing_c) = (done.clone(), differing.clone());
    let task_ctx = Arc::new((
        v.clone(),
        old.clone(),
        new.clone(),
        tokio::sync::Mutex::new(()),
    ));
    // Each chunk runs as its own task: it makes progress (and gives its connections back)
    // while this loop awaits the rows of a differing chunk, so a pool smaller than the chunks
    // in flight cannot deadlock. Tasks are spawned as the buffer pulls them, so `dense` sees
    // the chunks finished so far.
    let futures = ranges.into_iter().map(move |r| {
        let (d, b) = (done_c.load(Relaxed), differing_c.load(Relaxed));
        let dense = d >= 4 && b * 4 >= d * 3;
        let ctx = task_ctx.clone();
        tokio::spawn(async move {
            let (v, o, n, acquiring) = &*ctx;
            (
                r.to.clone(),
                chunk_keys(v, (o, n), &r, dense, acquiring).await,
            )
        })
    });
    let mut chunks = futures::stream::iter(futures).buffered(opts.parallel.max(1));
    let mut pending = Pending::default();
    while let Some(joined) = chunks.next().await {
        if v.is_cancelled() {
            return Err(VerifyError::Cancelled);
        }
        let (next_from, chunk) = joined
            .map_err(|e| v.error(format!("a chunk task failed: {e}"), "run the diff again"))?;
        let (rows_old, rows_new, keys) = chunk?;
        report.rows_old += rows_old;
        report.rows_new += rows_new;
        let p = &mut report.progress;
        p.chunks_done += 1;
        p.rows_done += rows_old;
        done.fetch_add(1, Relaxed);
        if !keys.is_empty() {
            differing.fetch_add(1, Relaxed);
            p.chunks_differing += 1;
            let found = compare_fetched(v, &old, &new, &keys).await?;
            if !found.differences.is_empty() {
                pending.since.get_or_insert_with(Instant::now);
                pending.differences.extend(found.differences);
            }
        }
        // Rechecked when due; forced (waiting out the lag) when too many are held or at the
        // end. The checkpoint only moves past chunks whose differences are recorded.
        let last = next_from.is_none();
        let force = last || pending.differences.len() >= MAX_PENDING;
        let settled = settle(v, (&old, &new), &mut pending, &mut report, opts.keep, force).await?;
        let p = &mut report.progress;
        p.divergent = report.divergent;
        let elapsed = started.elapsed();
        p.elapsed_ms = elapsed.as_millis() as u64;
        p.eta_ms = (p.chunks_done > 0).then(|| {
            let left = p.chunks_total.saturating_sub(p.chunks_done);
            (elapsed.as_millis() as u64 / p.chunks_done) * left
        });
        progress(p);
        // Chunks finish in order (`buffered`), so everything below `next_from` is done.
        if let (Some(store), true) = (&v.store, settled) {
            cp.rows_done = p.rows_done;
            cp.divergent = p.divergent;
            cp.finished = last;
            cp.resume_key = next_from.map(|k| serde_json::to_value(k).unwrap_or_default());
            store.save_full_checkpoint(&v.check.name, &cp).await?;
        }
        if let Some(rate) = opts.max_rows_per_second.filter(|r| *r > 0.0) {
            let due = Duration::from_secs_f64(report.progress.rows_done as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                v.pause(wait).await?;
            }
        }
    }
    Ok(report)
}
