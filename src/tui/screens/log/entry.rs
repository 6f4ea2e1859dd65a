//! One log line per session event or audit record: short text, a level for its colour, and
//! who did it. Progress ticks (chunks, backup rows, full-diff chunks, running verify numbers)
//! get no line: the Backfill, Divergences and Overview screens show them live, and a busy
//! backfill would otherwise push everything else out of the log.

use crate::engine::backfill::BackfillEvent;
use crate::engine::session::{Event, LeaseState};
use crate::store::{AuditRecord, DivergenceStatus};
use crate::tui::state::{Level, LogEntry, LogKind};
use crate::tui::widgets::units::count;

/// An audit record as a log line: `flag.set to=true reason="…" → ok`, by `user@host`.
pub fn audit_entry(r: &AuditRecord) -> LogEntry {
    let level = if r.outcome == "ok" {
        Level::Ok
    } else if r.outcome.starts_with("refused") {
        Level::Warn
    } else if r.outcome.starts_with("failed") {
        Level::Danger
    } else {
        Level::Info
    };
    let params = params_text(&r.params);
    let text = if params.is_empty() {
        format!("{} → {}", r.action, r.outcome)
    } else {
        format!("{} {params} → {}", r.action, r.outcome)
    };
    LogEntry {
        at_us: r.at_us,
        who: Some(format!("{}@{}", r.user, r.host)),
        kind: LogKind::Audit,
        level,
        text,
    }
}

