//! Telling people: the `[notify]` command runs on each phase change, one-way door, automatic
//! rollback and gate override, with the event as JSON on its standard input, so a team can
//! post to its chat or pager with a two-line script.
//!
//! A notifier never blocks the migration: it runs in its own task, is killed after its
//! timeout, and a failure is reported (`Event::Error` with context `notify`) and audited
//! (`notify.failed`), nothing more.

use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;

use crate::config::{NotifyCommand, NotifyConfig, NotifyEvent};
use crate::engine::phase::PhaseId;
use crate::engine::session::{Event, Shared};
use crate::secret::Secrets;
use crate::store::{Operator, PhaseRecord, Store, TransitionKind};

/// Version of the JSON a notifier reads; bumped only on incompatible changes.
pub const NOTIFY_JSON_VERSION: u32 = 1;

/// One event as the notifier's standard input receives it (one JSON object, then EOF).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub schema_version: u32,
    /// `phase_change`, `one_way_door`, `auto_rollback` or `gate_override`.
    pub event: NotifyEvent,
    pub migration: String,
    /// RFC 3339, UTC.
    pub at: String,
    /// `user@host`.
    pub operator: String,
    pub from: Option<PhaseId>,
    pub to: Option<PhaseId>,
    /// The operator's reason (override, rollback) or the automatic rollback's breach.
    pub reason: Option<String>,
    pub failing_gates: Vec<String>,
    /// One sentence for a chat message.
    pub summary: String,
}

/// Why a notifier did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotifyError {
    #[error("could not start `{program}`: {reason}")]
    Spawn { program: String, reason: String },
    #[error("`{program}` exited with {status}{stderr}")]
    Failed {
        program: String,
        status: String,
        stderr: String,
    },
    #[error("`{program}` did not finish within {secs} s and was killed")]
    Timeout { program: String, secs: u64 },
}

