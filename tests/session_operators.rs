//! Two operators on one migration: one drives, the other is read-only and follows along;
//! takeovers are audited; a stale lease expires and is taken; `Observe` never takes it.
mod common;

use std::time::Duration;

use common::TestDb;
use common::all_engines;
use common::migration::migration;
use migtui::engine::phase::PhaseId;
use migtui::engine::session::{
    Command, Event, LeaseState, Mode, Outcome, Session, SessionError, SessionHandle, Snapshot,
};
use migtui::store::{Operator, Store};

/// Wait (up to 10 s) until the session's snapshot satisfies `pred`.
async fn until(s: &SessionHandle, what: &str, pred: impl Fn(&Snapshot) -> bool) -> Snapshot {
    let mut rx = s.watch();
    match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(|snap| pred(snap))).await {
        Ok(Ok(snap)) => snap.clone(),
        _ => panic!(
            "timed out waiting for {what}; snapshot: {:#?}",
            s.snapshot()
        ),
    }
}

fn advance(reason: &str) -> Command {
    Command::Advance {
        override_reason: Some(reason.into()),
        confirm: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_second_operator_is_read_only_follows_along_and_can_take_over() {
    for state in all_engines().await {
        let kind = state.kind;
        let old = TestDb::sqlite().await.unwrap();
        let config = migration("two", &old.url, &state.url, 2);
        let alice = Session::start(config.clone(), Mode::Drive).await.unwrap();
        let bob = Session::start(config.clone(), Mode::Drive).await.unwrap();
        assert!(alice.snapshot().lease.is_driving(), "{kind:?}");
        let LeaseState::Observing { lease } = bob.snapshot().lease else {
            panic!("{kind:?}: bob should observe: {:?}", bob.snapshot().lease)
        };
        assert_eq!(&lease.holder, alice.operator());

        // Bob's driving commands are refused (and audited); his gates still measure.
        let mut bob_events = bob.subscribe();
        let err = bob.request(advance("me too")).await.unwrap_err();
        let SessionError::ReadOnly { holder } = &err else {
            panic!("{kind:?}: {err:?}")
        };
        assert_eq!(holder, &alice.operator().to_string());
        assert!(err.to_string().starts_with("read-only: "), "{err}");
        let err = bob
            .request(Command::Rollback { reason: None })
            .await
            .unwrap_err();
        assert!(matches!(err, SessionError::ReadOnly { .. }), "{err:?}");
        assert_eq!(
            bob.request(Command::RefreshGates).await.unwrap(),
            Outcome::Done
        );
        let refused = bob
            .snapshot()
            .recent_actions
            .iter()
            .filter(|a| a.outcome.starts_with("refused: read-only: "))
            .count();
        assert_eq!(refused, 2, "{kind:?}: {:?}", bob.snapshot().recent_actions);

        // Heartbeats keep alice's lease across several ttls.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert!(alice.snapshot().lease.is_driving(), "{kind:?}");
        assert!(!bob.snapshot().lease.is_driving(), "{kind:?}");

        // Alice advances; bob's cockpit follows without doing anything.
        alice.request(advance("go")).await.unwrap();
        until(&bob, "bob to see expand", |s| s.phase == PhaseId::Expand).await;
        let mut saw_phase = false;
        while let Ok(Ok(e)) = tokio::time::timeout(Duration::from_secs(2), bob_events.recv()).await
        {
            if let Event::Refused { why, .. } = &e {
                assert!(
                    why.starts_with("read-only: ") && why.contains("holds the lease"),
                    "{why}"
                );
            }
            if matches!(&e, Event::PhaseChanged { record } if record.to == PhaseId::Expand) {
                saw_phase = true;
                break;
            }
        }
        assert!(saw_phase, "{kind:?}: bob heard alice's phase change");

        // A takeover needs a reason; with one, bob drives and alice finds out.
        let out = bob
            .request(Command::TakeOver { reason: " ".into() })
            .await
            .unwrap();
        assert!(matches!(out, Outcome::Refused { .. }), "{kind:?}: {out:?}");
        let out = bob
            .request(Command::TakeOver {
                reason: "alice went home".into(),
            })
            .await
            .unwrap();
        assert_eq!(out, Outcome::Done);
        assert!(bob.snapshot().lease.is_driving(), "{kind:?}");
        let snap = until(&alice, "alice to lose the lease", |s| !s.lease.is_driving()).await;
        assert!(
            matches!(&snap.lease, LeaseState::Observing { lease } if &lease.holder == bob.operator())
        );
        let err = alice.request(advance("mine")).await.unwrap_err();
        assert!(
            matches!(err, SessionError::ReadOnly { .. }),
            "{kind:?}: {err:?}"
        );
        bob.request(advance("bob drives")).await.unwrap();
        assert_eq!(bob.snapshot().phase, PhaseId::DualWrite);

        let store = bob.store();
        let log = store.audit_page(None, 50).await.unwrap();
        let takeover = log
            .iter()
            .find(|a| a.action == "lease.takeover" && a.outcome == "ok")
            .unwrap();
        assert_eq!(takeover.params["reason"], "alice went home", "{kind:?}");
        assert_eq!(
            takeover.params["previous"]["id"],
            alice.operator().id.as_str()
        );
        assert_eq!(store.history(10).await.unwrap().len(), 2, "{kind:?}");

        bob.shutdown().await;
        alice.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_lease_expires_and_a_driving_session_takes_it_audited() {
    for state in all_engines().await {
        let kind = state.kind;
        let old = TestDb::sqlite().await.unwrap();
        // A holder that was killed: it took the lease (ttl 1 s) and never heartbeats again.
        let store = Store::open(state.connect().await, "stale").await.unwrap();
        let ghost = Operator::current();
        store.acquire(&ghost, 1).await.unwrap();

        let s = Session::start(migration("stale", &old.url, &state.url, 1), Mode::Drive)
            .await
            .unwrap();
        let snap = until(&s, "the expired lease to be taken", |s| {
            s.lease.is_driving()
        })
        .await;
        assert!(
            matches!(&snap.lease, LeaseState::Driving { lease } if &lease.holder == s.operator())
        );
        let expired = until(&s, "the expiry in the log", |s| {
            s.recent_actions.iter().any(|a| a.action == "lease.expired")
        })
        .await;
        let line = expired
            .recent_actions
            .iter()
            .find(|a| a.action == "lease.expired")
            .unwrap();
        assert_eq!(line.params["previous"]["id"], ghost.id.as_str(), "{kind:?}");
        assert!(!store.heartbeat(&ghost).await.unwrap(), "{kind:?}");
        // And it drives.
        let out = s.request(advance("after the crash")).await.unwrap();
        assert!(matches!(out, Outcome::Moved { .. }), "{kind:?}: {out:?}");
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observe_mode_never_takes_the_lease() {
    let state = TestDb::sqlite().await.unwrap();
    let old = TestDb::sqlite().await.unwrap();
    let config = migration("watch", &old.url, &state.url, 1);
    let watcher = Session::start(config.clone(), Mode::Observe).await.unwrap();
    assert_eq!(watcher.snapshot().lease, LeaseState::Free);
    let err = watcher.request(advance("no")).await.unwrap_err();
    assert!(
        matches!(err, SessionError::ReadOnly { ref holder } if holder == "nobody"),
        "{err:?}"
    );
    let out = watcher
        .request(Command::TakeOver {
            reason: "please".into(),
        })
        .await
        .unwrap();
    assert!(
        matches!(out, Outcome::Refused { ref why, .. } if why.contains("only observes")),
        "{out:?}"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        watcher.snapshot().lease,
        LeaseState::Free,
        "a free lease stays free"
    );

    // A driver arrives: the observer shows it.
    let driver = Session::start(config, Mode::Drive).await.unwrap();
    until(&watcher, "the observer to see the driver", |s| {
        matches!(&s.lease, LeaseState::Observing { lease } if &lease.holder == driver.operator())
    })
    .await;
    driver.shutdown().await;
    until(&watcher, "the observer to see the lease released", |s| {
        s.lease == LeaseState::Free
    })
    .await;
    watcher.shutdown().await;
}
