//! The session: owns the connections, the store and the long-running tasks; takes `Command`s,
//! publishes `Event`s and a `Snapshot` for late subscribers. The TUI, the headless CLI and the
//! tests all drive a migration through this one type.
//!
//! Three tasks run per session: the command loop (`session/commands.rs`), the lease keeper that
//! heartbeats or waits for the lease, and the watcher that follows the state tables and is the
//! one source of `PhaseChanged` and `Audited` events, for our own actions and other operators'
//! alike (`session/keeper.rs`). Every database call they make is bounded by the state
//! database's statement timeout, and every task stops on shutdown.

mod backfill_task;
mod backup;
mod commands;
mod flag_cmd;
mod keeper;
mod verifier;

pub(crate) use flag_cmd::flip;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::db::{Db, DbError, Engine};
use crate::engine::phase::{Gate, PhaseId, Plan};
use crate::engine::preflight;
use crate::store::{
    AuditRecord, Lease, LeaseOutcome, MigrationState, Operator, PhaseRecord, Store, StoreError,
};
pub use verifier::VerifyStatus;

/// What a consumer asks the session to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Advance to the next phase; a failing gate needs `override_reason`, and a one-way door
    /// (`stop_old_writes`, `drop`) needs `confirm` with the migration's name.
    Advance {
        override_reason: Option<String>,
        confirm: Option<String>,
    },
    /// Go back one phase (reversible phases only).
    Rollback { reason: Option<String> },
    /// Take the lease from another operator; the reason is audited.
    TakeOver { reason: String },
    /// Measure the gates of the current phase again.
    RefreshGates,
    /// Stop every task, release the lease, close the pools.
    Shutdown,
    /// Write the read flag (read back and compared); the reason is audited.
    SetFlag {
        value: crate::engine::flag::FlagValue,
        reason: String,
    },
    /// Copy every `[[backup]]` and verify it; `verify_only` checks the existing copies again.
    RunBackup { verify_only: bool },
    /// Run the contract DDL (phase `drop` only): `confirm` must name the dropped tables, and
    /// a blocked drop (no verified backup, a dependent object) needs `override_reason`.
    Contract {
        confirm: Option<String>,
        override_reason: Option<String>,
    },
    /// Put a backup's columns back (`dry_run`: only say what would run).
    Restore { backup: String, dry_run: bool },
    /// Run the full-table diff of one check (all when `None`) in the verifier task; progress
    /// and the result arrive as events.
    RunFullVerify { check: Option<String> },
    /// Re-read one key of a check now (`key` as typed: `42`, or `1:a` for composite keys).
    RecheckDivergence { check: String, key: String },
    /// Mark a divergence as seen, with the operator's note (audited).
    AcknowledgeDivergence {
        check: String,
        key: String,
        note: String,
    },
    /// Run the backfill steps in order from their checkpoints (or only `step`).
    StartBackfill { step: Option<String> },
    /// Hold the backfill after the chunk in flight; the reason is shown while it holds.
    PauseBackfill { reason: String },
    /// Lift the operator's pause (automatic conditions still apply).
    ResumeBackfill,
    /// Change the rows-per-second ceiling live; `None` removes it.
    SetBackfillRate { rows_per_second: Option<f64> },
    /// Fix the rows per chunk live; `None` goes back to sizing by the target chunk time.
    SetChunkRows { rows: Option<u64> },
}

/// Whether this process drives the migration or watches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum LeaseState {
    Driving {
        lease: Lease,
    },
    Observing {
        lease: Lease,
    },
    /// Nobody holds the lease (released, or never taken); `Observe` sessions show this.
    Free,
    /// The lease could not be read (the state database is unreachable).
    Unknown {
        error: String,
    },
}

impl LeaseState {
    pub fn is_driving(&self) -> bool {
        matches!(self, LeaseState::Driving { .. })
    }

