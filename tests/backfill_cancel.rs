//! A cancel reaches the server: shutting the session down mid-chunk cancels the running
//! statement with `pg_cancel_backend` instead of leaving it to finish on its own.

mod common;

use std::time::{Duration, Instant};

use common::TestDb;
use common::backfill::{drive, insert_items, item_rows, items_ddl, migration};
use migtui::db::{Params, Value};
use migtui::engine::session::Command;

const ACTIVE: &str = "SELECT count(*) FROM pg_stat_activity WHERE datname = :db \
                      AND application_name = 'migtui' AND state = 'active' AND query LIKE 'INSERT INTO%'";

#[tokio::test]
async fn shutdown_cancels_the_statement_on_the_server() {
    let (Some(old), Some(new), Some(admin)) = (
        TestDb::sqlite().await,
        TestDb::postgres().await,
        TestDb::postgres().await,
    ) else {
        return;
    };
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    // Every chunk's write would take 20 s on the server.
    new.run_script(
        "CREATE FUNCTION slow() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(20); RETURN NULL; END $$; \
         CREATE TRIGGER slow AFTER INSERT ON items FOR EACH STATEMENT EXECUTE FUNCTION slow();",
    )
    .await;
    insert_items(&old.connect().await, "items", item_rows(50, 1)).await;
    let a = admin.connect().await;
    let active = || async {
        match a
            .query(ACTIVE, &Params::new().bind("db", new.name.as_str()))
            .await
            .unwrap()
            .scalar()
        {
            Some(Value::Int(n)) => *n,
            _ => 0,
        }
    };
    let steps = "[[backfill]]\nname = \"items\"\nfrom = { table = \"items\", key = [\"a\", \"b\"] }\n\
                 to = { table = \"items\", key = [\"a\", \"b\"] }\nchunk_rows = 10\n";
    let s = drive(migration("cancel", &old, &new, "new", steps)).await;
    s.request(Command::StartBackfill { step: None })
        .await
        .unwrap();
    let t0 = Instant::now();
    while active().await == 0 {
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "the chunk never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let t1 = Instant::now();
    s.shutdown().await;
    while active().await > 0 {
        assert!(
            t1.elapsed() < Duration::from_secs(5),
            "the statement kept running on the server after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rows = new
        .connect()
        .await
        .query("SELECT count(*) FROM items", &Params::new())
        .await
        .unwrap();
    assert_eq!(
        rows.scalar(),
        Some(&Value::Int(0)),
        "the cancelled chunk wrote nothing"
    );
}
