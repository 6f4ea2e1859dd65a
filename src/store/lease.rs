//! The operator lease: one row per migration naming who drives it. The holder heartbeats; a
//! lease with no heartbeat within its ttl (by the database clock) has expired and the next
//! operator to ask takes it over, which is audited. Every change is a conditional update, so
//! two operators racing for the lease never both win.

use serde_json::json;

use crate::db::{Params, Transaction};

use super::row::{RowExt, now_in, now_sql};
use super::{Lease, LeaseOutcome, Operator, Store, StoreError, audit};

const SELECT: &str = "SELECT holder_id, holder_user, holder_host, holder_pid, acquired_us, \
                      heartbeat_us, ttl_secs FROM migtui_lease WHERE migration = :m";

/// How often `acquire` re-reads after losing a race before it reports who holds the lease.
const RACE_RETRIES: usize = 3;

impl Lease {
    /// When the lease expires if no heartbeat comes, in database-clock microseconds.
    pub fn expires_at_us(&self) -> i64 {
        let ttl = i64::try_from(self.ttl_secs).unwrap_or(i64::MAX / 2_000_000);
        self.heartbeat_us
            .saturating_add(ttl.saturating_mul(1_000_000))
    }

    /// True when no heartbeat came within the ttl, as of `now_us` (database clock).
    pub fn is_expired(&self, now_us: i64) -> bool {
        now_us > self.expires_at_us()
    }
}

impl Store {
    /// The current lease, if anyone holds one, and the database clock.
    pub async fn lease_and_now(&self) -> Result<(Option<Lease>, i64), StoreError> {
        let mut tx = self.db.begin().await?;
        let lease = read(&mut *tx, &self.migration).await?;
        let now = now_in(&mut *tx, self.db.dialect()).await?;
        tx.commit().await?;
        Ok((lease, now))
    }

    /// The current lease, if anyone holds one (expired or not).
    pub async fn lease(&self) -> Result<Option<Lease>, StoreError> {
        Ok(self.lease_and_now().await?.0)
    }

    /// Ask to drive this migration. A free lease is taken; an expired one is taken over and the
    /// expiry audited; our own is renewed; anyone else's live lease is reported as `HeldBy`.
    pub async fn acquire(&self, op: &Operator, ttl_secs: u64) -> Result<LeaseOutcome, StoreError> {
        let ttl = i64::try_from(ttl_secs.max(1)).unwrap_or(i64::MAX / 2_000_000);
        for _ in 0..RACE_RETRIES {
            let (current, now) = self.lease_and_now().await?;
            match current {
                None => {
                    if let Some(lease) = self.try_insert(op, ttl).await? {
                        return Ok(LeaseOutcome::Acquired(lease));
                    }
                }
                Some(lease) if lease.holder.id == op.id => {
                    if self.heartbeat(op).await? {
                        let lease = self.lease().await?.unwrap_or(lease);
                        return Ok(LeaseOutcome::Acquired(lease));
                    }
                }
                Some(lease) if lease.is_expired(now) => {
                    if let Some(lease) = self.try_take_expired(op, ttl, &lease).await? {
                        return Ok(LeaseOutcome::Acquired(lease));
                    }
                }
                Some(lease) => return Ok(LeaseOutcome::HeldBy(lease)),
            }
        }
        // Lost every race: someone else is actively taking it; report them.
        match self.lease().await? {
            Some(lease) if lease.holder.id != op.id => Ok(LeaseOutcome::HeldBy(lease)),
            Some(lease) => Ok(LeaseOutcome::Acquired(lease)),
            None => Err(StoreError::Invalid(
                "the operator lease keeps changing hands; try again".into(),
            )),
        }
    }

    /// Renew our lease. `false` means we no longer hold it (taken over, or released).
    pub async fn heartbeat(&self, op: &Operator) -> Result<bool, StoreError> {
        let now = now_sql(self.db.dialect());
        // Never the same value twice, so the update always changes the row.
        let sql = format!(
            "UPDATE migtui_lease SET heartbeat_us = \
             CASE WHEN {now} > heartbeat_us THEN {now} ELSE heartbeat_us + 1 END \
             WHERE migration = :m AND holder_id = :op"
        );
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("op", op.id.as_str());
        Ok(self.db.execute(&sql, &p).await? == 1)
    }

