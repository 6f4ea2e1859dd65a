//! The operator lease: one driver, others read-only; heartbeats keep it, silence loses it,
//! takeovers are audited with their reason.
mod common;

use std::time::Duration;

use common::all_engines;
use migtui::store::{LeaseOutcome, Operator, Store, StoreError};

#[tokio::test]
async fn a_second_operator_gets_held_by_and_heartbeats_keep_the_lease() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let a = Store::open(tdb.connect().await, "m").await.unwrap();
        let b = Store::open(tdb.connect().await, "m").await.unwrap();
        let (alice, bob) = (Operator::current(), Operator::current());
        let LeaseOutcome::Acquired(lease) = a.acquire(&alice, 2).await.unwrap() else {
            panic!("{kind:?}: the first operator should drive");
        };
        assert_eq!(lease.holder, alice);
        assert_eq!(lease.ttl_secs, 2);
        // Heartbeats across more than the ttl keep it.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert!(a.heartbeat(&alice).await.unwrap(), "{kind:?}");
        }
        match b.acquire(&bob, 2).await.unwrap() {
            LeaseOutcome::HeldBy(l) => {
                assert_eq!(l.holder, alice, "{kind:?}");
                assert!(
                    l.heartbeat_us > lease.heartbeat_us,
                    "{kind:?}: heartbeats moved it"
                );
                assert_eq!(l.acquired_us, lease.acquired_us);
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(
            !b.heartbeat(&bob).await.unwrap(),
            "{kind:?}: a non-holder's heartbeat is refused"
        );
        assert!(
            !b.release(&bob).await.unwrap(),
            "{kind:?}: a non-holder cannot release"
        );
        // Asking again as the holder renews.
        assert!(matches!(
            a.acquire(&alice, 2).await.unwrap(),
            LeaseOutcome::Acquired(_)
        ));
        // Released, the lease is free for the next operator.
        assert!(a.release(&alice).await.unwrap());
        assert_eq!(a.lease().await.unwrap(), None, "{kind:?}");
        assert!(
            matches!(b.acquire(&bob, 2).await.unwrap(), LeaseOutcome::Acquired(l) if l.holder == bob)
        );
        let actions: Vec<String> = a
            .audit_page(None, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
        assert_eq!(
            actions,
            ["lease.acquire", "lease.release", "lease.acquire"],
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn a_stale_lease_is_taken_over_and_the_expiry_audited() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        let (alice, bob) = (Operator::current(), Operator::current());
        store.acquire(&alice, 1).await.unwrap();
        assert!(matches!(
            store.acquire(&bob, 1).await.unwrap(),
            LeaseOutcome::HeldBy(_)
        ));
        tokio::time::sleep(Duration::from_millis(1600)).await; // alice stops heartbeating
        let (lease, now) = store.lease_and_now().await.unwrap();
        assert!(lease.unwrap().is_expired(now), "{kind:?}");
        match store.acquire(&bob, 1).await.unwrap() {
            LeaseOutcome::Acquired(l) => assert_eq!(l.holder, bob, "{kind:?}"),
            other => panic!("{kind:?}: {other:?}"),
        }
        assert!(
            !store.heartbeat(&alice).await.unwrap(),
            "{kind:?}: alice knows she lost it"
        );
        let last = &store.audit_page(None, 1).await.unwrap()[0];
        assert_eq!(last.action, "lease.expired", "{kind:?}");
        assert_eq!(last.user, bob.user);
        assert_eq!(last.params["previous"]["id"], alice.id.as_str(), "{kind:?}");
        assert!(
            last.params["idle_ms"].as_i64().unwrap() >= 1000,
            "{kind:?}: {last:?}"
        );
        assert!(
            last.outcome.contains("without a heartbeat"),
            "{}",
            last.outcome
        );
    }
}

#[tokio::test]
async fn an_explicit_takeover_needs_a_reason_and_is_audited_with_it() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        let (alice, bob) = (Operator::current(), Operator::current());
        store.acquire(&alice, 30).await.unwrap();
        let err = store.take_over(&bob, "   ", 30).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Invalid(ref m) if m.contains("reason")),
            "{err:?}"
        );
        assert_eq!(
            store.lease().await.unwrap().unwrap().holder,
            alice,
            "refused changes nothing"
        );
        let lease = store
            .take_over(&bob, "alice's laptop is frozen", 30)
            .await
            .unwrap();
        assert_eq!(lease.holder, bob, "{kind:?}");
        assert!(!store.heartbeat(&alice).await.unwrap(), "{kind:?}");
        let last = &store.audit_page(None, 1).await.unwrap()[0];
        assert_eq!(last.action, "lease.takeover", "{kind:?}");
        assert_eq!(last.params["reason"], "alice's laptop is frozen");
        assert_eq!(last.params["previous"]["id"], alice.id.as_str());
        // A takeover of a free lease works too, with no previous holder.
        store.release(&bob).await.unwrap();
        let lease = store
            .take_over(&alice, "back from lunch", 30)
            .await
            .unwrap();
        assert_eq!(lease.holder, alice);
        assert!(store.audit_page(None, 1).await.unwrap()[0].params["previous"].is_null());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_racing_for_a_free_lease_exactly_one_drives() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let a = Store::open(tdb.connect().await, "m").await.unwrap();
        let b = Store::open(tdb.connect().await, "m").await.unwrap();
        let (alice, bob) = (Operator::current(), Operator::current());
        let (x, y) = tokio::join!(
            tokio::spawn(async move { a.acquire(&alice, 30).await }),
            tokio::spawn(async move { b.acquire(&bob, 30).await })
        );
        let outcomes = [x.unwrap().unwrap(), y.unwrap().unwrap()];
        let drivers = outcomes
            .iter()
            .filter(|o| matches!(o, LeaseOutcome::Acquired(_)))
            .count();
        assert_eq!(drivers, 1, "{kind:?}: {outcomes:?}");
    }
}
