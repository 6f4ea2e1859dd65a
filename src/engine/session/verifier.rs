//! The session's verifier task: in `dual_write` (recently changed rows), `shadow` and
//! `read_new` (uniform samples) it compares each check at its configured rate while this
//! session drives, records divergences, and publishes per-check numbers in the snapshot. It
//! also runs what the operator asks for: a full-table diff, or a recheck of one key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::{Event, Shared};
use crate::config::VerifyCheck;
use crate::engine::phase::PhaseId;
use crate::engine::verify::full::{FullOptions, FullProgress, full_diff};
use crate::engine::verify::sample::{Rng, random_keys, random_pages, recent_keys};
use crate::engine::verify::{BatchReport, KeySourceKind, RateBound, Verifier, key_text};
use crate::store::DivergenceStatus;

/// One check's numbers, as the snapshot shows them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VerifyStatus {
    pub check: String,
    /// Since the current phase began.
    pub phase: RateBound,
    /// Over the last ten minutes.
    pub recent: RateBound,
    pub healed: u64,
    pub in_flight: u64,
    /// The full diff running or last run, if any.
    pub full: Option<FullProgress>,
    pub last_error: Option<String>,
}

/// What the operator asks the verifier for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    Full { check: Option<String> },
    Recheck { check: String, key: String },
}

const TICK: Duration = Duration::from_secs(1);
const RECENT_WINDOW_US: i64 = 10 * 60 * 1_000_000;
const MINUTE_US: i64 = 60_000_000;

fn sampling_phase(p: PhaseId) -> bool {
    matches!(p, PhaseId::DualWrite | PhaseId::Shadow | PhaseId::ReadNew)
}

fn publish(shared: &Shared, status: &VerifyStatus) {
    shared.snapshot.send_if_modified(|s| {
        match s.verify.iter_mut().find(|v| v.check == status.check) {
            Some(v) if v == status => return false,
            Some(v) => *v = status.clone(),
            None => s.verify.push(status.clone()),
        }
        true
    });
}

/// The verifier task: runs until the session shuts down.
pub(crate) async fn run(shared: Arc<Shared>, mut requests: mpsc::Receiver<Request>) {
    // Each check on the databases its file names (config validation makes sure they exist).
    let verifiers: Vec<Verifier> = shared
        .config
        .verify
        .iter()
        .filter_map(|c: &VerifyCheck| {
            let old = shared.dbs.get(&c.old_database)?;
            let new = shared.dbs.get(&c.new_database)?;
            let mut v = Verifier::new(
                c.clone(),
                old.clone(),
                new.clone(),
                Some(shared.store.clone()),
            );
            v.cancel = Some(shared.cancel.subscribe());
            Some(v)
        })
        .collect();
    if verifiers.is_empty() {
        return;
    }
    let mut status: BTreeMap<String, VerifyStatus> = verifiers
        .iter()
        .map(|v| {
            let s = VerifyStatus {
                check: v.check.name.clone(),
                ..VerifyStatus::default()
            };
            (v.check.name.clone(), s)
        })
        .collect();
    let mut owed: BTreeMap<String, f64> = BTreeMap::new();
    // Per check: when last counted, the table's rows, and its pages (checks counting pages).
    type Sizes = (Instant, Option<u64>, Option<u64>);
    let mut table_rows: BTreeMap<String, Sizes> = BTreeMap::new();
    let mut rng = Rng::from_time();
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            biased;
            _ = shared.cancelled() => return,
            req = requests.recv() => match req {
                Some(r) => serve(&shared, &verifiers, &mut status, r).await,
                None => return,
            },
            _ = tick.tick() => {}
        }
        let (phase, since_us, driving) = {
            let s = shared.snapshot.borrow();
            (s.phase, s.since_us, s.lease.is_driving())
        };
        for v in &verifiers {
            let st = status.entry(v.check.name.clone()).or_default();
            if driving && sampling_phase(phase) {
                let due = owed.entry(v.check.name.clone()).or_insert(0.0);
                *due += v.check.sample.per_second.max(0.0) * TICK.as_secs_f64();
                let n = due.floor() as usize;
                if n > 0 {
                    *due -= n as f64;
                    let batch = sample_once(&shared, v, phase, n.min(1000), &mut rng).await;
                    match batch {
                        Ok(report) => {
                            st.last_error = None;
                            announce(&shared, v, &report);
                        }
                        Err(e) => st.last_error = Some(shared.config.secrets.mask(&e)),
                    }
                }
            }
            let rows =
                table_rows
                    .entry(v.check.name.clone())
                    .or_insert((Instant::now(), None, None));
            if rows.1.is_none() || rows.0.elapsed() > Duration::from_secs(60) {
                let counted = v.sample_db().row_count(&v.check.sample.table, false).await;
                *rows = (
                    Instant::now(),
                    counted.ok().map(|c| c.rows),
                    v.table_pages().await,
                );
            }
            let sizes = (rows.1, rows.2);
            if let Err(e) = refresh_numbers(&shared, v, st, since_us, sizes).await {
                st.last_error = Some(shared.config.secrets.mask(&e));
            }
            publish(&shared, st);
        }
    }
}

