//! The command loop: one command at a time, each bounded by the statement timeout and
//! abandoned on shutdown. Every driving attempt is audited, refusals included.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Command, Envelope, Event, LeaseState, Mode, Outcome, SessionError, Shared, close_all};
use crate::engine::gates::{self, GateContext};
use crate::engine::phase::{AdvanceDecision, Gate, PhaseId, decide};
use crate::store::{LeaseOutcome, StoreError, TransitionKind};

/// A request to the watcher to re-read the state tables now; answered when it has.
pub(crate) type Poke = oneshot::Sender<()>;

pub(crate) async fn run(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Envelope>,
    poke: mpsc::Sender<Poke>,
    helpers: Vec<JoinHandle<()>>,
) {
    let mut shutdown_replies = Vec::new();
    loop {
        let env = tokio::select! {
            biased;
            _ = shared.cancelled() => break,
            env = rx.recv() => match env {
                Some(env) => env,
                None => break, // every handle dropped
            },
        };
        if env.cmd == Command::Shutdown {
            shutdown_replies.extend(env.reply);
            break;
        }
        if let Command::RunBackup { verify_only } = env.cmd {
            // A backup can take minutes: it runs beside the loop, so a flag flip or a pause is
            // never queued behind it. It replies when it is done.
            super::backup::spawn_backup(&shared, verify_only, env.reply, poke.clone());
            continue;
        }
        let result = tokio::select! {
            r = handle(&shared, env.cmd) => r,
            _ = shared.cancelled() => Err(SessionError::Cancelled),
        };
        if let Err(e) = &result {
            shared.emit(Event::Error {
                context: "command".into(),
                message: e.to_string(),
            });
        }
        // Let the watcher publish what the command changed before the caller hears back.
        refresh(&shared, &poke).await;
        if let Some(reply) = env.reply {
            let _ = reply.send(result);
        }
    }

    // Shutdown: stop the helpers, give the lease back, close the pools.
    shared.cancel.send_replace(true);
    for h in helpers {
        let _ = h.await;
    }
    if shared.snapshot.borrow().lease.is_driving() {
        let released = shared
            .bounded(
                "releasing the lease",
                shared.store.release(&shared.operator),
            )
            .await;
        if let Err(e) = released {
            shared.emit(Event::Error {
                context: "releasing the lease".into(),
                message: e.to_string(),
            });
        }
        set_lease(&shared, LeaseState::Free);
    }
    // The backfill cancels its statement on the server before the pools close.
    super::backfill_task::stop(&shared).await;
    super::backup::stop(&shared).await;
    close_all(&shared.dbs).await;
    rx.close();
    while let Some(env) = rx.recv().await {
        if env.cmd == Command::Shutdown {
            shutdown_replies.extend(env.reply);
        } else if let Some(reply) = env.reply {
            let _ = reply.send(Err(SessionError::Closed));
        }
    }
    for reply in shutdown_replies {
        let _ = reply.send(Ok(Outcome::Done));
    }
}

/// Ask the watcher to re-read now and wait (bounded) until it has.
async fn refresh(shared: &Shared, poke: &mpsc::Sender<Poke>) {
    let (tx, rx) = oneshot::channel();
    if poke.send(tx).await.is_ok() {
        let _ = tokio::time::timeout(shared.timeout, rx).await;
    }
}

