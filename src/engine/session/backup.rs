//! The session's backup, contract and restore commands: each needs the lease, runs on the
//! database its section names, publishes progress and results as events, and refreshes the
//! backup records in the snapshot. Cancelled with the session (a file copy in progress is then
//! removed, never renamed into place).

use std::sync::Arc;

use serde_json::json;
use tokio::sync::{mpsc, oneshot};

use super::commands::{Poke, read_only, refuse, refuse_read_only};
use super::{Event, Outcome, SessionError, Shared};
use crate::db::{Db, DbError};
use crate::engine::backup::{self, BackupCtx, BackupError, restore as restore_mod};
use crate::engine::contract::{self, ContractCtx, ContractError};
use crate::engine::phase::PhaseId;

fn db_of(shared: &Shared, name: &str) -> Result<Db, String> {
    shared.dbs.get(name).cloned().ok_or_else(|| {
        format!("database `{name}` is not connected; run `migtui check` for the error and the fix")
    })
}

fn failed(context: &str, e: impl std::fmt::Display) -> SessionError {
    SessionError::Store(crate::store::StoreError::Invalid(format!("{context}: {e}")))
}

async fn refresh_backups(shared: &Shared) {
    if let Ok(Ok(records)) = tokio::time::timeout(shared.timeout, shared.store.backups()).await {
        shared.snapshot.send_if_modified(|s| {
            let changed = s.backups != records;
            s.backups = records;
            changed
        });
    }
}

/// Start `RunBackup` in its own task and reply when it ends; a second one while the first runs
/// is refused. The loop awaits the task on shutdown ([`stop`]), after cancelling it.
pub(crate) fn spawn_backup(
    shared: &Arc<Shared>,
    verify_only: bool,
    reply: Option<oneshot::Sender<Result<Outcome, SessionError>>>,
    poke: mpsc::Sender<Poke>,
) {
    let Ok(mut slot) = shared.backup.lock() else {
        if let Some(reply) = reply {
            let _ = reply.send(Err(failed(
                "starting the backup",
                "its task slot is poisoned",
            )));
        }
        return;
    };
    let busy = slot.as_ref().is_some_and(|h| !h.is_finished());
    let task_shared = shared.clone();
    let task = tokio::spawn(async move {
        let shared = task_shared;
        let result = if busy {
            let why = "a backup is already running; wait for it to finish".to_string();
            refuse(&shared, "backup", json!({}), why, Vec::new()).await
        } else {
            tokio::select! {
                r = run_backup(&shared, verify_only) => r,
                _ = shared.cancelled() => Err(SessionError::Cancelled),
            }
        };
        if let Err(e) = &result {
            shared.emit(Event::Error {
                context: "backup".into(),
                message: e.to_string(),
            });
        }
        // Let the watcher publish the audit lines before the caller looks at the snapshot.
        let (tx, rx) = oneshot::channel();
        if poke.send(tx).await.is_ok() {
            let _ = tokio::time::timeout(shared.timeout, rx).await;
        }
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    });
    if !busy {
        *slot = Some(task);
    }
}

/// Wait for a running backup to stop (the session is cancelled by then).
pub(crate) async fn stop(shared: &Shared) {
    let handle = shared.backup.lock().ok().and_then(|mut h| h.take());
    if let Some(h) = handle {
        let _ = tokio::time::timeout(shared.timeout, h).await;
    }
}

pub(crate) async fn run_backup(
    shared: &Shared,
    verify_only: bool,
) -> Result<Outcome, SessionError> {
    let action = if verify_only {
        "backup.verify"
    } else {
        "backup"
    };
    if let Some(err) = read_only(shared).await {
        return refuse_read_only(shared, action, json!({}), err).await;
    }
    if shared.config.backups.is_empty() {
        let why = "the migration file declares no [[backup]]".to_string();
        return refuse(shared, action, json!({}), why, Vec::new()).await;
    }
    let progress = |p| shared.emit(Event::BackupProgress { progress: p });
    let cancel = shared.cancel.subscribe();
    let cancelled = move || *cancel.borrow();
    let mut all_ok = true;
    let mut problems = Vec::new();
    for spec in &shared.config.backups {
        let db = match db_of(shared, &spec.database) {
            Ok(db) => db,
            Err(why) => {
                return refuse(
                    shared,
                    action,
                    json!({ "backup": spec.name }),
                    why,
                    Vec::new(),
                )
                .await;
            }
        };
        let ctx = BackupCtx {
            db: &db,
            store: &shared.store,
            config_path: &shared.config.path,
            progress: &progress,
            cancelled: &cancelled,
        };
        let result = if verify_only {
            backup::verify(spec, &ctx).await
        } else {
            backup::run(spec, &ctx).await
        };
        let (outcome, ok) = match &result {
            Ok(results) => {
                let bad: Vec<String> = results
                    .iter()
                    .filter(|r| !r.verified)
                    .map(|r| format!("{}: {}", r.location, r.detail))
                    .collect();
                shared.emit(Event::BackupVerified {
                    results: results.clone(),
                });
                if bad.is_empty() {
                    ("ok: verified".to_string(), true)
                } else {
                    (format!("failed: {}", bad.join("; ")), false)
                }
            }
            Err(e) => (format!("failed: {e}"), false),
        };
        all_ok &= ok;
        if !ok {
            problems.push(format!("`{}`: {outcome}", spec.name));
        }
        let params = json!({
            "backup": spec.name,
            "table": spec.table,
            "columns": spec.columns,
            "to": spec.to.iter().map(backup::location).collect::<Vec<_>>(),
        });
        let audited = shared
            .store
            .audit(action, params, &outcome, &shared.operator);
        shared.bounded("auditing the backup", audited).await?;
        if let Err(BackupError::Cancelled(_)) = result {
            return Err(SessionError::Cancelled);
        }
    }
    refresh_backups(shared).await;
    if all_ok {
        Ok(Outcome::Done)
    } else {
        Ok(Outcome::Refused {
            why: format!("not every backup verified: {}", problems.join("; ")),
            gates: Vec::new(),
        })
    }
}

