//! The three write forms on real databases with the incident-statuses example: pushdown in
//! one database on each engine (a query step, then a custom UPDATE), and rows travelling
//! through migtui from SQLite to PostgreSQL (copy with a column map, then a custom statement)
//! with the state store in the source database (checkpoints after each chunk).

mod common;

use common::backfill::{migration, rows_of, run};
use common::{Kind, TestDb};
use migtui::engine::backfill::StepState;

fn expand(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => include_str!("fixtures/incidents-expand-pg.sql"),
        Kind::MySql => {
            "CREATE TABLE incident_statuses (id BIGINT AUTO_INCREMENT PRIMARY KEY, \
             organisation_id BIGINT NOT NULL, name VARCHAR(32) NOT NULL, UNIQUE (organisation_id, name)) \
             DEFAULT CHARSET = utf8mb4; \
             ALTER TABLE incidents ADD COLUMN incident_status_id BIGINT NULL;"
        }
        Kind::Sqlite => {
            "CREATE TABLE incident_statuses (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             organisation_id INTEGER NOT NULL, name TEXT NOT NULL, UNIQUE (organisation_id, name)); \
             ALTER TABLE incidents ADD COLUMN incident_status_id INTEGER;"
        }
    }
}

fn update(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => {
            "UPDATE incidents SET incident_status_id = s.id FROM incident_statuses s \
             WHERE incidents.id = :id AND s.organisation_id = :organisation_id AND s.name = :status"
        }
        Kind::MySql => {
            "UPDATE incidents i JOIN incident_statuses s ON s.organisation_id = :organisation_id \
             AND s.name = :status SET i.incident_status_id = s.id WHERE i.id = :id"
        }
        Kind::Sqlite => {
            "UPDATE incidents SET incident_status_id = (SELECT s.id FROM incident_statuses s \
             WHERE s.organisation_id = :organisation_id AND s.name = :status) WHERE incidents.id = :id"
        }
    }
}

fn fixture(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "incidents-old-pg.sql",
        Kind::MySql => "incidents-old-mariadb.sql",
        Kind::Sqlite => "incidents-old-sqlite.sql",
    }
}

#[tokio::test]
async fn pushdown_runs_each_chunk_inside_one_database() {
    for db in common::all_engines().await {
        let kind = db.kind;
        db.run_fixture(fixture(kind)).await;
        db.run_script(expand(kind)).await;
        let steps = format!(
            r#"
[[backfill]]
name = "incident_statuses"
from = {{ database = "old", query = "SELECT DISTINCT organisation_id, status FROM incidents" }}
to = {{ database = "new", table = "incident_statuses", key = ["organisation_id", "name"], map = {{ name = ":status" }} }}
pushdown = true
chunk_rows = 5

[[backfill]]
name = "incidents"
from = {{ database = "old", table = "incidents", key = "id", columns = ["id", "organisation_id", "status"] }}
to = {{ database = "new", sql = """{}""" }}
pushdown = true
chunk_rows = 30
"#,
            update(kind)
        );
        let (progress, _) = run(migration("pushdown", &db, &db, "new", &steps), None).await;
        for s in &progress.steps {
            assert_eq!(
                s.state,
                StepState::Complete,
                "{kind:?} {}: {:?}",
                s.step,
                s.error
            );
        }
        assert_eq!(
            progress.steps[0].rows_done, 28,
            "{kind:?}: 7 organisations x 4 statuses"
        );
        assert_eq!(progress.steps[1].rows_done, 200, "{kind:?}");
        let c = db.connect().await;
        let right = rows_of(
            &c,
            "SELECT count(*) FROM incidents i JOIN incident_statuses s ON s.id = i.incident_status_id \
             WHERE s.name = i.status AND s.organisation_id = i.organisation_id",
        )
        .await;
        assert_eq!(right, vec![vec!["200".to_string()]], "{kind:?}");
        let statuses = rows_of(&c, "SELECT count(*) FROM incident_statuses").await;
        assert_eq!(statuses, vec![vec!["28".to_string()]], "{kind:?}");
    }
}

