//! The migration file: the valid shape parses to the expected model, the sample configs all
//! validate, and secrets from the environment never reach an error message.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use migtui::config::{
    BackupDestination, ColumnRule, Config, FlagBackend, KeySource, PauseCondition, Side,
    SourceKind, TargetWrite, load_with_env, parse_text,
};
use migtui::engine::phase::PhaseId;

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-config")
        .join(name)
}

/// The shape from DESIGN.md, plus the sections the model adds.
const DESIGN: &str = r#"
[migration]
name = "incident-statuses"
description = "hard-coded status strings -> per-organisation incident_statuses"

[databases.old]
url = "${OLD_DATABASE_URL}"
[databases.new]
url = "${NEW_DATABASE_URL}"
max_connections = 8
statement_timeout_ms = 10000

[state]
database = "new"

[phases]
skip = ["expand", "stop_old_writes"]
shadow_min_samples = 500

[expand]
sql = ["CREATE TABLE incident_statuses (id BIGINT)"]
expect = ["incident_statuses", "incidents.incident_status_id"]

[flag]
backend = "sql"
database = "new"
table = "feature_flags"
key = "incidents.read_from_new"
ramp = [0, 5, 50, 100]

[[backfill]]
name = "incident_statuses"
from = { database = "old", query = "SELECT DISTINCT organisation_id, status FROM incidents" }
to   = { database = "new", table = "incident_statuses", key = ["organisation_id", "name"],
         map = { name = ":status" } }

[[backfill]]
name = "incidents"
from = { database = "old", table = "incidents", key = "id", columns = ["id", "organisation_id", "status"] }
to   = { database = "new", sql = """
  UPDATE incidents SET incident_status_id = s.id
  FROM incident_statuses s
  WHERE incidents.id = :id AND s.organisation_id = :organisation_id AND s.name = :status""" }
chunk_rows = 5000
max_rows_per_second = 20000
pause_when = [{ path = "incident-by-id", side = "new", p95_ms_above = 50 },
              { replica_lag_seconds_above = 5, database = "old" }]

[[verify]]
name = "status"
key = "id"
sample = { from = "old", table = "incidents", per_second = 50, recent_column = "updated_at" }
old = "SELECT id, status FROM incidents WHERE id IN (:keys)"
new = """SELECT i.id, s.name AS status FROM incidents i
         JOIN incident_statuses s ON s.id = i.incident_status_id WHERE i.id IN (:keys)"""
normalize = { status = "lowercase", amount = ["trim", "round:2"], at = "timestamp:3", noise = "ignore" }
redact = ["title"]

[[path]]
name = "incident-by-id"
old = "SELECT status FROM incidents WHERE id = :key"
new = "SELECT s.name FROM incidents i JOIN incident_statuses s ON s.id = i.incident_status_id WHERE i.id = :key"
keys = "verify:status"
per_second = 20
budget = { p95_ms = 20, new_over_old_at_most = 1.25 }

[[backup]]
database = "old"
table = "incidents"
columns = ["status"]
to = ["table:migtui_backup_incidents_status", "file:backups/incidents-status.csv.gz"]

[contract]
sql = ["ALTER TABLE incidents DROP COLUMN status"]
"#;

fn design() -> Config {
    let vars = env(&[
        (
            "OLD_DATABASE_URL",
            "postgres://app:0ld-s3cret@db.internal:5432/app",
        ),
        ("NEW_DATABASE_URL", "sqlite://new.db"),
    ]);
    match parse_text(Path::new("conf/migration.toml"), DESIGN, &vars) {
        Ok(c) => c,
        Err(e) => panic!("the design's example must parse:\n{e}"),
    }
}

