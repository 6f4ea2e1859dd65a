//! The sections that describe what to do around the data: expand DDL, the read flag, the
//! backups and the contract.

use std::path::{Path, PathBuf};

use toml::de::DeValue;

use super::parse::{Refs, database_ref, positive};
use super::read::{Section, Str, wrong_type};
use super::source::{Cx, did_you_mean};
use super::*;

pub(crate) fn expand(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
) -> Option<ExpandConfig> {
    let s = Section::new("[expand]", s.table, s.at);
    s.only(cx, &["database", "sql", "expect"]);
    let database = database_ref(cx, &s, "database", "new", refs);
    let sql = s.str_list(cx, "sql", true).unwrap_or_default();
    let expect = s.str_list(cx, "expect", true).unwrap_or_default();
    for e in &expect {
        let parts: Vec<&str> = e.value.split('.').collect();
        if parts.len() > 2 || parts.iter().any(|p| p.trim().is_empty()) {
            cx.problem(
                e.at,
                format!(
                    "`expect` in [expand]: `{}` is not `table` or `table.column`",
                    e.value
                ),
                Some(
                    "e.g. expect = [\"incident_statuses\", \"incidents.incident_status_id\"]"
                        .to_string(),
                ),
            );
        }
    }
    Some(ExpandConfig {
        database,
        sql: sql.into_iter().map(|s| s.value).collect(),
        expect: expect.into_iter().map(|s| s.value).collect(),
        at: cx.loc(s.at),
    })
}

/// A file path from the migration file, relative to the file's own directory.
fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

pub(crate) fn flag(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
    base: &Path,
) -> Option<FlagConfig> {
    let s = Section::new("[flag]", s.table, s.at);
    let backend = s.str(cx, "backend");
    let kind = backend.as_ref().map_or("sql", |b| b.value.as_str());
    let specific: &[&str] = match kind {
        "sql" => &["database", "table", "key_column", "value_column"],
        "file" => &["path"],
        "command" => &["set", "get"],
        other => {
            let hint = match did_you_mean(other, ["sql", "file", "command"]) {
                Some(m) => format!("did you mean `{m}`?"),
                None => "backends: sql, file (OpenFeature flagd JSON), command".to_string(),
            };
            cx.problem(
                backend.as_ref().map_or(s.at, |b| b.at),
                format!("unknown flag backend `{other}` in [flag]"),
                Some(hint),
            );
            return None;
        }
    };
    let mut allowed = vec!["backend", "key", "ramp"];
    allowed.extend_from_slice(specific);
    // A key of another backend gets a hint naming the backend it belongs to.
    for (other, keys) in [
        (
            "sql",
            &["database", "table", "key_column", "value_column"][..],
        ),
        ("file", &["path"][..]),
        ("command", &["set", "get"][..]),
    ] {
        for key in keys.iter().filter(|k| !allowed.contains(k) && s.has(k)) {
            cx.problem(
                s.key_at(key),
                format!("`{key}` in [flag] applies only to backend = \"{other}\""),
                Some(format!(
                    "this flag uses backend = \"{kind}\", which takes: {}",
                    specific.join(", ")
                )),
            );
        }
    }
    let known: Vec<&str> = [
        "database",
        "table",
        "key_column",
        "value_column",
        "path",
        "set",
        "get",
    ]
    .into_iter()
    .chain(allowed.iter().copied())
    .collect();
    s.only(cx, &known);
    let key = s.req_str(cx, "key");
    let mut ramp = Vec::new();
    if let Some(v) = s.get("ramp") {
        match v.get_ref() {
            DeValue::Array(items) => {
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix())
                            .ok()
                            .and_then(|n| u8::try_from(n).ok())
                            .filter(|n| *n <= 100)
                        {
                            Some(n) => ramp.push(n),
                            None => cx.problem(
                                item.span().start,
                                "`ramp` in [flag]: a percentage is between 0 and 100",
                                None,
                            ),
                        },
                        _ => wrong_type(
                            cx,
                            item,
                            "`ramp` in [flag]",
                            "an integer",
                            "ramp = [0, 1, 5, 25, 50, 100]",
                        ),
                    }
                }
            }
            _ => wrong_type(
                cx,
                v,
                "`ramp` in [flag]",
                "an array of integers",
                "ramp = [0, 1, 5, 25, 50, 100]",
            ),
        }
    }
    let backend = match kind {
        "sql" => FlagBackend::Sql {
            database: database_ref(cx, &s, "database", "new", refs),
            table: s.req_str(cx, "table")?.value,
            key_column: s.str(cx, "key_column").map_or("key".into(), |v| v.value),
            value_column: s
                .str(cx, "value_column")
                .map_or("value".into(), |v| v.value),
        },
        "file" => FlagBackend::File {
            path: resolve(base, &s.req_str(cx, "path")?.value),
        },
        _ => FlagBackend::Command {
            set: s.req_str(cx, "set")?.value,
            get: s.str(cx, "get").map(|v| v.value),
        },
    };
    Some(FlagConfig {
        backend,
        key: key?.value,
        ramp,
        at: cx.loc(s.at),
    })
}

