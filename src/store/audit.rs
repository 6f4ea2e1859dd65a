//! The audit log: who did what, when, with which parameters, and how it ended. Read in pages,
//! newest first, so a long migration never loads the whole log into memory.

use crate::db::{Dialect, Params, Rows, Transaction};

use super::row::{RowExt, now_sql};
use super::{AuditRecord, Operator, Store, StoreError};

/// The most rows one page returns, whatever the caller asks for.
pub const MAX_PAGE: usize = 1000;

const COLUMNS: &str = "id, at_us, os_user, host, action, params, outcome";

impl Store {
    /// Append one line to the audit log (database clock), and return it with its id.
    pub async fn audit(
        &self,
        action: &str,
        params: serde_json::Value,
        outcome: &str,
        operator: &Operator,
    ) -> Result<AuditRecord, StoreError> {
        let mut tx = self.db.begin().await?;
        let d = self.db.dialect();
        let m = self.migration.as_str();
        let record = insert(&mut *tx, d, m, operator, action, params, outcome, None).await?;
        tx.commit().await?;
        Ok(record)
    }

    /// One page of the audit log, newest first: the `limit` lines before `before_id` (all the
    /// newest when `None`). Pass the last id of a page to get the next one.
    pub async fn audit_page(
        &self,
        before_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let limit = limit.clamp(1, MAX_PAGE) as i64;
        let mut params = Params::new()
            .bind("m", self.migration.as_str())
            .bind("limit", limit);
        let cond = match before_id {
            Some(id) => {
                params = params.bind("before", id);
                " AND id < :before"
            }
            None => "",
        };
        // The page's ids first, from the `(migration, id)` index alone: asked for whole rows,
        // PostgreSQL reads the log backwards by id and steps over every newer line of the
        // other migrations in the same store.
        let sql = format!(
            "SELECT {COLUMNS} FROM migtui_audit WHERE id IN (SELECT id FROM \
             (SELECT id FROM migtui_audit WHERE migration = :m{cond} \
              ORDER BY id DESC LIMIT :limit) page) \
             ORDER BY id DESC"
        );
        let rows = self.db.query(&sql, &params).await?;
        (0..rows.len()).map(|i| record(&rows, i)).collect()
    }

    /// The audit lines after `after_id`, oldest first (at most [`MAX_PAGE`]): what a watcher
    /// has not seen yet.
    pub async fn audit_since(&self, after_id: i64) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM migtui_audit WHERE migration = :m AND id > :after \
             ORDER BY id ASC LIMIT :limit"
        );
        let params = Params::new()
            .bind("m", self.migration.as_str())
            .bind("after", after_id)
            .bind("limit", MAX_PAGE as i64);
        let rows = self.db.query(&sql, &params).await?;
        (0..rows.len()).map(|i| record(&rows, i)).collect()
    }
}

/// Insert an audit line inside the caller's transaction, so it commits (or not) with the change
/// it records. `at_us` is the time to record; `None` takes the database clock in the insert
/// itself, so the statement is the transaction's first write (SQLite then takes its write lock
/// up front instead of failing to upgrade a read under contention).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    tx: &mut dyn Transaction,
    d: &dyn Dialect,
    migration: &str,
    op: &Operator,
    action: &str,
    params: serde_json::Value,
    outcome: &str,
    at_us: Option<i64>,
) -> Result<AuditRecord, StoreError> {
    let at_sql = if at_us.is_some() { ":at" } else { now_sql(d) };
    let sql = format!(
        "INSERT INTO migtui_audit \
         (migration, at_us, os_user, host, operator_id, pid, action, params, outcome) \
         VALUES (:m, {at_sql}, :user, :host, :op, :pid, :action, :params, :outcome)"
    );
    let mut p = Params::new()
        .bind("m", migration)
        .bind("user", op.user.as_str())
        .bind("host", op.host.as_str())
        .bind("op", op.id.as_str())
        .bind("pid", i64::from(op.pid))
        .bind("action", action)
        .bind("params", params.to_string())
        .bind("outcome", outcome);
    if let Some(at) = at_us {
        p = p.bind("at", at);
    }
    tx.execute(&sql, &p).await?;
    // The id, portably (MySQL has no RETURNING): operator ids are per process, and this
    // transaction's own row is the newest of its operator and action that it can see.
    let sql = "SELECT id, at_us FROM migtui_audit \
               WHERE migration = :m AND operator_id = :op AND action = :action \
               ORDER BY id DESC LIMIT 1";
    let p = Params::new()
        .bind("m", migration)
        .bind("op", op.id.as_str())
        .bind("action", action);
    let rows = tx.query(sql, &p).await?;
    Ok(AuditRecord {
        id: rows.int(0, "id")?,
        at_us: rows.int(0, "at_us")?,
        user: op.user.clone(),
        host: op.host.clone(),
        action: action.to_string(),
        params,
        outcome: outcome.to_string(),
    })
}

fn record(rows: &Rows, i: usize) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: rows.int(i, "id")?,
        at_us: rows.int(i, "at_us")?,
        user: rows.text(i, "os_user")?,
        host: rows.text(i, "host")?,
        action: rows.text(i, "action")?,
        params: rows.json(i, "params")?,
        outcome: rows.text(i, "outcome")?,
    })
}
