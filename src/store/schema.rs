//! The versioned schema of the `migtui_*` tables.
//!
//! Tables are data ([`Table`]), rendered to DDL per engine through the dialect, and grouped in
//! versioned [`Step`]s. Opening a store applies every step newer than the version recorded in
//! `migtui_schema`, and refuses a store whose version is newer than this build's. Adding a
//! table is one line in [`STEPS`] (plus its `Table` constant) and `SCHEMA_VERSION += 1`.

use crate::db::{Db, Dialect, Params};

use super::row::{RowExt, now_sql};
use super::{SCHEMA_VERSION, StoreError};

/// The column types the state tables use, mapped to each engine by its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColType {
    /// Auto-increment 64-bit primary key.
    Serial,
    /// Text usable in a key or an index.
    Key,
    /// Unbounded text (JSON, reasons).
    Text,
    BigInt,
}

#[derive(Debug)]
pub(crate) struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
}

const fn col(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: false,
    }
}

const fn null(name: &'static str, ty: ColType) -> Column {
    Column {
        name,
        ty,
        nullable: true,
    }
}

/// One state table as data.
#[derive(Debug)]
pub(crate) struct Table {
    pub name: &'static str,
    pub columns: &'static [Column],
    /// Empty when a `Serial` column is the key.
    pub primary_key: &'static [&'static str],
    /// `(index name, columns)`; index names are unique per schema, so prefixed by the table.
    pub indexes: &'static [(&'static str, &'static [&'static str])],
}

/// What a schema version adds: new tables, and indexes on tables an older version created.
#[derive(Debug)]
pub(crate) struct Step {
    pub version: i64,
    pub tables: &'static [&'static Table],
    /// Indexes added to existing tables, as `(table, index name)`; the index itself is
    /// declared in the table's [`Table::indexes`], so a fresh store gets it with the table.
    pub indexes: &'static [(&'static Table, &'static str)],
}

use ColType::{BigInt, Key, Serial, Text};

/// Every schema version, oldest first. The last one is [`SCHEMA_VERSION`].
pub(crate) const STEPS: &[Step] = &[
    Step {
        version: 1,
        tables: &[&MIGRATION, &PHASE_HISTORY, &AUDIT, &LEASE],
        indexes: &[],
    },
    // Latency snapshots of the read-path probes.
    Step {
        version: 2,
        tables: &[&METRICS],
        indexes: &[],
    },
    // Verification: divergent rows and per-minute counters of compared rows.
    Step {
        version: 3,
        tables: &[&DIVERGENCES, &VERIFY_WINDOWS, &VERIFY_FULL],
        indexes: &[],
    },
    // Backups: one row per backup copy.
    Step {
        version: 4,
        tables: &[&BACKUPS],
        indexes: &[],
    },
    // Backfill: one checkpoint per step.
    Step {
        version: 5,
        tables: &[&CHECKPOINTS],
        indexes: &[],
    },
    // Backfill: rows, retries and throttled time per interval (the report's rate over time).
    Step {
        version: 6,
        tables: &[&BACKFILL_SAMPLES],
        indexes: &[],
    },
    // Backfill: one row per run of a step, fresh or resumed (the report's interruptions).
    Step {
        version: 7,
        tables: &[&BACKFILL_RUNS],
        indexes: &[],
    },
    // Indexes for the queries the cockpit runs on a big store (tests/store_indexes.rs): the
    // Divergences screen filtered by status pages in key order, and its per-status counts
    // (without the index, a sequential scan of every divergence of the migration); and the
    // audit insert's read-back of its own id (a sequential scan of the audit log each time).
    Step {
        version: 8,
        tables: &[],
        indexes: &[
            (&DIVERGENCES, DIVERGENCES_BY_STATUS_KEY),
            (&AUDIT, AUDIT_BY_OPERATOR),
        ],
    },
];

const _: () = assert!(STEPS[STEPS.len() - 1].version == SCHEMA_VERSION);

/// The schema version itself, one row per component (`store`).
const SCHEMA: Table = Table {
    name: "migtui_schema",
    columns: &[
        col("component", Key),
        col("version", BigInt),
        col("updated_us", BigInt),
    ],
    primary_key: &["component"],
    indexes: &[],
};