    /// Who drives, for banners and `ReadOnly` errors: `alice@laptop (pid 42)`, or `nobody`.
    pub fn holder(&self) -> String {
        match self {
            LeaseState::Driving { lease } | LeaseState::Observing { lease } => {
                lease.holder.to_string()
            }
            LeaseState::Free => "nobody".into(),
            LeaseState::Unknown { .. } => "an unknown operator".into(),
        }
    }

    /// Why a driving command is refused in this state, or `None` when this session drives.
    pub fn read_only_reason(&self) -> Option<String> {
        match self {
            LeaseState::Driving { .. } => None,
            LeaseState::Observing { lease } => Some(format!(
                "read-only: {} holds the lease (since {})",
                lease.holder,
                crate::store::format_us(lease.acquired_us)
            )),
            LeaseState::Free => Some(
                "read-only: nobody holds the lease; take it over with a reason to drive".into(),
            ),
            LeaseState::Unknown { error } => {
                Some(format!("read-only: the lease cannot be read ({error})"))
            }
        }
    }
}

/// One database as the session sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseStatus {
    pub name: String,
    pub engine: String,
    /// `host:port/db` or the SQLite file; never credentials.
    pub target: String,
    pub connected: bool,
    pub error: Option<String>,
}

/// Everything a late subscriber needs to draw the current state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub migration: String,
    pub phase: PhaseId,
    /// The phases this migration runs, in order.
    pub plan: Vec<PhaseId>,
    pub since_us: i64,
    /// The next phase and the gates that guard it (empty at `done`).
    pub next: Option<PhaseId>,
    pub gates: Vec<Gate>,
    pub lease: LeaseState,
    pub databases: Vec<DatabaseStatus>,
    pub history: Vec<PhaseRecord>,
    pub recent_actions: Vec<AuditRecord>,
    /// The read flag as last read or written (`None`: no `[flag]`, or not read yet).
    #[serde(default)]
    pub flag: Option<crate::engine::flag::FlagStatus>,
    /// Latency per read path and side: 1 min, 10 min and session windows, ratios, verdicts.
    #[serde(default)]
    pub latency: Vec<crate::engine::probe::PathLatency>,
    /// The automatic rollback: armed, breaching, or fired (and why).
    #[serde(default)]
    pub rollback: crate::engine::probe::rollback::RollbackStatus,
    /// Whether the application still calls each old read path's query.
    #[serde(default)]
    pub drain: Vec<crate::engine::probe::drain::DrainStatus>,
    /// The recorded backup copies and their verification status.
    #[serde(default)]
    pub backups: Vec<crate::store::BackupRecord>,
    /// Per verify check: rows compared, divergent, rates and bounds, full-diff progress.
    #[serde(default)]
    pub verify: Vec<VerifyStatus>,
    /// The backfill's progress per step (empty until it runs).
    #[serde(default)]
    pub backfill: crate::engine::backfill::BackfillProgress,
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    PhaseChanged {
        record: PhaseRecord,
    },
    GatesMeasured {
        phase: PhaseId,
        gates: Vec<Gate>,
    },
    LeaseChanged {
        lease: LeaseState,
    },
    /// An action was not carried out, and why.
    Refused {
        action: String,
        why: String,
    },
    /// Something failed; `context` says what was being done.
    Error {
        context: String,
        message: String,
    },
    Audited {
        record: AuditRecord,
    },
    /// The read flag was written and read back.
    FlagChanged {
        from: Option<crate::engine::flag::FlagValue>,
        to: crate::engine::flag::FlagValue,
        reason: String,
        automatic: bool,
    },
    /// The read flag holds a value migtui did not write.
    FlagDrift {
        expected: String,
        found: String,
    },
    /// A read path's budget or a divergence bound started being breached.
    BudgetBreached {
        breaches: Vec<String>,
    },
    /// The automatic rollback fired: reads flipped back to old, the backfill asked to pause.
    AutoRollback {
        reason: String,
        flag_error: Option<String>,
    },
    /// A backup copied or verified more rows.
    BackupProgress {
        progress: crate::engine::backup::BackupProgress,
    },
    /// A backup's copies were verified (or failed to).
    BackupVerified {
        results: Vec<crate::engine::backup::VerifyResult>,
    },
    /// The contract step ran or was refused; the report holds the preview and every attempt.
    ContractRan {
        report: Box<crate::engine::contract::ContractReport>,
    },
    /// A restore ran (or, dry, said what it would run).
    Restored {
        report: crate::engine::backup::restore::RestoreReport,
    },
    /// A verify check's numbers since the phase began changed.
    VerifyMeasured {
        check: String,
        numbers: crate::engine::verify::RateBound,
    },
    /// A key was found different (or healed) by sampling or a recheck.
    Divergence {
        check: String,
        key: String,
        kind: String,
        columns: Vec<String>,
        status: crate::store::DivergenceStatus,
    },
    FullVerifyProgress {
        check: String,
        progress: crate::engine::verify::full::FullProgress,
    },
    FullVerifyDone {
        check: String,
        rows: u64,
        divergent: u64,
    },
    /// The backfill moved: a chunk, a pause, a retry, a step done or failed.
    Backfill {
        update: crate::engine::backfill::BackfillEvent,
    },
}

