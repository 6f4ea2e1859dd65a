//! The session: owns the connections, the store and the long-running tasks; takes `Command`s,
//! publishes `Event`s and a `Snapshot` for late subscribers. The TUI, the headless CLI and the
//! tests all drive a migration through this one type.

use serde::{Deserialize, Serialize};

use crate::engine::phase::{Gate, PhaseId};
use crate::store::{AuditRecord, Lease, PhaseRecord};

/// What a consumer asks the session to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Advance to the next phase; a failing gate needs `override_reason`.
    Advance { override_reason: Option<String> },
    /// Go back one phase (reversible phases only).
    Rollback { reason: Option<String> },
    /// Take the lease from another operator; the reason is audited.
    TakeOver { reason: String },
    /// Measure the gates of the current phase again.
    RefreshGates,
    /// Stop every task, release the lease, close the pools.
    Shutdown,
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
    /// The lease could not be read (the state database is unreachable).
    Unknown {
        error: String,
    },
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
}