/// One row per migration: the current phase and the compare-and-swap sequence.
pub(crate) const MIGRATION: Table = Table {
    name: "migtui_migration",
    columns: &[
        col("name", Key),
        col("phase", Key),
        col("seq", BigInt),
        col("since_us", BigInt),
        col("created_us", BigInt),
    ],
    primary_key: &["name"],
    indexes: &[],
};

pub(crate) const PHASE_HISTORY: Table = Table {
    name: "migtui_phase_history",
    columns: &[
        col("id", Serial),
        col("migration", Key),
        col("seq", BigInt),
        col("from_phase", Key),
        col("to_phase", Key),
        col("kind", Key),
        null("reason", Text),
        col("gates", Text),
        col("operator_id", Key),
        col("operator_user", Key),
        col("operator_host", Key),
        col("operator_pid", BigInt),
        col("at_us", BigInt),
    ],
    primary_key: &[],
    indexes: &[("migtui_phase_history_by_migration", &["migration", "id"])],
};

pub(crate) const AUDIT: Table = Table {
    name: "migtui_audit",
    columns: &[
        col("id", Serial),
        col("migration", Key),
        col("at_us", BigInt),
        col("os_user", Key),
        col("host", Key),
        col("operator_id", Key),
        col("pid", BigInt),
        col("action", Key),
        col("params", Text),
        col("outcome", Text),
    ],
    primary_key: &[],
    indexes: &[
        ("migtui_audit_by_time", &["migration", "at_us"]),
        ("migtui_audit_by_id", &["migration", "id"]),
        // Schema version 8.
        (
            AUDIT_BY_OPERATOR,
            &["migration", "operator_id", "action", "id"],
        ),
    ],
};

/// Every audited action reads back its own line's id (MySQL has no `RETURNING`): the newest
/// line of this operator and action.
const AUDIT_BY_OPERATOR: &str = "migtui_audit_by_operator";

pub(crate) const LEASE: Table = Table {
    name: "migtui_lease",
    columns: &[
        col("migration", Key),
        col("holder_id", Key),
        col("holder_user", Key),
        col("holder_host", Key),
        col("holder_pid", BigInt),
        col("acquired_us", BigInt),
        col("heartbeat_us", BigInt),
        col("ttl_secs", BigInt),
    ],
    primary_key: &["migration"],
    indexes: &[],
};

/// Latency snapshots: one row per read path and side every 10 s (`store/metrics.rs`).
pub(crate) const METRICS: Table = Table {
    name: "migtui_metrics",
    columns: &[
        col("id", Serial),
        col("migration", Key),
        col("at_us", BigInt),
        col("path", Key),
        col("side", Key),
        col("secs", BigInt),
        col("count", BigInt),
        col("errors", BigInt),
        col("timeouts", BigInt),
        null("p50_us", BigInt),
        null("p95_us", BigInt),
        null("p99_us", BigInt),
        null("max_us", BigInt),
        col("hist", Text),
    ],
    primary_key: &[],
    indexes: &[("migtui_metrics_by_time", &["migration", "at_us"])],
};

/// One row per backup destination: where it is, what it holds (with the column types, so a
/// restore can re-add a dropped column), its checksum and whether it verified.
pub(crate) const BACKUPS: Table = Table {
    name: "migtui_backups",
    columns: &[
        col("migration", Key),
        col("name", Key),
        col("destination", Key),
        col("location", Text),
        col("database_name", Key),
        col("source_table", Key),
        col("key_columns", Text),
        col("columns", Text),
        col("rows_copied", BigInt),
        col("checksum", Key),
        col("size_bytes", BigInt),
        col("status", Key),
        null("detail", Text),
        col("created_us", BigInt),
        null("verified_us", BigInt),
        col("restore_command", Text),
    ],
    primary_key: &["migration", "name", "destination"],
    indexes: &[],
};

