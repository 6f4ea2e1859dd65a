//! Phase transitions: a compare-and-swap that only the lease holder can make, audited with it.
mod common;

use common::all_engines;
use migtui::engine::phase::PhaseId;
use migtui::store::{LeaseOutcome, Operator, Store, StoreError, TransitionKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_advances_from_the_same_seq_exactly_one_wins() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let a = Store::open(tdb.connect().await, "cas").await.unwrap();
        let b = Store::open(tdb.connect().await, "cas").await.unwrap();
        let op = Operator::current();
        assert!(matches!(
            a.acquire(&op, 30).await.unwrap(),
            LeaseOutcome::Acquired(_)
        ));
        for round in 0..5 {
            let s = a.state().await.unwrap();
            let to = PhaseId::ALL[s.phase.number() + 1];
            let adv = |store: Store| {
                let op = op.clone();
                async move {
                    store
                        .transition(s.phase, s.seq, to, TransitionKind::Advance, None, &[], &op)
                        .await
                }
            };
            let (x, y) = tokio::join!(tokio::spawn(adv(a.clone())), tokio::spawn(adv(b.clone())));
            let results = [x.unwrap(), y.unwrap()];
            let wins = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(wins, 1, "{kind:?} round {round}: {results:?}");
            let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
            assert!(
                matches!(loser, StoreError::Conflict { now } if *now == to),
                "{kind:?}: {loser:?}"
            );
            assert!(loser.to_string().contains("nothing was done"));
            assert_eq!(a.state().await.unwrap().seq, s.seq + 1, "{kind:?}");
        }
        assert_eq!(
            a.history(100).await.unwrap().len(),
            5,
            "{kind:?}: one history row per win"
        );
        let advances = a
            .audit_page(None, 100)
            .await
            .unwrap()
            .into_iter()
            .filter(|r| r.action == "advance")
            .count();
        assert_eq!(advances, 5, "{kind:?}: one audit line per win");
    }
}

#[tokio::test]
async fn a_stale_seq_or_a_wrong_from_phase_is_a_conflict() {
    for tdb in all_engines().await {
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        let op = Operator::current();
        store.acquire(&op, 30).await.unwrap();
        let t = |from, seq, to| {
            store.transition(from, seq, to, TransitionKind::Advance, None, &[], &op)
        };
        t(PhaseId::Plan, 0, PhaseId::Expand).await.unwrap();
        let stale = t(PhaseId::Plan, 0, PhaseId::Expand).await.unwrap_err();
        assert!(
            matches!(
                stale,
                StoreError::Conflict {
                    now: PhaseId::Expand
                }
            ),
            "{stale:?}"
        );
        let wrong = t(PhaseId::DualWrite, 1, PhaseId::Backfill)
            .await
            .unwrap_err();
        assert!(matches!(wrong, StoreError::Conflict { .. }), "{wrong:?}");
        assert_eq!(store.history(10).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_non_holder_cannot_transition_and_nothing_is_written() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        let (alice, bob) = (Operator::current(), Operator::current());
        let t = |op: &Operator| {
            let op = op.clone();
            let store = store.clone();
            async move {
                store
                    .transition(
                        PhaseId::Plan,
                        0,
                        PhaseId::Expand,
                        TransitionKind::Advance,
                        None,
                        &[],
                        &op,
                    )
                    .await
            }
        };
        let nobody = t(&bob).await.unwrap_err();
        assert!(
            matches!(nobody, StoreError::NoLease),
            "{kind:?}: {nobody:?}"
        );
        store.acquire(&alice, 30).await.unwrap();
        let held = t(&bob).await.unwrap_err();
        assert!(
            matches!(held, StoreError::LeaseHeld { .. }),
            "{kind:?}: {held:?}"
        );
        assert!(held.to_string().contains(&alice.to_string()), "{held}");
        let s = store.state().await.unwrap();
        assert_eq!((s.phase, s.seq), (PhaseId::Plan, 0), "{kind:?}");
        assert!(store.history(10).await.unwrap().is_empty());
        t(&alice).await.unwrap();
    }
}
