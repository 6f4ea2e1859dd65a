//! Driving a migration through the session: gates refuse or allow an advance, overrides need a
//! reason, one-way doors need the migration's name and cannot be rolled back, every attempt is
//! audited, and a restart resumes where the last session stopped.
mod common;

use std::time::Duration;

use common::migration::migration;
use common::{TestDb, all_engines};
use migtui::engine::phase::PhaseId;
use migtui::engine::session::{Command, Event, LeaseState, Mode, Outcome, Session, SessionHandle};
use migtui::store::TransitionKind;

fn advance(reason: Option<&str>, confirm: Option<&str>) -> Command {
    Command::Advance {
        override_reason: reason.map(String::from),
        confirm: confirm.map(String::from),
    }
}

/// An `old` database that does not exist: the `plan` gate's connection check fails.
fn missing_sqlite(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("absent.db").display())
}

async fn phase_of(s: &SessionHandle) -> PhaseId {
    s.snapshot().phase
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_gate_refuses_and_an_override_with_a_reason_advances_audited() {
    for state in all_engines().await {
        let kind = state.kind;
        let dir = tempfile::tempdir().unwrap();
        let config = migration("gates", &missing_sqlite(&dir), &state.url, 30);
        let s = Session::start(config, Mode::Drive).await.unwrap();
        let snap = s.snapshot();
        assert!(snap.lease.is_driving(), "{kind:?}: {:?}", snap.lease);
        let old = snap.databases.iter().find(|d| d.name == "old").unwrap();
        assert!(!old.connected, "{kind:?}");
        assert!(
            old.error.as_deref().unwrap().contains("file not found"),
            "{old:?}"
        );
        assert!(
            snap.databases
                .iter()
                .any(|d| d.name == "new" && d.connected)
        );
        let mut events = s.subscribe();

        let refused = s.request(advance(None, None)).await.unwrap();
        let Outcome::Refused { why, gates } = refused else {
            panic!("{kind:?}: {refused:?}")
        };
        assert!(
            why.contains("connections") && why.contains("override"),
            "{why}"
        );
        assert!(
            gates.iter().any(|g| g.name == "connections" && !g.pass),
            "{gates:?}"
        );
        assert_eq!(phase_of(&s).await, PhaseId::Plan);
        // A blank reason is no reason.
        let blank = s.request(advance(Some("  "), None)).await.unwrap();
        assert!(
            matches!(blank, Outcome::Refused { .. }),
            "{kind:?}: {blank:?}"
        );

        let moved = s
            .request(advance(Some("old is being restored; DBA ok"), None))
            .await
            .unwrap();
        let Outcome::Moved { record } = moved else {
            panic!("{kind:?}: {moved:?}")
        };
        assert_eq!(
            (record.from, record.to, record.kind),
            (PhaseId::Plan, PhaseId::Expand, TransitionKind::Override)
        );
        assert_eq!(
            record.reason.as_deref(),
            Some("old is being restored; DBA ok")
        );
        // The snapshot shows it as soon as the request returns.
        let snap = s.snapshot();
        assert_eq!(
            (snap.phase, snap.next),
            (PhaseId::Expand, Some(PhaseId::DualWrite))
        );
        assert_eq!(snap.history[0], record, "{kind:?}");
        let log: Vec<(String, String)> = snap
            .recent_actions
            .iter()
            .map(|a| (a.action.clone(), a.outcome.clone()))
            .collect();
        assert_eq!(log[0], ("advance".into(), "ok".into()), "{kind:?}: {log:?}");
        assert!(
            log[1].1.starts_with("refused: ") && log[2].1.starts_with("refused: "),
            "{log:?}"
        );
        assert_eq!(
            snap.recent_actions[0].params["reason"],
            "old is being restored; DBA ok"
        );

        // Subscribers heard it all: refusals, the phase change, the audit lines.
        let mut seen = Vec::new();
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_millis(300), events.recv()).await
        {
            seen.push(e);
        }
        let refusals = seen
            .iter()
            .filter(|e| matches!(e, Event::Refused { .. }))
            .count();
        assert_eq!(refusals, 2, "{kind:?}: {seen:?}");
        assert!(
            seen.iter()
                .any(|e| matches!(e, Event::PhaseChanged { record: r } if *r == record))
        );
        assert!(
            seen.iter()
                .filter(|e| matches!(e, Event::Audited { .. }))
                .count()
                >= 3
        );
        assert!(seen.iter().any(|e| matches!(
            e,
            Event::GatesMeasured {
                phase: PhaseId::Plan,
                ..
            }
        )));
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_way_doors_need_the_name_and_cannot_be_rolled_back() {
    for state in all_engines().await {
        let kind = state.kind;
        let old = TestDb::sqlite().await.unwrap();
        let s = Session::start(migration("doors", &old.url, &state.url, 30), Mode::Drive)
            .await
            .unwrap();
        let why = Some("test drive");
        while phase_of(&s).await < PhaseId::ReadNew {
            let out = s.request(advance(why, None)).await.unwrap();
            assert!(matches!(out, Outcome::Moved { .. }), "{kind:?}: {out:?}");
        }
        // A reversible phase rolls back (audited), and forward again.
        let back = s
            .request(Command::Rollback {
                reason: Some("p95 too high".into()),
            })
            .await
            .unwrap();
        assert!(
            matches!(back, Outcome::Moved { record } if record.to == PhaseId::Shadow && record.kind == TransitionKind::Rollback)
        );
        s.request(advance(why, None)).await.unwrap();
        assert_eq!(phase_of(&s).await, PhaseId::ReadNew);

        // The one-way door wants the migration's name, not just a reason.
        let out = s.request(advance(why, None)).await.unwrap();
        let Outcome::Refused { why: text, .. } = out else {
            panic!("{kind:?}: {out:?}")
        };
        assert!(
            text.contains("one-way door") && text.contains("`doors`"),
            "{text}"
        );
        let out = s.request(advance(why, Some("door"))).await.unwrap();
        assert!(matches!(out, Outcome::Refused { .. }), "{kind:?}: {out:?}");
        let out = s.request(advance(why, Some("doors"))).await.unwrap();
        assert!(matches!(out, Outcome::Moved { record } if record.to == PhaseId::StopOldWrites));

        let out = s
            .request(Command::Rollback {
                reason: Some("undo".into()),
            })
            .await
            .unwrap();
        let Outcome::Refused { why: text, .. } = out else {
            panic!("{kind:?}: {out:?}")
        };
        assert!(text.contains("one-way door"), "{text}");
        let snap = s.snapshot();
        assert_eq!(snap.phase, PhaseId::StopOldWrites, "{kind:?}");
        let last = &snap.recent_actions[0];
        assert_eq!(last.action, "rollback");
        assert!(
            last.outcome.starts_with("refused: cannot roll back"),
            "{}",
            last.outcome
        );
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_at_the_same_phase_with_history_and_the_lease_free() {
    for state in all_engines().await {
        let kind = state.kind;
        let old = TestDb::sqlite().await.unwrap();
        let config = migration("resume", &old.url, &state.url, 30);
        let first = Session::start(config.clone(), Mode::Drive).await.unwrap();
        for _ in 0..3 {
            first
                .request(advance(Some("shift one"), None))
                .await
                .unwrap();
        }
        let before = first.snapshot();
        assert_eq!(before.phase, PhaseId::Backfill, "{kind:?}");
        first.shutdown().await;
        assert_eq!(
            first.snapshot().lease,
            LeaseState::Free,
            "{kind:?}: released on shutdown"
        );
        assert!(
            first.request(Command::RefreshGates).await.is_err(),
            "a shut session answers no more"
        );

        let second = Session::start(config, Mode::Drive).await.unwrap();
        let after = second.snapshot();
        assert_eq!(
            (after.phase, after.since_us),
            (before.phase, before.since_us),
            "{kind:?}"
        );
        assert_eq!(after.history, before.history, "{kind:?}");
        assert!(
            after.lease.is_driving(),
            "{kind:?}: the released lease is free to take"
        );
        assert_ne!(second.operator().id, first.operator().id);
        let actions: Vec<&str> = after
            .recent_actions
            .iter()
            .map(|a| a.action.as_str())
            .collect();
        assert_eq!(
            &actions[..2],
            ["lease.acquire", "lease.release"],
            "{kind:?}: {actions:?}"
        );
        second.shutdown().await;
    }
}

#[tokio::test]
async fn an_unreachable_state_database_fails_start_without_leaking_the_password() {
    let old = TestDb::sqlite().await.unwrap();
    let config = migration(
        "down",
        &old.url,
        "postgres://migtui:s3cret-pw@127.0.0.1:1/nowhere",
        30,
    );
    let err = match Session::start(config, Mode::Drive).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("the state database must connect"),
    };
    assert!(err.contains("state database must connect"), "{err}");
    assert!(err.contains("127.0.0.1:1"), "{err}");
    assert!(!err.contains("s3cret-pw"), "{err}");
}
