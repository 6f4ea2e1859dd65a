//! Chunk checksums agree across engines on identical data (every `Value` type), agree with the
//! Rust encoder on the rows read back, and change when one value changes.
mod common;

use common::{Kind, TestDb, all_engines};
use migtui::db::checksum::{HashSpec, KeyRange, checksum, key_hashes};
use migtui::db::rowhash::{self, HashOptions};
use migtui::db::{Db, Params, Value};

fn fixture(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "verify-types-pg.sql",
        Kind::MySql => "verify-types-mysql.sql",
        Kind::Sqlite => "verify-types-sqlite.sql",
    }
}

/// Every column of `table`, keyed by id, canonical encoding.
async fn id_spec(db: &Db, table: &str) -> HashSpec {
    HashSpec::for_table(
        db.as_ref(),
        table,
        &["id".into()],
        None,
        HashOptions::default(),
    )
    .await
    .unwrap()
}

async fn loaded() -> Vec<(TestDb, Db, HashSpec)> {
    let mut out = Vec::new();
    for tdb in all_engines().await {
        tdb.run_fixture(fixture(tdb.kind)).await;
        let db = tdb.connect().await;
        let spec = id_spec(&db, "items").await;
        out.push((tdb, db, spec));
    }
    out
}

#[tokio::test]
async fn identical_rows_checksum_alike_on_every_engine() {
    let sides = loaded().await;
    let mut sums = Vec::new();
    for (tdb, db, spec) in &sides {
        let all = checksum(db.as_ref(), spec, &KeyRange::all()).await.unwrap();
        assert_eq!(all.count, 7, "{:?}", tdb.kind);
        let hashes = key_hashes(db.as_ref(), spec, &KeyRange::all())
            .await
            .unwrap();
        // The SQL encoder agrees with the Rust encoder on the rows as read.
        let rows = db
            .query("SELECT * FROM items ORDER BY id", &Params::new())
            .await
            .unwrap();
        let classes = spec.classes();
        for (row, (key, h)) in rows.rows.iter().zip(&hashes) {
            assert_eq!(&row[..1], &key[..]);
            let rust = rowhash::row_hash(row, &classes, &spec.options);
            let bytes = rowhash::encode_row(row, &classes, &spec.options);
            assert_eq!(
                rust,
                *h,
                "{:?} row {key:?}: {}",
                tdb.kind,
                String::from_utf8_lossy(&bytes)
            );
        }
        let part = checksum(db.as_ref(), spec, &KeyRange::between(2, 4))
            .await
            .unwrap();
        assert_eq!(part.count, 2);
        sums.push((tdb.kind, all, hashes));
    }
    for pair in sums.windows(2) {
        assert_eq!(pair[0].1, pair[1].1, "{:?} vs {:?}", pair[0].0, pair[1].0);
        assert_eq!(pair[0].2, pair[1].2, "{:?} vs {:?}", pair[0].0, pair[1].0);
    }
}

#[tokio::test]
async fn one_changed_value_changes_the_chunk_and_names_the_row() {
    for (tdb, db, spec) in loaded().await {
        let before = key_hashes(db.as_ref(), &spec, &KeyRange::all())
            .await
            .unwrap();
        let whole = checksum(db.as_ref(), &spec, &KeyRange::all())
            .await
            .unwrap();
        // A lost trailing space, NULL for '' and a timestamp 1 µs off are each seen.
        for sql in [
            "UPDATE items SET t = 'café ☕' WHERE id = 1",
            "UPDATE items SET t = NULL WHERE id = 3",
            "UPDATE items SET ts = '2024-01-01 00:00:00' WHERE id = 4",
        ] {
            db.execute(sql, &Params::new()).await.unwrap();
        }
        let after = key_hashes(db.as_ref(), &spec, &KeyRange::all())
            .await
            .unwrap();
        let changed: Vec<Value> = before
            .iter()
            .zip(&after)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| a.0[0].clone())
            .collect();
        assert_eq!(
            changed,
            vec![Value::Int(1), Value::Int(3), Value::Int(4)],
            "{:?}",
            tdb.kind
        );
        let now = checksum(db.as_ref(), &spec, &KeyRange::all())
            .await
            .unwrap();
        assert_ne!(now, whole);
        assert_eq!(now.count, whole.count);
    }
}

#[tokio::test]
async fn the_native_hash_is_used_only_between_matching_postgres_tables() {
    use migtui::db::checksum::native_compatible;
    let (Some(a), Some(b)) = (TestDb::postgres().await, TestDb::postgres().await) else {
        return;
    };
    a.run_fixture(fixture(Kind::Postgres)).await;
    b.run_fixture(fixture(Kind::Postgres)).await;
    let (da, db) = (a.connect().await, b.connect().await);
    let cols: Vec<String> = ["id", "t", "ts", "j"].map(String::from).to_vec();
    assert!(
        native_compatible(da.as_ref(), "items", db.as_ref(), "items", &cols)
            .await
            .unwrap()
    );
    let mut spec = id_spec(&db, "items").await;
    spec.native = true;
    let before = checksum(db.as_ref(), &spec, &KeyRange::all())
        .await
        .unwrap();
    db.execute("UPDATE items SET t = NULL WHERE id = 3", &Params::new())
        .await
        .unwrap();
    let after = checksum(db.as_ref(), &spec, &KeyRange::all())
        .await
        .unwrap();
    assert_ne!(before, after, "'' -> NULL changes the native sum");
    // A different type on one side: back to the canonical encoding.
    db.execute_script("ALTER TABLE items ALTER COLUMN ts TYPE timestamptz")
        .await
        .unwrap();
    assert!(
        !native_compatible(da.as_ref(), "items", db.as_ref(), "items", &cols)
            .await
            .unwrap()
    );
    if let Some(m) = TestDb::mysql().await {
        m.run_fixture(fixture(Kind::MySql)).await;
        let dm = m.connect().await;
        assert!(
            !native_compatible(da.as_ref(), "items", dm.as_ref(), "items", &cols)
                .await
                .unwrap()
        );
    }
}

