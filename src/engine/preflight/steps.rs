//! Checks of the `[[backfill]]` steps and `[[verify]]` checks: sources, targets, keys, queries.

use super::{Check, contains, describe};
use crate::config::{BackfillStep, Config, SourceKind, TargetWrite, VerifyCheck};
use crate::db::placeholders::placeholder_names;
use crate::engine::schema::{Schemas, missing_columns, quoted_list};

pub(super) async fn backfill_step(
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

pub(super) async fn verify_check(check: &VerifyCheck, schemas: &mut Schemas<'_>) -> Vec<Check> {
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
    for (side, db, sql) in [
        ("old", &check.old_database, &check.old_sql),
        ("new", &check.new_database, &check.new_sql),
    ] {
        match describe(schemas, db, sql, &check.key).await {
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
