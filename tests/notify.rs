//! `[notify]`: the command receives each event as JSON on its standard input; a failing or a
//! slow notifier is reported (and killed after its timeout) and never blocks the migration.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestDb;
use migtui::config::{Config, NotifyCommand, NotifyConfig, NotifyEvent};
use migtui::engine::notify::{self, Notification, NotifyError};
use migtui::engine::phase::PhaseId;
use migtui::engine::session::{Command, Event, Mode, Outcome, Session};
use migtui::secret::Secrets;

/// A migration whose `old` database is missing (the `plan` gate fails, so an advance needs an
/// override) with the state in `new_url` and the given `[notify]` body.
fn config(dir: &Path, new_url: &str, notify: &str) -> Config {
    let text = format!(
        r#"
[migration]
name = "notify-test"

[databases.old]
url = "sqlite://{}"
[databases.new]
url = "{new_url}"

[state]
database = "new"

[notify]
{notify}
"#,
        dir.join("absent.db").display()
    );
    migtui::config::parse_text(Path::new("notify-test.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("test migration file:\n{e}"))
}

fn sample() -> Notification {
    notify::for_auto_rollback(
        "m",
        1_736_928_000_000_000,
        &migtui::store::Operator {
            id: "x".into(),
            user: "alice".into(),
            host: "laptop".into(),
            pid: 1,
        },
        "`p`: new p95 31.0 ms > 20 ms (password hunter2hunter2)",
    )
}

fn shell(line: &str, timeout_secs: u64) -> NotifyConfig {
    NotifyConfig {
        command: NotifyCommand::Shell(line.into()),
        timeout_secs,
        on: NotifyEvent::ALL.to_vec(),
        at: Default::default(),
    }
}

#[test]
fn the_section_parses_with_its_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let c = config(
        dir.path(),
        "sqlite://x.db",
        r#"command = ["/bin/notify", "--team", "db"]"#,
    );
    let n = c.notify.unwrap();
    assert_eq!(
        n.command,
        NotifyCommand::Argv(vec!["/bin/notify".into(), "--team".into(), "db".into()])
    );
    assert_eq!(n.timeout_secs, 5);
    assert_eq!(n.on, NotifyEvent::ALL.to_vec());
    let c = config(
        dir.path(),
        "sqlite://x.db",
        "command = \"curl -s -d @- chat.internal\"\ntimeout_secs = 2\non = \"gate_override\"",
    );
    let n = c.notify.unwrap();
    assert_eq!(
        n.command,
        NotifyCommand::Shell("curl -s -d @- chat.internal".into())
    );
    assert_eq!((n.timeout_secs, n.on), (2, vec![NotifyEvent::GateOverride]));
}

#[tokio::test]
async fn the_command_receives_the_event_as_json_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("event.json");
    // The argv form, with the output path as an argument.
    let cfg = NotifyConfig {
        command: NotifyCommand::Argv(vec![
            "sh".into(),
            "-c".into(),
            "cat > \"$1\"; echo \"$MIGTUI_EVENT\" >> \"$1.kind\"".into(),
            "notifier".into(),
            out.display().to_string(),
        ]),
        ..shell("", 5)
    };
    let secrets = Secrets::new(["hunter2hunter2".to_string()]);
    notify::run(&cfg, &sample(), &secrets).await.unwrap();
    let got: Notification = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(got.event, NotifyEvent::AutoRollback);
    assert_eq!(got.migration, "m");
    assert_eq!(got.at, "2025-01-15T08:00:00Z");
    assert_eq!(got.schema_version, 1);
    let reason = got.reason.unwrap();
    assert!(
        reason.contains("31.0 ms") && !reason.contains("hunter2"),
        "{reason}"
    );
    let kind = std::fs::read_to_string(dir.path().join("event.json.kind")).unwrap();
    assert_eq!(kind.trim(), "auto_rollback");
}

#[tokio::test]
async fn a_failing_notifier_is_reported_with_its_stderr() {
    let cfg = shell("cat >/dev/null; echo 'chat is down' >&2; exit 3", 5);
    let err = notify::run(&cfg, &sample(), &Secrets::default())
        .await
        .unwrap_err();
    let NotifyError::Failed { status, stderr, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(status.contains('3'), "{status}");
    assert!(stderr.contains("chat is down"), "{stderr}");
    let missing = NotifyConfig {
        command: NotifyCommand::Argv(vec!["/nonexistent/notifier".into()]),
        ..cfg
    };
    let err = notify::run(&missing, &sample(), &Secrets::default())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Spawn { .. }), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/notifier"));
}

