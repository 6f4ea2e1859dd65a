//! The drain check says plainly when the engine's statement statistics are not available,
//! and how to enable them (the test servers run without them).
mod common;

use common::{Kind, all_engines};
use migtui::engine::probe::drain::{Tracker, calls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_statement_statistics_are_reported_with_the_fix() {
    for tdb in all_engines().await {
        let db = tdb.connect().await;
        let sql = "SELECT 1 WHERE 1 = :key";
        match calls(&db, sql).await {
            // A server with the statistics enabled answers with a count instead.
            Ok(n) => assert!(n >= 0, "{:?}", tdb.kind),
            Err(why) => {
                assert!(why.contains("statement statistics unavailable"), "{why}");
                let fix = match tdb.kind {
                    Kind::Postgres => "shared_preload_libraries",
                    Kind::MySql => "performance_schema=ON",
                    Kind::Sqlite => "keeps no statement statistics",
                };
                assert!(why.contains(fix), "{:?}: {why}", tdb.kind);
                let status = Tracker::default().look("p", &db, sql, 0).await;
                assert!(!status.available && status.calls.is_none(), "{status:?}");
                assert_eq!(status.detail, why);
            }
        }
        db.close().await;
    }
}