/// `{"to": true, "reason": "go on", "gates": []}` → `reason="go on" to=true`: empty values
/// left out, text quoted only when it has spaces.
fn params_text(p: &serde_json::Value) -> String {
    use serde_json::Value as J;
    let empty = |v: &J| match v {
        J::Null => true,
        J::Array(a) => a.is_empty(),
        J::Object(o) => o.is_empty(),
        J::String(s) => s.is_empty(),
        _ => false,
    };
    match p {
        J::Null => String::new(),
        J::Object(o) => o
            .iter()
            .filter(|(_, v)| !empty(v))
            .map(|(k, v)| match v {
                J::String(s) if s.contains(char::is_whitespace) || s.contains('"') => {
                    format!("{k}={s:?}")
                }
                J::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

fn event(now_us: i64, level: Level, text: String) -> Option<LogEntry> {
    Some(LogEntry {
        at_us: now_us,
        who: None,
        kind: LogKind::Event,
        level,
        text,
    })
}

/// The log line for a session event, if it deserves one.
pub fn entry_for(ev: &Event, now_us: i64) -> Option<LogEntry> {
    use Level::*;
    match ev {
        Event::Audited { record } => Some(audit_entry(record)),
        Event::PhaseChanged { record } => {
            let reason = record
                .reason
                .as_deref()
                .map(|r| format!(" — {r}"))
                .unwrap_or_default();
            Some(LogEntry {
                at_us: record.at_us,
                who: Some(format!("{}@{}", record.operator.user, record.operator.host)),
                kind: LogKind::Event,
                level: if record.kind == crate::store::TransitionKind::Advance {
                    Ok
                } else {
                    Warn
                },
                text: format!(
                    "phase {} → {} ({}){reason}",
                    record.from,
                    record.to,
                    record.kind.as_str()
                ),
            })
        }
        Event::GatesMeasured { .. } => None,
        Event::LeaseChanged { lease } => {
            let (level, text) = match lease {
                LeaseState::Driving { .. } => (Ok, "this cockpit drives the migration".into()),
                LeaseState::Observing { lease } => {
                    (Warn, format!("read-only: {} holds the lease", lease.holder))
                }
                LeaseState::Expired { lease } => (
                    Warn,
                    format!(
                        "the lease of {} expired: nobody drives until someone takes over",
                        lease.holder
                    ),
                ),
                LeaseState::Free => (Warn, "nobody holds the lease".into()),
                LeaseState::Unknown { error } => {
                    (Danger, format!("the lease cannot be read: {error}"))
                }
            };
            event(now_us, level, text)
        }
        Event::Refused { action, why } => event(now_us, Warn, format!("{action} refused: {why}")),
        Event::Error { context, message } => event(now_us, Danger, format!("{context}: {message}")),
        Event::FlagChanged {
            from,
            to,
            reason,
            automatic,
        } => {
            let from = from.map_or("unset".to_string(), |f| f.to_string());
            let how = if *automatic { "automatically " } else { "" };
            event(
                now_us,
                if *automatic { Danger } else { Ok },
                format!("read flag {how}{from} → {to} — {reason}"),
            )
        }
        Event::FlagDrift { expected, found } => event(
            now_us,
            Danger,
            format!("read flag drift: expected {expected}, found {found} (not written by migtui)"),
        ),
        Event::BudgetBreached { breaches } => event(
            now_us,
            Danger,
            format!("budget breached: {}", breaches.join("; ")),
        ),
        Event::AutoRollback { reason, flag_error } => {
            let tail = flag_error
                .as_deref()
                .map(|e| format!(" (flag write failed: {e})"))
                .unwrap_or_default();
            event(
                now_us,
                Danger,
                format!("automatic rollback: {reason}{tail}"),
            )
        }
        Event::BackupProgress { .. } => None,
        Event::BackupVerified { results } => {
            let bad: Vec<&str> = results
                .iter()
                .filter(|r| !r.verified)
                .map(|r| r.name.as_str())
                .collect();
            if bad.is_empty() {
                event(
                    now_us,
                    Ok,
                    format!("backup verified: {} copies", results.len()),
                )
            } else {
                event(
                    now_us,
                    Danger,
                    format!("backup NOT verified: {}", bad.join(", ")),
                )
            }
        }
        Event::ContractRan { report } => {
            let (level, text) = if let Some(why) = &report.refused {
                (Warn, format!("contract refused: {why}"))
            } else if report.done {
                (
                    Ok,
                    format!("contract done: {} statements committed", report.committed),
                )
            } else {
                (
                    Danger,
                    format!(
                        "contract incomplete: {} of {} statements committed",
                        report.committed,
                        report.preview.statements.len()
                    ),
                )
            };
            event(now_us, level, text)
        }
        Event::Restored { report } => event(
            now_us,
            if report.dry_run { Info } else { Warn },
            format!(
                "{} {} into {} from {} ({} rows)",
                if report.dry_run {
                    "restore (dry run) of"
                } else {
                    "restored"
                },
                report.name,
                report.table,
                report.from,
                count(report.rows)
            ),
        ),
        Event::VerifyMeasured { .. } => None,
        Event::Divergence {
            check,
            key,
            kind,
            columns,
            status,
        } => {
            // Only confirmed divergences: healed and in-flight keys are races the counts on
            // the Divergences screen already show, and a busy sample would flood the log.
            if *status != DivergenceStatus::Open {
                return None;
            }
            let cols = if columns.is_empty() {
                String::new()
            } else {
                format!(" [{}]", columns.join(", "))
            };
            event(
                now_us,
                Warn,
                format!("divergence {check} key {key}: {kind}{cols}"),
            )
        }
        Event::FullVerifyProgress { .. } => None,
        Event::FullVerifyDone {
            check,
            rows,
            divergent,
        } => event(
            now_us,
            if *divergent == 0 { Ok } else { Warn },
            format!(
                "full diff of {check} done: {} rows, {} divergent",
                count(*rows),
                count(*divergent)
            ),
        ),
        Event::Backfill { update } => backfill(update, now_us),
    }
}

fn backfill(u: &BackfillEvent, now_us: i64) -> Option<LogEntry> {
    use Level::*;
    match u {
        BackfillEvent::StepStarted {
            step,
            total_rows,
            total_exact,
            resumed_after,
        } => {
            let about = if *total_exact { "" } else { "~" };
            let resumed = resumed_after
                .as_deref()
                .map(|k| format!(", resuming after key {k}"))
                .unwrap_or_default();
            event(
                now_us,
                Info,
                format!(
                    "backfill {step} started: {about}{} rows{resumed}",
                    count(*total_rows)
                ),
            )
        }
        BackfillEvent::Chunk { .. } => None,
        BackfillEvent::Paused { step, by } => event(
            now_us,
            Warn,
            format!("backfill {step} paused by {}", by.join(", ")),
        ),
        BackfillEvent::Resumed { step } => event(now_us, Info, format!("backfill {step} resumed")),
        BackfillEvent::Retry {
            step,
            attempt,
            error,
        } => event(
            now_us,
            Warn,
            format!("backfill {step} retry {attempt}: {error}"),
        ),
        BackfillEvent::StepComplete { step, rows_done } => event(
            now_us,
            Ok,
            format!("backfill {step} complete: {} rows", count(*rows_done)),
        ),
        BackfillEvent::StepFailed { step, error } => {
            event(now_us, Danger, format!("backfill {step} failed: {error}"))
        }
        BackfillEvent::Cancelled { step } => event(
            now_us,
            Warn,
            format!("backfill {step} cancelled; it resumes from its checkpoint"),
        ),
    }
}
