//! The validated migration file. Everything downstream reads these types; nothing else reads TOML.
//!
//! Every section keeps the [`Location`] of its header so later checks against a live database
//! (a missing column, a non-unique key) can point at the line in the file.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::engine::phase::PhaseId;
use crate::secret::SecretUrl;

/// A place in the migration file, 1-based, for error messages: `migration.toml:12:3`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// One migration, as described by one file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub migration: MigrationMeta,
    /// By name; `old` and `new` always exist, more may be declared.
    pub databases: BTreeMap<String, DatabaseConfig>,
    pub state: StateConfig,
    pub phases: PhasesConfig,
    pub expand: Option<ExpandConfig>,
    pub flag: Option<FlagConfig>,
    pub backfill: Vec<BackfillStep>,
    pub verify: Vec<VerifyCheck>,
    pub paths: Vec<ReadPath>,
    pub backups: Vec<BackupSpec>,
    pub contract: Option<ContractConfig>,
    /// `[notify]`: who is told about phase changes, one-way doors, rollbacks and overrides.
    pub notify: Option<super::NotifyConfig>,
    /// Every value substituted from `${ENV}` plus URL passwords: masked wherever migtui prints.
    pub secrets: crate::secret::Secrets,
}

#[derive(Debug, Clone)]
pub struct MigrationMeta {
    pub name: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone)]
pub struct DatabaseConfig {
    pub name: String,
    pub url: SecretUrl,
    /// Connections in this database's pool (default 4).
    pub max_connections: u32,
    /// Statement timeout for migtui's own statements, in milliseconds (default 30 000).
    pub statement_timeout_ms: u64,
    pub at: Location,
}

#[derive(Debug, Clone)]
pub struct StateConfig {
    /// Name of the database holding the `migtui_*` tables.
    pub database: String,
    /// Seconds after the last heartbeat when an operator lease expires (default 30).
    pub lease_ttl_secs: u64,
}

/// Which phases run and the thresholds of their gates.
#[derive(Debug, Clone)]
pub struct PhasesConfig {
    /// Phases switched off for this migration; `plan` and `done` cannot be skipped.
    pub skip: Vec<PhaseId>,
    /// `dual_write` gate: agreement among recently changed rows, as a fraction (default 0.999).
    pub dual_write_min_agreement: f64,
    /// `shadow` gate: the 95% upper bound on the divergence rate must be at most this (0.001).
    pub shadow_max_divergence_bound: f64,
    /// `shadow` gate: at least this many compared rows (10 000).
    pub shadow_min_samples: u64,
    /// `shadow` gate: over at least this many minutes (10).
    pub shadow_min_minutes: u64,
    /// `read_new` gate: stable for this many minutes with no new divergence (30).
    pub read_new_stable_minutes: u64,
    /// `read_new`: flip back automatically when a budget stays breached (default off).
    pub auto_rollback: bool,
    /// How long a breach must last before the automatic rollback fires, in seconds (120).
    pub auto_rollback_after_secs: u64,
}

/// Optional expand DDL and the objects the new model must have.
#[derive(Debug, Clone)]
pub struct ExpandConfig {
    pub database: String,
    pub sql: Vec<String>,
    /// `table` or `table.column` names that must exist before `expand` can be left.
    pub expect: Vec<String>,
    pub at: Location,
}

#[derive(Debug, Clone)]
pub enum FlagBackend {
    /// A key/value row: `UPDATE table SET value_column = … WHERE key_column = key`.
    Sql {
        database: String,
        table: String,
        key_column: String,
        value_column: String,
    },
    /// An OpenFeature flagd flag-definition JSON file, written atomically.
    File { path: PathBuf },
    /// An operator command run with `MIGTUI_FLAG_KEY` / `MIGTUI_FLAG_VALUE` in its environment;
    /// `get` prints the current value on stdout.
    Command { set: String, get: Option<String> },
}

#[derive(Debug, Clone)]
pub struct FlagConfig {
    pub backend: FlagBackend,
    pub key: String,
    /// Percentages for applications that split reads (e.g. 0, 1, 5, 25, 50, 100); empty = boolean.
    pub ramp: Vec<u8>,
    pub at: Location,
}

/// Where rows come from: a table with a key, or a query with a key.
#[derive(Debug, Clone)]
pub enum SourceKind {
    Table {
        table: String,
        columns: Option<Vec<String>>,
    },
    Query {
        sql: String,
    },
}