#[tokio::test]
async fn rows_through_migtui_with_a_map_and_a_custom_statement() {
    let (Some(old), Some(new)) = (TestDb::sqlite().await, TestDb::postgres().await) else {
        return;
    };
    old.run_fixture("incidents-old-sqlite.sql").await;
    new.run_fixture("incidents-new-pg.sql").await;
    let steps = r#"
[[backfill]]
name = "incident_statuses"
from = { database = "old", query = "SELECT DISTINCT organisation_id, status FROM incidents" }
to = { database = "new", table = "incident_statuses", key = ["organisation_id", "name"], map = { name = ":status" } }

[[backfill]]
name = "incidents"
from = { database = "old", table = "incidents", key = "id" }
to = { database = "new", table = "incidents", key = ["id"], version_column = "updated_at", map = { incident_status_id = "(SELECT id FROM incident_statuses WHERE organisation_id = :organisation_id AND name = :status)" } }
chunk_rows = 64

[[backfill]]
name = "severity"
from = { database = "old", table = "incidents", key = "id", columns = ["id", "severity"] }
to = { database = "new", sql = "UPDATE incidents SET severity = :severity + 10 WHERE id = :id" }
chunk_rows = 50
"#;
    // The state store in the source: checkpoints move after each chunk commits.
    let (progress, _) = run(migration("through", &old, &new, "old", steps), None).await;
    for s in &progress.steps {
        assert_eq!(s.state, StepState::Complete, "{}: {:?}", s.step, s.error);
    }
    let (o, n) = (old.connect().await, new.connect().await);
    let want = rows_of(
        &o,
        "SELECT id, organisation_id, status, title, severity + 10 FROM incidents ORDER BY id",
    )
    .await;
    let got = rows_of(
        &n,
        "SELECT i.id, i.organisation_id, s.name, i.title, i.severity FROM incidents i \
         JOIN incident_statuses s ON s.id = i.incident_status_id ORDER BY i.id",
    )
    .await;
    assert_eq!(got, want);
    let stamps = rows_of(&n, "SELECT to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS.MS'), payload->>'n' FROM incidents WHERE id = 7").await;
    assert_eq!(
        stamps,
        vec![vec!["2024-01-01 00:07:05.000".to_string(), "7".to_string()]]
    );
    let cps = rows_of(
        &o,
        "SELECT step, status, rows_done FROM migtui_checkpoints ORDER BY step",
    )
    .await;
    assert_eq!(
        cps,
        vec![
            vec![
                "incident_statuses".to_string(),
                "complete".into(),
                "28".into()
            ],
            vec!["incidents".to_string(), "complete".into(), "200".into()],
            vec!["severity".to_string(), "complete".into(), "200".into()],
        ]
    );
}

/// PostgreSQL chunks first run the insert without its ON CONFLICT clause; the first chunk that
/// meets a row the dual writes already put there rolls back and runs as written, and so does
/// every chunk after it: the dual-written rows keep their newer values, nothing is lost or
/// written twice.
#[tokio::test]
async fn pushdown_fast_insert_falls_back_to_the_statement_on_an_existing_row() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    db.run_script(
        "CREATE TABLE old_items (id BIGINT PRIMARY KEY, v TEXT NOT NULL); \
         CREATE TABLE new_items (id BIGINT PRIMARY KEY, v TEXT NOT NULL); \
         INSERT INTO old_items SELECT g, 'old ' || g FROM generate_series(1, 300) g; \
         INSERT INTO new_items VALUES (150, 'dual write 150'), (290, 'dual write 290');",
    )
    .await;
    let steps = r#"
[[backfill]]
name = "items"
from = { database = "old", table = "old_items", key = "id" }
to = { database = "new", sql = "INSERT INTO new_items (id, v) VALUES (:id, :v) ON CONFLICT (id) DO NOTHING" }
pushdown = true
chunk_rows = 50
"#;
    let (progress, _) = run(migration("fast-insert", &db, &db, "new", steps), None).await;
    let step = &progress.steps[0];
    assert_eq!(step.state, StepState::Complete, "{:?}", step.error);
    assert_eq!(step.rows_done, 300);
    let c = db.connect().await;
    let wrong = rows_of(
        &c,
        "SELECT count(*) FROM old_items o FULL JOIN new_items n USING (id) \
         WHERE n.v IS DISTINCT FROM o.v AND id NOT IN (150, 290)",
    )
    .await;
    assert_eq!(wrong, vec![vec!["0".to_string()]], "rows lost or changed");
    let kept = rows_of(
        &c,
        "SELECT v FROM new_items WHERE id IN (150, 290) ORDER BY id",
    )
    .await;
    assert_eq!(
        kept,
        vec![
            vec!["dual write 150".to_string()],
            vec!["dual write 290".to_string()]
        ],
        "the backfill put an older value over a dual write"
    );
}
