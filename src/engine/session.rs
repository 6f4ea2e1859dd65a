//! The session: owns the connections, the store and the long-running tasks; takes `Command`s,
//! publishes `Event`s and a `Snapshot` for late subscribers. The TUI, the headless CLI and the
//! tests all drive a migration through this one type.
//!
//! Tasks per session: the command loop (`session/commands.rs`); the lease keeper that heartbeats
//! or waits for the lease, and the watcher that follows the state tables and is the one source
//! of `PhaseChanged` and `Audited` events, ours and other operators' alike (`session/keeper.rs`);
//! the latency probes (`engine/probe/task.rs`), the verifier (`session/verifier.rs`) and the
//! backfill (`session/backfill_task.rs`). The messages themselves are in `session/types.rs`.
//! Every database call is bounded by a statement timeout, and every task stops on shutdown.

mod backfill_task;
mod backup;
mod commands;
mod flag_cmd;
mod keeper;
mod types;
mod verifier;

pub(crate) use flag_cmd::flip;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::db::{Db, DbError, Engine};
use crate::engine::phase::Plan;
use crate::engine::preflight;
use crate::store::{
    AuditRecord, LeaseOutcome, MigrationState, Operator, PhaseRecord, Store, StoreError,
};
pub use types::*;
pub use verifier::VerifyStatus;

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
    /// The backup running beside the command loop, if any (one at a time).
    pub backup: std::sync::Mutex<Option<JoinHandle<()>>>,
    /// Notifications on their way (`[notify]`), waited for (bounded) on shutdown.
    pub notifications: crate::engine::notify::Pending,
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
            backup: std::sync::Mutex::new(None),
            notifications: Default::default(),
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
        // A CLI command exits right after: let its notifications reach their command first.
        self.shared.notifications.drain().await;
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

    /// The migration file this session runs (for the cockpit's context and the report).
    pub fn config(&self) -> &Config {
        &self.shared.config
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
        Mode::Drive | Mode::Ask => store.acquire(operator, ttl).await.map(|o| match o {
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
