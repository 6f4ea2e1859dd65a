//! The state store: `migtui_*` tables in the configured database. The phase, its history, the
//! audit log and the operator lease live here, not in memory, so a restart (on another laptop,
//! even) resumes where the last one stopped.

mod audit;
mod backups;
mod divergences;
mod lease;
mod metrics;
mod operator;
mod phases;
mod report_queries;
mod row;
mod schema;

use serde::{Deserialize, Serialize};

use crate::db::{Db, DbError};
use crate::engine::phase::{Gate, PhaseId};

pub use audit::MAX_PAGE;
pub use backups::{BackedUpColumn, BackupRecord, BackupStatus};
pub use divergences::{
    DivergenceFilter, DivergenceRecord, DivergenceStatus, FullCheckpoint, WindowCounts,
};
pub use lease::format_us;
pub use metrics::{MAX_METRIC_ROWS, METRICS_RETENTION_US, MetricRow};
pub use report_queries::{
    BackfillRun, BackfillSample, record_backfill_run, record_backfill_sample,
};

/// The version of the `migtui_*` tables this build writes. Older stores are upgraded; a newer
/// one is refused (an older migtui must not write tables it does not understand).
pub const SCHEMA_VERSION: i64 = 8;

/// Who is acting: the OS user and host of this process, and a per-process id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Unique per process (a new id per run), so the same user on two terminals is two operators.
    pub id: String,
    pub user: String,
    pub host: String,
    pub pid: u32,
}

/// The current state of the migration record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrationState {
    pub name: String,
    pub phase: PhaseId,
    /// Incremented on every transition: the compare-and-swap token that stops two advances
    /// from both succeeding.
    pub seq: i64,
    /// Microseconds since the epoch (database clock) when the current phase was entered.
    pub since_us: i64,
}

/// How a phase was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    Advance,
    /// An advance through failing gates, with the operator's reason.
    Override,
    Rollback,
}

impl TransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Advance => "advance",
            TransitionKind::Override => "override",
            TransitionKind::Rollback => "rollback",
        }
    }

    /// The audit action that records it: overrides are advances (with the reason in params).
    pub fn action(self) -> &'static str {
        match self {
            TransitionKind::Advance | TransitionKind::Override => "advance",
            TransitionKind::Rollback => "rollback",
        }
    }
}

impl std::str::FromStr for TransitionKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "advance" => Ok(TransitionKind::Advance),
            "override" => Ok(TransitionKind::Override),
            "rollback" => Ok(TransitionKind::Rollback),
            other => Err(format!("unknown transition kind `{other}`")),
        }
    }
}

/// One phase change, as recorded in the history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseRecord {
    pub from: PhaseId,
    pub to: PhaseId,
    pub kind: TransitionKind,
    pub reason: Option<String>,
    /// The gates as they were measured at that moment.
    pub gates: Vec<Gate>,
    pub operator: Operator,
    pub at_us: i64,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at_us: i64,
    pub user: String,
    pub host: String,
    /// `advance`, `rollback`, `lease.takeover`, `flag.set`, …
    pub action: String,
    /// The action's parameters as JSON (never secrets).
    pub params: serde_json::Value,
    /// `ok`, `refused: …`, `failed: …`.
    pub outcome: String,
}

/// The operator lease: who drives this migration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: Operator,
    pub acquired_us: i64,
    pub heartbeat_us: i64,
    /// Seconds without a heartbeat after which the lease expires.
    pub ttl_secs: u64,
}

/// What happened when this process asked for the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// This process drives.
    Acquired(Lease),
    /// Someone else drives; this process attaches read-only.
    HeldBy(Lease),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(
        "the state store in database `{db}` has schema version {found}, newer than this migtui \
         understands ({supported})\n  hint: upgrade migtui; an older version must not write these tables"
    )]
    NewerSchema {
        db: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "another operator drives this migration: {holder} since {since}\n  hint: attach read-only, or take over with a reason"
    )]
    LeaseHeld { holder: String, since: String },
    #[error(
        "this process does not hold the operator lease, and nobody does\n  hint: acquire the lease first"
    )]
    NoLease,
    #[error(
        "the phase changed underneath this action (now `{now}`); nothing was done\n  hint: look at the new state and try again"
    )]
    Conflict { now: PhaseId },
    #[error("{0}")]
    Invalid(String),
}

/// A handle on the `migtui_*` tables of one migration.
#[derive(Debug, Clone)]
pub struct Store {
    db: Db,
    migration: String,
}

impl Store {
    /// Open the state store of `migration` in `db`: create or upgrade the `migtui_*` tables
    /// (refusing a newer schema), and create the migration record at `plan` if it is absent.
    /// Idempotent, and safe when two processes open the same store at once.
    pub async fn open(db: Db, migration: &str) -> Result<Store, StoreError> {
        let migration = migration.trim();
        if migration.is_empty() {
            return Err(StoreError::Invalid("the migration needs a name".into()));
        }
        schema::ensure(&db).await?;
        let store = Store {
            db,
            migration: migration.to_string(),
        };
        store.ensure_record().await?;
        Ok(store)
    }

    /// The schema version recorded in the database (equal to [`SCHEMA_VERSION`] once open).
    pub async fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(schema::recorded_version(&self.db).await?.unwrap_or(0))
    }

    /// The database clock, in microseconds since the epoch.
    pub async fn now_us(&self) -> Result<i64, StoreError> {
        use row::RowExt;
        let sql = format!("SELECT {} AS now_us", self.db.dialect().now_micros_sql());
        let rows = self.db.query(&sql, &crate::db::Params::new()).await?;
        rows.int(0, "now_us")
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn migration(&self) -> &str {
        &self.migration
    }
}
