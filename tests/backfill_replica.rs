//! Replica lag for `pause_when`: where no replica exists (the case this machine can show),
//! each engine reports no lag at all (never a made-up zero) and the step is not held.
//! A real replica's lag (PostgreSQL `pg_stat_replication`, MariaDB `SHOW REPLICA STATUS`
//! `Seconds_Behind_Master`) cannot be produced here.

mod common;

use common::TestDb;
use common::backfill::{insert_items, item_rows, items_ddl, migration, run};
use migtui::db::Params;
use migtui::engine::backfill::StepState;

#[tokio::test]
async fn no_replica_means_no_lag_on_each_server() {
    for db in [TestDb::postgres().await, TestDb::mysql().await]
        .into_iter()
        .flatten()
    {
        let c = db.connect().await;
        let sql = c.dialect().backfill();
        let mut ran = false;
        for q in sql.replica_lag_sql() {
            if let Ok(rows) = c.query(q, &Params::new()).await {
                assert_eq!(sql.replica_lag(&rows), None, "{:?}: {q}", db.kind);
                ran = true;
                break;
            }
        }
        assert!(ran, "{:?}: no replica-lag query ran", db.kind);
    }
}

#[tokio::test]
async fn a_replica_lag_condition_without_a_replica_does_not_hold_the_step() {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::mysql().await) else {
        return;
    };
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    insert_items(&old.connect().await, "items", item_rows(30, 1)).await;
    let steps = r#"
[[backfill]]
name = "items"
from = { database = "old", table = "items", key = ["a", "b"] }
to = { database = "new", table = "items", key = ["a", "b"], insert_only = true }
chunk_rows = 10
pause_when = { replica_lag_seconds_above = 0, database = "new" }
"#;
    let (progress, _) = run(migration("replica", &old, &new, "new", steps), None).await;
    let step = &progress.steps[0];
    assert_eq!(step.state, StepState::Complete, "{:?}", step.error);
    assert_eq!(step.rows_done, 30);
    assert!(step.paused_by.is_empty(), "{:?}", step.paused_by);
}
