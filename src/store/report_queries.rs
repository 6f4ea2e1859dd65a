//! Reads the session report needs beyond the cockpit's: a check's per-minute windows as a
//! series, and the backfill's rate samples (`migtui_backfill_samples`), written beside the
//! checkpoints so retries, throttled time and the rate over time survive the process.

use serde::{Deserialize, Serialize};

use crate::db::{Db, Params};

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

impl Store {
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
        let sql = "SELECT step, at_us, interval_ms, rows_done, retries, throttled_ms \
                   FROM migtui_backfill_samples WHERE migration = :m AND at_us >= :since \
                   ORDER BY at_us, id LIMIT :limit";
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("since", since_us)
            .bind("limit", MAX_METRIC_ROWS as i64);
        let rows = self.db.query(sql, &p).await?;
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
}
