//! The session's two background tasks: the lease keeper (heartbeats while driving; in `Drive`
//! mode, takes the lease when it is released or expires; a cockpit, in `Ask` mode, waits for
//! its operator to take it) and the watcher (follows the state
//! tables and publishes phase changes, audit lines and the lease as they happen, whoever made
//! them).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::commands::{Poke, set_lease};
use super::{
    ACTIONS_IN_SNAPSHOT, Command, Envelope, Event, HISTORY_IN_SNAPSHOT, LeaseState, Mode,
    SessionError, Shared,
};
use crate::store::{Lease, LeaseOutcome, METRICS_RETENTION_US};

/// Heartbeat three times per ttl, so one slow heartbeat does not lose the lease.
fn heartbeat_interval(shared: &Shared) -> Duration {
    Duration::from_millis((shared.lease_ttl() * 1000 / 3).max(200))
}

/// Poll the state tables at least every second (faster with a short ttl).
fn watch_interval(shared: &Shared) -> Duration {
    heartbeat_interval(shared).min(Duration::from_secs(1))
}

/// How often the driving session prunes old metric rows.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

pub(crate) async fn keep_lease(shared: Arc<Shared>) {
    let every = heartbeat_interval(&shared);
    let mut pruned: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = shared.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
        let driving = shared.snapshot.borrow().lease.is_driving();
        if driving {
            let beat = shared.store.heartbeat(&shared.operator);
            match shared.bounded("lease heartbeat", beat).await {
                Ok(true) if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) => {
                    pruned = Some(Instant::now());
                    prune_metrics(&shared).await;
                }
                Ok(true) => {}
                Ok(false) => lost(&shared).await,
                Err(e) => shared.emit(Event::Error {
                    context: "lease heartbeat".into(),
                    message: e.to_string(),
                }),
            }
        } else if shared.mode == Mode::Drive {
            let ask = shared.store.acquire(&shared.operator, shared.lease_ttl());
            match shared.bounded("asking for the lease", ask).await {
                Ok(LeaseOutcome::Acquired(lease)) => {
                    set_lease(&shared, LeaseState::Driving { lease })
                }
                Ok(LeaseOutcome::HeldBy(_)) => {} // the watcher shows who
                Err(e) => shared.emit(Event::Error {
                    context: "asking for the lease".into(),
                    message: e.to_string(),
                }),
            }
        }
    }
}

/// Drop metric rows older than [`METRICS_RETENTION_US`] (only the driver writes them, so only
/// the driver prunes), so `migtui_metrics` stops growing over a long migration.
async fn prune_metrics(shared: &Shared) {
    let store = &shared.store;
    let prune = async {
        let now = store.now_us().await?;
        store.prune_metrics(now - METRICS_RETENTION_US).await
    };
    if let Err(e) = shared.bounded("pruning old latency metrics", prune).await {
        shared.emit(Event::Error {
            context: "pruning old latency metrics".into(),
            message: e.to_string(),
        });
    }
}

/// Our heartbeat was refused: someone took the lease. Say who, and go read-only.
async fn lost(shared: &Shared) {
    let now = match shared
        .bounded("reading the lease", shared.store.lease())
        .await
    {
        Ok(Some(lease)) => LeaseState::Observing { lease },
        Ok(None) => LeaseState::Free,
        Err(e) => LeaseState::Unknown {
            error: e.to_string(),
        },
    };
    let who = match &now {
        LeaseState::Observing { lease } => format!("{} took it over", lease.holder),
        _ => "it was released or expired".into(),
    };
    shared.emit(Event::Error {
        context: "lease".into(),
        message: format!("this session lost the lease ({who}); now read-only"),
    });
    set_lease(shared, now);
}