async fn sample_once(
    shared: &Shared,
    v: &Verifier,
    phase: PhaseId,
    n: usize,
    rng: &mut Rng,
) -> Result<BatchReport, String> {
    let db = v.sample_db().as_ref();
    let recent = v.check.sample.recent_column.is_some() && phase == PhaseId::DualWrite;
    if v.counts_pages() && !recent {
        let seed = (rng.next_u64() >> 33) as u32;
        let sample = random_pages(db, &v.check.sample.table, &v.check.key, n, seed)
            .await
            .map_err(|e| e.to_string())?;
        return v
            .verify_pages(&sample)
            .await
            .map(|(report, _)| report)
            .map_err(|e| e.to_string());
    }
    let (keys, source) = match (&v.check.sample.recent_column, phase) {
        (Some(col), PhaseId::DualWrite) => (
            recent_keys(db, &v.check.sample.table, &v.check.key, col, n).await,
            KeySourceKind::Recent,
        ),
        _ => (
            random_keys(db, &v.check.sample.table, &v.check.key, n, rng).await,
            KeySourceKind::Sample,
        ),
    };
    let keys = keys.map_err(|e| e.to_string())?;
    let _ = shared;
    v.verify_keys(&keys, source)
        .await
        .map_err(|e| e.to_string())
}

fn announce(shared: &Shared, v: &Verifier, report: &BatchReport) {
    for (list, status) in [
        (&report.open, DivergenceStatus::Open),
        (&report.in_flight, DivergenceStatus::InFlight),
        (&report.healed, DivergenceStatus::Healed),
    ] {
        for d in list {
            shared.emit(Event::Divergence {
                check: v.check.name.clone(),
                key: key_text(&d.key),
                kind: d.kind.as_str().to_string(),
                columns: d.columns.clone(),
                status,
            });
        }
    }
}

async fn refresh_numbers(
    shared: &Shared,
    v: &Verifier,
    st: &mut VerifyStatus,
    since_us: i64,
    (rows, pages): (Option<u64>, Option<u64>),
) -> Result<(), String> {
    let store = &shared.store;
    let phase_from = since_us - since_us.rem_euclid(MINUTE_US);
    let now = store.now_us().await.map_err(|e| e.to_string())?;
    let all = store
        .verify_counts(&v.check.name, Some(phase_from))
        .await
        .map_err(|e| e.to_string())?;
    let recent = store
        .verify_counts(&v.check.name, Some(now - RECENT_WINDOW_US))
        .await
        .map_err(|e| e.to_string())?;
    let before = st.phase;
    st.phase = RateBound::new(all.compared, all.divergent, rows);
    st.recent = RateBound::new(recent.compared, recent.divergent, rows);
    // A check counting pages shows (and gates on) the bound over pages as well.
    let page_bound = |from| v.page_numbers(Some(from), pages);
    if let Some(p) = page_bound(phase_from).await.map_err(|e| e.to_string())? {
        st.phase = st.phase.with_pages(p);
    }
    if let Some(p) = page_bound(now - RECENT_WINDOW_US)
        .await
        .map_err(|e| e.to_string())?
    {
        st.recent = st.recent.with_pages(p);
    }
    st.healed = all.healed;
    st.in_flight = all.in_flight;
    if st.phase != before {
        shared.emit(Event::VerifyMeasured {
            check: v.check.name.clone(),
            numbers: st.phase,
        });
    }
    Ok(())
}

async fn serve(
    shared: &Shared,
    verifiers: &[Verifier],
    status: &mut BTreeMap<String, VerifyStatus>,
    req: Request,
) {
    match req {
        Request::Full { check } => {
            for v in verifiers
                .iter()
                .filter(|v| check.as_ref().is_none_or(|c| c == &v.check.name))
            {
                let opts = FullOptions::for_check(&v.check);
                let name = v.check.name.clone();
                let result = full_diff(v, &opts, &mut |p| {
                    shared.emit(Event::FullVerifyProgress {
                        check: name.clone(),
                        progress: p.clone(),
                    });
                })
                .await;
                let st = status.entry(name.clone()).or_default();
                match result {
                    Ok(r) => {
                        st.full = Some(r.progress.clone());
                        shared.emit(Event::FullVerifyDone {
                            check: name,
                            rows: r.rows_old.max(r.rows_new),
                            divergent: r.divergent,
                        });
                    }
                    Err(e) => {
                        let msg = shared.config.secrets.mask(&e.to_string());
                        st.last_error = Some(msg.clone());
                        shared.emit(Event::Error {
                            context: format!("full verify of `{name}`"),
                            message: msg,
                        });
                    }
                }
                publish(shared, st);
            }
        }
        Request::Recheck { check, key } => {
            let Some(v) = verifiers.iter().find(|v| v.check.name == check) else {
                return;
            };
            let keys = match crate::engine::verify::sample::parse_keys(&key, v.check.key.len()) {
                Ok(k) => k,
                Err(e) => {
                    shared.emit(Event::Error {
                        context: format!("recheck of `{check}`"),
                        message: e,
                    });
                    return;
                }
            };
            match v.verify_keys(&keys, KeySourceKind::Keys).await {
                Ok(report) => {
                    if report.open.is_empty() && report.in_flight.is_empty() {
                        // Equal now: whatever was recorded for this key has healed.
                        let healed = shared
                            .store
                            .set_divergence_status(
                                &check,
                                &key_text(&keys[0]),
                                DivergenceStatus::Healed,
                            )
                            .await;
                        if let Err(e) = healed {
                            shared.emit(Event::Error {
                                context: format!("recheck of `{check}`"),
                                message: e.to_string(),
                            });
                            return;
                        }
                        shared.emit(Event::Divergence {
                            check: check.clone(),
                            key: key_text(&keys[0]),
                            kind: "match".into(),
                            columns: Vec::new(),
                            status: DivergenceStatus::Healed,
                        });
                    }
                    announce(shared, v, &report);
                }
                Err(e) => shared.emit(Event::Error {
                    context: format!("recheck of `{check}`"),
                    message: shared.config.secrets.mask(&e.to_string()),
                }),
            }
        }
    }
}
