//! Checks of the objects around the data: the read flag's target and the expected new model.

use super::Check;
use crate::config::{FlagBackend, FlagConfig, Location};
use crate::db::{self, Params};
use crate::engine::schema::{Schemas, missing_columns, not_connected};

pub(super) async fn flag_check(flag: &FlagConfig, schemas: &mut Schemas<'_>) -> Check {
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
                    not_connected(database),
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
                    // An existing file must be flagd JSON migtui can read: it refuses to
                    // overwrite anything else.
                    let no_dbs = std::collections::BTreeMap::new();
                    let secrets = crate::secret::Secrets::default();
                    let read = match crate::engine::flag::Flag::new(Some(flag), &no_dbs, &secrets) {
                        Ok(f) => f.get().await.map(|_| ()).map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match read {
                        Ok(()) => {
                            Check::ok(subject, format!("flag file {} is writable", path.display()))
                        }
                        Err(e) => Check::fail(
                            subject,
                            e.lines().next().unwrap_or_default().to_string(),
                            "fix the file (flagd flag-definition JSON) or point `path` elsewhere",
                        ),
                    }
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