pub(crate) async fn watch_state(
    shared: Arc<Shared>,
    mut pokes: mpsc::Receiver<Poke>,
    commands: mpsc::WeakSender<Envelope>,
    mut last_audit: i64,
) {
    let every = watch_interval(&shared);
    let mut failing = false;
    loop {
        let ack = tokio::select! {
            _ = shared.cancelled() => return,
            Some(ack) = pokes.recv() => Some(ack),
            _ = tokio::time::sleep(every) => None,
        };
        let round =
            tokio::time::timeout(shared.timeout, refresh(&shared, &commands, &mut last_audit));
        let result = match round.await {
            Ok(r) => r,
            Err(_) => Err(SessionError::Timeout {
                what: "reading the state tables".into(),
                after_ms: shared.timeout.as_millis() as u64,
            }),
        };
        match result {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                shared.emit(Event::Error {
                    context: "reading the state tables".into(),
                    message: e.to_string(),
                });
            }
            Err(_) => {}
        }
        if let Some(ack) = ack {
            let _ = ack.send(());
        }
    }
}

/// One round: the phase (and its history), new audit lines, and, when not driving, the lease.
async fn refresh(
    shared: &Shared,
    commands: &mpsc::WeakSender<Envelope>,
    last_audit: &mut i64,
) -> Result<(), SessionError> {
    let store = &shared.store;
    let state = store.state().await?;
    let seen = shared.seen_seq.load(Ordering::SeqCst);
    if state.seq != seen {
        let history = store.history(HISTORY_IN_SNAPSHOT).await?;
        let fresh = usize::try_from(state.seq - seen)
            .unwrap_or(0)
            .min(history.len());
        let phase_changed = shared.snapshot.borrow().phase != state.phase;
        shared.snapshot.send_modify(|s| {
            s.phase = state.phase;
            s.since_us = state.since_us;
            s.next = shared.plan.next(state.phase);
            s.history = history.clone();
            if phase_changed {
                s.gates.clear();
            }
        });
        shared.seen_seq.store(state.seq, Ordering::SeqCst);
        for record in history[..fresh].iter().rev() {
            shared.emit(Event::PhaseChanged {
                record: record.clone(),
            });
        }
        if let Some(tx) = commands.upgrade().filter(|_| phase_changed) {
            let _ = tx.try_send(Envelope {
                cmd: Command::RefreshGates,
                reply: None,
            });
        }
    }

    let lines = store.audit_since(*last_audit).await?;
    if let Some(newest) = lines.last() {
        *last_audit = newest.id;
        shared.snapshot.send_modify(|s| {
            let mut recent: Vec<_> = lines.iter().rev().cloned().collect();
            recent.append(&mut s.recent_actions);
            recent.truncate(ACTIONS_IN_SNAPSHOT);
            s.recent_actions = recent;
        });
        for record in lines {
            shared.emit(Event::Audited { record });
        }
    }

    if !shared.snapshot.borrow().lease.is_driving() {
        let (lease, now_us) = store.lease_and_now().await?;
        observe_lease(shared, lease, now_us);
    }
    Ok(())
}

/// Show another operator's lease, and whether it ran out by the database clock `now_us`. A
/// new holder, none, or an expiry is an event; a heartbeat only refreshes the snapshot. Never
/// overwrites `Driving`: only the keeper and commands change that.
fn observe_lease(shared: &Shared, lease: Option<Lease>, now_us: i64) {
    let next = match lease {
        Some(lease) if lease.holder.id == shared.operator.id => LeaseState::Driving { lease },
        Some(lease) if lease.is_expired(now_us) => LeaseState::Expired { lease },
        Some(lease) => LeaseState::Observing { lease },
        None => LeaseState::Free,
    };
    let mut announce = false;
    shared.snapshot.send_if_modified(|s| {
        if s.lease.is_driving() || s.lease == next {
            return false;
        }
        announce = !same_holder(&s.lease, &next);
        s.lease = next.clone();
        true
    });
    if announce {
        shared.emit(Event::LeaseChanged { lease: next });
    }
}

fn same_holder(a: &LeaseState, b: &LeaseState) -> bool {
    match (a, b) {
        (LeaseState::Observing { lease: x }, LeaseState::Observing { lease: y })
        | (LeaseState::Expired { lease: x }, LeaseState::Expired { lease: y }) => {
            x.holder == y.holder && x.acquired_us == y.acquired_us
        }
        (LeaseState::Free, LeaseState::Free) => true,
        _ => false,
    }
}
