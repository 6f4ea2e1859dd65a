//! Preflight: the checks `migtui check` prints and the `plan` gate measures. Each check says
//! what it looked at, whether it passed, and how to fix it. Nothing here changes the databases:
//! writability is probed inside transactions that roll back.

use std::collections::BTreeMap;

use serde::Serialize;

mod contract;
mod objects;
mod steps;

pub use objects::expected_objects;
use objects::flag_check;
use steps::{backfill_step, verify_check};

use super::schema::{Schemas, down_database, missing_columns, not_connected};
use crate::config::Config;
use crate::db::{self, Db, Param, Params, Value, placeholders::placeholder_names};

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Not a failure now, but worth knowing (e.g. a table the expand phase will create).
    Warn,
    Fail,
}

/// One line of `migtui check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// What was checked: `database old`, `[[backfill]] "incidents"`, …
    pub subject: String,
    pub status: Status,
    pub detail: String,
    /// What to do about a warning or failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(subject: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            subject: subject.into(),
            status: Status::Ok,
            detail: detail.into(),
            fix: None,
        }
    }
    fn fail(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            subject: subject.into(),
            status: Status::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    fn warn(subject: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            subject: subject.into(),
            status: Status::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Connect to every database in the file. Failures become checks, not errors, so one
/// unreachable server does not hide the other problems.
pub async fn connect_all(config: &Config) -> (BTreeMap<String, Db>, Vec<Check>) {
    let mut dbs = BTreeMap::new();
    let mut checks = Vec::new();
    let attempts = config
        .databases
        .values()
        .map(|cfg| async move { (cfg, db::connect(cfg, &config.secrets).await) });
    for (cfg, result) in futures::future::join_all(attempts).await {
        let subject = format!("database {}", cfg.name);
        match result {
            Ok(conn) => {
                let version = conn
                    .server_version()
                    .await
                    .unwrap_or_else(|e| format!("version unknown: {e}"));
                checks.push(Check::ok(
                    &subject,
                    format!(
                        "{} {} at {}",
                        conn.engine(),
                        short_version(&version),
                        conn.target()
                    ),
                ));
                dbs.insert(cfg.name.clone(), conn);
            }
            Err(e) => {
                let text = config.secrets.mask(&e.to_string());
                let (detail, hint) = text
                    .split_once("\n  hint: ")
                    .unwrap_or((&text, "check the URL and that the server is running"));
                checks.push(Check::fail(
                    &subject,
                    detail.to_string(),
                    format!("{hint} ({})", cfg.at),
                ));
            }
        }
    }
    (dbs, checks)
}

fn short_version(v: &str) -> String {
    // "PostgreSQL 15.19 (Debian 15.19-0+deb12u1) on x86_64…" → "15.19"; MariaDB "10.11.19-MariaDB-…" → as is.
    let v = v.strip_prefix("PostgreSQL ").unwrap_or(v);
    v.split_whitespace().next().unwrap_or(v).to_string()
}

/// Every schema check of the file against the connected databases.
pub async fn schema_checks(config: &Config, dbs: &BTreeMap<String, Db>) -> Vec<Check> {
    let mut schemas = Schemas::new(dbs);
    let mut checks = Vec::new();
    checks.push(state_store(config, dbs).await);
    for step in &config.backfill {
        checks.extend(backfill_step(config, step, &mut schemas).await);
    }
    for check in &config.verify {
        checks.extend(verify_check(check, &mut schemas).await);
    }
    for path in &config.paths {
        for (side, db_name, sql) in [("old", "old", &path.old_sql), ("new", "new", &path.new_sql)] {
            let subject = format!("[[path]] \"{}\" ({side})", path.name);
            checks.push(match describe(&schemas, db_name, sql, &[]).await {
                Ok(_) => Check::ok(subject, "query prepares"),
                Err(e) => Check::fail(subject, e, format!("fix the `{side}` query at {}", path.at)),
            });
        }
    }
    if let Some(flag) = &config.flag {
        checks.push(flag_check(flag, &mut schemas).await);
    }
    for backup in &config.backups {
        let subject = format!("[[backup]] \"{}\"", backup.name);
        checks.push(match schemas.table(&backup.database, &backup.table).await {
            Err(e) => Check::fail(
                subject,
                e,
                format!("see the database check above ({})", backup.at),
            ),
            Ok(None) => Check::fail(
                subject,
                format!(
                    "table {} not found in database `{}`",
                    backup.table, backup.database
                ),
                format!("fix `table` at {}", backup.at),
            ),
            Ok(Some(t)) => match missing_columns(&t, &backup.columns) {
                Some(msg) => Check::fail(subject, msg, format!("fix `columns` at {}", backup.at)),
                None => Check::ok(
                    subject,
                    format!("{} ({}) present", backup.table, backup.columns.join(", ")),
                ),
            },
        });
    }
    if let Some(expand) = &config.expand {
        checks.extend(
            expected_objects(
                &expand.database,
                &expand.expect,
                !expand.sql.is_empty(),
                &expand.at,
                &mut schemas,
            )
            .await,
        );
    }
    checks.extend(contract::contract_checks(config, dbs).await);
    fold_unconnected(checks)
}

/// Checks that could not run because their database is down say so once per database, not
/// once per check: the connection failure above is the one thing to fix.
fn fold_unconnected(checks: Vec<Check>) -> Vec<Check> {
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Check> = Vec::with_capacity(checks.len());
    for c in checks {
        let down = down_database(&c.detail);
        match down {
            Some(db) if c.status == Status::Fail => {
                *skipped.entry(db.to_string()).or_default() += 1
            }
            _ => out.push(c),
        }
    }
    for (db, n) in skipped {
        out.push(Check::fail(
            format!("database {db}"),
            format!("{n} schema check(s) skipped: not connected"),
            "fix the connection above and run `migtui check` again",
        ));
    }
    out
}

/// The state store's database must be reachable, and writable by this user.
async fn state_store(config: &Config, dbs: &BTreeMap<String, Db>) -> Check {
    let name = &config.state.database;
    let subject = format!("state store (database {name})");
    let Some(db) = dbs.get(name) else {
        return Check::fail(
            subject,
            "not connected",
            "fix the database connection above",
        );
    };
    let d = db.dialect();
    // Unique per call: on MySQL the DDL commits at once, so two checks must not share a name.
    let probe = d.quote_ident(&format!(
        "migtui_preflight_{}",
        uuid::Uuid::new_v4().simple()
    ));
    let script = async {
        let mut tx = db.begin().await?;
        tx.execute(&format!("CREATE TABLE {probe} (x INTEGER)"), &Params::new())
            .await?;
        tx.execute(
            &format!("INSERT INTO {probe} (x) VALUES (1)"),
            &Params::new(),
        )
        .await?;
        tx.execute(&format!("DROP TABLE {probe}"), &Params::new())
            .await?;
        tx.rollback().await
    };
    match script.await {
        Ok(()) => Check::ok(subject, "writable (migtui_* tables can be created there)"),
        Err(e) => Check::fail(
            subject,
            format!(
                "cannot create tables: {}",
                config.secrets.mask(&e.to_string())
            ),
            format!(
                "grant CREATE on database `{name}` to migtui's user, or point [state] database elsewhere"
            ),
        ),
    }
}

/// Prepare `sql` on a database and return its result columns, binding every placeholder as
/// NULL (and `:keys` as one NULL key) so the server checks syntax, tables and columns.
pub(super) async fn describe(
    schemas: &Schemas<'_>,
    database: &str,
    sql: &str,
    key: &[String],
) -> Result<Vec<String>, String> {
    let Some(db) = schemas.db(database) else {
        return Err(not_connected(database));
    };
    let mut params = Params::new();
    for name in placeholder_names(sql) {
        let p = if name == "keys" && key.len() > 1 {
            Param::Tuples(vec![vec![Value::Null; key.len()]])
        } else if name == "keys" {
            Param::List(vec![Value::Null])
        } else {
            Param::One(Value::Null)
        };
        params.set(&name, p);
    }
    db.describe(sql, &params).await.map_err(|e| e.to_string())
}

pub(super) fn contains(list: &[String], name: &str) -> bool {
    list.iter().any(|c| c.eq_ignore_ascii_case(name))
}