/// Whether a session asks to drive the migration or only watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Take the lease (or attach read-only when another operator holds it, and take it when it
    /// is released or expires).
    Drive,
    /// Never take the lease (`migtui status`); driving commands are refused.
    Observe,
}

/// What a command did. Refusals are outcomes, not errors: the command was understood,
/// answered, and the refusal is in the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The phase changed (`record.kind`: advance, override or rollback).
    Moved { record: PhaseRecord },
    /// Not done, and why; `gates` holds the measured gates when they were the reason.
    Refused { why: String, gates: Vec<Gate> },
    /// Done, with nothing more to say than the snapshot shows (gates measured, lease taken,
    /// session shut down).
    Done,
}

/// A session could not start, or a command could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("[state] database = \"{0}\" is not declared under [databases]")]
    UnknownStateDatabase(String),
    #[error("the state database must connect: {0}")]
    StateDatabase(DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "{what}: no answer within {after_ms} ms (the statement timeout)\n  hint: the state database is slow or unreachable; the command was abandoned"
    )]
    Timeout { what: String, after_ms: u64 },
    /// A driving command from a session that does not hold the lease (audited as refused).
    #[error(
        "read-only: {holder} holds the lease for this migration\n  hint: wait for them, or take over with a reason"
    )]
    ReadOnly { holder: String },
    #[error("the command was cancelled because the session is shutting down")]
    Cancelled,
    #[error("the session has shut down")]
    Closed,
    #[error("the session is busy (too many queued commands); try again")]
    Busy,
}

/// The session's entry point.
pub struct Session;

/// A command with an optional reply slot.
pub(crate) struct Envelope {
    pub cmd: Command,
    pub reply: Option<oneshot::Sender<Result<Outcome, SessionError>>>,
}

/// What the three tasks share. Immutable after start, except through the channels.
pub(crate) struct Shared {
    pub config: Config,
    pub plan: Plan,
    pub dbs: BTreeMap<String, Db>,
    pub store: Store,
    pub operator: Operator,
    pub mode: Mode,
    pub events: broadcast::Sender<Event>,
    pub snapshot: watch::Sender<Snapshot>,
    /// Set once, on shutdown: every task stops and in-flight work is abandoned.
    pub cancel: watch::Sender<bool>,
    /// Live measurements shared between tasks (probes → backfill pauses, automatic rollback).
    pub signals: watch::Sender<crate::engine::signals::Signals>,
    /// The state database's statement timeout: the most any task waits on one call.
    pub timeout: Duration,
    /// The migration record's `seq` the watcher has published.
    pub seen_seq: AtomicI64,
    /// Requests to the verifier task (full diff, recheck).
    pub verify_requests: mpsc::Sender<verifier::Request>,
    /// The backfill task, its live controls and progress.
    pub backfill: backfill_task::BackfillTask,
}