#[tokio::test]
async fn not_null_columns_hash_the_same_bytes_without_the_null_test() {
    let mut sums = Vec::new();
    for (tdb, db, spec) in loaded().await {
        if tdb.kind != Kind::Sqlite {
            // From introspection: the primary key is NOT NULL, `t` may be NULL.
            assert_eq!(spec.nullable.first(), Some(&false), "{:?}", tdb.kind);
            assert_eq!(spec.nullable.get(5), Some(&true), "{:?}", tdb.kind);
        }
        // Rows 1, 3 and 4 hold no NULL: hashed as if every column were NOT NULL, they must
        // give exactly the bytes of the nullable encoding.
        let mut strict = spec.clone();
        strict.nullable = vec![false; spec.columns.len()];
        for range in [KeyRange::between(1, 2), KeyRange::between(3, 5)] {
            let (loose, tight) = (
                key_hashes(db.as_ref(), &spec, &range).await.unwrap(),
                key_hashes(db.as_ref(), &strict, &range).await.unwrap(),
            );
            assert_eq!(loose, tight, "{:?} {range:?}", tdb.kind);
            assert_eq!(
                loose.len(),
                if range.from == Some(1.into()) { 1 } else { 2 }
            );
            let sum = checksum(db.as_ref(), &strict, &range).await.unwrap();
            assert_eq!(
                sum,
                checksum(db.as_ref(), &spec, &range).await.unwrap(),
                "{:?}",
                tdb.kind
            );
            sums.push((tdb.kind, sum));
        }
    }
    // And across engines, NOT NULL on one side and nullable on the other included.
    let first: Vec<_> = sums
        .iter()
        .filter(|s| s.0 == sums[0].0)
        .map(|s| s.1)
        .collect();
    for kind in [Kind::Postgres, Kind::MySql, Kind::Sqlite] {
        let these: Vec<_> = sums.iter().filter(|s| s.0 == kind).map(|s| s.1).collect();
        if !these.is_empty() {
            assert_eq!(these, first, "{kind:?}");
        }
    }
}

/// MariaDB keeps JSON as the text written; its rows must hash as PostgreSQL's `jsonb` of the
/// same document does, whatever that text: compact, keys out of jsonb's order, `\u` and `\/`
/// escapes, duplicate keys (the last wins in both), nesting.
#[tokio::test]
async fn mariadb_json_hashes_as_postgres_jsonb_whatever_its_stored_text() {
    const DOCS: &[&str] = &[
        r#"{"a":1}"#,
        r#"{"bb":1,"a":[1,2,{"zz":null,"y":true}]}"#,
        r#"{"s":"\u00e9\/x\"", "t":"\u0001"}"#,
        r#"{"k":1,"k":{"k":2}}"#,
        r#"[ "x" ,  {}, [] ]"#,
        r#""plain""#,
    ];
    let mut per_engine = Vec::new();
    for tdb in all_engines().await {
        let (ddl, value) = match tdb.kind {
            Kind::Postgres => ("jsonb", "CAST(:j AS jsonb)"),
            Kind::MySql => ("JSON", ":j"),
            Kind::Sqlite => continue,
        };
        tdb.run_script(&format!(
            "CREATE TABLE jdocs (id BIGINT PRIMARY KEY, j {ddl})"
        ))
        .await;
        let db = tdb.connect().await;
        for (n, doc) in DOCS.iter().enumerate() {
            let p = Params::new()
                .bind("id", Value::Int(n as i64 + 1))
                .bind("j", Value::Text((*doc).into()));
            db.execute(
                &format!("INSERT INTO jdocs (id, j) VALUES (:id, {value})"),
                &p,
            )
            .await
            .unwrap();
        }
        let spec = id_spec(&db, "jdocs").await;
        let hashes = key_hashes(db.as_ref(), &spec, &KeyRange::all())
            .await
            .unwrap();
        // Each equals the Rust encoding of the parsed document.
        for ((key, h), doc) in hashes.iter().zip(DOCS) {
            let j: serde_json::Value = serde_json::from_str(doc).unwrap();
            let row = [key[0].clone(), Value::Json(j)];
            assert_eq!(
                *h,
                rowhash::row_hash(&row, &spec.classes(), &spec.options),
                "{:?} {doc}",
                tdb.kind
            );
        }
        let sum = checksum(db.as_ref(), &spec, &KeyRange::all())
            .await
            .unwrap();
        assert_eq!(sum.count, DOCS.len() as u64);
        per_engine.push((tdb.kind, hashes, sum));
    }
    for pair in per_engine.windows(2) {
        assert_eq!(pair[0].1, pair[1].1, "{:?} vs {:?}", pair[0].0, pair[1].0);
        assert_eq!(pair[0].2, pair[1].2, "{:?} vs {:?}", pair[0].0, pair[1].0);
    }
}