#[test]
fn the_design_example_parses_to_the_expected_model() {
    let c = design();
    assert_eq!(c.migration.name, "incident-statuses");
    assert_eq!(c.databases.len(), 2);
    let old = &c.databases["old"];
    assert_eq!(
        old.url.expose(),
        "postgres://app:0ld-s3cret@db.internal:5432/app"
    );
    assert_eq!((old.max_connections, old.statement_timeout_ms), (4, 30_000));
    assert_eq!((old.at.line, old.at.column), (6, 1));
    let new = &c.databases["new"];
    assert_eq!((new.max_connections, new.statement_timeout_ms), (8, 10_000));
    assert_eq!(c.state.database, "new");
    assert_eq!(c.phases.skip, vec![PhaseId::Expand, PhaseId::StopOldWrites]);
    assert_eq!(c.phases.shadow_min_samples, 500);
    assert_eq!(c.phases.dual_write_min_agreement, 0.999);
    let expand = c.expand.as_ref().expect("expand");
    assert_eq!(expand.database, "new");
    assert_eq!(
        expand.expect,
        vec!["incident_statuses", "incidents.incident_status_id"]
    );

    let flag = c.flag.as_ref().expect("flag");
    assert_eq!(flag.key, "incidents.read_from_new");
    assert_eq!(flag.ramp, vec![0, 5, 50, 100]);
    match &flag.backend {
        FlagBackend::Sql {
            database,
            table,
            key_column,
            value_column,
        } => {
            assert_eq!(
                (database.as_str(), table.as_str()),
                ("new", "feature_flags")
            );
            assert_eq!(
                (key_column.as_str(), value_column.as_str()),
                ("key", "value")
            );
        }
        other => panic!("expected the sql backend, got {other:?}"),
    }

    assert_eq!(c.backfill.len(), 2);
    let s0 = &c.backfill[0];
    assert!(
        matches!(&s0.from.kind, SourceKind::Query { sql } if sql.starts_with("SELECT DISTINCT"))
    );
    assert!(s0.from.key.is_empty());
    assert_eq!(s0.target_chunk_ms, 500);
    assert!(!s0.pushdown);
    match &s0.to.write {
        TargetWrite::Copy {
            table,
            key,
            map,
            version_column,
            insert_only,
        } => {
            assert_eq!(table, "incident_statuses");
            assert_eq!(key, &["organisation_id", "name"]);
            assert_eq!(map.get("name").map(String::as_str), Some(":status"));
            assert_eq!((version_column, insert_only), (&None, &false));
        }
        other => panic!("expected a copy, got {other:?}"),
    }
    let s1 = &c.backfill[1];
    assert_eq!(s1.from.key, vec!["id"]);
    assert_eq!(
        (s1.chunk_rows, s1.max_rows_per_second),
        (Some(5000), Some(20000.0))
    );
    assert!(
        matches!(&s1.to.write, TargetWrite::Statement { sql } if sql.contains(":organisation_id"))
    );
    assert!(matches!(
        &s1.pause_when[0],
        PauseCondition::PathLatency { path, side: Side::New, p95_ms_above } if path == "incident-by-id" && *p95_ms_above == 50.0
    ));
    assert!(matches!(
        &s1.pause_when[1],
        PauseCondition::ReplicaLag { database, seconds_above } if database == "old" && *seconds_above == 5.0
    ));

    let v = &c.verify[0];
    assert_eq!(v.key, vec!["id"]);
    assert_eq!(v.sample.database, "old");
    assert_eq!(v.sample.per_second, 50.0);
    assert_eq!(v.sample.recent_column.as_deref(), Some("updated_at"));
    assert_eq!(v.normalize["status"], vec![ColumnRule::Lowercase]);
    assert_eq!(
        v.normalize["amount"],
        vec![ColumnRule::Trim, ColumnRule::Round(2)]
    );
    assert_eq!(v.normalize["at"], vec![ColumnRule::TimestampDigits(3)]);
    assert_eq!(v.normalize["noise"], vec![ColumnRule::Ignore]);
    assert_eq!(v.redact, vec!["title"]);
    assert_eq!((v.recheck_after_ms, v.float_tolerance), (5_000, 1e-9));

    let p = &c.paths[0];
    assert!(matches!(&p.keys, KeySource::Verify(n) if n == "status"));
    assert_eq!(
        (p.per_second, p.budget.p95_ms, p.budget.new_over_old_at_most),
        (20.0, Some(20.0), Some(1.25))
    );

    let b = &c.backups[0];
    assert_eq!(b.name, "incidents_status");
    assert!(
        matches!(&b.to[0], BackupDestination::Table(t) if t == "migtui_backup_incidents_status")
    );
    assert!(
        matches!(&b.to[1], BackupDestination::File(f) if f == Path::new("conf/backups/incidents-status.csv.gz"))
    );

    let k = c.contract.as_ref().expect("contract");
    assert_eq!(k.database, "old");
    assert_eq!((k.lock_timeout_ms, k.retries), (3_000, 5));
    assert_eq!(k.sql, vec!["ALTER TABLE incidents DROP COLUMN status"]);
}

#[test]
fn substituted_values_and_url_passwords_are_secrets() {
    let c = design();
    let text = "url postgres://app:0ld-s3cret@db.internal:5432/app and 0ld-s3cret";
    let masked = c.secrets.mask(text);
    assert!(!masked.contains("0ld-s3cret"), "{masked}");
}