pub(crate) async fn contract(
    shared: &Shared,
    confirm: Option<String>,
    override_reason: Option<String>,
) -> Result<Outcome, SessionError> {
    let params = json!({ "confirm": confirm, "override_reason": override_reason });
    if let Some(err) = read_only(shared).await {
        return refuse_read_only(shared, "contract", params, err).await;
    }
    let Some(c) = &shared.config.contract else {
        let why = "the migration file has no [contract] section".to_string();
        return refuse(shared, "contract", params, why, Vec::new()).await;
    };
    let state = shared
        .bounded("reading the phase", shared.store.state())
        .await?;
    if state.phase != PhaseId::Drop {
        let why = format!(
            "the contract runs in phase `drop`; the migration is in `{}`: back up, verify, and \
             advance to `drop` first (a one-way door)",
            state.phase
        );
        return refuse(shared, "contract", params, why, Vec::new()).await;
    }
    let db = match db_of(shared, &c.database) {
        Ok(db) => db,
        Err(why) => return refuse(shared, "contract", params, why, Vec::new()).await,
    };
    let ctx = ContractCtx {
        config: &shared.config,
        db: &db,
        store: &shared.store,
        operator: &shared.operator,
    };
    let report = contract::execute(&ctx, confirm.as_deref(), override_reason.as_deref())
        .await
        .map_err(|e| match e {
            ContractError::Store(s) => SessionError::Store(s),
            other => failed("the contract step", other),
        })?;
    refresh_backups(shared).await;
    shared.emit(Event::ContractRan {
        report: Box::new(report.clone()),
    });
    Ok(match (&report.refused, report.done) {
        (Some(why), _) => {
            shared.emit(Event::Refused {
                action: "contract".into(),
                why: why.clone(),
            });
            Outcome::Refused {
                why: why.clone(),
                gates: Vec::new(),
            }
        }
        (None, true) => Outcome::Done,
        (None, false) => Outcome::Refused {
            why: format!(
                "the contract did not complete: {} of {} statements took effect; the last error: {}",
                report.committed,
                report.preview.statements.len(),
                report
                    .attempts
                    .last()
                    .map_or("none", |a| a.outcome.as_str())
            ),
            gates: Vec::new(),
        },
    })
}

pub(crate) async fn restore(
    shared: &Shared,
    name: &str,
    dry_run: bool,
) -> Result<Outcome, SessionError> {
    let params = json!({ "backup": name, "dry_run": dry_run });
    if !dry_run && let Some(err) = read_only(shared).await {
        return refuse_read_only(shared, "restore", params, err).await;
    }
    let Some(spec) = shared.config.backups.iter().find(|b| b.name == name) else {
        let names: Vec<&str> = shared
            .config
            .backups
            .iter()
            .map(|b| b.name.as_str())
            .collect();
        let why = format!(
            "no [[backup]] is called `{name}` (backups: {})",
            names.join(", ")
        );
        return refuse(shared, "restore", params, why, Vec::new()).await;
    };
    let db = match db_of(shared, &spec.database) {
        Ok(db) => db,
        Err(why) => return refuse(shared, "restore", params, why, Vec::new()).await,
    };
    let ctx = BackupCtx {
        db: &db,
        store: &shared.store,
        config_path: &shared.config.path,
        progress: &|_| {},
        cancelled: &|| false,
    };
    match restore_mod::restore(name, &ctx, &shared.operator, dry_run).await {
        Ok(report) => {
            let verified = report.verified || report.dry_run;
            let why = format!(
                "the restored rows do not match the backup: {} ≠ recorded {}",
                report.after.as_deref().unwrap_or("?"),
                report.recorded
            );
            shared.emit(Event::Restored { report });
            Ok(if verified {
                Outcome::Done
            } else {
                Outcome::Refused {
                    why,
                    gates: Vec::new(),
                }
            })
        }
        Err(BackupError::Invalid { message, .. }) => {
            refuse(shared, "restore", params, message, Vec::new()).await
        }
        Err(BackupError::Db(e)) => Err(db_failed(e)),
        Err(e) => Err(failed("the restore", e)),
    }
}

fn db_failed(e: DbError) -> SessionError {
    SessionError::Store(crate::store::StoreError::Db(e))
}
