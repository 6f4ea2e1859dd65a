//! The database layer's basics on every engine: connect, query, execute, scripts, transactions.
mod common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::{Kind, TestDb, all_engines};
use migtui::db::{Params, Value};

fn create_sql(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, n INTEGER, at TIMESTAMP, \
             at_tz TIMESTAMPTZ);
             CREATE INDEX t_name ON t (name);"
        }
        Kind::MySql => {
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, n INTEGER, at DATETIME(6), \
             at_tz TIMESTAMP(6) NULL);
             CREATE INDEX t_name ON t (name(20));"
        }
        Kind::Sqlite => {
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, at DATETIME, \
             at_tz TIMESTAMP);
             CREATE INDEX t_name ON t (name);"
        }
    }
}

#[tokio::test]
async fn query_execute_script_and_transactions_on_every_engine() {
    for tdb in all_engines().await {
        let db = tdb.connect().await;
        let kind = tdb.kind;
        db.execute_script(create_sql(kind)).await.unwrap();
        let at = NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_micro_opt(23, 59, 58, 123_456)
            .unwrap();
        let at_tz = Utc.with_ymd_and_hms(2024, 3, 1, 12, 0, 0).unwrap()
            + chrono::Duration::microseconds(654_321);
        let insert = "INSERT INTO t (id, name, n, at, at_tz) VALUES (:id, :name, :n, :at, :at_tz)";
        let n = db
            .execute(
                insert,
                &Params::new()
                    .bind("id", 1)
                    .bind("name", "héllo 🚀")
                    .bind("n", -42)
                    .bind("at", Value::Timestamp(at))
                    .bind("at_tz", Value::TimestampTz(at_tz)),
            )
            .await
            .unwrap();
        assert_eq!(n, 1, "{kind:?}");
        db.execute(
            insert,
            &Params::new()
                .bind("id", 2)
                .bind("name", "")
                .bind("n", Value::Null)
                .bind("at", Value::Null)
                .bind("at_tz", Value::Null),
        )
        .await
        .unwrap();

        let rows = db
            .query(
                "SELECT id, name, n, at, at_tz FROM t WHERE id IN (:ids) ORDER BY id",
                &Params::new().bind_list("ids", vec![1.into(), 2.into()]),
            )
            .await
            .unwrap();
        assert_eq!(rows.columns, ["id", "name", "n", "at", "at_tz"], "{kind:?}");
        assert_eq!(
            rows.rows[0],
            vec![
                Value::Int(1),
                Value::Text("héllo 🚀".into()),
                Value::Int(-42),
                Value::Timestamp(at),
                Value::TimestampTz(at_tz),
            ],
            "{kind:?}"
        );
        assert_eq!(
            rows.rows[1],
            vec![
                Value::Int(2),
                Value::Text(String::new()),
                Value::Null,
                Value::Null,
                Value::Null
            ],
            "{kind:?}: NULL and empty text stay distinct"
        );

        // An empty result still names its columns.
        let empty = db
            .query(
                "SELECT id, name FROM t WHERE id = :id",
                &Params::new().bind("id", 99),
            )
            .await
            .unwrap();
        assert!(empty.is_empty());
        assert_eq!(empty.columns, ["id", "name"], "{kind:?}");

        // A NULL parameter compares like SQL NULL, whatever the column's type.
        let none = db
            .query(
                "SELECT count(*) FROM t WHERE n = :n",
                &Params::new().bind("n", Value::Null),
            )
            .await
            .unwrap();
        assert_eq!(none.scalar(), Some(&Value::Int(0)), "{kind:?}");

        // Committed writes stay; a transaction dropped without commit rolls back.
        let mut tx = db.begin().await.unwrap();
        tx.execute(
            "UPDATE t SET n = :n WHERE id = 1",
            &Params::new().bind("n", 7),
        )
        .await
        .unwrap();
        let inside = tx
            .query("SELECT n FROM t WHERE id = 1", &Params::new())
            .await
            .unwrap();
        assert_eq!(inside.scalar(), Some(&Value::Int(7)));
        tx.commit().await.unwrap();
        {
            let mut tx = db.begin().await.unwrap();
            tx.execute("UPDATE t SET n = 8 WHERE id = 1", &Params::new())
                .await
                .unwrap();
        }
        let mut tx = db.begin().await.unwrap();
        tx.execute("UPDATE t SET n = 9 WHERE id = 1", &Params::new())
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let after = db
            .query("SELECT n FROM t WHERE id = 1", &Params::new())
            .await
            .unwrap();
        assert_eq!(after.scalar(), Some(&Value::Int(7)), "{kind:?}");

        assert!(!db.server_version().await.unwrap().is_empty());
        db.close().await;
    }
}

#[tokio::test]
async fn errors_keep_the_engines_code_and_are_permanent() {
    for tdb in all_engines().await {
        let db = tdb.connect().await;
        db.execute_script("CREATE TABLE u (id INTEGER PRIMARY KEY)")
            .await
            .unwrap();
        db.execute("INSERT INTO u (id) VALUES (1)", &Params::new())
            .await
            .unwrap();
        let err = db
            .execute(
                "INSERT INTO u (id) VALUES (:id)",
                &Params::new().bind("id", 1),
            )
            .await
            .unwrap_err();
        assert!(!err.is_transient(), "{:?}: {err}", tdb.kind);
        assert!(err.code().is_some(), "{:?}: {err}", tdb.kind);
        assert!(err.to_string().contains("INSERT INTO u"), "{err}");
    }
}

#[tokio::test]
async fn sqlite_scripts_run_every_statement() {
    let tdb = TestDb::sqlite().await.unwrap();
    let db = tdb.connect().await;
    db.execute_script(
        "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);",
    )
    .await
    .unwrap();
    let rows = db
        .query("SELECT sum(x) FROM a", &Params::new())
        .await
        .unwrap();
    assert_eq!(rows.scalar(), Some(&Value::Int(3)));
}
