//! The session's messages: `Command`s in, `Outcome`s and `Event`s out, the `Snapshot` a late
//! subscriber draws from, and the errors. Plain data, shared by every consumer.

use serde::{Deserialize, Serialize};

use super::VerifyStatus;
use crate::db::DbError;
use crate::engine::phase::{Gate, PhaseId};
use crate::store::{AuditRecord, Lease, PhaseRecord, StoreError};

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
    /// Another operator's lease ran out (no heartbeat within its ttl, by the database clock):
    /// nobody drives until someone takes it. A cockpit says so and waits to be asked.
    Expired {
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
            LeaseState::Driving { lease }
            | LeaseState::Observing { lease }
            | LeaseState::Expired { lease } => lease.holder.to_string(),
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
            LeaseState::Expired { lease } => Some(format!(
                "read-only: the lease of {} expired (no heartbeat since {}); nobody drives",
                lease.holder,
                crate::store::format_us(lease.heartbeat_us)
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
    /// is released or expires): the CLI commands and `run --headless`.
    Drive,
    /// The cockpit: take the lease at start when it is free or expired, as `Drive`; after that
    /// only when the operator asks (`TakeOver`). A cockpit left open read-only never starts
    /// driving behind its operator's back because the driver's laptop slept past the ttl.
    Ask,
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
