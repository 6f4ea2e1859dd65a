//! The fixtures themselves: each engine's fresh database takes the incident schemas.
mod common;
use common::TestDb;

#[tokio::test]
async fn fixture_scripts_load_on_every_engine() {
    if let Some(db) = TestDb::postgres().await {
        db.run_fixture("incidents-old-pg.sql").await;
        db.run_fixture("incidents-expand-pg.sql").await;
    }
    if let Some(db) = TestDb::postgres().await {
        db.run_fixture("incidents-new-pg.sql").await;
    }
    if let Some(db) = TestDb::mysql().await {
        db.run_fixture("incidents-old-mariadb.sql").await;
    }
    let old = TestDb::sqlite().await.unwrap();
    old.run_fixture("incidents-old-sqlite.sql").await;
    let new = TestDb::sqlite().await.unwrap();
    new.run_fixture("incidents-new-sqlite.sql").await;
}
