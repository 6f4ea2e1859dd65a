//! Reads the session report needs beyond the cockpit's: a check's per-minute windows as a
//! series, and the backfill's rate samples (`migtui_backfill_samples`), written beside the
//! checkpoints so retries, throttled time and the rate over time survive the process, and its
//! runs (`migtui_backfill_runs`), so a run that resumed after a kill is on record.

use serde::{Deserialize, Serialize};

use crate::db::{Db, Params, Rows};

use super::row::RowExt;
use super::{MAX_METRIC_ROWS, Store, StoreError, WindowCounts};

/// What a backfill step did over one interval (deltas, not totals).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackfillSample {
    pub step: String,
    /// The end of the interval, microseconds since the epoch (database clock when recorded).
    pub at_us: i64,
    /// Length of the interval in milliseconds (wall time, waits included).
    pub interval_ms: i64,
    pub rows: i64,
    pub retries: i64,
    pub throttled_ms: i64,
}

/// Append one backfill sample, stamped with the database clock. Takes the state database
/// rather than a [`Store`] because the backfill runner holds only that.
pub async fn record_backfill_sample(
    db: &Db,
    migration: &str,
    s: &BackfillSample,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO migtui_backfill_samples \
         (migration, step, at_us, interval_ms, rows_done, retries, throttled_ms) \
         VALUES (:m, :s, {}, :i, :r, :re, :t)",
        db.dialect().now_micros_sql()
    );
    let p = Params::new()
        .bind("m", migration)
        .bind("s", s.step.as_str())
        .bind("i", s.interval_ms)
        .bind("r", s.rows)
        .bind("re", s.retries)
        .bind("t", s.throttled_ms);
    db.execute(&sql, &p).await?;
    Ok(())
}

/// One run of a backfill step that had work left when it started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillRun {
    pub step: String,
    /// When the run started (database clock, microseconds since the epoch).
    pub at_us: i64,
    /// The process that ran it.
    pub pid: i64,
    /// The last key written before this run (`None`: it started from the beginning).
    pub resumed_after: Option<String>,
    /// Rows the step had done before this run.
    pub rows_before: i64,
}

/// Record that a run of a step starts, stamped with the database clock. Written before the run
/// copies anything, so a run killed at any later moment is on record.
pub async fn record_backfill_run(
    db: &Db,
    migration: &str,
    run: &BackfillRun,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO migtui_backfill_runs (migration, step, at_us, pid, resumed_after, rows_before) \
         VALUES (:m, :s, {}, :pid, :after, :rows)",
        db.dialect().now_micros_sql()
    );
    let p = Params::new()
        .bind("m", migration)
        .bind("s", run.step.as_str())
        .bind("pid", run.pid)
        .bind("after", run.resumed_after.clone())
        .bind("rows", run.rows_before);
    db.execute(&sql, &p).await?;
    Ok(())
}

impl Store {
    /// The backfill runs that started at or after `since_us`, oldest first (at most
    /// [`MAX_METRIC_ROWS`]).
    pub async fn backfill_runs(&self, since_us: i64) -> Result<Vec<BackfillRun>, StoreError> {
        let cols = "step, at_us, pid, resumed_after, rows_before";
        let rows = self.since(cols, "migtui_backfill_runs", since_us).await?;
        (0..rows.len())
            .map(|i| {
                Ok(BackfillRun {
                    step: rows.text(i, "step")?,
                    at_us: rows.int(i, "at_us")?,
                    pid: rows.int(i, "pid")?,
                    resumed_after: rows.opt_text(i, "resumed_after")?,
                    rows_before: rows.int(i, "rows_before")?,
                })
            })
            .collect()
    }

    /// A check's per-minute counts at or after `since_us` (all when `None`), oldest first:
    /// `(start of the minute, counts)`.
    pub async fn verify_windows(
        &self,
        check: &str,
        since_us: Option<i64>,
    ) -> Result<Vec<(i64, WindowCounts)>, StoreError> {
        let sql = "SELECT window_us, compared, divergent, healed, in_flight \
                   FROM migtui_verify_windows \
                   WHERE migration = :m AND check_name = :c AND window_us >= :since \
                   ORDER BY window_us LIMIT :limit";
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind("since", since_us.unwrap_or(i64::MIN))
            .bind("limit", MAX_METRIC_ROWS as i64);
        let rows = self.db.query(sql, &p).await?;
        let u = |i: usize, c: &str| rows.int(i, c).map(|v| v.max(0) as u64);
        (0..rows.len())
            .map(|i| {
                let at = rows.int(i, "window_us")?;
                Ok((
                    at,
                    WindowCounts {
                        compared: u(i, "compared")?,
                        divergent: u(i, "divergent")?,
                        healed: u(i, "healed")?,
                        in_flight: u(i, "in_flight")?,
                        first_us: Some(at),
                        last_us: Some(at),
                    },
                ))
            })
            .collect()
    }

    /// The backfill samples at or after `since_us`, oldest first (at most
    /// [`MAX_METRIC_ROWS`]).
    pub async fn backfill_samples(&self, since_us: i64) -> Result<Vec<BackfillSample>, StoreError> {
        let cols = "step, at_us, interval_ms, rows_done, retries, throttled_ms";
        let rows = self
            .since(cols, "migtui_backfill_samples", since_us)
            .await?;
        (0..rows.len())
            .map(|i| {
                Ok(BackfillSample {
                    step: rows.text(i, "step")?,
                    at_us: rows.int(i, "at_us")?,
                    interval_ms: rows.int(i, "interval_ms")?,
                    rows: rows.int(i, "rows_done")?,
                    retries: rows.int(i, "retries")?,
                    throttled_ms: rows.int(i, "throttled_ms")?,
                })
            })
            .collect()
    }

    /// `cols` of this migration's rows of a backfill table at or after `since_us`, oldest
    /// first, at most [`MAX_METRIC_ROWS`].
    async fn since(&self, cols: &str, table: &str, since_us: i64) -> Result<Rows, StoreError> {
        let sql = format!(
            "SELECT {cols} FROM {table} WHERE migration = :m AND at_us >= :since \
             ORDER BY at_us, id LIMIT :limit"
        );
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("since", since_us)
            .bind("limit", MAX_METRIC_ROWS as i64);
        Ok(self.db.query(&sql, &p).await?)
    }
}
