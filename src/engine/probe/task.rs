//! The session's probe task: runs the read-path probes while this session drives and the phase
//! needs them, and once a second publishes the figures (snapshot, signals), judges the
//! automatic rollback, and every 10 s writes a metric snapshot and reads the flag back.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::mpsc;

use super::drain::Tracker;
use super::hist::SHORT_WINDOW;
use super::rollback::{Decision, RollbackFired, Watch};
use super::{PathLatency, PathProbe, PathState, lock, metrics};
use crate::config::{ReadPath, Side};
use crate::engine::flag::{Flag, FlagStatus};
use crate::engine::phase::PhaseId;
use crate::engine::session::{Command, Envelope, Event, Mode, Outcome, Shared};

const PUBLISH_EVERY: Duration = Duration::from_secs(1);
const DRAIN_EVERY: Duration = Duration::from_secs(30);

/// Phases in which the probes run: the backfill's `pause_when` needs them, the shadow gate and
/// the rollback judge them, and the old path is watched until old writes stop.
fn probing(phase: PhaseId) -> bool {
    matches!(
        phase,
        PhaseId::Backfill | PhaseId::Shadow | PhaseId::ReadNew | PhaseId::StopOldWrites
    )
}

pub(crate) async fn run(shared: Arc<Shared>, commands: mpsc::WeakSender<Envelope>) {
    let epoch = Instant::now();
    let mut paths: Vec<(ReadPath, Arc<Mutex<PathState>>)> = Vec::new();
    let mut tasks = Vec::new();
    if shared.mode != Mode::Observe {
        let config = Arc::new(shared.config.clone());
        for p in &shared.config.paths {
            let probe = PathProbe::new(p, &shared.dbs, epoch);
            paths.push((p.clone(), probe.state.clone()));
            let gate = shared.clone();
            let enabled = move || {
                let s = gate.snapshot.borrow();
                s.lease.is_driving() && probing(s.phase)
            };
            tasks.push(tokio::spawn(probe.run(
                config.clone(),
                shared.dbs.clone(),
                shared.cancel.subscribe(),
                enabled,
            )));
        }
    }
    let flag = Flag::new(
        shared.config.flag.as_ref(),
        &shared.dbs,
        &shared.config.secrets,
    )
    .ok();
    let mut looks = Looks::default();
    let mut tick = tokio::time::interval(PUBLISH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = shared.cancelled() => break,
            _ = tick.tick() => {}
        }
        let reports = publish(&shared, &paths);
        if n.is_multiple_of(metrics::EVERY.as_secs()) {
            if let Some(flag) = &flag {
                read_flag(&shared, flag).await;
            }
            if n > 0 {
                write_metrics(&shared, &paths).await;
            }
            if !shared.snapshot.borrow().lease.is_driving() {
                from_history(&shared).await;
            }
        }
        rollback(&shared, &reports, &mut looks, &commands).await;
        if n.is_multiple_of(DRAIN_EVERY.as_secs()) {
            drain(&shared, &paths, &mut looks).await;
        }
        n += 1;
    }
    for t in tasks {
        let _ = t.await;
    }
}

/// What the task remembers between looks.
#[derive(Default)]
struct Looks {
    watch: Watch,
    breaching: bool,
    drains: Vec<Tracker>,
}

/// Figures to the snapshot, short-window p95s to the signals.
fn publish(shared: &Shared, paths: &[(ReadPath, Arc<Mutex<PathState>>)]) -> Vec<PathLatency> {
    let now = Instant::now();
    let mut reports = Vec::with_capacity(paths.len());
    let mut p95 = Vec::new();
    for (path, state) in paths {
        let s = lock(state);
        for side in [Side::Old, Side::New] {
            let w = match side {
                Side::Old => &s.old,
                Side::New => &s.new,
            };
            p95.push((
                (path.name.clone(), side),
                w.window(now, SHORT_WINDOW).stats().p95_ms,
            ));
        }
        reports.push(s.report(path, now));
    }
    shared.signals.send_if_modified(|sig| {
        let before = sig.path_p95_ms.clone();
        for (k, v) in &p95 {
            match v {
                Some(v) => sig.path_p95_ms.insert(k.clone(), *v),
                None => sig.path_p95_ms.remove(k),
            };
        }
        before != sig.path_p95_ms
    });
    // A session that does not drive shows the stored figures instead (`from_history`).
    let driving = shared.snapshot.borrow().lease.is_driving();
    if !paths.is_empty() && driving {
        shared.snapshot.send_if_modified(|s| {
            let changed = s.latency != reports;
            s.latency = reports.clone();
            changed
        });
    }
    reports
}