impl Shared {
    pub fn emit(&self, event: Event) {
        // No subscriber is fine: the snapshot still holds the state.
        let _ = self.events.send(event);
    }

    pub fn lease_ttl(&self) -> u64 {
        self.config.state.lease_ttl_secs.max(1)
    }

    /// Run a database call with the statement timeout as its bound.
    pub async fn bounded<T, E: Into<SessionError>>(
        &self,
        what: &str,
        fut: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, SessionError> {
        match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r.map_err(Into::into),
            Err(_) => Err(SessionError::Timeout {
                what: what.to_string(),
                after_ms: self.timeout.as_millis() as u64,
            }),
        }
    }

    /// Resolves when the session shuts down.
    pub async fn cancelled(&self) {
        let mut rx = self.cancel.subscribe();
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// The consumer's side of a running session. Cheap to clone; dropping the last clone shuts the
/// session down (the lease is released).
#[derive(Clone)]
pub struct SessionHandle {
    commands: mpsc::Sender<Envelope>,
    shared: Arc<Shared>,
    tasks: Arc<tokio::sync::Mutex<Vec<JoinHandle<()>>>>,
}

impl Session {
    /// Connect every database, open the store, take the lease (`Drive`) or watch (`Observe`),
    /// and start the tasks. A database that fails to connect is reported in
    /// `Snapshot.databases`; only the state database must connect.
    pub async fn start(config: Config, mode: Mode) -> Result<SessionHandle, SessionError> {
        let state_name = config.state.database.clone();
        let state_cfg = config
            .database(&state_name)
            .cloned()
            .ok_or_else(|| SessionError::UnknownStateDatabase(state_name.clone()))?;
        let (dbs, checks) = preflight::connect_all(&config).await;
        let databases = database_statuses(&config, &dbs, &checks);
        let Some(state_db) = dbs.get(&state_name).cloned() else {
            // Connect again for the error itself (connect_all kept only its masked text).
            let err = match crate::db::connect(&state_cfg, &config.secrets).await {
                Err(e) => e,
                Ok(db) => {
                    db.close().await;
                    DbError::Connect {
                        db: state_name.clone(),
                        target: state_cfg.url.redacted(),
                        reason: "it failed to connect, then answered on a retry".into(),
                        hint: "the server is flapping; start again".into(),
                    }
                }
            };
            close_all(&dbs).await;
            return Err(SessionError::StateDatabase(err));
        };
        let timeout = Duration::from_millis(state_cfg.statement_timeout_ms.max(100));
        let opened = tokio::time::timeout(timeout, Store::open(state_db, &config.migration.name));
        let store = match opened.await {
            Ok(Ok(store)) => store,
            Ok(Err(e)) => {
                close_all(&dbs).await;
                return Err(e.into());
            }
            Err(_) => {
                close_all(&dbs).await;
                return Err(SessionError::Timeout {
                    what: "opening the state store".into(),
                    after_ms: timeout.as_millis() as u64,
                });
            }
        };
        let operator = Operator::current();
        let plan = Plan::new(&config.phases.skip);
        let ttl = config.state.lease_ttl_secs;
        let lease =
            match tokio::time::timeout(timeout, first_lease(&store, &operator, mode, ttl)).await {
                Ok(lease) => lease,
                Err(_) => LeaseState::Unknown {
                    error: format!("no answer within {} ms", timeout.as_millis()),
                },
            };
        let (state, history, recent_actions) =
            match tokio::time::timeout(timeout, first_look(&store)).await {
                Ok(Ok(look)) => look,
                failed => {
                    if lease.is_driving() {
                        let _ = tokio::time::timeout(timeout, store.release(&operator)).await;
                    }
                    close_all(&dbs).await;
                    return Err(match failed {
                        Ok(Err(e)) => e.into(),
                        _ => SessionError::Timeout {
                            what: "reading the migration record".into(),
                            after_ms: timeout.as_millis() as u64,
                        },
                    });
                }
            };
        let snapshot = Snapshot {
            migration: config.migration.name.clone(),
            phase: state.phase,
            plan: plan.phases().to_vec(),
            since_us: state.since_us,
            next: plan.next(state.phase),
            gates: Vec::new(),
            lease,
            databases,
            history,
            recent_actions,
            flag: None,
            latency: Vec::new(),
            rollback: Default::default(),
            drain: Vec::new(),
            backups: tokio::time::timeout(timeout, store.backups())
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default(),
            verify: Vec::new(),
            backfill: Default::default(),
        };
        let last_audit = snapshot.recent_actions.first().map_or(0, |r| r.id);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let (verify_requests, verify_rx) = mpsc::channel(COMMAND_CAPACITY);
        let shared = Arc::new(Shared {
            config,
            plan,
            dbs,
            store,
            operator,
            mode,
            events,
            snapshot: watch::channel(snapshot).0,
            cancel: watch::channel(false).0,
            signals: watch::channel(Default::default()).0,
            timeout,
            seen_seq: AtomicI64::new(state.seq),
            verify_requests,
            backfill: backfill_task::BackfillTask::new(),
        });
        let (tx, rx) = mpsc::channel(COMMAND_CAPACITY);
        let (poke_tx, poke_rx) = mpsc::channel(COMMAND_CAPACITY);
        let watcher = tokio::spawn(keeper::watch_state(
            shared.clone(),
            poke_rx,
            tx.downgrade(),
            last_audit,
        ));
        let lease_keeper = tokio::spawn(keeper::keep_lease(shared.clone()));
        let probes = tokio::spawn(crate::engine::probe::task::run(
            shared.clone(),
            tx.downgrade(),
        ));
        let verifier = tokio::spawn(verifier::run(shared.clone(), verify_rx));
        let commands = tokio::spawn(commands::run(
            shared.clone(),
            rx,
            poke_tx,
            vec![watcher, lease_keeper, probes, verifier],
        ));
        // The first gates, measured in the background so a slow check does not delay start.
        let _ = tx.try_send(Envelope {
            cmd: Command::RefreshGates,
            reply: None,
        });
        Ok(SessionHandle {
            commands: tx,
            shared,
            tasks: Arc::new(tokio::sync::Mutex::new(vec![commands])),
        })
    }
}

impl SessionHandle {
    /// Send a command and wait for its outcome (for the CLI and tests). When this returns, the
    /// snapshot already shows the command's effect.
    pub async fn request(&self, cmd: Command) -> Result<Outcome, SessionError> {
        let shutdown = cmd == Command::Shutdown;
        let (reply, rx) = oneshot::channel();
        self.commands
            .send(Envelope {
                cmd,
                reply: Some(reply),
            })
            .await
            .map_err(|_| SessionError::Closed)?;
        if shutdown {
            self.shared.cancel.send_replace(true);
        }
        let outcome = rx.await.map_err(|_| SessionError::Closed)?;
        if shutdown {
            self.join().await;
        }
        outcome
    }

    /// Stop the session: release the lease, stop the tasks, close the pools; returns when done.
    pub async fn shutdown(&self) {
        let _ = self.request(Command::Shutdown).await;
        self.join().await;
    }

    /// Send a command without waiting (for a UI): results arrive as events and in the snapshot.
    /// Never blocks; `Busy` when the queue is full.
    pub fn send(&self, cmd: Command) -> Result<(), SessionError> {
        let shutdown = cmd == Command::Shutdown;
        self.commands
            .try_send(Envelope { cmd, reply: None })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => SessionError::Busy,
                mpsc::error::TrySendError::Closed(_) => SessionError::Closed,
            })?;
        if shutdown {
            self.shared.cancel.send_replace(true);
        }
        Ok(())
    }