async fn handle(shared: &Arc<Shared>, cmd: Command) -> Result<Outcome, SessionError> {
    match cmd {
        Command::Advance {
            override_reason,
            confirm,
        } => advance(shared, override_reason, confirm).await,
        Command::Rollback { reason } => rollback(shared, reason).await,
        Command::TakeOver { reason } => take_over(shared, &reason).await,
        Command::RefreshGates => {
            let phase = shared.snapshot.borrow().phase;
            measure(shared, phase).await;
            Ok(Outcome::Done)
        }
        Command::Shutdown => Ok(Outcome::Done),
        Command::SetFlag { value, reason } => {
            super::flag_cmd::set_flag(shared, value, reason).await
        }
        // The loop runs backups beside itself (`spawn_backup`); this arm keeps the match whole.
        Command::RunBackup { verify_only } => super::backup::run_backup(shared, verify_only).await,
        Command::Contract {
            confirm,
            override_reason,
        } => super::backup::contract(shared, confirm, override_reason).await,
        Command::Restore { backup, dry_run } => {
            super::backup::restore(shared, &backup, dry_run).await
        }
        Command::RunFullVerify { check } => {
            verify_request(shared, super::verifier::Request::Full { check })
        }
        Command::RecheckDivergence { check, key } => {
            verify_request(shared, super::verifier::Request::Recheck { check, key })
        }
        Command::AcknowledgeDivergence { check, key, note } => {
            acknowledge(shared, &check, &key, &note).await
        }
        Command::StartBackfill { .. }
        | Command::PauseBackfill { .. }
        | Command::ResumeBackfill
        | Command::SetBackfillRate { .. }
        | Command::SetChunkRows { .. } => super::backfill_task::handle(shared, cmd).await,
    }
}

/// Hand a request to the verifier task (it reports through events). Read-only sessions may
/// compare too: nothing here changes the migration.
fn verify_request(shared: &Shared, req: super::verifier::Request) -> Result<Outcome, SessionError> {
    shared.verify_requests.try_send(req).map_err(|e| match e {
        mpsc::error::TrySendError::Full(_) => SessionError::Busy,
        mpsc::error::TrySendError::Closed(_) => SessionError::Closed,
    })?;
    Ok(Outcome::Done)
}

async fn acknowledge(
    shared: &Shared,
    check: &str,
    key: &str,
    note: &str,
) -> Result<Outcome, SessionError> {
    if let Some(e) = read_only(shared).await {
        return Err(e);
    }
    let found = shared
        .bounded(
            "acknowledging a divergence",
            shared
                .store
                .acknowledge_divergence(check, key, note, &shared.operator),
        )
        .await?;
    Ok(if found {
        Outcome::Done
    } else {
        Outcome::Refused {
            why: format!("no divergence recorded for key `{key}` of check `{check}`"),
            gates: Vec::new(),
        }
    })
}

async fn advance(
    shared: &Shared,
    override_reason: Option<String>,
    confirm: Option<String>,
) -> Result<Outcome, SessionError> {
    let reason = override_reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if let Some(err) = read_only(shared).await {
        let params = json!({ "override_reason": reason });
        return refuse_read_only(shared, "advance", params, err).await;
    }
    let state = shared
        .bounded("reading the phase", shared.store.state())
        .await?;
    let Some(to) = shared.plan.next(state.phase) else {
        let why = format!(
            "`{}` is the last phase; there is nothing to advance to",
            state.phase
        );
        return refuse(
            shared,
            "advance",
            json!({ "from": state.phase }),
            why,
            Vec::new(),
        )
        .await;
    };
    if to.is_one_way_door() {
        let name = shared.config.migration.name.as_str();
        if confirm.as_deref().map(str::trim) != Some(name) {
            let why = format!(
                "`{to}` is a one-way door ({}): confirm with the migration's name `{name}`",
                to.summary()
            );
            let params = json!({ "from": state.phase, "to": to, "confirm": confirm });
            return refuse(shared, "advance", params, why, Vec::new()).await;
        }
    }
    let gates = measure(shared, state.phase).await;
    let (kind, reason) = match decide(&gates, reason) {
        AdvanceDecision::Allowed => (TransitionKind::Advance, None),
        AdvanceDecision::Overridden { reason, .. } => (TransitionKind::Override, Some(reason)),
        AdvanceDecision::Refused { failing } => {
            let names: Vec<&str> = failing.iter().map(|g| g.name.as_str()).collect();
            let why = format!(
                "{} failing: {}; type a reason to override",
                if failing.len() == 1 {
                    "a gate is"
                } else {
                    "gates are"
                },
                names.join(", ")
            );
            let params = json!({ "from": state.phase, "to": to, "failing_gates": names });
            return refuse(shared, "advance", params, why, gates).await;
        }
    };
    let done = shared.store.transition(
        state.phase,
        state.seq,
        to,
        kind,
        reason.as_deref(),
        &gates,
        &shared.operator,
    );
    match shared.bounded("recording the phase change", done).await {
        Ok(record) => {
            crate::engine::notify::phase_changed(shared, &record);
            Ok(Outcome::Moved { record })
        }
        Err(e) => transition_failed(shared, "advance", state.phase, to, reason, e).await,
    }
}