/// A session that does not drive probes nothing: it shows the driving session's figures from
/// `migtui_metrics` instead (last minute, last 10 minutes).
async fn from_history(shared: &Shared) {
    if shared.config.paths.is_empty() {
        return;
    }
    let read = async {
        let now = shared.store.now_us().await?;
        let rows = shared.store.metrics_since(now - 600_000_000).await?;
        Ok::<_, crate::store::StoreError>((now, rows))
    };
    let Ok(Ok((now, rows))) = tokio::time::timeout(shared.timeout, read).await else {
        return;
    };
    let recent: Vec<_> = rows
        .iter()
        .filter(|r| r.at_us >= now - 60_000_000)
        .cloned()
        .collect();
    let (short, long) = (metrics::merge(&recent), metrics::merge(&rows));
    let empty = super::hist::Tally::default();
    let get = |m: &std::collections::BTreeMap<(String, Side), super::hist::Tally>,
               p: &ReadPath,
               side: Side| {
        m.get(&(p.name.clone(), side))
            .cloned()
            .unwrap_or_else(|| empty.clone())
    };
    let latency: Vec<PathLatency> = shared
        .config
        .paths
        .iter()
        .map(|p| {
            let (so, sn) = (get(&short, p, Side::Old), get(&short, p, Side::New));
            let (lo, ln) = (get(&long, p, Side::Old), get(&long, p, Side::New));
            PathLatency::from_history(p, (&so, &sn), (&lo, &ln))
        })
        .collect();
    shared.snapshot.send_if_modified(|s| {
        let changed = s.latency != latency;
        s.latency = latency.clone();
        changed
    });
}