/// One row per divergent key of a check: both sides' values (redacted columns masked), when
/// and how often it was seen, and its status (`open`, `in_flight`, `healed`, `acknowledged`).
pub(crate) const DIVERGENCES: Table = Table {
    name: "migtui_divergences",
    columns: &[
        col("migration", Key),
        col("check_name", Key),
        col("key_text", Key),
        col("key_json", Text),
        col("kind", Key),
        col("columns", Text),
        null("old_raw", Text),
        null("new_raw", Text),
        null("old_norm", Text),
        null("new_norm", Text),
        col("source", Key),
        col("status", Key),
        null("note", Text),
        col("first_seen_us", BigInt),
        col("last_seen_us", BigInt),
        col("times_seen", BigInt),
    ],
    primary_key: &["migration", "check_name", "key_text"],
    indexes: &[
        (
            "migtui_divergences_by_status",
            &["migration", "check_name", "status"],
        ),
        // Schema version 8.
        (
            DIVERGENCES_BY_STATUS_KEY,
            &["migration", "status", "check_name", "key_text"],
        ),
    ],
};

/// Pages of one status in key order, and the counts per status (an index-only scan).
const DIVERGENCES_BY_STATUS_KEY: &str = "migtui_divergences_by_status_key";

/// Compared, divergent, healed and in-flight rows per check per minute: the rate and its bound
/// over any time window, and the time span the `shadow` gate asks for.
pub(crate) const VERIFY_WINDOWS: Table = Table {
    name: "migtui_verify_windows",
    columns: &[
        col("migration", Key),
        col("check_name", Key),
        col("window_us", BigInt),
        col("compared", BigInt),
        col("divergent", BigInt),
        col("healed", BigInt),
        col("in_flight", BigInt),
    ],
    primary_key: &["migration", "check_name", "window_us"],
    indexes: &[],
};

/// Where each check's full-table diff stands, so an interrupted one resumes from its last chunk.
pub(crate) const VERIFY_FULL: Table = Table {
    name: "migtui_verify_full",
    columns: &[
        col("migration", Key),
        col("check_name", Key),
        col("started_us", BigInt),
        col("updated_us", BigInt),
        col("rows_done", BigInt),
        col("divergent", BigInt),
        null("resume_key", Text),
        col("finished", BigInt),
    ],
    primary_key: &["migration", "check_name"],
    indexes: &[],
};

/// One row per backfill step: where it stands. Written in the same transaction as the chunk
/// when the state store is the step's target database.
pub(crate) const CHECKPOINTS: Table = Table {
    name: "migtui_checkpoints",
    columns: &[
        col("migration", Key),
        col("step", Key),
        // running | complete | failed
        col("status", Key),
        // The key values as JSON: the step's high-water mark and the last key written.
        null("high_water", Text),
        null("last_key", Text),
        col("rows_done", BigInt),
        col("chunks", BigInt),
        col("started_us", BigInt),
        col("updated_us", BigInt),
        null("error", Text),
    ],
    primary_key: &["migration", "step"],
    indexes: &[],
};

/// What each backfill step did over an interval of about 10 s: rows, retries and throttled
/// time, so the report can show the rate over time after the process is gone.
pub(crate) const BACKFILL_SAMPLES: Table = Table {
    name: "migtui_backfill_samples",
    columns: &[
        col("id", Serial),
        col("migration", Key),
        col("step", Key),
        col("at_us", BigInt),
        col("interval_ms", BigInt),
        col("rows_done", BigInt),
        col("retries", BigInt),
        col("throttled_ms", BigInt),
    ],
    primary_key: &[],
    indexes: &[("migtui_backfill_samples_by_time", &["migration", "at_us"])],
};

/// One row per run of a backfill step that had work left: when, by which process, and where it
/// resumed (a run after a crash or a kill resumes after the last committed chunk), so the report
/// counts interrupted and resumed runs after the processes are gone.
pub(crate) const BACKFILL_RUNS: Table = Table {
    name: "migtui_backfill_runs",
    columns: &[
        col("id", Serial),
        col("migration", Key),
        col("step", Key),
        col("at_us", BigInt),
        col("pid", BigInt),
        // The last key written before this run, as the cockpit shows it; NULL for a fresh start.
        null("resumed_after", Text),
        col("rows_before", BigInt),
    ],
    primary_key: &[],
    indexes: &[("migtui_backfill_runs_by_step", &["migration", "step"])],
};

fn col_type(d: &dyn Dialect, ty: ColType) -> &'static str {
    match ty {
        Serial => d.serial_primary_key(),
        Key => d.key_text_type(),
        Text => d.text_type(),
        BigInt => "BIGINT",
    }
}

