//! Injection and quoting, end to end through the real binary on every engine: a table named
//! `order` whose columns are `select`, `we"ird`, `naïve col`, `it's`, `` back`tick ``, `from`
//! and `blob` goes through backfill (copy with a column map, a custom statement, pushdown),
//! sampled and full verify, backup, contract and restore; values that look like SQL, quotes,
//! backslashes, NUL bytes, `:placeholders`, `$1` and `?` round-trip as data; a canary table
//! that a spliced value would drop is still there at the end.
mod cli_support;
mod common;

use cli_support::{Cli, lit};
use common::{Kind, TestDb};
use migtui::db::{Db, Params, Value};

/// The columns of `order`, key first, and whether each is bytes.
const COLS: &[(&str, bool)] = &[
    ("select", false),
    ("we\"ird", false),
    ("naïve col", false),
    ("it's", false),
    ("back`tick", false),
    ("from", false),
    ("blob", true),
];

/// Quote an identifier the way the engine's own SQL does, independently of migtui's code.
fn q(kind: Kind, ident: &str) -> String {
    match kind {
        Kind::MySql => format!("`{}`", ident.replace('`', "``")),
        _ => format!("\"{}\"", ident.replace('"', "\"\"")),
    }
}

fn col_list(kind: Kind) -> String {
    COLS.iter()
        .map(|(c, _)| q(kind, c))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table_ddl(kind: Kind, table: &str, extra: &[&str]) -> String {
    let text = if kind == Kind::MySql {
        "LONGTEXT"
    } else {
        "TEXT"
    };
    let bytes = match kind {
        Kind::Postgres => "BYTEA",
        Kind::MySql => "LONGBLOB",
        Kind::Sqlite => "BLOB",
    };
    let mut cols = vec![format!("{} BIGINT PRIMARY KEY", q(kind, "select"))];
    for (c, is_bytes) in &COLS[1..] {
        cols.push(format!(
            "{} {}",
            q(kind, c),
            if *is_bytes { bytes } else { text }
        ));
    }
    for c in extra {
        cols.push(format!("{} {text}", q(kind, c)));
    }
    let opts = if kind == Kind::MySql {
        " DEFAULT CHARSET=utf8mb4"
    } else {
        ""
    };
    format!(
        "CREATE TABLE {} ({}){opts}",
        q(kind, table),
        cols.join(", ")
    )
}

/// Values that must stay data. Each row takes them in turn across its text columns.
const NASTY: &[&str] = &[
    "'; DROP TABLE canary; --",
    "\"; DROP TABLE canary; --",
    "`; DROP TABLE canary; --",
    "') ; DELETE FROM \"order\"; --",
    "back\\slash \\' \\\\ \\0",
    ":placeholder :select :keys",
    "$1 $2 ? ?? $$ $tag$",
    "naïve ☕ 日本 \u{301}",
    "it''s",
    "*/ /* -- #",
    "trailing spaces   ",
    "",
];

/// 14 rows: nasty text, NULLs, bytes with NUL; text with NUL where the engine stores it.
fn rows(kind: Kind) -> Vec<Vec<Value>> {
    (0..14)
        .map(|i| {
            let mut r = vec![Value::Int(i as i64 * 7 - 20)];
            for c in 1..COLS.len() - 1 {
                let v = match (i + c) % (NASTY.len() + 2) {
                    n if n < NASTY.len() => Value::Text(NASTY[n].to_string()),
                    n if n == NASTY.len() => Value::Null,
                    // PostgreSQL text cannot hold NUL (checked on its own below).
                    _ if kind == Kind::Postgres => Value::Text("no NUL here".into()),
                    _ => Value::Text("nul\0inside".into()),
                };
                r.push(v);
            }
            r.push(match i % 4 {
                0 => Value::Null,
                1 => Value::Bytes(Vec::new()),
                _ => Value::Bytes(vec![0, b'\'', 0, b'\\', 0xff, b'"', b';', i as u8]),
            });
            r
        })
        .collect()
}

async fn setup(kind: Kind) -> Option<(TestDb, TestDb)> {
    let (old, new) = match kind {
        Kind::Postgres => (TestDb::postgres().await?, TestDb::postgres().await?),
        Kind::MySql => (TestDb::mysql().await?, TestDb::mysql().await?),
        Kind::Sqlite => (TestDb::sqlite().await?, TestDb::sqlite().await?),
    };
    old.run_script(&table_ddl(kind, "order", &[])).await;
    new.run_script(&table_ddl(kind, "order", &["dest col", "stmt col"]))
        .await;
    new.run_script(&table_ddl(kind, "order archive", &[])).await;
    for db in [&old, &new] {
        db.run_script("CREATE TABLE canary (id INTEGER)").await;
    }
    let db = old.connect().await;
    let sql = format!(
        "INSERT INTO {} ({}) VALUES :rows",
        q(kind, "order"),
        col_list(kind)
    );
    db.execute(&sql, &Params::new().bind_tuples("rows", rows(kind)))
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: seed: {e}"));
    db.close().await;
    Some((old, new))
}

fn config(kind: Kind) -> String {
    let shared: Vec<String> = COLS.iter().map(|(c, _)| lit(c)).collect();
    let compared: Vec<String> = COLS[1..].iter().map(|(c, _)| lit(c)).collect();
    let select = |table: &str| {
        format!(
            "SELECT {} FROM {} WHERE {} IN (:keys)",
            col_list(kind),
            q(kind, table),
            q(kind, "select")
        )
    };
    let statement = format!(
        "UPDATE {} SET {} = :from WHERE {} = :select",
        q(kind, "order"),
        q(kind, "stmt col"),
        q(kind, "select")
    );
    let drop = format!(
        "ALTER TABLE {} DROP COLUMN {}",
        q(kind, "order"),
        q(kind, "naïve col")
    );
    format!(
        r#"[migration]
name = "quoting"

[databases.old]
url = "${{OLD_URL}}"
[databases.new]
url = "${{NEW_URL}}"

[state]
database = "new"

[[backfill]]
name = "copy"
from = {{ database = "old", table = "order", key = "select" }}
to = {{ database = "new", table = "order", key = ["select"], map = {{ "dest col" = ":from" }} }}
chunk_rows = 3

[[backfill]]
name = "statement"
from = {{ database = "old", table = "order", key = "select", columns = ["select", "from"] }}
to = {{ database = "new", sql = {statement} }}
chunk_rows = 4

[[backfill]]
name = "pushdown"
from = {{ database = "new", table = "order", key = "select", columns = [{shared}] }}
to = {{ database = "new", table = "order archive", key = ["select"] }}
pushdown = true
chunk_rows = 5

[[verify]]
name = "weird"
key = "select"
sample = {{ from = "old", table = "order", per_second = 1000 }}
old = {old}
new = {new}
full = {{ old_table = "order", new_table = "order", columns = [{compared}], chunk_rows = 4 }}

[[backup]]
name = "dropped"
database = "old"
table = "order"
columns = ["naïve col"]
to = ["table:migtui_backup dropped", "file:dropped.csv.gz"]

[[backup]]
name = "weird"
database = "old"
table = "order"
columns = ["we\"ird", "it's", "back`tick", "blob"]
to = ["table:migtui_backup we\"ird", "file:weird.jsonl.gz"]

[contract]
database = "old"
sql = [{drop}]
"#,
        statement = lit(&statement),
        shared = shared.join(", "),
        compared = compared.join(", "),
        old = lit(&select("order")),
        new = lit(&select("order")),
        drop = lit(&drop),
    )
}

/// Every row of `table`, the given columns, in key order, bytes and text as read.
async fn read(db: &Db, kind: Kind, table: &str, cols: &[&str]) -> Vec<Vec<Value>> {
    let list = cols
        .iter()
        .map(|c| q(kind, c))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {list} FROM {} ORDER BY {}",
        q(kind, table),
        q(kind, "select")
    );
    db.query(&sql, &Params::new())
        .await
        .unwrap_or_else(|e| panic!("{kind:?}: {sql}: {e}"))
        .rows
        .into_iter()
        .map(|r| r.into_iter().map(as_data).collect())
        .collect()
}

