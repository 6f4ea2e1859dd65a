//! The backfill: copies existing rows from the old model into the new one, step by step, in
//! key-ordered chunks, throttled, pausable and resumable from `migtui_checkpoints`.
//!
//! - [`plan`]: the columns, the keyset SQL and the write statement of a step;
//! - [`statement`]: a per-row custom statement turned into one statement per chunk;
//! - [`runner`]: the loop (pause conditions, token bucket, adaptive chunk size, retries,
//!   server-side cancel) that the session, the CLI and the tests all drive;
//! - [`checkpoint`], [`throttle`], [`progress`]: its parts.
//!
//! The engine-specific SQL lives beside each engine (`db/*/backfill.rs`).

pub mod checkpoint;
pub mod dry_run;
pub mod gate;
pub mod plan;
pub mod progress;
pub mod runner;
pub mod statement;
pub mod throttle;

use serde::{Deserialize, Serialize};

pub use plan::{LostUpdateGuard, StepPlan};
pub use progress::{BackfillProgress, StepProgress, StepState};
pub use runner::{Controls, RunContext, run};

/// Something the backfill reports as it happens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum BackfillEvent {
    StepStarted {
        step: String,
        total_rows: u64,
        total_exact: bool,
        /// The key it resumes after, when a checkpoint existed.
        resumed_after: Option<String>,
    },
    Chunk {
        step: String,
        rows: u64,
        rows_done: u64,
        chunk_ms: f64,
    },
    Paused {
        step: String,
        by: Vec<String>,
    },
    Resumed {
        step: String,
    },
    /// A transient error; the chunk is tried again after a backoff.
    Retry {
        step: String,
        attempt: u32,
        error: String,
    },
    StepComplete {
        step: String,
        rows_done: u64,
    },
    StepFailed {
        step: String,
        error: String,
    },
    Cancelled {
        step: String,
    },
}

/// Why a backfill stopped.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BackfillError {
    #[error("backfill step `{step}`: {message}")]
    Plan { step: String, message: String },
    #[error("no backfill step is named `{0}` (steps: {1})")]
    UnknownStep(String, String),
    #[error("backfill step `{step}`, chunk {range}: {error}")]
    Chunk {
        step: String,
        range: String,
        error: String,
    },
    #[error("the backfill state in migtui_checkpoints could not be used: {0}")]
    State(String),
    #[error("backfill step `{0}` was cancelled; it resumes from its checkpoint")]
    Cancelled(String),
}