    /// Give the lease up (audited). `false` when we did not hold it.
    pub async fn release(&self, op: &Operator) -> Result<bool, StoreError> {
        let mut tx = self.db.begin().await?;
        let sql = "DELETE FROM migtui_lease WHERE migration = :m AND holder_id = :op";
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("op", op.id.as_str());
        if tx.execute(sql, &p).await? != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        let d = self.db.dialect();
        let m = self.migration.as_str();
        audit::insert(&mut *tx, d, m, op, "lease.release", json!({}), "ok", None).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Take the lease from whoever holds it, live or not, with a reason (required, audited
    /// with the previous holder: as `lease.takeover`, or as `lease.expired` when that holder's
    /// lease had run out, with how long it had been silent).
    pub async fn take_over(
        &self,
        op: &Operator,
        reason: &str,
        ttl_secs: u64,
    ) -> Result<Lease, StoreError> {
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(StoreError::Invalid(
                "a takeover needs a reason; it goes into the audit log".into(),
            ));
        }
        let ttl = i64::try_from(ttl_secs.max(1)).unwrap_or(i64::MAX / 2_000_000);
        let m = self.migration.as_str();
        let now = now_sql(self.db.dialect());
        let mut tx = self.db.begin().await?;
        // Write first: it locks the row against a concurrent takeover (and takes SQLite's write
        // lock), so the previous holder read next is the one this takeover replaces.
        let lock = "UPDATE migtui_lease SET ttl_secs = ttl_secs WHERE migration = :m";
        tx.execute(lock, &Params::new().bind("m", m)).await?;
        let previous = read(&mut *tx, m).await?;
        let sql = format!(
            "UPDATE migtui_lease SET holder_id = :op, holder_user = :user, holder_host = :host, \
             holder_pid = :pid, acquired_us = {now}, heartbeat_us = {now}, ttl_secs = :ttl \
             WHERE migration = :m"
        );
        if tx.execute(&sql, &holder_params(m, op, ttl)).await? != 1 {
            tx.execute(&insert_sql(now), &holder_params(m, op, ttl))
                .await?;
        }
        let lease = read(&mut *tx, m)
            .await?
            .ok_or_else(|| StoreError::Invalid("the lease vanished during a takeover".into()))?;
        let (d, at) = (self.db.dialect(), Some(lease.acquired_us));
        match previous {
            Some(stale) if stale.is_expired(lease.acquired_us) && stale.holder.id != op.id => {
                let (mut params, outcome) = expiry(&stale, lease.acquired_us);
                params["reason"] = json!(reason);
                audit::insert(&mut *tx, d, m, op, "lease.expired", params, &outcome, at).await?;
            }
            previous => {
                let params = json!({ "reason": reason, "previous": previous.map(|l| l.holder) });
                audit::insert(&mut *tx, d, m, op, "lease.takeover", params, "ok", at).await?;
            }
        }
        tx.commit().await?;
        Ok(lease)
    }

    /// Insert a lease where there was none. `None` when another operator inserted first.
    async fn try_insert(&self, op: &Operator, ttl: i64) -> Result<Option<Lease>, StoreError> {
        let m = self.migration.as_str();
        let now = now_sql(self.db.dialect());
        let mut tx = self.db.begin().await?;
        if let Err(e) = tx
            .execute(&insert_sql(now), &holder_params(m, op, ttl))
            .await
        {
            let _ = tx.rollback().await;
            // The primary key refused it when someone else got there first: re-read then.
            return match self.lease().await? {
                Some(_) => Ok(None),
                None => Err(e.into()),
            };
        }
        let lease = read(&mut *tx, m).await?;
        let Some(lease) = lease else {
            let _ = tx.rollback().await;
            return Ok(None);
        };
        let params = json!({ "ttl_secs": ttl });
        let (d, at) = (self.db.dialect(), Some(lease.acquired_us));
        audit::insert(&mut *tx, d, m, op, "lease.acquire", params, "ok", at).await?;
        tx.commit().await?;
        Ok(Some(lease))
    }

    /// Take over `stale` if it is still the same, still expired lease. `None` when it changed.
    async fn try_take_expired(
        &self,
        op: &Operator,
        ttl: i64,
        stale: &Lease,
    ) -> Result<Option<Lease>, StoreError> {
        let m = self.migration.as_str();
        let now = now_sql(self.db.dialect());
        let mut tx = self.db.begin().await?;
        let sql = format!(
            "UPDATE migtui_lease SET holder_id = :op, holder_user = :user, holder_host = :host, \
             holder_pid = :pid, acquired_us = {now}, heartbeat_us = {now}, ttl_secs = :ttl \
             WHERE migration = :m AND holder_id = :old AND heartbeat_us = :old_hb \
             AND heartbeat_us + ttl_secs * 1000000 < {now}"
        );
        let p = holder_params(m, op, ttl)
            .bind("old", stale.holder.id.as_str())
            .bind("old_hb", stale.heartbeat_us);
        if tx.execute(&sql, &p).await? != 1 {
            tx.rollback().await?;
            return Ok(None);
        }
        let lease = read(&mut *tx, m)
            .await?
            .ok_or_else(|| StoreError::Invalid("the lease vanished during a takeover".into()))?;
        let (params, outcome) = expiry(stale, lease.acquired_us);
        let (d, at) = (self.db.dialect(), Some(lease.acquired_us));
        audit::insert(&mut *tx, d, m, op, "lease.expired", params, &outcome, at).await?;
        tx.commit().await?;
        Ok(Some(lease))
    }

    /// The error for an operator that tried to act without holding the lease.
    pub(crate) async fn not_holder(&self) -> StoreError {
        match self.lease().await {
            Ok(Some(l)) => StoreError::LeaseHeld {
                holder: l.holder.to_string(),
                since: format_us(l.acquired_us),
            },
            Ok(None) => StoreError::NoLease,
            Err(e) => e,
        }
    }
}

/// The audit params and outcome of taking over `stale`, an expired lease, at `taken_us`.
fn expiry(stale: &Lease, taken_us: i64) -> (serde_json::Value, String) {
    let idle_ms = (taken_us - stale.heartbeat_us) / 1000;
    let params = json!({
        "previous": stale.holder,
        "last_heartbeat_us": stale.heartbeat_us,
        "ttl_secs": stale.ttl_secs,
        "idle_ms": idle_ms,
    });
    let outcome = format!(
        "ok: expired after {:.1} s without a heartbeat (ttl {} s); taken over",
        idle_ms as f64 / 1000.0,
        stale.ttl_secs
    );
    (params, outcome)
}

fn insert_sql(now: &str) -> String {
    format!(
        "INSERT INTO migtui_lease (migration, holder_id, holder_user, holder_host, holder_pid, \
         acquired_us, heartbeat_us, ttl_secs) \
         VALUES (:m, :op, :user, :host, :pid, {now}, {now}, :ttl)"
    )
}

fn holder_params(m: &str, op: &Operator, ttl: i64) -> Params {
    Params::new()
        .bind("m", m)
        .bind("op", op.id.as_str())
        .bind("user", op.user.as_str())
        .bind("host", op.host.as_str())
        .bind("pid", i64::from(op.pid))
        .bind("ttl", ttl)
}

async fn read(tx: &mut dyn Transaction, m: &str) -> Result<Option<Lease>, StoreError> {
    let rows = tx.query(SELECT, &Params::new().bind("m", m)).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(Lease {
        holder: Operator {
            id: rows.text(0, "holder_id")?,
            user: rows.text(0, "holder_user")?,
            host: rows.text(0, "holder_host")?,
            pid: u32::try_from(rows.int(0, "holder_pid")?).unwrap_or_default(),
        },
        acquired_us: rows.int(0, "acquired_us")?,
        heartbeat_us: rows.int(0, "heartbeat_us")?,
        ttl_secs: u64::try_from(rows.int(0, "ttl_secs")?).unwrap_or_default(),
    }))
}

/// Database-clock microseconds as an RFC 3339 UTC time, for messages.
pub fn format_us(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{us} µs"))
}
