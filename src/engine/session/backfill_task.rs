//! The backfill as a session task: `StartBackfill` spawns the runner, the live controls
//! (`PauseBackfill`, `ResumeBackfill`, `SetBackfillRate`, `SetChunkRows`) reach it through a
//! `watch` channel, and its progress lands in `Snapshot.backfill` and `Event::Backfill`. Every
//! control is audited; driving commands need the lease.

use std::sync::Arc;

use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{Command, Event, Outcome, SessionError, Shared};
use crate::engine::backfill::{self, BackfillProgress, Controls, RunContext};

/// The backfill's state inside the session.
pub(crate) struct BackfillTask {
    pub controls: watch::Sender<Controls>,
    pub progress: watch::Sender<BackfillProgress>,
    pub handle: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl BackfillTask {
    pub fn new() -> Self {
        BackfillTask {
            controls: watch::channel(Controls::default()).0,
            progress: watch::channel(BackfillProgress::default()).0,
            handle: std::sync::Mutex::new(None),
        }
    }

    fn running(&self) -> bool {
        self.handle
            .lock()
            .map(|h| h.as_ref().is_some_and(|h| !h.is_finished()))
            .unwrap_or(false)
    }
}

/// Carry out one backfill command.
pub(crate) async fn handle(shared: &Arc<Shared>, cmd: Command) -> Result<Outcome, SessionError> {
    let (action, params) = match &cmd {
        Command::StartBackfill { step } => ("backfill.start", json!({ "step": step })),
        Command::PauseBackfill { reason } => ("backfill.pause", json!({ "reason": reason })),
        Command::ResumeBackfill => ("backfill.resume", json!({})),
        Command::SetBackfillRate { rows_per_second } => (
            "backfill.rate",
            json!({ "rows_per_second": rows_per_second }),
        ),
        Command::SetChunkRows { rows } => ("backfill.chunk_rows", json!({ "rows": rows })),
        _ => return Ok(Outcome::Done),
    };
    if let Some(err) = super::commands::read_only(shared).await {
        let why = match &err {
            SessionError::ReadOnly { .. } => shared.snapshot.borrow().lease.read_only_reason(),
            other => Some(format!("the operator lease could not be taken: {other}")),
        };
        let why = why.unwrap_or_else(|| err.to_string());
        audit(shared, action, params, &format!("refused: {why}")).await?;
        return Err(err);
    }
    let task = &shared.backfill;
    let outcome = match cmd {
        Command::StartBackfill { step } => {
            if task.running() {
                Outcome::Refused {
                    why: "the backfill is already running".into(),
                    gates: Vec::new(),
                }
            } else if let Some(s) = step
                .as_ref()
                .filter(|s| !shared.config.backfill.iter().any(|b| &b.name == *s))
            {
                Outcome::Refused {
                    why: format!("no backfill step is named `{s}`"),
                    gates: Vec::new(),
                }
            } else {
                start(shared, step);
                Outcome::Done
            }
        }
        Command::PauseBackfill { reason } => {
            let reason = reason.trim().to_string();
            let reason = if reason.is_empty() {
                "paused".to_string()
            } else {
                reason
            };
            task.controls
                .send_modify(|c| c.paused = Some(reason.clone()));
            shared
                .snapshot
                .send_modify(|s| s.backfill.paused = Some(reason));
            Outcome::Done
        }
        Command::ResumeBackfill => {
            task.controls.send_modify(|c| c.paused = None);
            shared.snapshot.send_modify(|s| s.backfill.paused = None);
            Outcome::Done
        }
        Command::SetBackfillRate { rows_per_second } => {
            match rows_per_second.filter(|r| !(r.is_finite() && *r > 0.0)) {
                Some(bad) => Outcome::Refused {
                    why: format!("a rate must be a positive number of rows per second, not {bad}"),
                    gates: Vec::new(),
                },
                None => {
                    task.controls
                        .send_modify(|c| c.rows_per_second = Some(rows_per_second));
                    Outcome::Done
                }
            }
        }
        Command::SetChunkRows { rows } => match rows.filter(|r| *r == 0) {
            Some(_) => Outcome::Refused {
                why: "a chunk must have at least one row".into(),
                gates: Vec::new(),
            },
            None => {
                task.controls.send_modify(|c| c.chunk_rows = Some(rows));
                Outcome::Done
            }
        },
        _ => Outcome::Done,
    };
    let text = match &outcome {
        Outcome::Refused { why, .. } => format!("refused: {why}"),
        _ => "ok".to_string(),
    };
    audit(shared, action, params, &text).await?;
    Ok(outcome)
}

async fn audit(
    shared: &Shared,
    action: &str,
    params: serde_json::Value,
    outcome: &str,
) -> Result<(), SessionError> {
    shared
        .bounded(
            "auditing a backfill command",
            shared
                .store
                .audit(action, params, outcome, &shared.operator),
        )
        .await?;
    Ok(())
}

/// Spawn the runner; it stops on shutdown (the statement in flight is cancelled on the server).
fn start(shared: &Arc<Shared>, step: Option<String>) {
    let ctx = RunContext {
        config: Arc::new(shared.config.clone()),
        dbs: shared.dbs.clone(),
        store_db: shared.store.db().clone(),
        controls: shared.backfill.controls.subscribe(),
        signals: shared.signals.clone(),
        cancel: shared.cancel.subscribe(),
        progress: shared.backfill.progress.clone(),
        events: {
            let events = shared.events.clone();
            Arc::new(move |update| {
                let _ = events.send(Event::Backfill { update });
            })
        },
    };
    let shared2 = shared.clone();
    let mut progress = shared.backfill.progress.subscribe();
    let handle = tokio::spawn(async move {
        // Mirror progress into the snapshot while the runner works.
        let mirror = {
            let shared = shared2.clone();
            async move {
                while progress.changed().await.is_ok() {
                    let p = progress.borrow_and_update().clone();
                    shared.snapshot.send_modify(|s| s.backfill = p);
                }
            }
        };
        let result = tokio::select! {
            r = backfill::run(&ctx, step.as_deref()) => r,
            _ = mirror => Ok(()),
        };
        let p = shared2.backfill.progress.borrow().clone();
        shared2.snapshot.send_modify(|s| s.backfill = p);
        if let Err(e) = result {
            shared2.emit(Event::Error {
                context: "backfill".into(),
                message: shared2.config.secrets.mask(&e.to_string()),
            });
        }
    });
    if let Ok(mut h) = shared.backfill.handle.lock() {
        *h = Some(handle);
    }
}

/// On shutdown (the cancel flag is already set): wait, bounded, for the runner to cancel its
/// statement on the server and stop, so the pools close after it.
pub(crate) async fn stop(shared: &Shared) {
    let handle = shared
        .backfill
        .handle
        .lock()
        .ok()
        .and_then(|mut h| h.take());
    if let Some(h) = handle {
        let _ = tokio::time::timeout(shared.timeout, h).await;
    }
}
