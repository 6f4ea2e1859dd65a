//! Verification: the same rows read through the old and the new model, compared, rechecked,
//! recorded and turned into numbers (rates and their 95% upper bounds); and the full-table
//! diff by chunk checksums.
//!
//! A [`Verifier`] serves one `[[verify]]` check. [`Verifier::verify_keys`] runs one batch:
//! read both sides, classify each key, re-read the divergent ones after the check's lag, and
//! record what stays different. [`full::full_diff`] compares whole tables.

pub mod compare;
pub mod full;
pub mod gates;
pub mod sample;
pub mod stats;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{SampleUnit, VerifyCheck};
use crate::db::{Db, DbError, Params, Value};
use crate::store::{DivergenceRecord, DivergenceStatus, Store, StoreError, WindowCounts};
pub use compare::{BatchOutcome, Comparer, DiffKind, Difference, key_text};
pub use stats::{PageBound, RateBound};

/// The store counter holding a check's page counts (`compared` = pages compared, `divergent`
/// = pages holding an open divergence), kept beside the row counts under the check's name so
/// the per-minute windows serve both.
pub fn pages_counter(check: &str) -> String {
    format!("{check}#pages")
}

/// What a masked value is stored and shown as.
pub const REDACTED: &str = "***";

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("[[verify]] \"{check}\": {message}\n  hint: {hint}")]
    Check {
        check: String,
        message: String,
        hint: String,
    },
    #[error("verification was cancelled")]
    Cancelled,
}

/// Where a batch's keys came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySourceKind {
    Sample,
    Recent,
    Keys,
    Full,
}

impl KeySourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            KeySourceKind::Sample => "sample",
            KeySourceKind::Recent => "recent",
            KeySourceKind::Keys => "keys",
            KeySourceKind::Full => "full",
        }
    }
}

/// The verdict of one batch after its recheck.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchReport {
    pub compared: u64,
    pub matched: u64,
    /// Still different at the recheck, unchanged between reads: divergences.
    pub open: Vec<Difference>,
    /// Equal at the recheck: transient races.
    pub healed: Vec<Difference>,
    /// Different at both reads, but the row changed in between: writes in progress.
    pub in_flight: Vec<Difference>,
}

/// Sort the first read's differences by the recheck's verdict: gone (healed), changed
/// between the reads (in flight), or the same (open).
pub(crate) fn classify(first: Vec<Difference>, second: &BatchOutcome, report: &mut BatchReport) {
    let again: std::collections::HashMap<String, &Difference> = second
        .differences
        .iter()
        .map(|d| (key_text(&d.key), d))
        .collect();
    for d in first {
        match again.get(&key_text(&d.key)) {
            None => report.healed.push(d),
            Some(now) if now.old != d.old || now.new != d.new => {
                report.in_flight.push((*now).clone())
            }
            Some(now) => report.open.push((*now).clone()),
        }
    }
}

/// One check, its two databases and (optionally) the state store it records into.
#[derive(Debug, Clone)]
pub struct Verifier {
    pub check: VerifyCheck,
    pub old: Db,
    pub new: Db,
    pub store: Option<Store>,
    pub comparer: Comparer,
    /// Cancels the recheck wait and the full diff between chunks.
    pub cancel: Option<watch::Receiver<bool>>,
}

impl Verifier {
    pub fn new(check: VerifyCheck, old: Db, new: Db, store: Option<Store>) -> Verifier {
        let comparer = Comparer::for_check(&check);
        Verifier {
            check,
            old,
            new,
            store,
            comparer,
            cancel: None,
        }
    }

    /// The database keys are sampled from (`sample.from`).
    pub fn sample_db(&self) -> &Db {
        if self.check.sample.database == self.new.name() {
            &self.new
        } else {
            &self.old
        }
    }