#[tokio::test]
async fn a_slow_notifier_is_killed_at_its_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let cfg = NotifyConfig {
        command: NotifyCommand::Argv(vec![
            "sh".into(),
            "-c".into(),
            "echo $$ > \"$1\"; exec sleep 30".into(),
            "notifier".into(),
            pid_file.display().to_string(),
        ]),
        ..shell("", 1)
    };
    let t0 = Instant::now();
    let err = notify::run(&cfg, &sample(), &Secrets::default())
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(
        matches!(err, NotifyError::Timeout { secs: 1, .. }),
        "{err:?}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The notifier is gone, not left running.
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let alive = || Path::new(&format!("/proc/{}", pid.trim())).exists();
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
    assert!(
        !alive() || state.contains(") Z"),
        "the notifier still runs: {state}"
    );
}

/// A shell notifier's own children (`curl … &`, a pipeline) are killed with it at the
/// timeout: killing only `sh` would leave them running, one more at every event.
#[tokio::test]
async fn a_slow_shell_notifiers_children_are_killed_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let line = format!("sleep 30 & echo $! > '{}'; wait", pid_file.display());
    let err = notify::run(&shell(&line, 1), &sample(), &Secrets::default())
        .await
        .unwrap_err();
    assert!(matches!(err, NotifyError::Timeout { .. }), "{err:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = || std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).ok();
    let deadline = Instant::now() + Duration::from_secs(3);
    while stat().is_some_and(|s| !s.contains(") Z")) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = stat().unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z"),
        "the notifier's child still runs: {state}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_override_notifies_phase_change_and_gate_override() {
    let state = TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let notify = format!(
        "command = [\"sh\", \"-c\", \"cat >> '{}'\"]\non = [\"phase_change\", \"gate_override\"]",
        log.display()
    );
    let s = Session::start(config(dir.path(), &state.url, &notify), Mode::Drive)
        .await
        .unwrap();
    let moved = s
        .request(Command::Advance {
            override_reason: Some("old is being restored; DBA ok".into()),
            confirm: None,
        })
        .await
        .unwrap();
    assert!(matches!(moved, Outcome::Moved { .. }), "{moved:?}");
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let events: Vec<Notification> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if events.len() >= 2 || Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let kinds: Vec<NotifyEvent> = events.iter().map(|e| e.event).collect();
    assert_eq!(
        kinds,
        vec![NotifyEvent::PhaseChange, NotifyEvent::GateOverride]
    );
    assert_eq!(
        (events[0].from, events[0].to),
        (Some(PhaseId::Plan), Some(PhaseId::Expand))
    );
    assert_eq!(events[1].failing_gates, vec!["connections".to_string()]);
    assert_eq!(
        events[1].reason.as_deref(),
        Some("old is being restored; DBA ok")
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_notifier_never_blocks_an_advance_and_its_failure_is_reported_and_audited() {
    let state = TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let notify = "command = \"sleep 30\"\ntimeout_secs = 1";
    let s = Session::start(config(dir.path(), &state.url, notify), Mode::Drive)
        .await
        .unwrap();
    let mut events = s.subscribe();
    let t0 = Instant::now();
    let moved = s
        .request(Command::Advance {
            override_reason: Some("testing the notifier".into()),
            confirm: None,
        })
        .await
        .unwrap();
    assert!(matches!(moved, Outcome::Moved { .. }), "{moved:?}");
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "the advance waited for the notifier"
    );
    // Then the timeout is reported, as an event and in the audit log.
    let error = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match events.recv().await {
                Ok(Event::Error { context, message }) if context == "notify" => break message,
                Ok(_) => {}
                Err(e) => panic!("event stream: {e}"),
            }
        }
    })
    .await
    .expect("a notify error event");
    assert!(error.contains("did not finish within 1 s"), "{error}");
    let store = migtui::store::Store::open(state.connect().await, "notify-test")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let audit = store.audit_page(None, 50).await.unwrap();
        if let Some(line) = audit.iter().find(|a| a.action == "notify.failed") {
            assert!(line.outcome.starts_with("failed:"), "{line:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no notify.failed line: {audit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_shut_down_right_after_an_advance_still_delivers_its_notification() {
    // As `migtui advance` does: advance, then exit at once.
    let state = TestDb::sqlite().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let notify = format!(
        "command = \"sleep 0.5; cat >> '{}'\"\non = [\"phase_change\"]",
        log.display()
    );
    let s = Session::start(config(dir.path(), &state.url, &notify), Mode::Drive)
        .await
        .unwrap();
    let moved = s
        .request(Command::Advance {
            override_reason: Some("shift hand-over".into()),
            confirm: None,
        })
        .await
        .unwrap();
    assert!(matches!(moved, Outcome::Moved { .. }), "{moved:?}");
    s.shutdown().await;
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let n: Notification = serde_json::from_str(text.trim()).expect("one notification");
    assert_eq!(n.event, NotifyEvent::PhaseChange);
    assert_eq!(n.to, Some(PhaseId::Expand));
}
