//! The demo's databases: the old model (incidents with hard-coded status strings) and the new
//! one (per-organisation `incident_statuses`, `incidents.incident_status_id`, the read flag),
//! on SQLite files or on the servers the operator names. The old side gets `rows` incidents
//! across `orgs` organisations in one transaction of multi-row inserts.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};

use super::DemoError;
use super::values::timestamp;
use crate::db::{Db, Engine, Params, Value};

/// The statuses every organisation has; some add one or two of [`EXTRA_STATUSES`].
pub const BASE_STATUSES: [&str; 4] = ["investigating", "fixing", "monitoring", "closed"];
/// Statuses some organisations define on top of the base ones.
pub const EXTRA_STATUSES: [&str; 4] = ["triage", "acknowledged", "postmortem", "resolved"];

/// The new model's view of each incident's status by name: what the full verify compares
/// with the old model's `status` column.
pub const STATUS_VIEW: &str = "incidents_with_status";

/// The tables the demo creates, by side (a reset drops them first).
pub const OLD_TABLES: [&str; 2] = ["migtui_backup_incidents_status", "incidents"];
pub const NEW_TABLES: [&str; 3] = ["incidents", "incident_statuses", "feature_flags"];

/// The read flag's key in `feature_flags`.
pub const FLAG_KEY: &str = "incidents.read_from_new";

/// Rows per multi-row `INSERT` (8 parameters each: within every engine's limit).
const ROWS_PER_INSERT: usize = 500;

const SUBJECTS: [&str; 8] = [
    "Checkout latency spike",
    "Login errors in eu-west",
    "Search index lagging",
    "Payments webhook retries",
    "Mobile push delays",
    "Elevated 5xx on API",
    "Disk pressure on db-3",
    "Certificate expiring",
];
const SOURCES: [&str; 4] = ["api", "pagerduty", "slack", "email"];

/// What to build.
#[derive(Debug, Clone)]
pub struct FixtureOptions {
    pub rows: u64,
    pub orgs: u64,
    pub seed: u64,
    /// Drop the demo tables (and migtui's state tables) when they exist, instead of refusing.
    pub reset: bool,
}

/// What was built, and how long it took.
#[derive(Debug, Clone)]
pub struct FixtureReport {
    pub rows: u64,
    pub orgs: u64,
    pub elapsed: Duration,
}

/// The statuses of one organisation: the base ones and, for some, one or two extras. The same
/// for the same seed, so the simulated application picks statuses the organisation has.
pub fn org_statuses(seed: u64, org: i64) -> Vec<&'static str> {
    let mut rng = fastrand::Rng::with_seed(seed ^ (org as u64).wrapping_mul(0x9E37_79B9));
    let mut out = BASE_STATUSES.to_vec();
    for extra in EXTRA_STATUSES {
        if rng.u8(0..4) == 0 {
            out.push(extra);
        }
    }
    out
}

/// One incident of the old model, as the fixture and the simulated application create it.
#[derive(Debug, Clone)]
pub struct Incident {
    pub id: i64,
    pub organisation_id: i64,
    pub status: String,
    pub title: String,
    pub severity: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub payload: serde_json::Value,
}

impl Incident {
    /// A plausible incident: most are closed, a few still open.
    pub fn generate(rng: &mut fastrand::Rng, id: i64, orgs: u64, seed: u64) -> Incident {
        let organisation_id = rng.i64(1..=orgs.max(1) as i64);
        let statuses = org_statuses(seed, organisation_id);
        let status = if rng.u8(0..10) < 7 {
            "closed"
        } else {
            statuses[rng.usize(0..statuses.len())]
        };
        let start = Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).single();
        let created_at = start.unwrap_or_else(Utc::now) + chrono::Duration::seconds(id * 97);
        let updated_at = created_at + chrono::Duration::seconds(rng.i64(5..86_400));
        Incident {
            id,
            organisation_id,
            status: status.to_string(),
            title: format!("{} #{id}", SUBJECTS[rng.usize(0..SUBJECTS.len())]),
            severity: rng.i64(1..=5),
            created_at,
            updated_at,
            payload: serde_json::json!({
                "source": SOURCES[rng.usize(0..SOURCES.len())],
                "n": id,
            }),
        }
    }

    /// The old model's row, in `OLD_COLUMNS` order, typed for `engine`.
    pub fn old_row(&self, engine: Engine) -> Vec<Value> {
        vec![
            Value::Int(self.id),
            Value::Int(self.organisation_id),
            Value::Text(self.status.clone()),
            Value::Text(self.title.clone()),
            Value::Int(self.severity),
            timestamp(engine, self.created_at),
            timestamp(engine, self.updated_at),
            Value::Json(self.payload.clone()),
        ]
    }
}