    /// Events from now on. A subscriber that falls behind gets `Lagged` and should re-read
    /// the snapshot.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// The current state (newest wins).
    pub fn snapshot(&self) -> Snapshot {
        self.shared.snapshot.borrow().clone()
    }

    /// A receiver of snapshots, for consumers that redraw on change.
    pub fn watch(&self) -> watch::Receiver<Snapshot> {
        self.shared.snapshot.subscribe()
    }

    /// The live measurements (read-path latency, replica lag), newest wins.
    pub fn signals(&self) -> watch::Receiver<crate::engine::signals::Signals> {
        self.shared.signals.subscribe()
    }

    /// Who this session acts as.
    pub fn operator(&self) -> &Operator {
        &self.shared.operator
    }

    pub fn mode(&self) -> Mode {
        self.shared.mode
    }

    /// The state store, for tasks that record their own progress (checkpoints, divergences).
    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    /// The connected databases, by name.
    pub fn databases(&self) -> &BTreeMap<String, Db> {
        &self.shared.dbs
    }

    /// Wait until every task has stopped (after `Shutdown`).
    pub async fn join(&self) {
        let tasks: Vec<JoinHandle<()>> = self.tasks.lock().await.drain(..).collect();
        for t in tasks {
            let _ = t.await;
        }
    }
}