/// The idempotent DDL for one table: `CREATE TABLE IF NOT EXISTS` and its indexes.
///
/// Where the engine lacks `CREATE INDEX IF NOT EXISTS`, the dialect says so and the indexes go
/// inline; the dialect also supplies the table options.
pub(crate) fn create_table_sql(d: &dyn Dialect, t: &Table) -> Vec<String> {
    let q = |s: &str| d.quote_ident(s);
    let list = |cols: &[&str]| cols.iter().map(|c| q(c)).collect::<Vec<_>>().join(", ");
    let inline = d.indexes_inline();
    let mut defs: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let not_null = if c.nullable || c.ty == Serial {
                ""
            } else {
                " NOT NULL"
            };
            format!("{} {}{not_null}", q(c.name), col_type(d, c.ty))
        })
        .collect();
    if !t.primary_key.is_empty() {
        defs.push(format!("PRIMARY KEY ({})", list(t.primary_key)));
    }
    if inline {
        defs.extend(
            t.indexes
                .iter()
                .map(|(name, cols)| format!("INDEX {} ({})", q(name), list(cols))),
        );
    }
    let options = d.state_table_options();
    let mut out = vec![format!(
        "CREATE TABLE IF NOT EXISTS {} (\n  {}\n){options}",
        q(t.name),
        defs.join(",\n  ")
    )];
    if !inline {
        out.extend(
            t.indexes
                .iter()
                .map(|(name, cols)| index_sql(d, t, name, cols)),
        );
    }
    out
}

/// `CREATE INDEX [IF NOT EXISTS]` for one index of `t`; the guard where the engine has it.
fn index_sql(d: &dyn Dialect, t: &Table, name: &str, cols: &[&str]) -> String {
    let guard = if d.indexes_inline() {
        ""
    } else {
        "IF NOT EXISTS "
    };
    let cols: Vec<String> = cols.iter().map(|c| d.quote_ident(c)).collect();
    format!(
        "CREATE INDEX {guard}{} ON {} ({})",
        d.quote_ident(name),
        d.quote_ident(t.name),
        cols.join(", ")
    )
}

