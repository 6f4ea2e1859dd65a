//! `migtui_divergences`: the rows where the two models disagree, one per check and key, read in
//! pages (never all in memory); and `migtui_verify_windows`: compared/divergent counts per
//! check per minute, from which rates, bounds and the gates' time spans are computed.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::db::{Params, Rows, Value};

use super::row::{RowExt, now_sql};
use super::{Operator, Store, StoreError, audit::MAX_PAGE};

/// Where a divergence stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DivergenceStatus {
    /// Confirmed by a recheck: counts as divergent.
    Open,
    /// Still different at the recheck, but the row changed between the reads: a write in
    /// progress, not (yet) a divergence.
    InFlight,
    /// Equal at the recheck: a transient race between the two writes.
    Healed,
    /// Seen by the operator, with a note.
    Acknowledged,
}

impl DivergenceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DivergenceStatus::Open => "open",
            DivergenceStatus::InFlight => "in_flight",
            DivergenceStatus::Healed => "healed",
            DivergenceStatus::Acknowledged => "acknowledged",
        }
    }

    pub fn parse(s: &str) -> Option<DivergenceStatus> {
        match s {
            "open" => Some(DivergenceStatus::Open),
            "in_flight" => Some(DivergenceStatus::InFlight),
            "healed" => Some(DivergenceStatus::Healed),
            "acknowledged" => Some(DivergenceStatus::Acknowledged),
            _ => None,
        }
    }
}

/// One divergent key as stored. Values are JSON (`crate::db::Value` serialized), redacted
/// columns already masked by the caller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DivergenceRecord {
    pub check: String,
    /// The canonical key text (the same for the same key from any engine).
    pub key_text: String,
    pub key: serde_json::Value,
    /// `missing_in_new`, `missing_in_old` or `mismatch`.
    pub kind: String,
    pub columns: Vec<String>,
    pub old_raw: Option<serde_json::Value>,
    pub new_raw: Option<serde_json::Value>,
    pub old_norm: Option<serde_json::Value>,
    pub new_norm: Option<serde_json::Value>,
    /// `sample`, `recent`, `keys` or `full`.
    pub source: String,
    pub status: DivergenceStatus,
    pub note: Option<String>,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub times_seen: i64,
}

/// Which divergences a page lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DivergenceFilter {
    pub check: Option<String>,
    pub status: Option<DivergenceStatus>,
}

/// Counts over a set of windows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowCounts {
    pub compared: u64,
    pub divergent: u64,
    pub healed: u64,
    pub in_flight: u64,
    /// Start of the first and last minute counted (database clock), when any.
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
}

/// A check's full-diff checkpoint: the first key not yet compared.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FullCheckpoint {
    pub started_us: i64,
    pub rows_done: u64,
    pub divergent: u64,
    /// The next chunk's lower bound (a `crate::db::Value` as JSON); `None` with `finished`.
    pub resume_key: Option<serde_json::Value>,
    pub finished: bool,
}

const COLUMNS: &str = "check_name, key_text, key_json, kind, columns, old_raw, new_raw, \
    old_norm, new_norm, source, status, note, first_seen_us, last_seen_us, times_seen";

const MINUTE_US: i64 = 60_000_000;

/// Rows per multi-row `INSERT` of new divergences (13 parameters each).
const INSERT_ROWS: usize = 100;

fn opt_json(v: &Option<serde_json::Value>) -> Option<String> {
    v.as_ref().map(|j| j.to_string())
}

/// A record's values as `:c{n}`, `:k{n}` … (`n` empty for a single-row statement).
fn bind_record(p: Params, rec: &DivergenceRecord, n: &str) -> Params {
    p.bind(&format!("c{n}"), rec.check.as_str())
        .bind(&format!("k{n}"), rec.key_text.as_str())
        .bind(&format!("kj{n}"), rec.key.to_string())
        .bind(&format!("kind{n}"), rec.kind.as_str())
        .bind(
            &format!("cols{n}"),
            serde_json::json!(rec.columns).to_string(),
        )
        .bind(&format!("or{n}"), opt_json(&rec.old_raw))
        .bind(&format!("nr{n}"), opt_json(&rec.new_raw))
        .bind(&format!("on{n}"), opt_json(&rec.old_norm))
        .bind(&format!("nn{n}"), opt_json(&rec.new_norm))
        .bind(&format!("src{n}"), rec.source.as_str())
        .bind(&format!("st{n}"), rec.status.as_str())
}