const EVENT_CAPACITY: usize = 1024;
const COMMAND_CAPACITY: usize = 64;
/// Phase changes kept in the snapshot.
pub(crate) const HISTORY_IN_SNAPSHOT: usize = 20;
/// Audit lines kept in the snapshot.
pub(crate) const ACTIONS_IN_SNAPSHOT: usize = 20;

/// The lease as this session starts: taken (`Drive`, when free or expired), or watched.
async fn first_lease(store: &Store, operator: &Operator, mode: Mode, ttl: u64) -> LeaseState {
    let result = match mode {
        Mode::Drive => store.acquire(operator, ttl).await.map(|o| match o {
            LeaseOutcome::Acquired(lease) => LeaseState::Driving { lease },
            LeaseOutcome::HeldBy(lease) => LeaseState::Observing { lease },
        }),
        Mode::Observe => store.lease().await.map(|l| match l {
            Some(lease) => LeaseState::Observing { lease },
            None => LeaseState::Free,
        }),
    };
    result.unwrap_or_else(|e| LeaseState::Unknown {
        error: e.to_string(),
    })
}

/// The migration record, its recent history and audit lines, for the first snapshot.
async fn first_look(
    store: &Store,
) -> Result<(MigrationState, Vec<PhaseRecord>, Vec<AuditRecord>), StoreError> {
    Ok((
        store.state().await?,
        store.history(HISTORY_IN_SNAPSHOT).await?,
        store.audit_page(None, ACTIONS_IN_SNAPSHOT).await?,
    ))
}

fn database_statuses(
    config: &Config,
    dbs: &BTreeMap<String, Db>,
    checks: &[preflight::Check],
) -> Vec<DatabaseStatus> {
    config
        .databases
        .values()
        .map(|cfg| {
            let subject = format!("database {}", cfg.name);
            let error = match dbs.contains_key(&cfg.name) {
                true => None,
                false => Some(
                    checks
                        .iter()
                        .find(|c| c.subject == subject)
                        .map(|c| match &c.fix {
                            Some(fix) => format!("{}\n  hint: {fix}", c.detail),
                            None => c.detail.clone(),
                        })
                        .unwrap_or_else(|| "not connected".into()),
                ),
            };
            DatabaseStatus {
                name: cfg.name.clone(),
                engine: Engine::from_scheme(&cfg.url.scheme())
                    .map_or_else(|| cfg.url.scheme(), |e| e.label().to_string()),
                target: cfg.url.display_target(),
                connected: error.is_none(),
                error,
            }
        })
        .collect()
}

pub(crate) async fn close_all(dbs: &BTreeMap<String, Db>) {
    futures::future::join_all(dbs.values().map(|db| db.close())).await;
}
