//! Running the contract statements once the guard lets them through. Where DDL is
//! transactional (PostgreSQL, SQLite) they run in one transaction, with a lock timeout where
//! the engine has one, and the whole transaction is retried a bounded number of times when a
//! lock is not granted: a busy table is never locked for longer than the lock timeout, and the
//! queries queued behind the waiting DDL wait no longer either. On MySQL/MariaDB every DDL
//! statement commits by itself: they run one by one and stop at the first failure.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{ContractCtx, ContractError, Preview, confirms, preview};
use crate::db::{DbError, Params, Transaction};

/// One try of one statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based try of the transaction (or of the statement, where DDL is not transactional).
    pub attempt: u32,
    pub sql: String,
    pub ok: bool,
    /// `ok`, or the error.
    pub outcome: String,
    pub elapsed_ms: u64,
}

/// What the contract step did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractReport {
    pub preview: Preview,
    /// Why nothing ran, when nothing did.
    pub refused: Option<String>,
    pub attempts: Vec<Attempt>,
    /// Statements that took effect (committed).
    pub committed: usize,
    /// True when every statement took effect.
    pub done: bool,
}

/// Guard, confirm, run and audit the contract statements.
pub async fn execute(
    ctx: &ContractCtx<'_>,
    confirm: Option<&str>,
    override_reason: Option<&str>,
) -> Result<ContractReport, ContractError> {
    let preview = preview(ctx).await?;
    let reason = override_reason.map(str::trim).filter(|r| !r.is_empty());
    let params = json!({
        "database": preview.database,
        "statements": preview.statements.iter().map(|s| &s.sql).collect::<Vec<_>>(),
        "confirm": confirm,
        "override_reason": reason,
        "blockers": preview.blockers,
    });
    let mut report = ContractReport {
        preview,
        refused: None,
        attempts: Vec::new(),
        committed: 0,
        done: false,
    };
    let refusal = if !confirms(&report.preview.confirm, confirm.unwrap_or("")) {
        Some(format!(
            "the drop is a one-way door: type `{}` to confirm (got `{}`)",
            report.preview.confirm,
            confirm.unwrap_or("")
        ))
    } else if !report.preview.blockers.is_empty() && reason.is_none() {
        Some(format!(
            "the drop is blocked: {}; fix that, or override with a reason",
            report.preview.blockers.join("; ")
        ))
    } else {
        None
    };
    if let Some(why) = refusal {
        let outcome = format!("refused: {why}");
        ctx.store
            .audit("contract", params, &outcome, ctx.operator)
            .await?;
        report.refused = Some(why);
        return Ok(report);
    }
    let outcome = match reason {
        Some(r) if !report.preview.blockers.is_empty() => format!("started, overridden: {r}"),
        _ => "started".to_string(),
    };
    ctx.store
        .audit("contract", params.clone(), &outcome, ctx.operator)
        .await?;
    let result = if ctx.db.dialect().transactional_ddl() {
        transactional(ctx, &mut report).await
    } else {
        one_by_one(ctx, &mut report).await
    };
    let outcome = match &result {
        Ok(()) if report.done => "ok".to_string(),
        Ok(()) => format!(
            "failed: {} of {} statements took effect; see the contract.statement lines",
            report.committed,
            report.preview.statements.len()
        ),
        Err(e) => format!("failed: {e}"),
    };
    ctx.store
        .audit("contract", params, &outcome, ctx.operator)
        .await?;
    result.map(|()| report)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis((250 * u64::from(attempt)).min(2_000))
}

/// Run one statement and note the attempt. The audit lines are written once the statement's
/// transaction has ended (`audit_since`): SQLite allows one writer, and the state store may
/// live in the database the statements hold locks in.
async fn run_one(
    ctx: &ContractCtx<'_>,
    tx: &mut dyn Transaction,
    sql: &str,
    attempt: u32,
    report: &mut ContractReport,
) -> Result<(), DbError> {
    let started = Instant::now();
    let r = tx.execute(sql, &Params::new()).await.map(|_| ());
    let outcome = match &r {
        Ok(()) => "ok".to_string(),
        Err(e) if ctx.db.dialect().is_lock_timeout(e) => {
            format!("lock not granted within the lock timeout: {e}")
        }
        Err(e) => format!("failed: {e}"),
    };
    report.attempts.push(Attempt {
        attempt,
        sql: sql.to_string(),
        ok: r.is_ok(),
        outcome,
        elapsed_ms: started.elapsed().as_millis() as u64,
    });
    r
}