pub(crate) fn backup(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
    base: &Path,
) -> Option<BackupSpec> {
    s.only(
        cx,
        &[
            "name",
            "database",
            "table",
            "columns",
            "to",
            "chunk_rows",
            "max_rows_per_second",
        ],
    );
    let name = s.str(cx, "name");
    let database = database_ref(cx, s, "database", "old", refs);
    let table = s.req_str(cx, "table");
    let columns = if s.has("columns") {
        s.str_list(cx, "columns", true)
    } else {
        s.missing(cx, "columns", "columns = [\"…\"]");
        None
    };
    if let Some(c) = &columns
        && c.is_empty()
    {
        cx.problem(
            s.key_at("columns"),
            format!("`columns` in {} is empty", s.label),
            Some("list the columns the contract will drop".to_string()),
        );
    }
    let mut to = Vec::new();
    if !s.has("to") {
        s.missing(
            cx,
            "to",
            "to = [\"table:migtui_backup_…\", \"file:backups/….csv.gz\"]",
        );
    }
    for dest in s.str_list(cx, "to", true).unwrap_or_default() {
        if let Some(t) = dest.value.strip_prefix("table:").filter(|t| !t.is_empty()) {
            to.push(BackupDestination::Table(t.to_string()));
        } else if let Some(f) = dest.value.strip_prefix("file:").filter(|f| !f.is_empty()) {
            let path = resolve(base, f);
            if let Err(why) = crate::engine::backup::format_of(&path) {
                cx.problem(
                    dest.at,
                    format!("`to` in {}: {why}", s.label),
                    Some("name the file .csv.gz (CSV with a header) or .jsonl.gz (JSON lines); drop .gz for no compression".to_string()),
                );
            }
            to.push(BackupDestination::File(path));
        } else {
            cx.problem(
                dest.at,
                format!(
                    "`to` in {}: `{}` is neither `table:NAME` nor `file:PATH`",
                    s.label, dest.value
                ),
                Some("e.g. to = [\"table:migtui_backup_incidents_status\", \"file:backups/incidents-status.csv.gz\"]".to_string()),
            );
        }
    }
    let chunk_rows =
        positive(cx, s, "chunk_rows").unwrap_or(crate::engine::backup::DEFAULT_CHUNK_ROWS);
    let max_rows_per_second = s.float(cx, "max_rows_per_second");
    if let Some(r) = max_rows_per_second
        && r <= 0.0
    {
        cx.problem(
            s.key_at("max_rows_per_second"),
            format!("`max_rows_per_second` in {} must be above 0", s.label),
            Some("leave it out to copy unthrottled".to_string()),
        );
    }
    let table = table?.value;
    let columns: Vec<String> = columns?.into_iter().map(|c| c.value).collect();
    let name = name.unwrap_or_else(|| Str {
        value: format!("{table}_{}", columns.join("_")),
        at: s.at,
        end: s.at,
    });
    refs.declare("[[backup]]", &name);
    let name = name.value;
    Some(BackupSpec {
        name,
        database,
        table,
        columns,
        to,
        chunk_rows,
        max_rows_per_second,
        at: cx.loc(s.at),
    })
}

pub(crate) fn contract(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
) -> Option<ContractConfig> {
    let s = Section::new("[contract]", s.table, s.at);
    s.only(cx, &["database", "sql", "lock_timeout_ms", "retries"]);
    let database = database_ref(cx, &s, "database", "old", refs);
    if !s.has("sql") {
        s.missing(cx, "sql", "sql = [\"ALTER TABLE … DROP COLUMN …\"]");
    }
    let sql = s.str_list(cx, "sql", true);
    let lock_timeout_ms = positive(cx, &s, "lock_timeout_ms").unwrap_or(3_000);
    let retries = s
        .uint(cx, "retries")
        .map_or(5, |r| u32::try_from(r).unwrap_or(u32::MAX));
    Some(ContractConfig {
        database,
        sql: sql?.into_iter().map(|s| s.value).collect(),
        lock_timeout_ms,
        retries,
        at: cx.loc(s.at),
    })
}