/// The old model's columns, in the order of [`Incident::old_row`].
pub const OLD_COLUMNS: &str =
    "id, organisation_id, status, title, severity, created_at, updated_at, payload";

fn old_ddl(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "CREATE TABLE incidents (id INTEGER PRIMARY KEY, organisation_id INTEGER NOT NULL, \
             status TEXT NOT NULL, title TEXT NOT NULL, severity INTEGER NOT NULL, \
             created_at TEXT NOT NULL, updated_at TEXT NOT NULL, payload TEXT NOT NULL);\n\
             CREATE INDEX incidents_updated_at ON incidents (updated_at);"
        }
        Engine::Postgres => {
            "CREATE TABLE incidents (id BIGINT PRIMARY KEY, organisation_id BIGINT NOT NULL, \
             status TEXT NOT NULL, title TEXT NOT NULL, severity INTEGER NOT NULL, \
             created_at TIMESTAMPTZ NOT NULL, updated_at TIMESTAMPTZ NOT NULL, \
             payload JSONB NOT NULL);\n\
             CREATE INDEX incidents_updated_at ON incidents (updated_at);"
        }
        Engine::MySql => {
            "CREATE TABLE incidents (id BIGINT PRIMARY KEY, organisation_id BIGINT NOT NULL, \
             status VARCHAR(32) NOT NULL, title TEXT NOT NULL, severity INT NOT NULL, \
             created_at DATETIME(6) NOT NULL, updated_at DATETIME(6) NOT NULL, \
             payload JSON NOT NULL, KEY incidents_updated_at (updated_at)) \
             DEFAULT CHARSET = utf8mb4 COLLATE utf8mb4_bin;"
        }
    }
}

fn new_ddl(engine: Engine) -> Result<&'static str, DemoError> {
    match engine {
        Engine::Sqlite => Ok(
            "CREATE TABLE incident_statuses (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             organisation_id INTEGER NOT NULL, name TEXT NOT NULL, UNIQUE (organisation_id, name));\n\
             CREATE TABLE incidents (id INTEGER PRIMARY KEY, organisation_id INTEGER NOT NULL, \
             incident_status_id INTEGER REFERENCES incident_statuses (id), title TEXT NOT NULL, \
             severity INTEGER NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL, \
             payload TEXT NOT NULL);\n\
             CREATE TABLE feature_flags (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n\
             CREATE VIEW incidents_with_status AS SELECT i.id, s.name AS status FROM incidents i \
             LEFT JOIN incident_statuses s ON s.id = i.incident_status_id;",
        ),
        Engine::Postgres => Ok("CREATE TABLE incident_statuses (id BIGSERIAL PRIMARY KEY, \
             organisation_id BIGINT NOT NULL, name TEXT NOT NULL, UNIQUE (organisation_id, name));\n\
             CREATE TABLE incidents (id BIGINT PRIMARY KEY, organisation_id BIGINT NOT NULL, \
             incident_status_id BIGINT REFERENCES incident_statuses (id), title TEXT NOT NULL, \
             severity INTEGER NOT NULL, created_at TIMESTAMPTZ NOT NULL, \
             updated_at TIMESTAMPTZ NOT NULL, payload JSONB NOT NULL);\n\
             CREATE TABLE feature_flags (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n\
             CREATE VIEW incidents_with_status AS SELECT i.id, s.name AS status FROM incidents i \
             LEFT JOIN incident_statuses s ON s.id = i.incident_status_id;"),
        Engine::MySql => Err(DemoError::Failed(
            "the demo's new side runs on SQLite or PostgreSQL (--postgres URL); MariaDB/MySQL \
             can hold the old side (--mysql URL)"
                .into(),
        )),
    }
}

/// Whether any demo table (or migtui's state) already exists in `db`.
async fn existing(db: &Db, tables: &[&str]) -> Result<Vec<String>, DemoError> {
    let mut found = Vec::new();
    for t in tables {
        if db.table_info(t).await?.is_some() {
            found.push((*t).to_string());
        }
    }
    Ok(found)
}