#[derive(Debug, Clone)]
pub struct BackfillSource {
    pub database: String,
    pub kind: SourceKind,
    /// Key columns, in order; empty means "the table's primary key" (tables) or "every output
    /// column" (queries), resolved by preflight.
    pub key: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum TargetWrite {
    /// Insert (or upsert) into a table by its key; `map` gives target columns as target-side SQL
    /// expressions over `:source_column` placeholders. Other source columns copy by name to the
    /// target columns that exist (the samples rely on `status` not being copied to new tables).
    Copy {
        table: String,
        key: Vec<String>,
        map: BTreeMap<String, String>,
        /// Column that orders versions (e.g. `updated_at`): an upsert never writes an older one.
        version_column: Option<String>,
        /// Only insert missing rows; leave existing ones to the dual writes (default false).
        insert_only: bool,
    },
    /// A target-side statement with `:column` placeholders, applied to every source row.
    Statement { sql: String },
}

#[derive(Debug, Clone)]
pub struct BackfillTarget {
    pub database: String,
    pub write: TargetWrite,
}

#[derive(Debug, Clone)]
pub struct BackfillStep {
    pub name: String,
    pub from: BackfillSource,
    pub to: BackfillTarget,
    pub chunk_rows: Option<u64>,
    pub target_chunk_ms: u64,
    pub max_rows_per_second: Option<f64>,
    pub pause_when: Vec<PauseCondition>,
    /// Old and new are one database: run each chunk as one set-based statement inside it
    /// instead of reading rows out and writing them back (default false).
    pub pushdown: bool,
    /// Count the source's rows exactly (`count(*)`) for the progress total, however large;
    /// otherwise large tables show the engine's estimate, marked as one (default false).
    pub exact_count: bool,
    pub at: Location,
}

/// A condition that pauses the backfill while it holds.
#[derive(Debug, Clone)]
pub enum PauseCondition {
    /// A read path's p95 on one side above a threshold.
    PathLatency {
        path: String,
        side: Side,
        p95_ms_above: f64,
    },
    /// Replica lag on a database above a threshold.
    ReplicaLag {
        database: String,
        seconds_above: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    Old,
    New,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Old => "old",
            Side::New => "new",
        }
    }
}

/// Per-column normalization applied before comparing.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnRule {
    Lowercase,
    Trim,
    Round(u32),
    /// Timestamp precision in fractional-second digits (0..=6).
    TimestampDigits(u32),
    Ignore,
}

#[derive(Debug, Clone)]
pub struct SampleConfig {
    pub database: String,
    pub table: String,
    pub per_second: f64,
    pub recent_column: Option<String>,
    /// What the confidence bound counts (`unit = "rows"` or `"pages"`, default rows).
    pub unit: SampleUnit,
}

/// The unit a check's sample size and bound count. Rows assume divergences are spread
/// independently over rows; when they cluster (one bad batch writes a run of neighbouring
/// rows), `Pages` counts heap pages instead, so a cluster weighs as one unit, not many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleUnit {
    #[default]
    Rows,
    /// PostgreSQL heap pages (`TABLESAMPLE SYSTEM`'s own unit; the `ctid` block number).
    Pages,
}

#[derive(Debug, Clone)]
pub struct VerifyCheck {
    pub name: String,
    pub key: Vec<String>,
    pub sample: SampleConfig,
    /// The databases the `old` and `new` queries run on (`old` / `new` unless the check's
    /// `old = { database = "…", sql = "…" }` names another).
    pub old_database: String,
    pub new_database: String,
    pub old_sql: String,
    pub new_sql: String,
    pub normalize: BTreeMap<String, Vec<ColumnRule>>,
    /// Columns stored masked in the divergence store and reports.
    pub redact: Vec<String>,
    pub recheck_after_ms: u64,
    pub float_tolerance: f64,
    /// What the full-table diff hashes (`full = { … }`); defaults apply when absent.
    pub full: FullDiffConfig,
    pub at: Location,
}

/// The tables and columns a check's full-table diff compares, chunk by chunk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FullDiffConfig {
    /// Table on `old` (default: the sample table).
    pub old_table: Option<String>,
    /// Table on `new` (default: the sample table).
    pub new_table: Option<String>,
    /// Compared columns, the same names on both sides (default: every column of the old
    /// table, minus those the check ignores).
    pub columns: Option<Vec<String>>,
    /// Rows per checksum chunk (default 10 000).
    pub chunk_rows: Option<u64>,
    /// Throttle: rows of the old table compared per second (default: unthrottled).
    pub max_rows_per_second: Option<f64>,
}

/// Where a read path's probe keys come from.
#[derive(Debug, Clone)]
pub enum KeySource {
    Verify(String),
    Query { database: String, sql: String },
    List(Vec<String>),
}

#[derive(Debug, Clone, Default)]
pub struct Budget {
    pub p95_ms: Option<f64>,
    pub new_over_old_at_most: Option<f64>,
    pub error_rate_at_most: Option<f64>,
}

#[derive(Debug, Clone)]
pub struct ReadPath {
    pub name: String,
    pub old_sql: String,
    pub new_sql: String,
    pub keys: KeySource,
    pub per_second: f64,
    pub timeout_ms: u64,
    pub budget: Budget,
    pub at: Location,
}

#[derive(Debug, Clone)]
pub enum BackupDestination {
    Table(String),
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct BackupSpec {
    /// Defaults to `<table>_<columns joined by _>`.
    pub name: String,
    pub database: String,
    pub table: String,
    pub columns: Vec<String>,
    pub to: Vec<BackupDestination>,
    /// Rows read and written per chunk (default 5 000).
    pub chunk_rows: u64,
    /// Copy at most this many rows per second (default: unthrottled).
    pub max_rows_per_second: Option<f64>,
    pub at: Location,
}

#[derive(Debug, Clone)]
pub struct ContractConfig {
    pub database: String,
    pub sql: Vec<String>,
    pub lock_timeout_ms: u64,
    pub retries: u32,
    pub at: Location,
}

impl Config {
    /// The database config by name. Validation guarantees every referenced name exists.
    pub fn database(&self, name: &str) -> Option<&DatabaseConfig> {
        self.databases.get(name)
    }
}
