//! The contract step and restore on real databases: refused without a verified backup and with
//! a wrong confirmation, run with the right one, and undone by a restore whose checksum equals
//! the original's. On PostgreSQL, a held lock makes the contract time out and retry without
//! blocking other sessions for longer than the lock timeout.

mod backup_support;
mod common;

use std::time::{Duration, Instant};

use backup_support::{ctx, env};
use common::TestDb;
use migtui::engine::backup::{self, Shape, checksum_table, format_checksum, restore};
use migtui::engine::contract::{self, ContractCtx};
use migtui::store::Operator;

async fn status_exists(db: &migtui::db::Db) -> bool {
    let info = db.table_info("incidents").await.unwrap().unwrap();
    info.column("status").is_some()
}

#[tokio::test]
async fn contract_is_guarded_then_restore_brings_the_column_back() {
    for t in common::all_engines().await {
        let kind = t.kind;
        let e = env(&t, "b/incidents-status.csv.gz").await;
        let op = Operator::current();
        let cctx = ContractCtx {
            config: &e.config,
            db: &e.db,
            store: &e.store,
            operator: &op,
        };
        // No backup yet: refused, even with the right confirmation.
        let r = contract::execute(&cctx, Some("incidents"), None)
            .await
            .unwrap();
        let why = r.refused.expect("refused without a backup");
        assert!(why.contains("no verified backup"), "{kind:?}: {why}");
        assert!(status_exists(&e.db).await);

        let spec = &e.config.backups[0];
        let shape: Shape = backup::shape(spec, &e.db).await.unwrap();
        let original = checksum_table(&e.db, "incidents", &shape, 1000)
            .await
            .unwrap();
        assert!(
            backup::run(spec, &ctx(&e))
                .await
                .unwrap()
                .iter()
                .all(|r| r.verified)
        );

        // A wrong confirmation: refused, nothing dropped.
        let r = contract::execute(&cctx, Some("incident"), None)
            .await
            .unwrap();
        assert!(r.refused.unwrap().contains("type `incidents`"), "{kind:?}");
        assert!(r.attempts.is_empty());
        assert!(status_exists(&e.db).await);

        // Confirmed: the statement runs, once, and is audited.
        let r = contract::execute(&cctx, Some("incidents"), None)
            .await
            .unwrap();
        assert!(r.refused.is_none(), "{kind:?}: {:?}", r.refused);
        assert!(r.done, "{kind:?}: {:?}", r.attempts);
        assert_eq!(r.attempts.len(), 1);
        assert!(!status_exists(&e.db).await);
        let audit = e.store.audit_page(None, 20).await.unwrap();
        assert!(
            audit
                .iter()
                .any(|a| a.action == "contract.statement" && a.outcome == "ok")
        );
        assert!(
            audit
                .iter()
                .any(|a| a.action == "contract" && a.outcome == "ok")
        );

        // The backup still verifies, against its recorded checksum now that the source is gone.
        let v = backup::verify(spec, &ctx(&e)).await.unwrap();
        assert!(v.iter().all(|r| r.verified && r.source.is_none()), "{v:?}");

        // Dry run: says what it would do, changes nothing.
        let dry = restore::restore(&spec.name, &ctx(&e), &op, true)
            .await
            .unwrap();
        assert!(
            dry.statements[0].contains("ADD COLUMN"),
            "{:?}",
            dry.statements
        );
        assert!(!status_exists(&e.db).await);

        // Restore from the table copy: the column is back with its checksum.
        let r = restore::restore(&spec.name, &ctx(&e), &op, false)
            .await
            .unwrap();
        assert!(r.verified, "{kind:?}: {r:?}");
        assert!(status_exists(&e.db).await);
        let info = e.db.table_info("incidents").await.unwrap().unwrap();
        assert_eq!(
            info.column("status").unwrap().data_type,
            shape.columns[0].data_type,
            "{kind:?}: the original type"
        );
        let back = checksum_table(&e.db, "incidents", &shape, 1000)
            .await
            .unwrap();
        assert_eq!(
            format_checksum(&back),
            format_checksum(&original),
            "{kind:?}"
        );
        e.db.close().await;
    }
}

