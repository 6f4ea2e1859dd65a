//! The contract step and restore on real databases: refused without a verified backup and with
//! a wrong confirmation, run with the right one, and undone by a restore whose checksum equals
//! the original's. On PostgreSQL, a held lock makes the contract time out and retry without
//! blocking other sessions for longer than the lock timeout.

mod backup_support;
mod common;

use std::time::{Duration, Instant};

use backup_support::{backed_up, cctx, ctx, env, hold_lock};
use common::TestDb;
use migtui::engine::backup::{self, Shape, checksum_table, format_checksum, restore};
use migtui::engine::contract;
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
        let cctx = cctx(&e, &op);
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
        backed_up(&e).await;

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
    backed_up(&e).await;
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
        let cctx = cctx(&e, &op);
        backed_up(&e).await;
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
    backed_up(&e).await;
    let (holder, held) = hold_lock(&t).await;

    let op = Operator::current();
    let reader = t.connect().await;
    let started = Instant::now();
    let contract = async {
        let cctx = cctx(&e, &op);
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
    let cctx = cctx(&e, &op);
    let r = contract::execute(&cctx, Some("incidents"), None)
        .await
        .unwrap();
    assert!(r.done, "{r:?}");
    assert!(!status_exists(&e.db).await);
    for db in [&holder, &reader, &e.db] {
        db.close().await;
    }
}