/// Audit the attempts from `from` on.
async fn audit_since(
    ctx: &ContractCtx<'_>,
    report: &ContractReport,
    from: usize,
) -> Result<(), ContractError> {
    for a in report.attempts.iter().skip(from) {
        ctx.store
            .audit(
                "contract.statement",
                json!({ "sql": a.sql, "attempt": a.attempt, "elapsed_ms": a.elapsed_ms }),
                &a.outcome,
                ctx.operator,
            )
            .await?;
    }
    Ok(())
}

async fn transactional(
    ctx: &ContractCtx<'_>,
    report: &mut ContractReport,
) -> Result<(), ContractError> {
    let (lock_ms, retries, statements) = plan(ctx, report);
    let d = ctx.db.dialect();
    for attempt in 1..=retries + 1 {
        let seen = report.attempts.len();
        let mut tx = begin(ctx, lock_ms).await?;
        let mut failed = None;
        for sql in &statements {
            if let Err(e) = run_one(ctx, &mut *tx, sql, attempt, report).await {
                failed = Some(e);
                break;
            }
        }
        let ended = match &failed {
            None => tx.commit().await,
            Some(_) => tx.rollback().await,
        };
        if failed.is_none()
            && let Err(e) = &ended
            && let Some(last) = report.attempts.last_mut()
        {
            last.ok = false;
            last.outcome = format!("failed at COMMIT: {e}");
        }
        audit_since(ctx, report, seen).await?;
        match failed {
            None => {
                ended?;
                report.committed = statements.len();
                report.done = true;
                return Ok(());
            }
            Some(e) => {
                if !d.is_lock_timeout(&e) || attempt > retries {
                    return Ok(());
                }
                tokio::time::sleep(backoff(attempt)).await;
            }
        }
    }
    Ok(())
}

async fn one_by_one(
    ctx: &ContractCtx<'_>,
    report: &mut ContractReport,
) -> Result<(), ContractError> {
    let (lock_ms, retries, statements) = plan(ctx, report);
    let d = ctx.db.dialect();
    // One connection for the whole run, so the session-wide lock timeout applies to it alone.
    let mut conn = begin(ctx, lock_ms).await?;
    'statements: for sql in &statements {
        for attempt in 1..=retries + 1 {
            match run_one(ctx, &mut *conn, sql, attempt, report).await {
                Ok(()) => {
                    report.committed += 1;
                    continue 'statements;
                }
                Err(e) if d.is_lock_timeout(&e) && attempt <= retries => {
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(_) => break 'statements,
            }
        }
        break;
    }
    if let Some(sql) = d.lock_timeout_reset_sql() {
        let _ = conn.execute(sql, &Params::new()).await;
    }
    let _ = conn.commit().await;
    report.done = report.committed == statements.len();
    audit_since(ctx, report, 0).await
}

/// The lock timeout, the retries and the statements of this run.
fn plan(ctx: &ContractCtx<'_>, report: &ContractReport) -> (u64, u32, Vec<String>) {
    let (lock_ms, retries) = ctx
        .config
        .contract
        .as_ref()
        .map_or((3_000, 5), |c| (c.lock_timeout_ms, c.retries));
    let statements = report
        .preview
        .statements
        .iter()
        .map(|s| s.sql.clone())
        .collect();
    (lock_ms, retries, statements)
}

/// A transaction (one pinned connection) with the engine's lock timeout set.
async fn begin(ctx: &ContractCtx<'_>, lock_ms: u64) -> Result<Box<dyn Transaction>, DbError> {
    let mut tx = ctx.db.begin().await?;
    if let Some(sql) = ctx.db.dialect().lock_timeout_sql(lock_ms) {
        tx.execute(&sql, &Params::new()).await?;
    }
    Ok(tx)
}