#[tokio::test]
async fn restore_from_the_file_when_the_table_copy_is_gone() {
    let Some(t) = TestDb::mysql().await else {
        return;
    };
    let e = env(&t, "b/incidents-status.jsonl.gz").await;
    let op = Operator::current();
    let spec = &e.config.backups[0];
    let shape = backup::shape(spec, &e.db).await.unwrap();
    let original = checksum_table(&e.db, "incidents", &shape, 1000)
        .await
        .unwrap();
    assert!(
        backup::run(spec, &ctx(&e))
            .await
            .unwrap()
            .iter()
            .all(|r| r.verified)
    );
    e.db.execute_script(
        "ALTER TABLE incidents DROP COLUMN status; DROP TABLE migtui_backup_incidents_status",
    )
    .await
    .unwrap();
    let r = restore::restore(&spec.name, &ctx(&e), &op, false)
        .await
        .unwrap();
    assert!(r.from.ends_with(".jsonl.gz"), "{r:?}");
    assert!(r.verified, "{r:?}");
    let back = checksum_table(&e.db, "incidents", &shape, 1000)
        .await
        .unwrap();
    assert_eq!(format_checksum(&back), format_checksum(&original));
    assert!(
        e.db.table_info("migtui_restore_incidents_status")
            .await
            .unwrap()
            .is_none()
    );
    e.db.close().await;
}

#[tokio::test]
async fn dependents_block_the_drop_unless_overridden() {
    for t in common::all_engines().await {
        let kind = t.kind;
        let e = env(&t, "b/s.csv.gz").await;
        let view = "CREATE VIEW open_incidents AS SELECT id, status FROM incidents WHERE status <> 'closed'";
        e.db.execute_script(view).await.unwrap();
        e.db.execute_script("CREATE VIEW incident_ids AS SELECT id FROM incidents")
            .await
            .unwrap();
        let op = Operator::current();
        let cctx = ContractCtx {
            config: &e.config,
            db: &e.db,
            store: &e.store,
            operator: &op,
        };
        let spec = &e.config.backups[0];
        assert!(
            backup::run(spec, &ctx(&e))
                .await
                .unwrap()
                .iter()
                .all(|r| r.verified)
        );
        let p = contract::preview(&cctx).await.unwrap();
        let views: Vec<_> = p.dependents.iter().filter(|d| d.kind == "view").collect();
        assert_eq!(views.len(), 1, "{kind:?}: {:?}", p.dependents);
        assert!(views[0].name.contains("open_incidents") && views[0].blocking);
        assert!(
            p.blockers.iter().any(|b| b.contains("open_incidents")),
            "{:?}",
            p.blockers
        );
        let r = contract::execute(&cctx, Some("incidents"), None)
            .await
            .unwrap();
        assert!(r.refused.unwrap().contains("open_incidents"));
        assert!(status_exists(&e.db).await);
        e.db.close().await;
    }
}

#[tokio::test]
async fn a_held_lock_times_out_and_retries_without_blocking_others_for_long() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let e = env(&t, "b/s.csv.gz").await;
    let spec = &e.config.backups[0];
    assert!(
        backup::run(spec, &ctx(&e))
            .await
            .unwrap()
            .iter()
            .all(|r| r.verified)
    );
    // Another session reads the table inside an open transaction: its lock stays held.
    let holder = t.connect().await;
    let mut held = holder.begin().await.unwrap();
    held.query("SELECT count(*) FROM incidents", &Default::default())
        .await
        .unwrap();

    let op = Operator::current();
    let reader = t.connect().await;
    let started = Instant::now();
    let contract = async {
        let cctx = ContractCtx {
            config: &e.config,
            db: &e.db,
            store: &e.store,
            operator: &op,
        };
        contract::execute(&cctx, Some("incidents"), None)
            .await
            .unwrap()
    };
    // A third session reading while the contract waits for its lock: it queues behind the
    // ALTER, so it waits — but never longer than the lock timeout (300 ms) plus slack.
    let others = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut worst = Duration::ZERO;
        for _ in 0..8 {
            let t0 = Instant::now();
            reader
                .query("SELECT count(*) FROM incidents", &Default::default())
                .await
                .unwrap();
            worst = worst.max(t0.elapsed());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        worst
    };
    let (report, worst) = tokio::join!(contract, others);
    let elapsed = started.elapsed();
    assert!(!report.done, "{report:?}");
    assert_eq!(
        report.attempts.len(),
        3,
        "1 try + 2 retries: {:?}",
        report.attempts
    );
    assert!(
        report
            .attempts
            .iter()
            .all(|a| a.outcome.contains("lock not granted"))
    );
    assert!(
        report.attempts.iter().all(|a| a.elapsed_ms < 1_500),
        "{:?}",
        report.attempts
    );
    assert!(
        worst < Duration::from_millis(1_300),
        "another session waited {worst:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    assert!(status_exists(&e.db).await);

    // Lock released: the same contract goes through.
    held.rollback().await.unwrap();
    let cctx = ContractCtx {
        config: &e.config,
        db: &e.db,
        store: &e.store,
        operator: &op,
    };
    let r = contract::execute(&cctx, Some("incidents"), None)
        .await
        .unwrap();
    assert!(r.done, "{r:?}");
    assert!(!status_exists(&e.db).await);
    for db in [&holder, &reader, &e.db] {
        db.close().await;
    }
}