/// Add index `name` of `t` to a table an older version created. Where the engine has no
/// `CREATE INDEX IF NOT EXISTS` (MySQL), the catalog says whether it is there, and a create
/// that fails because another process just made it counts as done.
async fn ensure_index(db: &Db, t: &Table, name: &str) -> Result<(), StoreError> {
    let Some((_, cols)) = t.indexes.iter().find(|(n, _)| *n == name) else {
        return Err(StoreError::Invalid(format!(
            "schema: index {name} is not declared on {}",
            t.name
        )));
    };
    let d = db.dialect();
    let stmt = index_sql(d, t, name, cols);
    if !d.indexes_inline() {
        return run_ddl(db, &stmt).await;
    }
    if index_exists(db, t, name).await? {
        return Ok(());
    }
    match db.execute_script(&stmt).await {
        Ok(()) => Ok(()),
        Err(_) if index_exists(db, t, name).await? => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Whether index `name` exists on `t` in the current MySQL/MariaDB database.
async fn index_exists(db: &Db, t: &Table, name: &str) -> Result<bool, StoreError> {
    let sql = "SELECT count(*) AS n FROM information_schema.statistics \
               WHERE table_schema = DATABASE() AND table_name = :t AND index_name = :i";
    let p = Params::new().bind("t", t.name).bind("i", name);
    Ok(db.query(sql, &p).await?.int(0, "n")? > 0)
}

const COMPONENT: &str = "store";

/// Run one idempotent DDL statement. Two processes creating the same table at once can still
/// collide (PostgreSQL's `IF NOT EXISTS` is not atomic: `pg_type_typname_nsp_index`), so a
/// failure is retried: the second run finds the object and does nothing.
async fn run_ddl(db: &Db, stmt: &str) -> Result<(), StoreError> {
    let mut tries = 0;
    loop {
        match db.execute_script(stmt).await {
            Ok(()) => return Ok(()),
            Err(_) if tries < 3 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(50 * tries)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The schema version recorded in the database, or `None` when no row exists yet.
pub(crate) async fn recorded_version(db: &Db) -> Result<Option<i64>, StoreError> {
    let sql = "SELECT version FROM migtui_schema WHERE component = :c";
    let rows = db.query(sql, &Params::new().bind("c", COMPONENT)).await?;
    if rows.is_empty() {
        return Ok(None);
    }
    Ok(Some(rows.int(0, "version")?))
}

/// Create or upgrade the `migtui_*` tables to [`SCHEMA_VERSION`]; returns the version now in
/// place. Safe to run concurrently from two processes: every statement is idempotent and the
/// version only moves forward.
pub(crate) async fn ensure(db: &Db) -> Result<i64, StoreError> {
    let d = db.dialect();
    for stmt in create_table_sql(d, &SCHEMA) {
        run_ddl(db, &stmt).await?;
    }
    let found = match recorded_version(db).await? {
        Some(v) => v,
        None => {
            let sql = format!(
                "INSERT INTO migtui_schema (component, version, updated_us) VALUES (:c, 0, {})",
                now_sql(d)
            );
            // Another process may have inserted it first; what counts is that a row exists.
            let inserted = db.execute(&sql, &Params::new().bind("c", COMPONENT)).await;
            match (inserted, recorded_version(db).await?) {
                (_, Some(v)) => v,
                (Err(e), None) => return Err(e.into()),
                (Ok(_), None) => {
                    return Err(StoreError::Invalid(
                        "migtui_schema: the version row vanished right after it was written".into(),
                    ));
                }
            }
        }
    };
    if found > SCHEMA_VERSION {
        return Err(StoreError::NewerSchema {
            db: db.name().to_string(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    for step in STEPS.iter().filter(|s| s.version > found) {
        for table in step.tables {
            for stmt in create_table_sql(d, table) {
                run_ddl(db, &stmt).await?;
            }
        }
        for (table, index) in step.indexes {
            ensure_index(db, table, index).await?;
        }
        let sql = format!(
            "UPDATE migtui_schema SET version = :v, updated_us = {} \
             WHERE component = :c AND version < :v",
            now_sql(d)
        );
        let params = Params::new().bind("v", step.version).bind("c", COMPONENT);
        db.execute(&sql, &params).await?;
    }
    Ok(recorded_version(db).await?.unwrap_or(found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Engine;

    #[test]
    fn ddl_is_idempotent_and_portable() {
        for engine in [Engine::Postgres, Engine::MySql, Engine::Sqlite] {
            let d = engine.dialect();
            for step in STEPS {
                for t in step.tables {
                    let sql = create_table_sql(d, t);
                    assert!(sql[0].starts_with("CREATE TABLE IF NOT EXISTS"), "{sql:?}");
                    assert!(sql[1..].iter().all(|s| s.contains("IF NOT EXISTS")));
                }
            }
        }
        let my = create_table_sql(Engine::MySql.dialect(), &AUDIT);
        assert_eq!(my.len(), 1, "MySQL indexes are inline");
        assert!(my[0].contains("INDEX `migtui_audit_by_time` (`migration`, `at_us`)"));
        let pg = create_table_sql(Engine::Postgres.dialect(), &AUDIT);
        assert_eq!(pg.len(), 4);
        assert!(pg[0].contains("\"id\" BIGSERIAL PRIMARY KEY,"));
    }

    #[test]
    fn indexes_added_later_are_declared_on_their_tables() {
        for step in STEPS {
            for (table, name) in step.indexes {
                assert!(
                    table.indexes.iter().any(|(n, _)| n == name),
                    "v{}: {name} is not declared on {}",
                    step.version,
                    table.name
                );
            }
        }
        let (_, cols) = DIVERGENCES.indexes[1];
        assert!(AUDIT.indexes.iter().any(|(n, _)| *n == AUDIT_BY_OPERATOR));
        let my = index_sql(Engine::MySql.dialect(), &DIVERGENCES, "i", cols);
        assert_eq!(
            my,
            "CREATE INDEX `i` ON `migtui_divergences` (`migration`, `status`, `check_name`, `key_text`)"
        );
        let pg = index_sql(Engine::Postgres.dialect(), &DIVERGENCES, "i", cols);
        assert!(
            pg.starts_with("CREATE INDEX IF NOT EXISTS \"i\" ON"),
            "{pg}"
        );
    }

    #[test]
    fn versions_increase() {
        assert!(STEPS.windows(2).all(|w| w[0].version < w[1].version));
        assert!(STEPS[0].version >= 1);
    }
}