impl Store {
    /// Record a divergence seen now: insert it, or update the existing row's values, status and
    /// `last_seen`/`times_seen`. An acknowledged row stays acknowledged while it is still open.
    pub async fn record_divergence(&self, rec: &DivergenceRecord) -> Result<(), StoreError> {
        self.record_divergences(std::slice::from_ref(rec)).await
    }

    /// [`Store::record_divergence`] for many: which keys exist is read in one query and the
    /// new ones are inserted many rows per statement, in one transaction, so a batch costs a
    /// few round trips and one commit instead of two statements and a commit per divergence
    /// (which made recording 100,000 divergences take many minutes). When that fails (another
    /// writer inserted one of the keys in between, say), the batch is recorded row by row.
    pub async fn record_divergences(&self, recs: &[DivergenceRecord]) -> Result<(), StoreError> {
        if recs.is_empty() {
            return Ok(());
        }
        match self.record_batch(recs).await {
            Ok(()) => Ok(()),
            Err(_) => self.record_each(recs).await,
        }
    }

    async fn record_batch(&self, recs: &[DivergenceRecord]) -> Result<(), StoreError> {
        // Read before the transaction: SQLite cannot turn a read transaction into a write one
        // once another connection has written ("database is locked", without waiting).
        let mut present = std::collections::HashSet::new();
        for check in recs
            .iter()
            .map(|r| r.check.as_str())
            .collect::<BTreeSet<_>>()
        {
            let keys: Vec<Value> = recs
                .iter()
                .filter(|r| r.check == check)
                .map(|r| Value::from(r.key_text.as_str()))
                .collect();
            let p = Params::new()
                .bind("m", self.migration.as_str())
                .bind("c", check)
                .bind_list("k", keys);
            let found = self
                .db
                .query(
                    "SELECT key_text FROM migtui_divergences \
                     WHERE migration = :m AND check_name = :c AND key_text IN (:k)",
                    &p,
                )
                .await?;
            for i in 0..found.len() {
                present.insert((check.to_string(), found.text(i, "key_text")?));
            }
        }
        // A key's first sighting inserts; later ones (stored, or earlier in this batch) update,
        // after the inserts and in order.
        let (mut inserts, mut updates) = (Vec::new(), Vec::new());
        for rec in recs {
            if present.insert((rec.check.clone(), rec.key_text.clone())) {
                inserts.push(rec);
            } else {
                updates.push(rec);
            }
        }
        let now = now_sql(self.db.dialect());
        let mut tx = self.db.begin().await?;
        for part in inserts.chunks(INSERT_ROWS) {
            let mut p = Params::new().bind("m", self.migration.as_str());
            let mut rows = Vec::with_capacity(part.len());
            for (i, rec) in part.iter().enumerate() {
                p = bind_record(p, rec, &i.to_string());
                rows.push(format!(
                    "(:m, :c{i}, :k{i}, :kj{i}, :kind{i}, :cols{i}, :or{i}, :nr{i}, :on{i}, \
                     :nn{i}, :src{i}, :st{i}, NULL, {now}, {now}, 1)"
                ));
            }
            let sql = format!(
                "INSERT INTO migtui_divergences (migration, {COLUMNS}) VALUES {}",
                rows.join(", ")
            );
            tx.execute(&sql, &p).await?;
        }
        let update = self.update_sql();
        for rec in updates {
            let p = bind_record(Params::new().bind("m", self.migration.as_str()), rec, "");
            tx.execute(&update, &p).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// One statement or two per divergence (update, else insert), in one transaction.
    async fn record_each(&self, recs: &[DivergenceRecord]) -> Result<(), StoreError> {
        let now = now_sql(self.db.dialect());
        let insert = format!(
            "INSERT INTO migtui_divergences (migration, {COLUMNS}) VALUES (:m, :c, :k, :kj, \
             :kind, :cols, :or, :nr, :on, :nn, :src, :st, NULL, {now}, {now}, 1)"
        );
        let update = self.update_sql();
        let mut tx = self.db.begin().await?;
        for rec in recs {
            let p = bind_record(Params::new().bind("m", self.migration.as_str()), rec, "");
            // The update first: a write, so SQLite waits for other writers instead of failing.
            if tx.execute(&update, &p).await? == 0 {
                tx.execute(&insert, &p).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    fn update_sql(&self) -> String {
        format!(
            "UPDATE migtui_divergences SET kind = :kind, columns = :cols, old_raw = :or, \
             new_raw = :nr, old_norm = :on, new_norm = :nn, source = :src, \
             status = CASE WHEN status = 'acknowledged' AND :st = 'open' THEN status ELSE :st END, \
             last_seen_us = {}, times_seen = times_seen + 1 \
             WHERE migration = :m AND check_name = :c AND key_text = :k",
            now_sql(self.db.dialect())
        )
    }

    /// One page of divergences in key order: up to `limit` after `after` (`(check, key_text)`
    /// of the last row of the previous page).
    pub async fn divergence_page(
        &self,
        filter: &DivergenceFilter,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<DivergenceRecord>, StoreError> {
        self.divergence_page_matching(filter, None, after, limit)
            .await
    }

    /// [`Store::divergence_page`] narrowed to rows whose key or differing columns contain
    /// `text` (case-insensitive; `%` and `_` act as SQL `LIKE` wildcards), so a filtered table
    /// still pages in the database instead of in memory.
    pub async fn divergence_page_matching(
        &self,
        filter: &DivergenceFilter,
        text: Option<&str>,
        after: Option<(&str, &str)>,
        limit: usize,
    ) -> Result<Vec<DivergenceRecord>, StoreError> {
        let mut p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("limit", limit.clamp(1, MAX_PAGE) as i64);
        let mut cond = String::new();
        if let Some(c) = &filter.check {
            cond.push_str(" AND check_name = :c");
            p = p.bind("c", c.as_str());
        }
        if let Some(s) = filter.status {
            cond.push_str(" AND status = :st");
            p = p.bind("st", s.as_str());
        }
        if let Some(t) = text.map(str::trim).filter(|t| !t.is_empty()) {
            cond.push_str(" AND (lower(key_text) LIKE :t OR lower(columns) LIKE :t)");
            p = p.bind("t", format!("%{}%", t.to_lowercase()));
        }
        if let Some((c, k)) = after {
            // A row-value comparison is an index range (PostgreSQL, SQLite); the `OR` form it
            // replaces made every page read all the rows before it. `check_name >= :ac` gives
            // engines that do not range on row values (MySQL) a range to start from.
            cond.push_str(" AND check_name >= :ac AND (check_name, key_text) > (:ac, :ak)");
            p = p.bind("ac", c).bind("ak", k);
        }
        let sql = format!(
            "SELECT {COLUMNS} FROM migtui_divergences WHERE migration = :m{cond} \
             ORDER BY check_name, key_text LIMIT :limit"
        );
        let rows = self.db.query(&sql, &p).await?;
        (0..rows.len()).map(|i| record(&rows, i)).collect()
    }

    /// Divergences per status of one check (or all checks).
    pub async fn divergence_counts(
        &self,
        check: Option<&str>,
    ) -> Result<Vec<(DivergenceStatus, u64)>, StoreError> {
        let mut p = Params::new().bind("m", self.migration.as_str());
        let cond = match check {
            Some(c) => {
                p = p.bind("c", c);
                " AND check_name = :c"
            }
            None => "",
        };
        let sql = format!(
            "SELECT status, count(*) AS n FROM migtui_divergences WHERE migration = :m{cond} \
             GROUP BY status"
        );
        let rows = self.db.query(&sql, &p).await?;
        let mut out = Vec::new();
        for i in 0..rows.len() {
            if let Some(s) = DivergenceStatus::parse(&rows.text(i, "status")?) {
                out.push((s, rows.int(i, "n")?.max(0) as u64));
            }
        }
        Ok(out)
    }

    /// Set a divergence's status (a recheck's verdict). False when there is no such row.
    pub async fn set_divergence_status(
        &self,
        check: &str,
        key_text: &str,
        status: DivergenceStatus,
    ) -> Result<bool, StoreError> {
        let sql = format!(
            "UPDATE migtui_divergences SET status = :st, last_seen_us = {} \
             WHERE migration = :m AND check_name = :c AND key_text = :k",
            now_sql(self.db.dialect())
        );
        let p = Params::new()
            .bind("st", status.as_str())
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind("k", key_text);
        Ok(self.db.execute(&sql, &p).await? > 0)
    }

    /// Keys compared equal just now: their open or in-flight divergences have healed (the
    /// backfill reached them, a write landed). Acknowledged ones keep the operator's note.
    /// Returns how many healed.
    pub async fn heal_matched(&self, check: &str, keys: &[String]) -> Result<u64, StoreError> {
        if keys.is_empty() {
            return Ok(0);
        }
        let sql = format!(
            "UPDATE migtui_divergences SET status = :st, last_seen_us = {} \
             WHERE migration = :m AND check_name = :c AND status IN (:open) AND key_text IN (:k)",
            now_sql(self.db.dialect())
        );
        let open = [DivergenceStatus::Open, DivergenceStatus::InFlight];
        let p = Params::new()
            .bind("st", DivergenceStatus::Healed.as_str())
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind_list(
                "open",
                open.iter().map(|s| Value::from(s.as_str())).collect(),
            )
            .bind_list("k", keys.iter().map(|k| Value::from(k.as_str())).collect());
        Ok(self.db.execute(&sql, &p).await?)
    }

    /// The operator acknowledges a divergence with a note; audited. False when absent.
    pub async fn acknowledge_divergence(
        &self,
        check: &str,
        key_text: &str,
        note: &str,
        operator: &Operator,
    ) -> Result<bool, StoreError> {
        let sql = "UPDATE migtui_divergences SET status = 'acknowledged', note = :note \
                   WHERE migration = :m AND check_name = :c AND key_text = :k";
        let p = Params::new()
            .bind("note", note)
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind("k", key_text);
        let found = self.db.execute(sql, &p).await? > 0;
        let outcome = if found {
            "ok"
        } else {
            "refused: no such divergence"
        };
        let params = serde_json::json!({ "check": check, "key": key_text, "note": note });
        self.audit("divergence.acknowledge", params, outcome, operator)
            .await?;
        Ok(found)
    }

    /// Add counts to the current minute of a check.
    pub async fn add_verify_counts(
        &self,
        check: &str,
        counts: &WindowCounts,
    ) -> Result<(), StoreError> {
        let now = self.now_us().await?;
        let window = now - now.rem_euclid(MINUTE_US);
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind("w", window)
            .bind("cmp", counts.compared as i64)
            .bind("div", counts.divergent as i64)
            .bind("h", counts.healed as i64)
            .bind("f", counts.in_flight as i64);
        let update = "UPDATE migtui_verify_windows SET compared = compared + :cmp, \
                      divergent = divergent + :div, healed = healed + :h, \
                      in_flight = in_flight + :f \
                      WHERE migration = :m AND check_name = :c AND window_us = :w";
        if self.db.execute(update, &p).await? > 0 {
            return Ok(());
        }
        let insert = "INSERT INTO migtui_verify_windows \
                      (migration, check_name, window_us, compared, divergent, healed, in_flight) \
                      VALUES (:m, :c, :w, :cmp, :div, :h, :f)";
        self.db.execute(insert, &p).await?;
        Ok(())
    }

    /// Totals of a check's windows that start at or after `since_us` (all when `None`).
    pub async fn verify_counts(
        &self,
        check: &str,
        since_us: Option<i64>,
    ) -> Result<WindowCounts, StoreError> {
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind("since", since_us.unwrap_or(i64::MIN));
        let sql = "SELECT count(*) AS n, sum(compared) AS cmp, sum(divergent) AS dv, \
                   sum(healed) AS h, sum(in_flight) AS f, min(window_us) AS lo, \
                   max(window_us) AS hi FROM migtui_verify_windows \
                   WHERE migration = :m AND check_name = :c AND window_us >= :since";
        let rows = self.db.query(sql, &p).await?;
        if rows.int(0, "n")? == 0 {
            return Ok(WindowCounts::default());
        }
        let u = |c: &str| rows.int(0, c).map(|v| v.max(0) as u64);
        Ok(WindowCounts {
            compared: u("cmp")?,
            divergent: u("dv")?,
            healed: u("h")?,
            in_flight: u("f")?,
            first_us: Some(rows.int(0, "lo")?),
            last_us: Some(rows.int(0, "hi")?),
        })
    }
}

impl Store {
    /// The full diff's checkpoint of a check, if one was ever saved.
    pub async fn full_checkpoint(&self, check: &str) -> Result<Option<FullCheckpoint>, StoreError> {
        let sql = "SELECT started_us, rows_done, divergent, resume_key, finished \
                   FROM migtui_verify_full WHERE migration = :m AND check_name = :c";
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("c", check);
        let rows = self.db.query(sql, &p).await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(FullCheckpoint {
            started_us: rows.int(0, "started_us")?,
            rows_done: rows.int(0, "rows_done")?.max(0) as u64,
            divergent: rows.int(0, "divergent")?.max(0) as u64,
            resume_key: opt_json_col(&rows, 0, "resume_key")?,
            finished: rows.int(0, "finished")? != 0,
        }))
    }

    /// Save a check's full-diff checkpoint (after every chunk).
    pub async fn save_full_checkpoint(
        &self,
        check: &str,
        cp: &FullCheckpoint,
    ) -> Result<(), StoreError> {
        let now = now_sql(self.db.dialect());
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("c", check)
            .bind("s", cp.started_us)
            .bind("r", cp.rows_done as i64)
            .bind("d", cp.divergent as i64)
            .bind("k", opt_json(&cp.resume_key))
            .bind("f", i64::from(cp.finished));
        let update = format!(
            "UPDATE migtui_verify_full SET started_us = :s, updated_us = {now}, rows_done = :r, \
             divergent = :d, resume_key = :k, finished = :f \
             WHERE migration = :m AND check_name = :c"
        );
        if self.db.execute(&update, &p).await? > 0 {
            return Ok(());
        }
        let insert = format!(
            "INSERT INTO migtui_verify_full (migration, check_name, started_us, updated_us, \
             rows_done, divergent, resume_key, finished) VALUES (:m, :c, :s, {now}, :r, :d, :k, :f)"
        );
        self.db.execute(&insert, &p).await?;
        Ok(())
    }
}

fn opt_json_col(rows: &Rows, i: usize, col: &str) -> Result<Option<serde_json::Value>, StoreError> {
    match rows.opt_text(i, col)? {
        None => Ok(None),
        Some(s) => serde_json::from_str(&s).map(Some).map_err(|e| {
            StoreError::Invalid(format!("migtui_divergences.{col} is not valid JSON: {e}"))
        }),
    }
}

fn record(rows: &Rows, i: usize) -> Result<DivergenceRecord, StoreError> {
    let status = rows.text(i, "status")?;
    Ok(DivergenceRecord {
        check: rows.text(i, "check_name")?,
        key_text: rows.text(i, "key_text")?,
        key: rows.json(i, "key_json")?,
        kind: rows.text(i, "kind")?,
        columns: serde_json::from_value(rows.json(i, "columns")?).unwrap_or_default(),
        old_raw: opt_json_col(rows, i, "old_raw")?,
        new_raw: opt_json_col(rows, i, "new_raw")?,
        old_norm: opt_json_col(rows, i, "old_norm")?,
        new_norm: opt_json_col(rows, i, "new_norm")?,
        source: rows.text(i, "source")?,
        status: DivergenceStatus::parse(&status).ok_or_else(|| {
            StoreError::Invalid(format!("migtui_divergences: unknown status `{status}`"))
        })?,
        note: rows.opt_text(i, "note")?,
        first_seen_us: rows.int(i, "first_seen_us")?,
        last_seen_us: rows.int(i, "last_seen_us")?,
        times_seen: rows.int(i, "times_seen")?,
    })
}