/// Text and bytes compare as bytes: MariaDB returns LONGTEXT with a binary collation as bytes.
fn as_data(v: Value) -> Value {
    match v {
        Value::Text(s) => Value::Bytes(s.into_bytes()),
        other => other,
    }
}

/// Equal rows, or a failure naming the first differing row and column.
fn same_rows(kind: Kind, what: &str, got: &[Vec<Value>], want: &[Vec<Value>]) {
    assert_eq!(got.len(), want.len(), "{kind:?} {what}: row count");
    for (r, (g, w)) in got.iter().zip(want).enumerate() {
        for (c, (gv, wv)) in g.iter().zip(w).enumerate() {
            assert_eq!(
                gv, wv,
                "{kind:?} {what}: row {r} (key {:?}) column {c}",
                w[0]
            );
        }
    }
}

fn col_names() -> Vec<&'static str> {
    COLS.iter().map(|(c, _)| *c).collect()
}

/// `migtui verify … --json`, expecting exit status `code`.
fn verify_json(cli: &Cli, code: i32, args: &[&str]) -> serde_json::Value {
    let out = cli.run(args);
    assert_eq!(out.code, Some(code), "{args:?}:\n{}", out.all());
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

async fn canary_alive(tdb: &TestDb) -> bool {
    let db = tdb.connect().await;
    let ok = db.table_info("canary").await.ok().flatten().is_some();
    db.close().await;
    ok
}

async fn run_engine(kind: Kind) {
    let Some((old, new)) = setup(kind).await else {
        return;
    };
    let cli = Cli::new(
        &config(kind),
        &[("OLD_URL", &old.url), ("NEW_URL", &new.url)],
    );
    let expected: Vec<Vec<Value>> = rows(kind)
        .into_iter()
        .map(|r| r.into_iter().map(as_data).collect())
        .collect();

    cli.expect(0, &["check"]);
    let dry = cli.expect(0, &["backfill", "--dry-run"]);
    assert!(
        dry.contains(&q(kind, "order archive")),
        "{kind:?} dry run names the quoted table:\n{dry}"
    );
    cli.expect(0, &["backfill"]);

    let (odb, ndb) = (old.connect().await, new.connect().await);
    let names = col_names();
    same_rows(
        kind,
        "old rows unchanged",
        &read(&odb, kind, "order", &names).await,
        &expected,
    );
    same_rows(
        kind,
        "copy",
        &read(&ndb, kind, "order", &names).await,
        &expected,
    );
    same_rows(
        kind,
        "pushdown",
        &read(&ndb, kind, "order archive", &names).await,
        &expected,
    );
    // The map and the statement both wrote `from` into their own column, as data.
    let from: Vec<Vec<Value>> = expected
        .iter()
        .map(|r| vec![r[5].clone(), r[5].clone()])
        .collect();
    same_rows(
        kind,
        "map and statement",
        &read(&ndb, kind, "order", &["dest col", "stmt col"]).await,
        &from,
    );

    for args in [&["verify", "--json"][..], &["verify", "--full", "--json"]] {
        let doc = verify_json(&cli, 0, args);
        assert_eq!(doc["checks"][0]["compared"], 14, "{kind:?} {args:?}: {doc}");
        assert_eq!(doc["divergent"], 0, "{kind:?} {args:?}: {doc}");
    }
    // One changed value is found by both, and its key reported.
    let set = format!(
        "UPDATE {} SET {} = :v WHERE {} = :k",
        q(kind, "order"),
        q(kind, "it's"),
        q(kind, "select")
    );
    ndb.execute(
        &set,
        &Params::new()
            .bind("v", "'; DROP TABLE canary; -- changed")
            .bind("k", 1),
    )
    .await
    .unwrap();
    for args in [&["verify", "--json"][..], &["verify", "--full", "--json"]] {
        let doc = verify_json(&cli, 3, args);
        assert_eq!(doc["divergent"], 1, "{kind:?} {args:?}: {doc}");
        let keys = doc["checks"][0]["divergent_keys"].to_string();
        assert!(keys.contains("\"key\":\"1\""), "{kind:?} {args:?}: {keys}");
    }

    let out = cli.expect(0, &["backup"]);
    assert_eq!(out.matches("✓ `dropped`").count(), 2, "{kind:?}:\n{out}");
    assert_eq!(out.matches("✓ `weird`").count(), 2, "{kind:?}:\n{out}");
    cli.expect(0, &["backup", "--verify-only"]);
    for _ in 0..8 {
        cli.expect(
            0,
            &[
                "advance",
                "--reason",
                "quoting test",
                "--confirm",
                "quoting",
            ],
        );
    }
    let out = cli.expect(0, &["contract", "--confirm", "order"]);
    assert!(
        out.contains("1 of 1 statements took effect"),
        "{kind:?}:\n{out}"
    );
    assert_eq!(
        read(&odb, kind, "order", &["select", "it's"]).await.len(),
        14
    );
    let out = cli.expect(0, &["restore", "--backup", "dropped", "--dry-run"]);
    assert!(
        out.contains(&q(kind, "naïve col")),
        "{kind:?} restore names the column quoted:\n{out}"
    );
    let out = cli.expect(0, &["restore", "--backup", "dropped"]);
    assert!(out.contains("✓ restored rows"), "{kind:?}:\n{out}");
    // The restored column holds exactly the values it had (compared by key).
    let restored = read(&odb, kind, "order", &["select", "naïve col"]).await;
    let want: Vec<Vec<Value>> = expected
        .iter()
        .map(|r| vec![r[0].clone(), r[2].clone()])
        .collect();
    same_rows(kind, "restore", &restored, &want);

    odb.close().await;
    ndb.close().await;
    assert!(
        canary_alive(&old).await && canary_alive(&new).await,
        "{kind:?}: canary dropped"
    );
}

#[tokio::test]
async fn weird_identifiers_and_values_on_sqlite() {
    run_engine(Kind::Sqlite).await;
}

#[tokio::test]
async fn weird_identifiers_and_values_on_postgres() {
    run_engine(Kind::Postgres).await;
}

#[tokio::test]
async fn weird_identifiers_and_values_on_mariadb() {
    run_engine(Kind::MySql).await;
}

/// PostgreSQL `text` cannot hold NUL: the error says so and what to do;
/// `bytea` keeps NUL bytes.
#[tokio::test]
async fn postgres_refuses_nul_in_text_clearly_and_keeps_it_in_bytea() {
    let Some(tdb) = TestDb::postgres().await else {
        return;
    };
    tdb.run_script("CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT, b BYTEA)")
        .await;
    let db = tdb.connect().await;
    let err = db
        .execute(
            "INSERT INTO t (id, s) VALUES (1, :s)",
            &Params::new().bind("s", "a\0b"),
        )
        .await
        .expect_err("PostgreSQL text refuses NUL");
    let msg = err.to_string();
    assert!(
        msg.contains("0x00") || msg.to_lowercase().contains("nul"),
        "{msg}"
    );
    db.execute(
        "INSERT INTO t (id, b) VALUES (2, :b)",
        &Params::new().bind("b", Value::Bytes(vec![b'a', 0, b'b'])),
    )
    .await
    .unwrap();
    let rows = db
        .query("SELECT b FROM t WHERE id = 2", &Params::new())
        .await
        .unwrap();
    assert_eq!(rows.rows[0][0], Value::Bytes(vec![b'a', 0, b'b']));
}