/// One metric row per path and side for the last interval.
async fn write_metrics(shared: &Shared, paths: &[(ReadPath, Arc<Mutex<PathState>>)]) {
    if paths.is_empty() || !shared.snapshot.borrow().lease.is_driving() {
        return;
    }
    let mut rows = Vec::new();
    for (path, state) in paths {
        let mut s = lock(state);
        for side in [Side::Old, Side::New] {
            let w = match side {
                Side::Old => &mut s.old,
                Side::New => &mut s.new,
            };
            let t = w.take_interval();
            if t.hist.len() + t.errors + t.timeouts > 0 {
                rows.push(metrics::row(
                    &path.name,
                    side,
                    metrics::EVERY.as_secs() as i64,
                    &t,
                ));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let written = shared.bounded(
        "writing latency metrics",
        shared.store.record_metrics(&rows),
    );
    if let Err(e) = written.await {
        shared.emit(Event::Error {
            context: "writing latency metrics to migtui_metrics".into(),
            message: e.to_string(),
        });
    }
}

/// Read the flag back; a value migtui did not write is drift, announced once.
async fn read_flag(shared: &Shared, flag: &Flag) {
    let read = tokio::time::timeout(shared.timeout, flag.get()).await;
    let previous = shared.snapshot.borrow().flag.clone();
    let expected = previous.as_ref().and_then(|f| f.expected);
    let mut status = FlagStatus {
        key: flag.key().to_string(),
        location: flag.describe(),
        value: None,
        error: None,
        expected,
        drift: None,
    };
    match read {
        Ok(Ok(v)) => {
            status.value = v;
            match (expected, v) {
                (None, Some(v)) => status.expected = Some(v),
                (Some(e), found) if found != Some(e) => {
                    let found = found.map_or("absent".to_string(), |f| f.to_string());
                    let drift = format!(
                        "expected {e}, found {found}: changed outside migtui (or by another operator)"
                    );
                    if previous.as_ref().and_then(|p| p.drift.as_ref()) != Some(&drift) {
                        shared.emit(Event::FlagDrift {
                            expected: e.to_string(),
                            found,
                        });
                    }
                    status.drift = Some(drift);
                }
                _ => {}
            }
        }
        Ok(Err(e)) => {
            status.value = previous.as_ref().and_then(|p| p.value);
            status.error = Some(shared.config.secrets.mask(&e.to_string()));
        }
        Err(_) => {
            status.value = previous.as_ref().and_then(|p| p.value);
            status.error = Some("no answer within the statement timeout".into());
        }
    }
    shared.snapshot.send_if_modified(|s| {
        let changed = s.flag.as_ref() != Some(&status);
        s.flag = Some(status.clone());
        changed
    });
}

/// Judge the automatic rollback: armed in `read_new` while reads are on new.
async fn rollback(
    shared: &Shared,
    reports: &[PathLatency],
    looks: &mut Looks,
    commands: &mpsc::WeakSender<Envelope>,
) {
    let phases = &shared.config.phases;
    let after = Duration::from_secs(phases.auto_rollback_after_secs.max(1));
    let (armed, reads_new) = {
        let s = shared.snapshot.borrow();
        let reads_new = s
            .flag
            .as_ref()
            .and_then(|f| f.value)
            .is_none_or(|v| v.reads_new());
        (
            phases.auto_rollback
                && s.lease.is_driving()
                && s.phase == PhaseId::ReadNew
                && shared.config.flag.is_some(),
            reads_new,
        )
    };
    let mut breaches: Vec<String> = reports
        .iter()
        .filter(|r| r.breached)
        .map(|r| r.verdict.clone())
        .collect();
    for (check, bound) in &shared.signals.borrow().divergence_bound {
        if *bound > phases.shadow_max_divergence_bound {
            breaches.push(format!(
                "verify `{check}`: divergence bound {:.3}% > {:.3}%",
                bound * 100.0,
                phases.shadow_max_divergence_bound * 100.0
            ));
        }
    }
    if !breaches.is_empty() && !looks.breaching {
        shared.emit(Event::BudgetBreached {
            breaches: breaches.clone(),
        });
    }
    looks.breaching = !breaches.is_empty();
    let decision = if armed && reads_new {
        looks.watch.observe(Instant::now(), &breaches, after)
    } else {
        looks.watch.reset();
        Decision::Quiet
    };
    shared.snapshot.send_if_modified(|s| {
        let before = s.rollback.clone();
        s.rollback.armed = armed && reads_new;
        s.rollback.after_secs = after.as_secs();
        s.rollback.breaching = breaches.clone();
        s.rollback.breach_secs = match &decision {
            Decision::Breaching(d) => Some(d.as_secs()),
            _ => None,
        };
        before != s.rollback
    });
    let Decision::Fire(reason) = decision else {
        return;
    };
    fire(shared, &reason, commands).await;
}

/// Flip reads back to old, ask the backfill to pause, and record why, loudly.
async fn fire(shared: &Shared, reason: &str, commands: &mpsc::WeakSender<Envelope>) {
    let reason = format!("automatic rollback: {reason}");
    let off = Flag::new(
        shared.config.flag.as_ref(),
        &shared.dbs,
        &shared.config.secrets,
    )
    .map(|f| f.off());
    let flag_error = match off {
        Err(e) => Some(e.to_string()),
        Ok(off) => match crate::engine::session::flip(shared, off, &reason, true).await {
            Ok(Outcome::Done) => None,
            Ok(Outcome::Refused { why, .. }) => Some(why),
            Ok(Outcome::Moved { .. }) => None,
            Err(e) => Some(e.to_string()),
        },
    };
    let paused = commands.upgrade().is_some_and(|tx| {
        tx.try_send(Envelope {
            cmd: Command::PauseBackfill {
                reason: reason.clone(),
            },
            reply: None,
        })
        .is_ok()
    });
    let outcome = match &flag_error {
        None => "ok".to_string(),
        Some(e) => format!("failed: the flag could not be flipped back: {e}"),
    };
    let params = json!({ "reason": reason, "backfill_pause_sent": paused });
    let audited = shared.bounded(
        "auditing the automatic rollback",
        shared
            .store
            .audit("rollback.auto", params, &outcome, &shared.operator),
    );
    if let Err(e) = audited.await {
        shared.emit(Event::Error {
            context: "auditing the automatic rollback".into(),
            message: e.to_string(),
        });
    }
    let at_us = shared.store.now_us().await.unwrap_or_default();
    shared.snapshot.send_modify(|s| {
        s.rollback.fired = Some(RollbackFired {
            at_us,
            reason: reason.clone(),
            flag_error: flag_error.clone(),
        });
    });
    crate::engine::notify::auto_rollback(shared, at_us, &reason);
    shared.emit(Event::AutoRollback { reason, flag_error });
}

/// After reads move to new: is the old query still called by the application?
async fn drain(shared: &Shared, paths: &[(ReadPath, Arc<Mutex<PathState>>)], looks: &mut Looks) {
    let (phase, driving) = {
        let s = shared.snapshot.borrow();
        (s.phase, s.lease.is_driving())
    };
    if paths.is_empty() || !driving || phase < PhaseId::ReadNew {
        return;
    }
    let Some(old) = shared.dbs.get("old") else {
        return;
    };
    looks.drains.resize_with(paths.len(), Tracker::default);
    let mut out = Vec::with_capacity(paths.len());
    for ((path, state), tracker) in paths.iter().zip(looks.drains.iter_mut()) {
        let probes = {
            let s = lock(state);
            let t = s.old.session();
            t.hist.len() + t.errors + t.timeouts
        };
        let look = tracker.look(&path.name, old, &path.old_sql, probes);
        match tokio::time::timeout(shared.timeout, look).await {
            Ok(status) => out.push(status),
            Err(_) => break,
        }
    }
    shared.snapshot.send_if_modified(|s| {
        let changed = s.drain != out;
        s.drain = out.clone();
        changed
    });
}
