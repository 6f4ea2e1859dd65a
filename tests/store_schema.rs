//! The state store's tables: created idempotently, upgraded from older versions, a newer
//! version refused; a restart resumes at the same phase with its history.
mod common;

use common::all_engines;
use migtui::db::Params;
use migtui::engine::phase::{Gate, PhaseId};
use migtui::store::{LeaseOutcome, Operator, SCHEMA_VERSION, Store, StoreError, TransitionKind};

#[tokio::test]
async fn tables_are_created_twice_idempotently_with_the_record_at_plan() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let first = Store::open(tdb.connect().await, "m1").await.unwrap();
        let again = Store::open(tdb.connect().await, "m1").await.unwrap();
        assert_eq!(again.schema_version().await.unwrap(), SCHEMA_VERSION);
        let s = again.state().await.unwrap();
        assert_eq!(
            (s.phase, s.seq, s.name.as_str()),
            (PhaseId::Plan, 0, "m1"),
            "{kind:?}"
        );
        assert_eq!(first.state().await.unwrap(), s, "{kind:?}");
        // A second migration in the same database has its own record.
        let other = Store::open(tdb.connect().await, "m2").await.unwrap();
        assert_eq!(other.state().await.unwrap().name, "m2");
        let db = tdb.connect().await;
        for table in [
            "migtui_schema",
            "migtui_migration",
            "migtui_phase_history",
            "migtui_audit",
            "migtui_lease",
        ] {
            assert!(
                db.table_info(table).await.unwrap().is_some(),
                "{kind:?}: {table}"
            );
        }
        let n = db
            .query("SELECT count(*) FROM migtui_schema", &Params::new())
            .await
            .unwrap();
        assert_eq!(
            n.scalar().map(|v| v.display()).as_deref(),
            Some("1"),
            "{kind:?}"
        );
    }
}

#[tokio::test]
async fn concurrent_first_opens_both_succeed() {
    for tdb in all_engines().await {
        let (a, b) = (tdb.connect().await, tdb.connect().await);
        let (x, y) = tokio::join!(Store::open(a, "race"), Store::open(b, "race"));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(
            x.state().await.unwrap(),
            y.state().await.unwrap(),
            "{:?}",
            tdb.kind
        );
    }
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_message() {
    for tdb in all_engines().await {
        Store::open(tdb.connect().await, "m").await.unwrap();
        let db = tdb.connect().await;
        db.execute("UPDATE migtui_schema SET version = 99", &Params::new())
            .await
            .unwrap();
        let err = Store::open(db, "m").await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::NewerSchema {
                    found: 99,
                    supported: SCHEMA_VERSION,
                    ..
                }
            ),
            "{err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!(
                "schema version 99, newer than this migtui understands ({SCHEMA_VERSION})"
            )),
            "{msg}"
        );
        assert!(msg.contains("hint: upgrade migtui"), "{msg}");
    }
}

#[tokio::test]
async fn an_older_schema_is_upgraded_and_keeps_its_data() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        let op = Operator::current();
        assert!(matches!(
            store.acquire(&op, 30).await.unwrap(),
            LeaseOutcome::Acquired(_)
        ));
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
            .unwrap();
        // Pretend an older migtui left version 0 and no lease table.
        let db = tdb.connect().await;
        db.execute("UPDATE migtui_schema SET version = 0", &Params::new())
            .await
            .unwrap();
        db.execute_script("DROP TABLE migtui_lease").await.unwrap();
        let upgraded = Store::open(db.clone(), "m").await.unwrap();
        assert_eq!(
            upgraded.schema_version().await.unwrap(),
            SCHEMA_VERSION,
            "{kind:?}"
        );
        assert!(
            db.table_info("migtui_lease").await.unwrap().is_some(),
            "{kind:?}"
        );
        assert_eq!(
            upgraded.state().await.unwrap().phase,
            PhaseId::Expand,
            "{kind:?}"
        );
        assert_eq!(upgraded.history(10).await.unwrap().len(), 1, "{kind:?}");
    }
}

#[tokio::test]
async fn a_restart_resumes_at_the_same_phase_with_history_intact() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let gates = vec![
            Gate::pass("connections", "2 of 2", "all", "both databases answer"),
            Gate::fail(
                "schema",
                Some("1 missing".into()),
                "0",
                "incidents.status is missing",
            ),
        ];
        {
            let store = Store::open(tdb.connect().await, "shift").await.unwrap();
            let op = Operator::current();
            store.acquire(&op, 30).await.unwrap();
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
                .unwrap();
            store
                .transition(
                    PhaseId::Expand,
                    1,
                    PhaseId::DualWrite,
                    TransitionKind::Override,
                    Some("DBA approved — 🚀 go"),
                    &gates,
                    &op,
                )
                .await
                .unwrap();
            store.release(&op).await.unwrap();
            store.db().close().await;
        }
        let next_shift = Store::open(tdb.connect().await, "shift").await.unwrap();
        let s = next_shift.state().await.unwrap();
        assert_eq!((s.phase, s.seq), (PhaseId::DualWrite, 2), "{kind:?}");
        let h = next_shift.history(10).await.unwrap();
        assert_eq!(h.len(), 2, "{kind:?}");
        assert_eq!(
            (h[0].from, h[0].to, h[0].kind),
            (
                PhaseId::Expand,
                PhaseId::DualWrite,
                TransitionKind::Override
            )
        );
        assert_eq!(
            h[0].reason.as_deref(),
            Some("DBA approved — 🚀 go"),
            "{kind:?}"
        );
        assert_eq!(h[0].gates, gates, "{kind:?}");
        assert_eq!(h[0].at_us, s.since_us, "{kind:?}");
        assert_eq!(
            (h[1].from, h[1].to, h[1].reason.as_deref()),
            (PhaseId::Plan, PhaseId::Expand, None)
        );
        assert!(h[1].at_us <= h[0].at_us);
    }
}
