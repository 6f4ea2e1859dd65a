//! The faults, injected from outside as an operator, a failover or a noisy neighbour would:
//! migtui's connections terminated or its statements cancelled on the server (it names its
//! connections `migtui`), PostgreSQL restarted, and the shared lock table filled by another
//! session for a few seconds. (`SIGKILL` of migtui itself is in `driver.rs`, which owns the
//! process.)

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use sqlx::{Connection, PgConnection, Row};

use super::cluster::Cluster;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Kill,
    Terminate,
    Restart,
    Cancel,
    LockFull,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Kill,
        Kind::Terminate,
        Kind::Restart,
        Kind::Cancel,
        Kind::LockFull,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Kill => "kill",
            Kind::Terminate => "terminate",
            Kind::Restart => "restart",
            Kind::Cancel => "cancel",
            Kind::LockFull => "lock_full",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One injected fault: what, during which command, and whether it hit migtui work in flight.
#[derive(Debug, Clone)]
pub struct Injected {
    pub kind: Kind,
    pub during: String,
    /// It interrupted something (a process, a statement, a connection in use).
    pub landed: bool,
    pub detail: String,
}

/// Counts by kind: `(injected, landed)`.
pub fn by_kind(log: &[Injected]) -> BTreeMap<Kind, (u64, u64)> {
    let mut m: BTreeMap<Kind, (u64, u64)> = Kind::ALL.iter().map(|k| (*k, (0, 0))).collect();
    for f in log {
        let e = m.entry(f.kind).or_default();
        e.0 += 1;
        e.1 += u64::from(f.landed);
    }
    m
}

async fn admin(cluster: &Cluster) -> Result<PgConnection, String> {
    PgConnection::connect(&cluster.url("postgres"))
        .await
        .map_err(|e| format!("admin connection: {e}"))
}

/// Wait up to ~0.5 s for a migtui connection in one of `states` (`active`: a statement
/// running; `idle in transaction`: a transaction open), so a fault meant for work in flight
/// finds some more often than chance.
async fn until_busy(c: &mut PgConnection, states: &[&str]) {
    let states: Vec<String> = states.iter().map(|s| s.to_string()).collect();
    for _ in 0..50 {
        let busy: Result<i64, _> = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'migtui' \
             AND state = ANY($1)",
        )
        .bind(&states)
        .fetch_one(&mut *c)
        .await;
        if busy.map_or(true, |n| n > 0) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Terminate every migtui connection. Landed when one of them was busy (a statement running,
/// or a transaction open): an idle pooled connection is simply replaced.
pub async fn terminate(cluster: &Cluster) -> Result<(bool, String), String> {
    let mut c = admin(cluster).await?;
    until_busy(&mut c, &["active", "idle in transaction"]).await;
    let rows = sqlx::query(
        "SELECT state, pg_terminate_backend(pid) AS done FROM pg_stat_activity \
         WHERE application_name = 'migtui' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut c)
    .await
    .map_err(|e| format!("terminate: {e}"))?;
    let _ = c.close().await;
    let busy = rows
        .iter()
        .filter(|r| r.get::<bool, _>("done"))
        .filter(|r| r.get::<Option<String>, _>("state").as_deref() != Some("idle"))
        .count();
    Ok((busy > 0, format!("{} connections, {busy} busy", rows.len())))
}

/// Cancel every migtui statement running right now.
pub async fn cancel(cluster: &Cluster) -> Result<(bool, String), String> {
    let mut c = admin(cluster).await?;
    until_busy(&mut c, &["active"]).await;
    let rows = sqlx::query(
        "SELECT left(query, 60) AS q, pg_cancel_backend(pid) AS done FROM pg_stat_activity \
         WHERE application_name = 'migtui' AND state = 'active' AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut c)
    .await
    .map_err(|e| format!("cancel: {e}"))?;
    let _ = c.close().await;
    let queries: Vec<String> = rows.iter().map(|r| r.get::<String, _>("q")).collect();
    Ok((!queries.is_empty(), queries.join(" | ")))
}

/// The function [`fill_lock_table`] calls, created once in the cluster's `postgres` database:
/// advisory locks, one per subtransaction, until the server says "out of shared memory"
/// (SQLSTATE 53200) or `max` locks; the lock that failed is rolled back with its
/// subtransaction, every other stays held until the caller's transaction ends. Returns the
/// number of locks held, negative when the table never filled.
pub const FILL_FUNCTION: &str = "CREATE FUNCTION chaos_fill_lock_table(max bigint) RETURNS bigint \
    LANGUAGE plpgsql AS $$ DECLARE i bigint := 0; BEGIN \
      WHILE i < max LOOP \
        BEGIN PERFORM pg_advisory_xact_lock(7700000000 + i + 1); \
        EXCEPTION WHEN out_of_memory THEN RETURN i; END; \
        i := i + 1; \
      END LOOP; \
      RETURN -i; \
    END $$";

/// Fill the shared lock table from another session and hold it for `hold`, then let go.
/// Bounded: at most 200,000 locks, held for `hold` only.
pub async fn fill_lock_table(cluster: &Cluster, hold: Duration) -> Result<(bool, String), String> {
    let mut c = admin(cluster).await?;
    let mut tx = c.begin().await.map_err(|e| format!("lock table: {e}"))?;
    let held: i64 = sqlx::query_scalar("SELECT chaos_fill_lock_table(200000)")
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| format!("filling the lock table: {e}"))?;
    tokio::time::sleep(hold).await;
    let _ = tx.commit().await;
    let _ = c.close().await;
    Ok((
        held > 0,
        format!(
            "{} advisory locks held for {:.1} s",
            held.abs(),
            hold.as_secs_f64()
        ),
    ))
}
