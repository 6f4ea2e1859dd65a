//! Introspection on each engine: columns, primary keys (single and composite), unique
//! indexes, missing tables, schema-qualified names, row counts.
mod common;

use common::{Kind, all_engines};
use migtui::db::Params;

fn schema(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "CREATE TABLE items (id BIGINT PRIMARY KEY, sku TEXT NOT NULL, name TEXT,
                                 price NUMERIC(10,2));
             CREATE UNIQUE INDEX items_sku ON items (sku);
             CREATE INDEX items_name ON items (name);
             CREATE TABLE links (a INT, b INT, note TEXT, PRIMARY KEY (a, b),
                                 CONSTRAINT links_note UNIQUE (note, b));
             CREATE SCHEMA audit;
             CREATE TABLE audit.events (id INT PRIMARY KEY, payload JSONB);"
        }
        Kind::MySql => {
            "CREATE TABLE items (id BIGINT PRIMARY KEY, sku VARCHAR(64) NOT NULL, name TEXT,
                                 price DECIMAL(10,2));
             CREATE UNIQUE INDEX items_sku ON items (sku);
             CREATE INDEX items_name ON items (name(10));
             CREATE TABLE links (a INT, b INT, note VARCHAR(20), PRIMARY KEY (a, b),
                                 CONSTRAINT links_note UNIQUE (note, b));
             CREATE TABLE events (id INT PRIMARY KEY, payload JSON);"
        }
        Kind::Sqlite => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT NOT NULL, name TEXT,
                                 price DECIMAL(10,2));
             CREATE UNIQUE INDEX items_sku ON items (sku);
             CREATE INDEX items_name ON items (name);
             CREATE TABLE links (a INT, b INT, note TEXT, PRIMARY KEY (a, b),
                                 CONSTRAINT links_note UNIQUE (note, b));
             CREATE TABLE events (id INT PRIMARY KEY, payload JSON);"
        }
    }
}

#[tokio::test]
async fn tables_keys_and_unique_indexes_on_every_engine() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        tdb.run_script(schema(kind)).await;
        let db = tdb.connect().await;

        let items = db.table_info("items").await.unwrap().expect("items exists");
        assert_eq!(
            items.column_names(),
            ["id", "sku", "name", "price"],
            "{kind:?}"
        );
        assert_eq!(items.primary_key, ["id"], "{kind:?}");
        assert_eq!(
            items.unique,
            vec![vec!["sku".to_string()]],
            "{kind:?}: non-unique index left out"
        );
        assert!(!items.column("sku").unwrap().nullable, "{kind:?}");
        assert!(items.column("name").unwrap().nullable, "{kind:?}");
        assert!(!items.column("id").unwrap().nullable, "{kind:?}");
        let price = &items.column("price").unwrap().data_type.to_lowercase();
        assert!(price.contains("10,2"), "{kind:?}: {price}");
        assert!(items.is_unique_key(&["sku".to_string()]));
        assert!(!items.is_unique_key(&["name".to_string()]));

        let links = db.table_info("links").await.unwrap().expect("links exists");
        assert_eq!(
            links.primary_key,
            ["a", "b"],
            "{kind:?}: composite key in order"
        );
        assert_eq!(
            links.unique,
            vec![vec!["note".to_string(), "b".to_string()]],
            "{kind:?}"
        );
        assert!(links.is_unique_key(&["b".to_string(), "a".to_string()]));

        assert_eq!(
            db.table_info("no_such_table").await.unwrap(),
            None,
            "{kind:?}"
        );

        let events = match kind {
            Kind::Postgres => "audit.events",
            Kind::MySql => "events",
            Kind::Sqlite => "main.events",
        };
        let ev = db.table_info(events).await.unwrap().expect("events exists");
        assert_eq!(ev.primary_key, ["id"], "{kind:?}");
        let payload = ev.column("payload").unwrap().data_type.to_lowercase();
        assert!(
            payload.starts_with("json"),
            "{kind:?}: declared JSON shows as json: {payload}"
        );
        if kind == Kind::Postgres {
            assert_eq!(
                db.table_info("events").await.unwrap(),
                None,
                "not in the search path"
            );
            assert_eq!(db.table_info("nope.events").await.unwrap(), None);
        }
    }
}

#[tokio::test]
async fn row_counts_exact_and_estimated() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        tdb.run_script("CREATE TABLE c (id INT PRIMARY KEY)").await;
        let db = tdb.connect().await;
        for i in 0..25 {
            db.execute(
                "INSERT INTO c (id) VALUES (:i)",
                &Params::new().bind("i", i),
            )
            .await
            .unwrap();
        }
        let exact = db.row_count("c", true).await.unwrap();
        assert_eq!((exact.rows, exact.exact), (25, true), "{kind:?}");
        // Refresh the statistics the estimate comes from.
        match kind {
            Kind::Postgres => db.execute_script("ANALYZE c").await.unwrap(),
            Kind::MySql => db.execute_script("ANALYZE TABLE c").await.unwrap(),
            Kind::Sqlite => {}
        }
        let est = db.row_count("c", false).await.unwrap();
        assert_eq!(
            est.exact,
            kind == Kind::Sqlite,
            "{kind:?}: SQLite always counts"
        );
        assert!(est.rows <= 50, "{kind:?}: {est:?}");
        if kind == Kind::Postgres {
            assert_eq!(est.rows, 25, "reltuples after ANALYZE");
        }
        assert!(db.row_count("missing", true).await.is_err());
    }
}