#[test]
fn a_password_from_the_environment_never_appears_in_an_error() {
    let password = "Pa55-w0rd-from-env";
    let url = format!("oracle://app:{password}@db:1521/x");
    let vars = env(&[
        ("OLD_DATABASE_URL", &url),
        ("NEW_DATABASE_URL", "sqlite://new.db"),
        ("TABLE", password),
    ]);
    // A bad scheme (the URL is quoted, redacted), and the secret used where a name is expected.
    let text = DESIGN
        .replacen(
            "table = \"incident_statuses\"",
            "table = \"incident_statuses\", bogus = \"${TABLE}\"",
            1,
        )
        .replace(
            "key = \"incidents.read_from_new\"",
            "key = \"${TABLE}\"\nnope = 1",
        )
        .replace(
            "sample = { from = \"old\"",
            "sample = { from = \"${TABLE}\"",
        );
    let err = parse_text(Path::new("m.toml"), &text, &vars).expect_err("must fail");
    let shown = format!("{err}\n{err:?}");
    assert!(!shown.contains(password), "{shown}");
    assert!(!shown.contains("Pa55"), "{shown}");
    assert!(
        shown.contains("unsupported database URL scheme `oracle`"),
        "{shown}"
    );
    assert!(shown.contains("oracle://app:***@db:1521/x"), "{shown}");
    assert!(shown.contains("unknown database `***`"), "{shown}");
    assert!(err.problems.len() >= 4, "{shown}");
}

#[test]
fn every_sample_config_parses_and_validates() {
    let cases = [
        ("sqlite.toml", "sqlite://old.db", "sqlite://new.db"),
        (
            "postgres.toml",
            "postgres://postgres@127.0.0.1:5432/app",
            "postgres://postgres@127.0.0.1:5432/app",
        ),
        (
            "mariadb-to-postgres.toml",
            "mysql://root@127.0.0.1:3306/app",
            "postgres://postgres@127.0.0.1:5432/app",
        ),
    ];
    for (file, old, new) in cases {
        let vars = env(&[("OLD_DATABASE_URL", old), ("NEW_DATABASE_URL", new)]);
        let c = match load_with_env(&sample(file), &vars) {
            Ok(c) => c,
            Err(e) => panic!("{file} must validate:\n{e}"),
        };
        assert_eq!(c.migration.name, "incident-statuses", "{file}");
        let names: Vec<&str> = c.backfill.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["incident_statuses", "incidents"],
            "{file}: statuses first"
        );
        assert!(
            !c.verify.is_empty() && !c.paths.is_empty() && !c.backups.is_empty(),
            "{file}"
        );
        assert!(c.flag.is_some() && c.contract.is_some(), "{file}");
        assert!(
            matches!(&c.backups[0].to[1], BackupDestination::File(f) if f.starts_with(sample(""))),
            "{file}: backup files sit beside the migration file"
        );
    }
}

fn design_vars() -> impl Fn(&str) -> Option<String> {
    env(&[
        ("OLD_DATABASE_URL", "sqlite://old.db"),
        ("NEW_DATABASE_URL", "sqlite://new.db"),
    ])
}

#[test]
fn a_placeholder_in_a_multi_line_string_is_located_on_its_own_line() {
    let text = DESIGN.replace(
        "WHERE i.id IN (:keys)\"\"\"",
        "WHERE i.id IN (:keys) AND i.x = :oops\"\"\"",
    );
    let err = parse_text(Path::new("m.toml"), &text, &design_vars()).expect_err("unbound");
    assert_eq!(err.problems.len(), 1, "{err}");
    let p = &err.problems[0];
    let line = text.lines().nth(p.location.line - 1).unwrap_or_default();
    let at: String = line.chars().skip(p.location.column - 1).take(5).collect();
    assert_eq!(at, ":oops", "{err}");
    assert!(
        p.message.contains("placeholder `:oops` is not bound"),
        "{err}"
    );
}

#[test]
fn dollar_escapes_and_dollar_quotes_survive_interpolation() {
    let text = DESIGN.replace(
        "[contract]\nsql = [",
        "[contract]\nsql = [\"DO $$ BEGIN RAISE NOTICE '$${HOME} $1'; END $$\", ",
    );
    let c = parse_text(Path::new("m.toml"), &text, &design_vars()).expect("valid");
    let sql = &c.contract.expect("contract").sql[0];
    assert_eq!(sql, "DO $$ BEGIN RAISE NOTICE '${HOME} $1'; END $$");
}

#[test]
fn problems_come_in_file_order_all_at_once() {
    let text = DESIGN
        .replace(
            "name = \"incident-statuses\"",
            "nam = \"incident-statuses\"",
        )
        .replace("chunk_rows = 5000", "chunk_rows = \"many\"")
        .replace("keys = \"verify:status\"", "keys = \"verify:statuss\"");
    let err = parse_text(Path::new("m.toml"), &text, &design_vars()).expect_err("three mistakes");
    let lines: Vec<usize> = err.problems.iter().map(|p| p.location.line).collect();
    assert_eq!(lines.len(), 4, "{err}"); // unknown `nam` + missing `name` + the other two
    assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{err}");
    let shown = err.to_string();
    for needle in [
        "unknown key `nam`",
        "did you mean `name`?",
        "expected an integer, found a string",
        "unknown verify check `statuss`",
    ] {
        assert!(shown.contains(needle), "{needle} not in:\n{shown}");
    }
}