async fn rollback(shared: &Shared, reason: Option<String>) -> Result<Outcome, SessionError> {
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if let Some(err) = read_only(shared).await {
        return refuse_read_only(shared, "rollback", json!({ "reason": reason }), err).await;
    }
    let state = shared
        .bounded("reading the phase", shared.store.state())
        .await?;
    let to = match shared.plan.rollback_target(state.phase) {
        Ok(to) => to,
        Err(why) => {
            let params = json!({ "from": state.phase, "reason": reason });
            return refuse(shared, "rollback", params, why, Vec::new()).await;
        }
    };
    let kind = TransitionKind::Rollback;
    let done = shared.store.transition(
        state.phase,
        state.seq,
        to,
        kind,
        reason.as_deref(),
        &[],
        &shared.operator,
    );
    match shared.bounded("recording the rollback", done).await {
        Ok(record) => {
            crate::engine::notify::phase_changed(shared, &record);
            Ok(Outcome::Moved { record })
        }
        Err(e) => transition_failed(shared, "rollback", state.phase, to, reason, e).await,
    }
}

async fn take_over(shared: &Shared, reason: &str) -> Result<Outcome, SessionError> {
    let reason = reason.trim();
    let refusal = if shared.mode == Mode::Observe {
        Some("this session only observes (`migtui status`); start one that drives".to_string())
    } else if reason.is_empty() {
        Some("a takeover needs a reason; it goes into the audit log".to_string())
    } else if shared.snapshot.borrow().lease.is_driving() {
        Some("this session already holds the lease".to_string())
    } else {
        None
    };
    if let Some(why) = refusal {
        return refuse(
            shared,
            "lease.takeover",
            json!({ "reason": reason }),
            why,
            Vec::new(),
        )
        .await;
    }
    let ttl = shared.lease_ttl();
    let lease = shared
        .bounded(
            "taking over the lease",
            shared.store.take_over(&shared.operator, reason, ttl),
        )
        .await?;
    set_lease(shared, LeaseState::Driving { lease });
    Ok(Outcome::Done)
}

/// Measure the gates that guard leaving `phase`, publish them, and return them. A measurement
/// that outlasts the statement timeout is a failing gate that says so.
pub(crate) async fn measure(shared: &Shared, phase: PhaseId) -> Vec<Gate> {
    let ctx = GateContext {
        config: &shared.config,
        dbs: &shared.dbs,
        store: &shared.store,
    };
    let gates = match tokio::time::timeout(shared.timeout, gates::measure(phase, &ctx)).await {
        Ok(gates) => gates,
        Err(_) => vec![Gate::fail(
            "measurement",
            None,
            "answers within the statement timeout",
            format!(
                "measuring the gates of `{phase}` took longer than {} ms; check the databases",
                shared.timeout.as_millis()
            ),
        )],
    };
    shared.snapshot.send_if_modified(|s| {
        let current = s.phase == phase && s.gates != gates;
        if current {
            s.gates = gates.clone();
        }
        current
    });
    shared.emit(Event::GatesMeasured {
        phase,
        gates: gates.clone(),
    });
    gates
}

