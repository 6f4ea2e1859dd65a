//! The same logical values written to two engines read back and compare equal after
//! normalization; and a statement timeout is a transient error on each server.
mod common;

use common::{Kind, TestDb};
use migtui::db::normalize::{Options, values_equal};
use migtui::db::{Params, Value};

const PG: &str = "CREATE TABLE t (id INT PRIMARY KEY, at TIMESTAMPTZ, amount NUMERIC,
    flag BOOLEAN, big NUMERIC(20,0), doc JSONB, name TEXT, u UUID)";
const MY: &str = "CREATE TABLE t (id INT PRIMARY KEY, at DATETIME(6), amount DECIMAL(10,2),
    flag TINYINT(1), big BIGINT UNSIGNED, doc JSON, name VARCHAR(20) CHARACTER SET latin1,
    u CHAR(36))";
const LITE: &str = "CREATE TABLE t (id INTEGER PRIMARY KEY, at TEXT, amount TEXT, flag INTEGER,
    big TEXT, doc TEXT, name TEXT, u TEXT)";

async fn write_and_read(tdb: &TestDb, ddl: &str) -> Vec<Value> {
    tdb.run_script(ddl).await;
    let db = tdb.connect().await;
    // Written as text, the way a loosely typed source hands values over.
    let params = Params::new()
        .bind("at", "2024-05-06 07:08:09.123456")
        .bind("amount", "12.50")
        .bind(
            "flag",
            if tdb.kind == Kind::Postgres {
                Value::Bool(true)
            } else {
                Value::Int(1)
            },
        )
        .bind("big", Value::Text(u64::MAX.to_string()))
        .bind("doc", r#"{"b": [1, 2], "a": "é"}"#)
        .bind("name", "café")
        .bind("u", "6F9619FF-8B86-D011-B42D-00C04FC964FF");
    let sql = match tdb.kind {
        // PostgreSQL takes the text through explicit casts; the others store it as given.
        Kind::Postgres => {
            "INSERT INTO t VALUES (1, CAST(:at AS timestamptz), CAST(:amount AS numeric), :flag,
             CAST(:big AS numeric), CAST(:doc AS jsonb), :name, CAST(:u AS uuid))"
        }
        _ => "INSERT INTO t VALUES (1, :at, :amount, :flag, :big, :doc, :name, :u)",
    };
    db.execute(sql, &params)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let rows = db
        .query(
            "SELECT at, amount, flag, big, doc, name, u FROM t",
            &Params::new(),
        )
        .await
        .unwrap();
    rows.rows.into_iter().next().unwrap()
}

#[tokio::test]
async fn the_same_values_compare_equal_across_engines() {
    let mut sides = Vec::new();
    if let Some(db) = TestDb::postgres().await {
        sides.push((Kind::Postgres, write_and_read(&db, PG).await));
    }
    if let Some(db) = TestDb::mysql().await {
        let row = write_and_read(&db, MY).await;
        // The MariaDB side really is typed the MariaDB way.
        assert!(matches!(row[0], Value::Timestamp(_)), "{row:?}");
        assert!(matches!(row[2], Value::Bool(true)), "{row:?}");
        assert_eq!(row[3], Value::UInt(u64::MAX));
        assert!(matches!(row[4], Value::Json(_)), "{row:?}");
        assert_eq!(row[5], Value::Text("café".into()), "latin1 column");
        sides.push((Kind::MySql, row));
    }
    let lite = TestDb::sqlite().await.unwrap();
    sides.push((Kind::Sqlite, write_and_read(&lite, LITE).await));

    let cols = ["at", "amount", "flag", "big", "doc", "name", "u"];
    let opts = Options::default();
    for (ka, a) in &sides {
        for (kb, b) in &sides {
            if ka == kb {
                continue;
            }
            for (i, c) in cols.iter().enumerate() {
                // Text against text keeps case: the uuid compares only where one side is typed.
                if *c == "u" && *ka != Kind::Postgres && *kb != Kind::Postgres {
                    continue;
                }
                assert!(
                    values_equal(&a[i], &b[i], &[], &opts),
                    "{c}: {ka:?} {:?} vs {kb:?} {:?}",
                    a[i],
                    b[i]
                );
            }
        }
    }
}

#[tokio::test]
async fn statement_timeouts_are_transient() {
    for (tdb, sql) in [
        (TestDb::postgres().await, "SELECT pg_sleep(3)"),
        (TestDb::mysql().await, "SELECT SLEEP(3)"),
    ] {
        let Some(tdb) = tdb else { continue };
        let mut cfg = tdb.config("old");
        cfg.statement_timeout_ms = 300;
        let db = migtui::db::connect(&cfg, &migtui::secret::Secrets::default())
            .await
            .unwrap();
        match db.query(sql, &Params::new()).await {
            Err(e) => assert!(e.is_transient(), "{:?}: {e}", tdb.kind),
            // MariaDB's SLEEP() returns 1 when interrupted by max_statement_time.
            Ok(rows) => assert_eq!(rows.scalar(), Some(&Value::Int(1)), "{:?}", tdb.kind),
        }
    }
}