    fn error(&self, message: impl Into<String>, hint: impl Into<String>) -> VerifyError {
        VerifyError::Check {
            check: self.check.name.clone(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    fn is_cancelled(&self) -> bool {
        self.cancel.as_ref().is_some_and(|c| *c.borrow())
    }

    /// Sleep, returning early (with an error) when cancelled.
    async fn pause(&self, d: Duration) -> Result<(), VerifyError> {
        match self.cancel.clone() {
            None => tokio::time::sleep(d).await,
            Some(mut c) => {
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = c.wait_for(|v| *v) => return Err(VerifyError::Cancelled),
                }
            }
        }
        if self.is_cancelled() {
            return Err(VerifyError::Cancelled);
        }
        Ok(())
    }

    /// Run the check's `old` and `new` queries for `keys` and classify each key.
    pub async fn compare_keys(&self, keys: &[Vec<Value>]) -> Result<BatchOutcome, VerifyError> {
        if keys.is_empty() {
            return Ok(BatchOutcome::default());
        }
        let params = if self.check.key.len() == 1 {
            Params::new().bind_list("keys", keys.iter().map(|k| k[0].clone()).collect())
        } else {
            Params::new().bind_tuples("keys", keys.to_vec())
        };
        let (old, new) = tokio::join!(
            self.old.query(&self.check.old_sql, &params),
            self.new.query(&self.check.new_sql, &params)
        );
        let (old, new) = (old?, new?);
        self.comparer
            .compare(keys, &old, &new)
            .map_err(|e| self.error(e, "make both queries return the key column(s) by name"))
    }

    /// One batch: compare, recheck the divergent keys after `recheck_after_ms`, record the
    /// verdicts and the counts.
    pub async fn verify_keys(
        &self,
        keys: &[Vec<Value>],
        source: KeySourceKind,
    ) -> Result<BatchReport, VerifyError> {
        let first = self.compare_keys(keys).await?;
        let mut report = BatchReport {
            compared: first.compared,
            matched: first.matched,
            ..BatchReport::default()
        };
        if !first.differences.is_empty() {
            let second = if self.check.recheck_after_ms > 0 {
                self.pause(Duration::from_millis(self.check.recheck_after_ms))
                    .await?;
                let again: Vec<Vec<Value>> =
                    first.differences.iter().map(|d| d.key.clone()).collect();
                Some(self.compare_keys(&again).await?)
            } else {
                None
            };
            match &second {
                Some(second) => classify(first.differences, second, &mut report),
                None => report.open.extend(first.differences),
            }
        }
        if let Some(store) = &self.store {
            let recs: Vec<_> = [
                (&report.open, DivergenceStatus::Open),
                (&report.in_flight, DivergenceStatus::InFlight),
                (&report.healed, DivergenceStatus::Healed),
            ]
            .into_iter()
            .flat_map(|(list, status)| list.iter().map(move |d| (d, status)))
            .map(|(d, status)| self.record(d, source, status))
            .collect();
            store.record_divergences(&recs).await?;
            let counts = WindowCounts {
                compared: report.compared,
                divergent: report.open.len() as u64,
                healed: report.healed.len() as u64,
                in_flight: report.in_flight.len() as u64,
                ..WindowCounts::default()
            };
            store.add_verify_counts(&self.check.name, &counts).await?;
            // A key seen divergent earlier and equal now has healed; without this an early
            // miss (before the backfill reached the row) would stay open for good.
            let still: std::collections::HashSet<String> = report
                .open
                .iter()
                .chain(&report.in_flight)
                .map(|d| compare::key_text(&d.key))
                .collect();
            let equal: Vec<String> = keys
                .iter()
                .map(|k| compare::key_text(k))
                .filter(|k| !still.contains(k))
                .collect();
            store.heal_matched(&self.check.name, &equal).await?;
        }
        Ok(report)
    }

    /// One batch of whole pages: [`Verifier::verify_keys`] on its rows, then the page counts
    /// — pages compared, and pages with at least one open divergence — recorded under
    /// [`pages_counter`]. Returns the report and `(pages compared, divergent pages)`.
    pub async fn verify_pages(
        &self,
        sample: &sample::PageSample,
    ) -> Result<(BatchReport, (u64, u64)), VerifyError> {
        let report = self
            .verify_keys(&sample.keys, KeySourceKind::Sample)
            .await?;
        let page_of: std::collections::HashMap<String, i64> = sample
            .keys
            .iter()
            .zip(&sample.pages)
            .map(|(k, p)| (key_text(k), *p))
            .collect();
        let bad: std::collections::HashSet<i64> = report
            .open
            .iter()
            .filter_map(|d| page_of.get(&key_text(&d.key)).copied())
            .collect();
        let pages = (sample.page_count(), bad.len() as u64);
        if let Some(store) = &self.store {
            let counts = WindowCounts {
                compared: pages.0,
                divergent: pages.1,
                ..WindowCounts::default()
            };
            store
                .add_verify_counts(&pages_counter(&self.check.name), &counts)
                .await?;
        }
        Ok((report, pages))
    }

    /// The page bound from the store's page counts since `since_us`, over the sample table's
    /// page count; `None` when the check counts rows.
    pub async fn page_numbers(
        &self,
        since_us: Option<i64>,
        table_pages: Option<u64>,
    ) -> Result<Option<PageBound>, VerifyError> {
        let Some(store) = self.store.as_ref().filter(|_| self.counts_pages()) else {
            return Ok(None);
        };
        let c = store
            .verify_counts(&pages_counter(&self.check.name), since_us)
            .await?;
        Ok(Some(PageBound::new(c.compared, c.divergent, table_pages)))
    }

    /// True when the check's sample size and bound count pages (`sample.unit = "pages"`).
    pub fn counts_pages(&self) -> bool {
        self.check.sample.unit == SampleUnit::Pages
    }

    /// The sample table's page count, when the check counts pages and it can be read.
    pub async fn table_pages(&self) -> Option<u64> {
        if !self.counts_pages() {
            return None;
        }
        sample::table_pages(self.sample_db().as_ref(), &self.check.sample.table)
            .await
            .ok()
    }

    /// A difference as stored: values as JSON, the check's `redact` columns masked.
    pub fn record(
        &self,
        d: &Difference,
        source: KeySourceKind,
        status: DivergenceStatus,
    ) -> DivergenceRecord {
        let mask = |row: &Option<compare::Row>| -> Option<serde_json::Value> {
            row.as_ref().map(|r| {
                let masked: compare::Row = r
                    .iter()
                    .map(|(c, v)| {
                        let hidden = self.check.redact.iter().any(|x| x.eq_ignore_ascii_case(c));
                        let v = if hidden && !v.is_null() {
                            Value::Text(REDACTED.into())
                        } else {
                            v.clone()
                        };
                        (c.clone(), v)
                    })
                    .collect();
                serde_json::to_value(masked).unwrap_or(serde_json::Value::Null)
            })
        };
        DivergenceRecord {
            check: self.check.name.clone(),
            key_text: key_text(&d.key),
            key: serde_json::to_value(&d.key).unwrap_or(serde_json::Value::Null),
            kind: d.kind.as_str().to_string(),
            columns: d.columns.clone(),
            old_raw: mask(&d.old),
            new_raw: mask(&d.new),
            old_norm: mask(&d.old_normalized),
            new_norm: mask(&d.new_normalized),
            source: source.as_str().to_string(),
            status,
            note: None,
            first_seen_us: 0,
            last_seen_us: 0,
            times_seen: 1,
        }
    }

    /// Rows compared and divergent so far (from the store's windows since `since_us`), with
    /// the bound over the sample table's estimated row count — and, when the check counts
    /// pages, the page bound over its page count.
    pub async fn numbers(&self, since_us: Option<i64>) -> Result<RateBound, VerifyError> {
        let Some(store) = &self.store else {
            return Ok(RateBound::new(0, 0, None));
        };
        let c = store.verify_counts(&self.check.name, since_us).await?;
        let table_rows = self
            .sample_db()
            .row_count(&self.check.sample.table, false)
            .await
            .ok()
            .map(|r| r.rows);
        let rows = RateBound::new(c.compared, c.divergent, table_rows);
        let pages = self
            .page_numbers(since_us, self.table_pages().await)
            .await?;
        Ok(pages.map_or(rows, |p| rows.with_pages(p)))
    }
}