fn rfc3339(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The notifications a phase change makes: always `phase_change`, plus `one_way_door` when
/// it went through one and `gate_override` when gates failed.
pub fn for_transition(migration: &str, r: &PhaseRecord) -> Vec<Notification> {
    let failing: Vec<String> = r
        .gates
        .iter()
        .filter(|g| !g.pass)
        .map(|g| g.name.clone())
        .collect();
    let base = Notification {
        schema_version: NOTIFY_JSON_VERSION,
        event: NotifyEvent::PhaseChange,
        migration: migration.to_string(),
        at: rfc3339(r.at_us),
        operator: format!("{}@{}", r.operator.user, r.operator.host),
        from: Some(r.from),
        to: Some(r.to),
        reason: r.reason.clone(),
        failing_gates: failing.clone(),
        summary: format!(
            "{migration}: {} {} → {} by {}@{}",
            r.kind.as_str(),
            r.from,
            r.to,
            r.operator.user,
            r.operator.host
        ),
    };
    let mut out = vec![base.clone()];
    if r.to.is_one_way_door() && r.kind != TransitionKind::Rollback {
        out.push(Notification {
            event: NotifyEvent::OneWayDoor,
            summary: format!(
                "{migration}: one-way door passed: {} ({})",
                r.to,
                r.to.summary()
            ),
            ..base.clone()
        });
    }
    if r.kind == TransitionKind::Override {
        out.push(Notification {
            event: NotifyEvent::GateOverride,
            summary: format!(
                "{migration}: gates overridden ({}) to enter {}: {}",
                failing.join(", "),
                r.to,
                r.reason.as_deref().unwrap_or("")
            ),
            ..base
        });
    }
    out
}

/// The notification of an automatic rollback.
pub fn for_auto_rollback(
    migration: &str,
    at_us: i64,
    operator: &Operator,
    reason: &str,
) -> Notification {
    Notification {
        schema_version: NOTIFY_JSON_VERSION,
        event: NotifyEvent::AutoRollback,
        migration: migration.to_string(),
        at: rfc3339(at_us),
        operator: format!("{}@{}", operator.user, operator.host),
        from: None,
        to: None,
        reason: Some(reason.to_string()),
        failing_gates: Vec::new(),
        summary: format!("{migration}: automatic rollback, reads flipped back to old: {reason}"),
    }
}

fn program(c: &NotifyCommand) -> String {
    match c {
        NotifyCommand::Argv(argv) => argv.first().cloned().unwrap_or_default(),
        NotifyCommand::Shell(_) => "sh -c …".into(),
    }
}

/// Run the notifier once with `n` on its standard input, within its timeout. The text it is
/// given is masked: a reason typed by an operator may hold anything.
pub async fn run(
    config: &NotifyConfig,
    n: &Notification,
    secrets: &Secrets,
) -> Result<(), NotifyError> {
    let prog = program(&config.command);
    let mut cmd = match &config.command {
        NotifyCommand::Argv(argv) => {
            let mut c = tokio::process::Command::new(&argv[0]);
            c.args(&argv[1..]);
            c
        }
        NotifyCommand::Shell(line) => {
            let mut c = tokio::process::Command::new("sh");
            c.arg("-c").arg(line);
            c
        }
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env("MIGTUI_EVENT", n.event.as_str())
        .kill_on_drop(true);
    // Its own process group, so a timeout also kills what a shell notifier started.
    #[cfg(unix)]
    cmd.process_group(0);
    let mut child = cmd.spawn().map_err(|e| NotifyError::Spawn {
        program: prog.clone(),
        reason: e.to_string(),
    })?;
    let group = child.id();
    let mut body = serde_json::to_string(n).unwrap_or_default();
    body = secrets.mask(&body);
    body.push('\n');
    let stdin = child.stdin.take();
    let secs = config.timeout_secs.max(1);
    let done = async move {
        if let Some(mut stdin) = stdin {
            // A notifier that ignores its input closes the pipe early; that is its business.
            let _ = stdin.write_all(body.as_bytes()).await;
            drop(stdin);
        }
        child.wait_with_output().await
    };
    // On timeout the future (and the child with it) is dropped: `kill_on_drop` kills the child,
    // `killpg` below whatever it started.
    let out = match tokio::time::timeout(Duration::from_secs(secs), done).await {
        Err(_) => {
            #[cfg(unix)]
            if let Some(pid) = group.and_then(|p| i32::try_from(p).ok()) {
                use nix::sys::signal::{Signal, killpg};
                let _ = killpg(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            }
            return Err(NotifyError::Timeout {
                program: prog,
                secs,
            });
        }
        Ok(Err(e)) => {
            return Err(NotifyError::Spawn {
                program: prog,
                reason: e.to_string(),
            });
        }
        Ok(Ok(out)) => out,
    };
    if out.status.success() {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&out.stderr);
    let text = text.trim();
    let tail: String = text
        .chars()
        .rev()
        .take(300)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Err(NotifyError::Failed {
        program: prog,
        status: out.status.to_string(),
        stderr: if tail.is_empty() {
            String::new()
        } else {
            format!(": {}", secrets.mask(&tail))
        },
    })
}

/// The notification tasks a session has started and not yet seen finish.
#[derive(Debug, Default)]
pub struct Pending(std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>);

/// The most a shutdown waits for notifications still running (each is bounded by its own
/// timeout; this bounds many of them together).
const DRAIN_AT_MOST: Duration = Duration::from_secs(30);

impl Pending {
    fn push(&self, task: tokio::task::JoinHandle<()>) {
        if let Ok(mut v) = self.0.lock() {
            v.retain(|t| !t.is_finished());
            v.push(task);
        }
    }

    /// Wait for the notifications still running, at most [`DRAIN_AT_MOST`].
    pub async fn drain(&self) {
        let tasks: Vec<_> = match self.0.lock() {
            Ok(mut v) => v.drain(..).collect(),
            Err(_) => return,
        };
        let all = futures::future::join_all(tasks);
        let _ = tokio::time::timeout(DRAIN_AT_MOST, all).await;
    }
}

/// What a background notification needs, cloned out of the session so it outlives the call.
struct Context {
    config: NotifyConfig,
    secrets: Secrets,
    store: Store,
    operator: Operator,
    events: tokio::sync::broadcast::Sender<Event>,
}

fn context(shared: &Shared) -> Option<Context> {
    Some(Context {
        config: shared.config.notify.clone()?,
        secrets: shared.config.secrets.clone(),
        store: shared.store.clone(),
        operator: shared.operator.clone(),
        events: shared.events.clone(),
    })
}

/// Send the wanted notifications in a task of their own, one after the other; report and
/// audit each failure. Returns at once: the migration never waits for a notifier.
fn dispatch(pending: &Pending, ctx: Context, notes: Vec<Notification>) {
    let notes: Vec<Notification> = notes
        .into_iter()
        .filter(|n| ctx.config.wants(n.event))
        .collect();
    if notes.is_empty() {
        return;
    }
    let task = tokio::spawn(async move {
        for n in notes {
            let Err(e) = run(&ctx.config, &n, &ctx.secrets).await else {
                continue;
            };
            let message = ctx
                .secrets
                .mask(&format!("{} notification: {e}", n.event.as_str()));
            let _ = ctx.events.send(Event::Error {
                context: "notify".into(),
                message: message.clone(),
            });
            let params =
                serde_json::json!({ "event": n.event, "summary": ctx.secrets.mask(&n.summary) });
            let outcome = format!("failed: {message}");
            let audit = ctx
                .store
                .audit("notify.failed", params, &outcome, &ctx.operator);
            // The audit is bounded too: a notifier's failure must not hang on a slow store.
            match tokio::time::timeout(Duration::from_secs(10), audit).await {
                Ok(Ok(_)) => {}
                Ok(Err(err)) => {
                    let _ = ctx.events.send(Event::Error {
                        context: "notify".into(),
                        message: ctx
                            .secrets
                            .mask(&format!("auditing a failed notification: {err}")),
                    });
                }
                Err(_) => {
                    let _ = ctx.events.send(Event::Error {
                        context: "notify".into(),
                        message: "auditing a failed notification: no answer within 10 s".into(),
                    });
                }
            }
        }
    });
    pending.push(task);
}

/// A phase change was recorded by this session: tell the notifier (when one is configured).
pub(crate) fn phase_changed(shared: &Shared, record: &PhaseRecord) {
    if let Some(ctx) = context(shared) {
        let notes = for_transition(&shared.config.migration.name, record);
        dispatch(&shared.notifications, ctx, notes);
    }
}

/// The automatic rollback fired in this session: tell the notifier.
pub(crate) fn auto_rollback(shared: &Shared, at_us: i64, reason: &str) {
    if let Some(ctx) = context(shared) {
        let n = for_auto_rollback(
            &shared.config.migration.name,
            at_us,
            &shared.operator,
            reason,
        );
        dispatch(&shared.notifications, ctx, vec![n]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::phase::Gate;

    fn record(from: PhaseId, to: PhaseId, kind: TransitionKind, gates: Vec<Gate>) -> PhaseRecord {
        PhaseRecord {
            from,
            to,
            kind,
            reason: Some("why".into()),
            gates,
            operator: Operator {
                id: "x".into(),
                user: "bob".into(),
                host: "h".into(),
                pid: 1,
            },
            at_us: 0,
        }
    }

    fn events(r: &PhaseRecord) -> Vec<NotifyEvent> {
        for_transition("m", r).iter().map(|n| n.event).collect()
    }

    #[test]
    fn a_transition_makes_the_events_it_should() {
        let failing = vec![Gate::fail("backup verified", None, "verified", "no backup")];
        let through_door = record(
            PhaseId::ReadNew,
            PhaseId::StopOldWrites,
            TransitionKind::Override,
            failing,
        );
        assert_eq!(
            events(&through_door),
            vec![
                NotifyEvent::PhaseChange,
                NotifyEvent::OneWayDoor,
                NotifyEvent::GateOverride
            ]
        );
        let n = &for_transition("m", &through_door)[2];
        assert_eq!(n.failing_gates, vec!["backup verified".to_string()]);
        assert!(n.summary.contains("gates overridden"), "{}", n.summary);
        let plain = record(
            PhaseId::Plan,
            PhaseId::Expand,
            TransitionKind::Advance,
            vec![],
        );
        assert_eq!(events(&plain), vec![NotifyEvent::PhaseChange]);
        let back = record(
            PhaseId::ReadNew,
            PhaseId::Shadow,
            TransitionKind::Rollback,
            vec![],
        );
        assert_eq!(events(&back), vec![NotifyEvent::PhaseChange]);
    }
}
