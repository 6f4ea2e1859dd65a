//! `migtui_metrics`: compact latency snapshots, one row per read path and side every 10 s
//! (percentiles, counts, and the interval's HDR histogram as hex), for the cockpit's charts,
//! the report, the latency gates and a restarted session that shows the last hour.

use crate::db::Params;

use super::row::RowExt;
use super::{Store, StoreError};

/// The most rows one read returns.
pub const MAX_METRIC_ROWS: usize = 20_000;

/// How long metric rows are kept: the cockpit reads the last hour, the gates their phase's
/// window, and the report at most 5 × [`MAX_METRIC_ROWS`] rows (about a week of two read
/// paths); older rows only grow the table (about 35,000 rows a day per path).
pub const METRICS_RETENTION_US: i64 = 7 * 24 * 3_600_000_000;

/// One side of one read path over one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// The end of the interval, microseconds since the epoch (database clock).
    pub at_us: i64,
    pub path: String,
    /// `old` or `new`.
    pub side: String,
    /// Length of the interval in seconds.
    pub secs: i64,
    pub count: i64,
    pub errors: i64,
    pub timeouts: i64,
    pub p50_us: Option<i64>,
    pub p95_us: Option<i64>,
    pub p99_us: Option<i64>,
    pub max_us: Option<i64>,
    /// The interval's histogram, serialized by the probe module (opaque here).
    pub hist: String,
}

const COLUMNS: &str =
    "at_us, path, side, secs, count, errors, timeouts, p50_us, p95_us, p99_us, max_us, hist";

impl Store {
    /// Append metric rows, all stamped with the database clock now; returns that time.
    pub async fn record_metrics(&self, rows: &[MetricRow]) -> Result<i64, StoreError> {
        let now = self.now_us().await?;
        if rows.is_empty() {
            return Ok(now);
        }
        let sql = format!(
            "INSERT INTO migtui_metrics (migration, {COLUMNS}) VALUES \
             (:m, :at_us, :path, :side, :secs, :count, :errors, :timeouts, \
              :p50_us, :p95_us, :p99_us, :max_us, :hist)"
        );
        let opt = |v: Option<i64>| v.map_or(crate::db::Value::Null, crate::db::Value::Int);
        let mut tx = self.db.begin().await?;
        for r in rows {
            let params = Params::new()
                .bind("m", self.migration.as_str())
                .bind("at_us", now)
                .bind("path", r.path.as_str())
                .bind("side", r.side.as_str())
                .bind("secs", r.secs)
                .bind("count", r.count)
                .bind("errors", r.errors)
                .bind("timeouts", r.timeouts)
                .bind("p50_us", opt(r.p50_us))
                .bind("p95_us", opt(r.p95_us))
                .bind("p99_us", opt(r.p99_us))
                .bind("max_us", opt(r.max_us))
                .bind("hist", r.hist.as_str());
            tx.execute(&sql, &params).await?;
        }
        tx.commit().await?;
        Ok(now)
    }

    /// Delete this migration's metric rows stamped before `before_us` (database clock);
    /// returns how many went. One statement on the `(migration, at_us)` index.
    pub async fn prune_metrics(&self, before_us: i64) -> Result<u64, StoreError> {
        let sql = "DELETE FROM migtui_metrics WHERE migration = :m AND at_us < :before";
        let params = Params::new()
            .bind("m", self.migration.as_str())
            .bind("before", before_us);
        Ok(self.db.execute(sql, &params).await?)
    }

    /// The metric rows at or after `since_us`, oldest first (at most [`MAX_METRIC_ROWS`]).
    pub async fn metrics_since(&self, since_us: i64) -> Result<Vec<MetricRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM migtui_metrics WHERE migration = :m AND at_us >= :since \
             ORDER BY at_us ASC, id ASC LIMIT :limit"
        );
        let params = Params::new()
            .bind("m", self.migration.as_str())
            .bind("since", since_us)
            .bind("limit", MAX_METRIC_ROWS as i64);
        let rows = self.db.query(&sql, &params).await?;
        let opt = |i: usize, c: &str| -> Result<Option<i64>, StoreError> {
            if rows.value(i, c)?.is_null() {
                Ok(None)
            } else {
                rows.int(i, c).map(Some)
            }
        };
        (0..rows.len())
            .map(|i| {
                Ok(MetricRow {
                    at_us: rows.int(i, "at_us")?,
                    path: rows.text(i, "path")?,
                    side: rows.text(i, "side")?,
                    secs: rows.int(i, "secs")?,
                    count: rows.int(i, "count")?,
                    errors: rows.int(i, "errors")?,
                    timeouts: rows.int(i, "timeouts")?,
                    p50_us: opt(i, "p50_us")?,
                    p95_us: opt(i, "p95_us")?,
                    p99_us: opt(i, "p99_us")?,
                    max_us: opt(i, "max_us")?,
                    hist: rows.text(i, "hist")?,
                })
            })
            .collect()
    }
}