/// Drop `tables` (those that exist), children first.
async fn drop_tables(db: &Db, tables: &[&str]) -> Result<(), DemoError> {
    let d = db.dialect();
    for t in tables {
        if db.table_info(t).await?.is_some() {
            let sql = format!("DROP TABLE {}", d.quote_ident(t));
            db.execute(&sql, &Params::new()).await?;
        }
    }
    Ok(())
}

/// migtui's state tables (dropped by a reset, so the demo starts at `plan`).
pub const STATE_TABLES: [&str; 11] = [
    "migtui_checkpoints",
    "migtui_verify_full",
    "migtui_verify_windows",
    "migtui_divergences",
    "migtui_backups",
    "migtui_metrics",
    "migtui_lease",
    "migtui_audit",
    "migtui_phase_history",
    "migtui_migration",
    "migtui_schema",
];

/// Create the old and new models and fill the old one. Refuses when the demo's tables exist
/// already, unless `reset` (which drops them, and migtui's state tables, first).
pub async fn build(old: &Db, new: &Db, opts: &FixtureOptions) -> Result<FixtureReport, DemoError> {
    let started = Instant::now();
    let mut found = existing(old, &OLD_TABLES).await?;
    found.extend(existing(new, &NEW_TABLES).await?);
    found.extend(existing(new, &STATE_TABLES).await?);
    if !found.is_empty() {
        if !opts.reset {
            return Err(DemoError::Failed(format!(
                "the demo's tables already exist ({}); the demo will not overwrite them\n  \
                 hint: pass --reset to drop them (and migtui's state tables) and start again, \
                 or point the demo at an empty database",
                found.join(", ")
            )));
        }
        drop_tables(old, &OLD_TABLES).await?;
        if new.table_info(STATUS_VIEW).await?.is_some() {
            let sql = format!("DROP VIEW {}", new.dialect().quote_ident(STATUS_VIEW));
            new.execute(&sql, &Params::new()).await?;
        }
        drop_tables(new, &NEW_TABLES).await?;
        drop_tables(new, &STATE_TABLES).await?;
    }
    for db in [old, new] {
        if db.engine() == Engine::Sqlite {
            // Readers and the writers (backfill, application, state store) side by side.
            db.execute_script("PRAGMA journal_mode = WAL;").await?;
        }
    }
    new.execute_script(new_ddl(new.engine())?).await?;
    new.execute(
        "INSERT INTO feature_flags (key, value) VALUES (:k, 'false')",
        &Params::new().bind("k", FLAG_KEY),
    )
    .await?;
    old.execute_script(old_ddl(old.engine())).await?;
    fill(old, opts).await?;
    Ok(FixtureReport {
        rows: opts.rows,
        orgs: opts.orgs,
        elapsed: started.elapsed(),
    })
}

/// Insert `rows` incidents into the old model: one transaction, `ROWS_PER_INSERT` per statement.
async fn fill(old: &Db, opts: &FixtureOptions) -> Result<(), DemoError> {
    let engine = old.engine();
    let mut rng = fastrand::Rng::with_seed(opts.seed);
    let sql = format!("INSERT INTO incidents ({OLD_COLUMNS}) VALUES :rows");
    let mut tx = old.begin().await?;
    let mut batch = Vec::with_capacity(ROWS_PER_INSERT);
    for id in 1..=opts.rows as i64 {
        batch.push(Incident::generate(&mut rng, id, opts.orgs, opts.seed).old_row(engine));
        if batch.len() == ROWS_PER_INSERT || id == opts.rows as i64 {
            let rows = std::mem::take(&mut batch);
            tx.execute(&sql, &Params::new().bind_tuples("rows", rows))
                .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_stable_per_seed_and_include_the_base_ones() {
        assert_eq!(org_statuses(7, 3), org_statuses(7, 3));
        for org in 1..50 {
            let s = org_statuses(7, org);
            assert!(BASE_STATUSES.iter().all(|b| s.contains(b)));
        }
    }

    #[test]
    fn generated_incidents_use_their_organisations_statuses() {
        let mut rng = fastrand::Rng::with_seed(1);
        for id in 1..500 {
            let i = Incident::generate(&mut rng, id, 20, 1);
            assert!((1..=20).contains(&i.organisation_id));
            assert!(org_statuses(1, i.organisation_id).contains(&i.status.as_str()));
            assert!(i.updated_at > i.created_at);
        }
    }
}
