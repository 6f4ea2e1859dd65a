//! Preflight: the checks `migtui check` prints and the `plan` gate measures. Each check says
//! what it looked at, whether it passed, and how to fix it. Nothing here changes the databases:
//! writability is probed inside transactions that roll back.

use std::collections::BTreeMap;

use serde::Serialize;

use super::schema::{Schemas, missing_columns, quoted_list};
use crate::config::{
    BackfillStep, Config, FlagBackend, Location, SourceKind, TargetWrite, VerifyCheck,
};
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
    fold_unconnected(checks)
}

/// Checks that could not run because their database is down say so once per database, not
/// once per check: the connection failure above is the one thing to fix.
fn fold_unconnected(checks: Vec<Check>) -> Vec<Check> {
    let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
    let mut out: Vec<Check> = Vec::with_capacity(checks.len());
    for c in checks {
        let down = c
            .detail
            .strip_prefix("database `")
            .and_then(|r| r.strip_suffix("` not connected"));
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
    let probe = d.quote_ident(&format!("migtui_preflight_{}", std::process::id()));
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

async fn backfill_step(
    config: &Config,
    step: &BackfillStep,
    schemas: &mut Schemas<'_>,
) -> Vec<Check> {
    let subject = format!("[[backfill]] \"{}\"", step.name);
    let mut out = Vec::new();
    let expand_creates = config.expand.as_ref().is_some_and(|e| !e.sql.is_empty());

    // Source: its columns, and a key that is unique.
    let source_columns: Option<Vec<String>> = match &step.from.kind {
        SourceKind::Table { table, columns } => match schemas
            .table(&step.from.database, table)
            .await
        {
            Err(e) => {
                out.push(Check::fail(
                    format!("{subject} source"),
                    e,
                    "see the database check above",
                ));
                None
            }
            Ok(None) => {
                out.push(Check::fail(
                    format!("{subject} source"),
                    format!(
                        "table {table} not found in database `{}`",
                        step.from.database
                    ),
                    format!("fix `from.table` at {}", step.at),
                ));
                None
            }
            Ok(Some(t)) => {
                let wanted = columns.clone().unwrap_or_else(|| t.column_names());
                let key = if step.from.key.is_empty() {
                    t.primary_key.clone()
                } else {
                    step.from.key.clone()
                };
                if let Some(msg) =
                    missing_columns(&t, &wanted).or_else(|| missing_columns(&t, &key))
                {
                    out.push(Check::fail(
                        format!("{subject} source"),
                        msg,
                        format!("fix `from` at {}", step.at),
                    ));
                } else if key.is_empty() {
                    out.push(Check::fail(
                        format!("{subject} source"),
                        format!("table {table} has no primary key, and the step names no `key`"),
                        format!("set `from.key` to a unique column list at {}", step.at),
                    ));
                } else if !t.is_unique_key(&key) {
                    out.push(Check::fail(
                        format!("{subject} source"),
                        format!("key ({}) is not unique in {table}: keyset pagination needs a unique key", key.join(", ")),
                        format!("use the primary key, or CREATE UNIQUE INDEX ON {table} ({})", key.join(", ")),
                    ));
                } else {
                    out.push(Check::ok(
                        format!("{subject} source"),
                        format!("{table} keyed by ({})", key.join(", ")),
                    ));
                }
                Some(wanted)
            }
        },
        SourceKind::Query { sql } => match describe(schemas, &step.from.database, sql, &[]).await {
            Err(e) => {
                out.push(Check::fail(
                    format!("{subject} source"),
                    e,
                    format!("fix `from.query` at {}", step.at),
                ));
                None
            }
            Ok(cols) => {
                let missing: Vec<&String> = step
                    .from
                    .key
                    .iter()
                    .filter(|k| !contains(&cols, k))
                    .collect();
                if missing.is_empty() {
                    out.push(Check::ok(
                        format!("{subject} source"),
                        format!("query returns ({})", cols.join(", ")),
                    ));
                } else {
                    out.push(Check::fail(
                        format!("{subject} source"),
                        format!(
                            "key column(s) {} not returned by the query (it returns {})",
                            quoted_list(&missing),
                            cols.join(", ")
                        ),
                        format!("select the key columns in `from.query` at {}", step.at),
                    ));
                }
                Some(cols)
            }
        },
    };

    // Target: the table and columns it writes, or the statement it runs.
    let target_subject = format!("{subject} target");
    match &step.to.write {
        TargetWrite::Copy {
            table,
            key,
            map,
            version_column,
            ..
        } => match schemas.table(&step.to.database, table).await {
            Err(e) => out.push(Check::fail(
                target_subject,
                e,
                "see the database check above",
            )),
            Ok(None) if expand_creates => out.push(Check::warn(
                target_subject,
                format!(
                    "table {table} does not exist yet in database `{}`",
                    step.to.database
                ),
                "it must be created by [expand] before the backfill phase",
            )),
            Ok(None) => out.push(Check::fail(
                target_subject,
                format!("table {table} not found in database `{}`", step.to.database),
                format!(
                    "create the new model first, or fix `to.table` at {}",
                    step.at
                ),
            )),
            Ok(Some(t)) => {
                // Unmapped source columns copy by name to the target columns that exist.
                let mut written: Vec<String> = map.keys().cloned().collect();
                for c in source_columns.iter().flatten() {
                    if !contains(&written, c) && t.column(c).is_some() {
                        written.push(c.clone());
                    }
                }
                let unwritten_key: Vec<&String> =
                    key.iter().filter(|k| !contains(&written, k)).collect();
                let mapped: Vec<String> = map
                    .keys()
                    .cloned()
                    .chain(version_column.iter().cloned())
                    .collect();
                if let Some(msg) = missing_columns(&t, key).or_else(|| missing_columns(&t, &mapped))
                {
                    out.push(Check::fail(
                        target_subject,
                        msg,
                        format!("fix `to` (key, map) at {}", step.at),
                    ));
                } else if source_columns.is_some() && !unwritten_key.is_empty() {
                    out.push(Check::fail(
                        target_subject,
                        format!("key column(s) {} of {table} get no value: not a source column and not in `map`", quoted_list(&unwritten_key)),
                        format!("select them in `from` or add them to `map` at {}", step.at),
                    ));
                } else if !t.is_unique_key(key) {
                    out.push(Check::fail(
                        target_subject,
                        format!("key ({}) is not unique in {table}: an upsert by key needs a unique index", key.join(", ")),
                        format!("CREATE UNIQUE INDEX ON {table} ({})", key.join(", ")),
                    ));
                } else {
                    out.push(Check::ok(
                        target_subject,
                        format!(
                            "{table} keyed by ({}), writes {}",
                            key.join(", "),
                            written.join(", ")
                        ),
                    ));
                }
            }
        },
        TargetWrite::Statement { sql } => {
            let unknown: Vec<String> = match &source_columns {
                Some(cols) => placeholder_names(sql)
                    .into_iter()
                    .filter(|p| !contains(cols, p))
                    .collect(),
                None => Vec::new(),
            };
            if !unknown.is_empty() {
                out.push(Check::fail(
                    target_subject,
                    format!(
                        "placeholder(s) {} are not source columns",
                        quoted_list(&unknown)
                    ),
                    format!("select them in `from`, or fix `to.sql` at {}", step.at),
                ));
            } else {
                match describe(schemas, &step.to.database, sql, &[]).await {
                    Ok(_) => out.push(Check::ok(target_subject, "statement prepares")),
                    Err(e) if expand_creates => out.push(Check::warn(
                        target_subject,
                        e,
                        "it must prepare once [expand] has run",
                    )),
                    Err(e) => out.push(Check::fail(
                        target_subject,
                        e,
                        format!("fix `to.sql` at {}", step.at),
                    )),
                }
            }
        }
    }
    out
}

async fn verify_check(check: &VerifyCheck, schemas: &mut Schemas<'_>) -> Vec<Check> {
    let subject = format!("[[verify]] \"{}\"", check.name);
    let mut out = Vec::new();
    let sample = &check.sample;
    match schemas.table(&sample.database, &sample.table).await {
        Err(e) => out.push(Check::fail(
            format!("{subject} sample"),
            e,
            "see the database check above",
        )),
        Ok(None) => out.push(Check::fail(
            format!("{subject} sample"),
            format!(
                "table {} not found in database `{}`",
                sample.table, sample.database
            ),
            format!("fix `sample.table` at {}", check.at),
        )),
        Ok(Some(t)) => {
            let mut wanted = check.key.clone();
            wanted.extend(sample.recent_column.iter().cloned());
            out.push(match missing_columns(&t, &wanted) {
                Some(msg) => Check::fail(
                    format!("{subject} sample"),
                    msg,
                    format!("fix `key` / `sample` at {}", check.at),
                ),
                None if !t.is_unique_key(&check.key) => Check::fail(
                    format!("{subject} sample"),
                    format!(
                        "key ({}) is not unique in {}",
                        check.key.join(", "),
                        sample.table
                    ),
                    "verification reads rows by key: use the primary key or a unique index",
                ),
                None => Check::ok(
                    format!("{subject} sample"),
                    format!("{} keyed by ({})", sample.table, check.key.join(", ")),
                ),
            });
        }
    }
    let mut sides = Vec::new();
    for (side, sql) in [("old", &check.old_sql), ("new", &check.new_sql)] {
        match describe(schemas, side, sql, &check.key).await {
            Err(e) => out.push(Check::fail(
                format!("{subject} {side} query"),
                e,
                format!("fix `{side}` at {}", check.at),
            )),
            Ok(cols) => {
                let missing: Vec<&String> =
                    check.key.iter().filter(|k| !contains(&cols, k)).collect();
                if missing.is_empty() {
                    out.push(Check::ok(
                        format!("{subject} {side} query"),
                        format!("returns ({})", cols.join(", ")),
                    ));
                    sides.push(cols);
                } else {
                    out.push(Check::fail(
                        format!("{subject} {side} query"),
                        format!(
                            "does not return the key column(s) {}",
                            quoted_list(&missing)
                        ),
                        format!("select the key in `{side}` at {}", check.at),
                    ));
                }
            }
        }
    }
    if let [old, new] = sides.as_slice() {
        let norm = |v: &Vec<String>| {
            let mut v: Vec<String> = v.iter().map(|c| c.to_ascii_lowercase()).collect();
            v.sort();
            v
        };
        if norm(old) != norm(new) {
            out.push(Check::fail(
                format!("{subject} columns"),
                format!(
                    "old returns ({}) but new returns ({}): rows are compared column by column",
                    old.join(", "),
                    new.join(", ")
                ),
                format!("alias the columns to the same names (`AS`) at {}", check.at),
            ));
        }
    }
    out
}

async fn flag_check(flag: &crate::config::FlagConfig, schemas: &mut Schemas<'_>) -> Check {
    let subject = "[flag]".to_string();
    match &flag.backend {
        FlagBackend::Sql {
            database,
            table,
            key_column,
            value_column,
        } => {
            let Some(db) = schemas.db(database) else {
                return Check::fail(
                    subject,
                    format!("database `{database}` not connected"),
                    "fix the database connection above",
                );
            };
            let d = db.dialect();
            match schemas.table(database, table).await {
                Err(e) => Check::fail(subject, e, "see the database check above"),
                Ok(None) => Check::fail(
                    subject,
                    format!(
                        "flag table {table} not found in database `{database}`; migtui never creates tables in the application's schema unasked"
                    ),
                    format!(
                        "create it: CREATE TABLE {} ({} {} PRIMARY KEY, {} {} NOT NULL)",
                        d.quote_path(table),
                        d.quote_ident(key_column),
                        d.key_text_type(),
                        d.quote_ident(value_column),
                        d.text_type()
                    ),
                ),
                Ok(Some(t)) => {
                    if let Some(msg) =
                        missing_columns(&t, &[key_column.clone(), value_column.clone()])
                    {
                        return Check::fail(
                            subject,
                            msg,
                            format!("fix `key_column` / `value_column` at {}", flag.at),
                        );
                    }
                    // Writable: touch the row in a transaction that rolls back.
                    let sql = format!(
                        "UPDATE {} SET {v} = {v} WHERE {k} = :key",
                        d.quote_path(table),
                        v = d.quote_ident(value_column),
                        k = d.quote_ident(key_column)
                    );
                    let probe = async {
                        let mut tx = db.begin().await?;
                        let n = tx
                            .execute(&sql, &Params::new().bind("key", flag.key.as_str()))
                            .await?;
                        tx.rollback().await?;
                        Ok::<u64, db::DbError>(n)
                    };
                    match probe.await {
                        Ok(1) => Check::ok(
                            subject,
                            format!("{table}.{value_column} for key {} is writable", flag.key),
                        ),
                        Ok(_) => Check::warn(
                            subject,
                            format!("no row for key {} in {table} yet", flag.key),
                            format!(
                                "insert it with the current value, e.g. INSERT INTO {table} ({key_column}, {value_column}) VALUES ('{}', 'false')",
                                flag.key
                            ),
                        ),
                        Err(e) => Check::fail(
                            subject,
                            format!("cannot write {table}: {e}"),
                            format!("grant UPDATE on {table} to migtui's user"),
                        ),
                    }
                }
            }
        }
        FlagBackend::File { path } => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let probe = dir.join(format!(".migtui-preflight-{}", std::process::id()));
            match std::fs::write(&probe, b"") {
                Ok(()) => {
                    let _ = std::fs::remove_file(&probe);
                    Check::ok(subject, format!("flag file {} is writable", path.display()))
                }
                Err(e) => Check::fail(
                    subject,
                    format!("cannot write in {}: {e}", dir.display()),
                    "create the directory or fix `path`",
                ),
            }
        }
        FlagBackend::Command { set, .. } => {
            let program = set.split_whitespace().next().unwrap_or_default();
            if which(program) {
                Check::ok(subject, format!("flag command `{program}` found"))
            } else {
                Check::fail(
                    subject,
                    format!("flag command `{program}` not found"),
                    "install it or give its full path",
                )
            }
        }
    }
}

fn which(program: &str) -> bool {
    if program.contains('/') {
        return std::path::Path::new(program).is_file();
    }
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
}

/// `table` and `table.column` objects that must exist in `database`.
pub async fn expected_objects(
    database: &str,
    expect: &[String],
    created_by_expand: bool,
    at: &Location,
    schemas: &mut Schemas<'_>,
) -> Vec<Check> {
    let mut out = Vec::new();
    for object in expect {
        let (table, column) = match object.rsplit_once('.') {
            // `schema.table` vs `table.column`: a column is named when the table part exists.
            Some((t, c)) if matches!(schemas.table(database, t).await, Ok(Some(_))) => {
                (t.to_string(), Some(c.to_string()))
            }
            _ => (object.clone(), None),
        };
        let subject = format!("[expand] {object}");
        let found = match schemas.table(database, &table).await {
            Err(e) => {
                out.push(Check::fail(subject, e, "see the database check above"));
                continue;
            }
            Ok(t) => t.is_some_and(|t| column.as_ref().is_none_or(|c| t.column(c).is_some())),
        };
        out.push(match (found, created_by_expand) {
            (true, _) => Check::ok(subject, format!("present in database `{database}`")),
            (false, true) => Check::warn(
                subject,
                format!("not present yet in database `{database}`"),
                "the expand phase runs the [expand] sql",
            ),
            (false, false) => Check::fail(
                subject,
                format!("not found in database `{database}`"),
                format!("create it, or add the DDL to [expand] sql ({at})"),
            ),
        });
    }
    out
}

/// Prepare `sql` on a database and return its result columns, binding every placeholder as
/// NULL (and `:keys` as one NULL key) so the server checks syntax, tables and columns.
async fn describe(
    schemas: &Schemas<'_>,
    database: &str,
    sql: &str,
    key: &[String],
) -> Result<Vec<String>, String> {
    let Some(db) = schemas.db(database) else {
        return Err(format!("database `{database}` not connected"));
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

fn contains(list: &[String], name: &str) -> bool {
    list.iter().any(|c| c.eq_ignore_ascii_case(name))
}