/// Why this session may not drive right now, if it may not. A session that means to drive
/// asks for the lease once more first: the lease may have been freed or have expired since the
/// keeper last asked, or the keeper's first ask may have failed on a database hiccup (a
/// restart, a full lock table), and "read-only: nobody holds the lease" is then no answer.
pub(crate) async fn read_only(shared: &Shared) -> Option<SessionError> {
    if shared.snapshot.borrow().lease.is_driving() {
        return None;
    }
    if shared.mode == Mode::Drive {
        let ask = shared.store.acquire(&shared.operator, shared.lease_ttl());
        match shared.bounded("asking for the lease", ask).await {
            Ok(LeaseOutcome::Acquired(lease)) => {
                set_lease(shared, LeaseState::Driving { lease });
                return None;
            }
            Ok(LeaseOutcome::HeldBy(_)) => {}
            // The state store did not answer: say so, rather than "read-only".
            Err(e) => return Some(e),
        }
    }
    let holder = shared.snapshot.borrow().lease.holder();
    Some(SessionError::ReadOnly { holder })
}

/// A driving command from a read-only session: audited and announced as refused, answered
/// with `ReadOnly` so a script can tell it from a gate refusal.
pub(crate) async fn refuse_read_only(
    shared: &Shared,
    action: &str,
    params: serde_json::Value,
    err: SessionError,
) -> Result<Outcome, SessionError> {
    let why = match &err {
        SessionError::ReadOnly { .. } => shared
            .snapshot
            .borrow()
            .lease
            .read_only_reason()
            .unwrap_or_else(|| err.to_string()),
        other => format!("the operator lease could not be taken: {other}"),
    };
    refuse(shared, action, params, why, Vec::new()).await?;
    Err(err)
}

/// Audit a refusal, tell subscribers, and answer with it.
pub(crate) async fn refuse(
    shared: &Shared,
    action: &str,
    params: serde_json::Value,
    why: String,
    gates: Vec<Gate>,
) -> Result<Outcome, SessionError> {
    let outcome = format!("refused: {why}");
    let audited = shared
        .bounded(
            "auditing a refusal",
            shared
                .store
                .audit(action, params, &outcome, &shared.operator),
        )
        .await;
    if let Err(e) = audited {
        shared.emit(Event::Error {
            context: format!("auditing the refused {action}"),
            message: e.to_string(),
        });
    }
    shared.emit(Event::Refused {
        action: action.to_string(),
        why: why.clone(),
    });
    Ok(Outcome::Refused { why, gates })
}

/// A transition the store would not make: a conflict or a lost lease is a refusal (audited);
/// anything else is an error, audited as a failure when the log is reachable.
async fn transition_failed(
    shared: &Shared,
    action: &str,
    from: PhaseId,
    to: PhaseId,
    reason: Option<String>,
    err: SessionError,
) -> Result<Outcome, SessionError> {
    let params = json!({ "from": from, "to": to, "reason": reason });
    match err {
        SessionError::Store(
            e @ (StoreError::Conflict { .. } | StoreError::LeaseHeld { .. } | StoreError::NoLease),
        ) => {
            if matches!(e, StoreError::LeaseHeld { .. } | StoreError::NoLease) {
                let lease = match shared.store.lease().await {
                    Ok(Some(lease)) => LeaseState::Observing { lease },
                    Ok(None) => LeaseState::Free,
                    Err(e) => LeaseState::Unknown {
                        error: e.to_string(),
                    },
                };
                set_lease(shared, lease);
            }
            refuse(shared, action, params, e.to_string(), Vec::new()).await
        }
        other => {
            let outcome = format!("failed: {other}");
            let _ = shared
                .bounded(
                    "auditing a failure",
                    shared
                        .store
                        .audit(action, params, &outcome, &shared.operator),
                )
                .await;
            Err(other)
        }
    }
}

/// Change the session's lease state, telling subscribers when it changed.
pub(crate) fn set_lease(shared: &Shared, lease: LeaseState) {
    let changed = shared.snapshot.send_if_modified(|s| {
        let changed = s.lease != lease;
        s.lease = lease.clone();
        changed
    });
    if changed {
        shared.emit(Event::LeaseChanged { lease });
    }
}