#[tokio::test]
async fn the_session_backs_up_and_keeps_the_contract_for_phase_drop() {
    use migtui::engine::session::{Command, Event, Mode, Outcome, Session};
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let e = env(&t, "b/s.csv.gz").await;
    let session = Session::start(e.config.clone(), Mode::Drive).await.unwrap();
    let mut events = session.subscribe();
    let out = session
        .request(Command::RunBackup { verify_only: false })
        .await
        .unwrap();
    assert_eq!(out, Outcome::Done);
    let snap = session.snapshot();
    assert_eq!(snap.backups.len(), 2);
    assert!(snap.backups.iter().all(|b| b.verified_us.is_some()));
    let mut progress = 0;
    let mut verified = 0;
    while let Ok(ev) = events.try_recv() {
        match ev {
            Event::BackupProgress { .. } => progress += 1,
            Event::BackupVerified { results } => verified += results.len(),
            _ => {}
        }
    }
    assert!(progress >= 4, "200 rows in chunks of 64: {progress}");
    assert_eq!(verified, 2);
    // The contract waits for phase `drop`, whatever the confirmation.
    let out = session
        .request(Command::Contract {
            confirm: Some("incidents".into()),
            override_reason: Some("testing".into()),
        })
        .await
        .unwrap();
    match out {
        Outcome::Refused { why, .. } => assert!(why.contains("phase `drop`"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(status_exists(&e.db).await);
    session.shutdown().await;
    e.db.close().await;
}

/// A long backup runs beside the command loop: a command sent meanwhile is answered at once,
/// and a second backup is refused while the first runs.
#[tokio::test]
async fn a_running_backup_does_not_hold_up_other_commands() {
    use migtui::engine::session::{Command, Mode, Outcome, Session};
    let t = TestDb::sqlite().await.unwrap();
    let e = env(&t, "b/slow.csv.gz").await;
    let mut config = e.config.clone();
    // 200 rows at 100 rows/s: about two seconds of copying.
    config.backups[0].max_rows_per_second = Some(100.0);
    config.backups[0].chunk_rows = 20;
    let session = Session::start(config, Mode::Drive).await.unwrap();
    let first = {
        let s = session.clone();
        tokio::spawn(async move { s.request(Command::RunBackup { verify_only: false }).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    let asked = Instant::now();
    let out = session.request(Command::RefreshGates).await.unwrap();
    assert_eq!(out, Outcome::Done);
    assert!(
        asked.elapsed() < Duration::from_millis(1000),
        "a command waited {:?} behind the backup",
        asked.elapsed()
    );
    assert!(!first.is_finished(), "the backup should still be copying");

    match session
        .request(Command::RunBackup { verify_only: false })
        .await
        .unwrap()
    {
        Outcome::Refused { why, .. } => assert!(why.contains("already running"), "{why}"),
        other => panic!("a second backup must be refused: {other:?}"),
    }
    let done = tokio::time::timeout(Duration::from_secs(30), first)
        .await
        .expect("the backup finishes")
        .unwrap()
        .unwrap();
    assert_eq!(done, Outcome::Done);
    assert!(
        session
            .snapshot()
            .backups
            .iter()
            .all(|b| b.verified_us.is_some())
    );
    session.shutdown().await;
    e.db.close().await;
}

/// The figure: a 1,000,000-row column to a table and a file, verified. Slow (tens of
/// seconds on a shared machine), so not in the default run:
/// `cargo test --release --test backup_contract -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn a_million_row_column_backs_up_and_verifies() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    t.run_script(
        "CREATE TABLE incidents (id BIGINT PRIMARY KEY, status TEXT NOT NULL, title TEXT); \
         INSERT INTO incidents SELECT g, (ARRAY['investigating','fixing','monitoring','closed'])[1 + g % 4], 'x' \
         FROM generate_series(1, 1000000) g;",
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = backup_support::config(&t, dir.path(), "b/million.csv.gz");
    config.backups[0].chunk_rows = 20_000;
    let db = t.connect().await;
    let store = migtui::store::Store::open(db.clone(), "backup-test")
        .await
        .unwrap();
    let bctx = migtui::engine::backup::BackupCtx {
        db: &db,
        store: &store,
        config_path: &config.path,
        progress: &|_| {},
        cancelled: &|| false,
    };
    let started = Instant::now();
    let results = backup::run(&config.backups[0], &bctx).await.unwrap();
    let copy_and_verify = started.elapsed();
    assert!(results.iter().all(|r| r.verified), "{results:?}");
    assert!(results.iter().all(|r| r.recorded.starts_with("1000000:")));
    let started = Instant::now();
    let again = backup::verify(&config.backups[0], &bctx).await.unwrap();
    assert!(again.iter().all(|r| r.verified));
    let size = std::fs::metadata(dir.path().join("b/million.csv.gz"))
        .unwrap()
        .len();
    eprintln!(
        "1,000,000 rows: copy to table + file and verify {copy_and_verify:?}; re-verify {:?}; file {size} bytes",
        started.elapsed()
    );
    db.close().await;
}

#[tokio::test]
async fn the_impact_check_names_triggers_generated_columns_functions_and_indexes() {
    let mut dbs = Vec::new();
    dbs.extend(TestDb::postgres().await);
    dbs.extend(TestDb::mysql().await);
    for t in dbs {
        let kind = t.kind;
        let e = env(&t, "b/s.csv.gz").await;
        let ddl = match kind {
            common::Kind::Postgres => {
                "CREATE INDEX incidents_status_idx ON incidents (status);
                 ALTER TABLE incidents ADD COLUMN status_len int GENERATED ALWAYS AS (length(status)) STORED;
                 CREATE FUNCTION closed_count() RETURNS bigint LANGUAGE sql AS
                   $$ SELECT count(*) FROM incidents WHERE status = 'closed' $$;
                 CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
                   $$ BEGIN NEW.title := NEW.title; RETURN NEW; END $$;
                 CREATE TRIGGER incidents_status_touch BEFORE UPDATE OF status ON incidents
                   FOR EACH ROW EXECUTE FUNCTION touch();"
            }
            _ => {
                "CREATE INDEX incidents_status_idx ON incidents (status);
                 ALTER TABLE incidents ADD COLUMN status_len int AS (length(status)) STORED;
                 CREATE FUNCTION closed_count() RETURNS bigint READS SQL DATA
                   RETURN (SELECT count(*) FROM incidents WHERE status = 'closed');
                 CREATE TRIGGER incidents_status_touch BEFORE UPDATE ON incidents
                   FOR EACH ROW SET NEW.title = CONCAT(NEW.status, NEW.title);"
            }
        };
        t.run_script(ddl).await;
        let op = Operator::current();
        let p = contract::preview(&cctx(&e, &op)).await.unwrap();
        let kinds = |k: &str| p.dependents.iter().filter(|d| d.kind == k).count();
        assert_eq!(kinds("trigger"), 1, "{kind:?}: {:#?}", p.dependents);
        assert_eq!(
            kinds("generated column"),
            1,
            "{kind:?}: {:#?}",
            p.dependents
        );
        assert_eq!(kinds("function"), 1, "{kind:?}: {:#?}", p.dependents);
        let idx: Vec<_> = p.dependents.iter().filter(|d| d.kind == "index").collect();
        assert!(
            idx.iter()
                .any(|d| d.name.contains("incidents_status_idx") && !d.blocking),
            "{kind:?}: {idx:?}"
        );
        // Nothing about the other columns, and every blocking dependent is a blocker.
        assert!(
            p.dependents.iter().all(|d| d.on == "incidents.status"),
            "{:#?}",
            p.dependents
        );
        let blocking = p.dependents.iter().filter(|d| d.blocking).count();
        assert!(
            p.blockers.len() >= blocking && blocking >= 3,
            "{:?}",
            p.blockers
        );
        e.db.close().await;
    }
}

/// MariaDB: DDL is not transactional; a held metadata lock makes the statement time out
/// (`lock_wait_timeout`, whole seconds) and retry, and nothing is half-done.
#[tokio::test]
async fn mariadb_runs_statements_one_by_one_under_a_lock_timeout() {
    let Some(t) = TestDb::mysql().await else {
        return;
    };
    let e = env(&t, "b/s.csv.gz").await;
    backed_up(&e).await;
    let (holder, held) = hold_lock(&t).await;
    let op = Operator::current();
    let p = contract::preview(&cctx(&e, &op)).await.unwrap();
    assert!(p.how.contains("NOT transactional"), "{}", p.how);
    let started = Instant::now();
    let r = contract::execute(&cctx(&e, &op), Some("incidents"), None)
        .await
        .unwrap();
    assert!(!r.done && r.committed == 0, "{r:?}");
    assert_eq!(r.attempts.len(), 3, "{:?}", r.attempts);
    assert!(
        r.attempts
            .iter()
            .all(|a| a.outcome.contains("lock not granted"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(status_exists(&e.db).await);
    held.rollback().await.unwrap();
    let r = contract::execute(&cctx(&e, &op), Some("incidents"), None)
        .await
        .unwrap();
    assert!(r.done, "{r:?}");
    // The session-wide lock timeout was put back on the pooled connection.
    let rows =
        e.db.query("SELECT @@SESSION.lock_wait_timeout", &Default::default())
            .await
            .unwrap();
    assert_ne!(rows.scalar().unwrap().to_text(), "1");
    for db in [&holder, &e.db] {
        db.close().await;
    }
}
