//! The repeated sections: `[[backfill]]` steps, `[[verify]]` checks and `[[path]]` read paths,
//! with their placeholder checks (every `:name` in their SQL must be bound).

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::parse::{RefKind, Refs, database_ref, positive};
use super::read::{Section, Str, as_str};
use super::source::Cx;
use super::*;
use crate::db::placeholders::placeholder_names;

/// Report every placeholder of `sql` not among `bound`.
pub(super) fn check_bound(cx: &mut Cx<'_>, sql: &Str, what: &str, bound: &[&str], why: &str) {
    for name in placeholder_names(&sql.value) {
        if bound.contains(&name.as_str()) {
            continue;
        }
        let at = cx.find_word(sql.at..sql.end, &format!(":{name}"));
        cx.problem(
            at,
            format!("{what}: placeholder `:{name}` is not bound"),
            Some(why.to_string()),
        );
    }
}

/// A key: one column name or several.
fn key_list(cx: &mut Cx<'_>, s: &Section<'_, '_>, key: &str) -> Vec<String> {
    s.str_list(cx, key, true)
        .unwrap_or_default()
        .into_iter()
        .map(|k| k.value)
        .collect()
}

pub(crate) fn backfill(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
) -> Option<BackfillStep> {
    s.only(
        cx,
        &[
            "name",
            "from",
            "to",
            "chunk_rows",
            "target_chunk_ms",
            "max_rows_per_second",
            "pause_when",
            "pushdown",
            "exact_count",
        ],
    );
    let name = s.req_str(cx, "name");
    if let Some(n) = &name {
        refs.declare("[[backfill]]", n);
    }
    let from = s.req_table(cx, "from").and_then(|f| source(cx, &f, refs));
    let to = s.req_table(cx, "to");
    let to = to.and_then(|t| target(cx, &t, refs, from.as_ref()));
    let chunk_rows = positive(cx, s, "chunk_rows");
    let target_chunk_ms = positive(cx, s, "target_chunk_ms").unwrap_or(500);
    let max_rows_per_second = s.float(cx, "max_rows_per_second");
    let pushdown = s.bool(cx, "pushdown").unwrap_or(false);
    let exact_count = s.bool(cx, "exact_count").unwrap_or(false);
    let pause_when = s
        .tables(cx, "pause_when")
        .iter()
        .filter_map(|p| pause(cx, p, refs))
        .collect();
    let (from, to) = (from?, to?);
    if pushdown {
        let (a, b) = (refs.urls.get(&from.database), refs.urls.get(&to.database));
        if a.is_some() && b.is_some() && a != b {
            cx.problem(
                s.key_at("pushdown"),
                format!(
                    "`pushdown` in {}: `{}` and `{}` are different databases",
                    s.label, from.database, to.database
                ),
                Some("pushdown runs each chunk inside one database; it needs both sides at the same URL".to_string()),
            );
        }
    }
    Some(BackfillStep {
        name: name?.value,
        from,
        to,
        chunk_rows,
        target_chunk_ms,
        max_rows_per_second,
        pause_when,
        pushdown,
        exact_count,
        at: cx.loc(s.at),
    })
}

fn source(cx: &mut Cx<'_>, s: &Section<'_, '_>, refs: &mut Refs) -> Option<BackfillSource> {
    s.only(cx, &["database", "table", "query", "key", "columns"]);
    let database = database_ref(cx, s, "database", "old", refs);
    let key_strs = s.str_list(cx, "key", true).unwrap_or_default();
    let kind = match (s.has("table"), s.has("query")) {
        (true, true) => {
            cx.problem(
                s.key_at("query"),
                format!("{} has both `table` and `query`", s.label),
                Some("a source is a table or a query, not both".to_string()),
            );
            return None;
        }
        (false, false) => {
            s.missing(
                cx,
                "table` or `query",
                "table = \"…\"` or `query = \"SELECT …\"",
            );
            return None;
        }
        (true, false) => {
            let columns = s.str_list(cx, "columns", true);
            if let Some(cols) = &columns {
                let names: Vec<&str> = cols.iter().map(|c| c.value.as_str()).collect();
                for k in &key_strs {
                    if !names.contains(&k.value.as_str()) {
                        cx.problem(
                            k.at,
                            format!(
                                "key column `{}` of {} is not among its `columns`",
                                k.value, s.label
                            ),
                            Some(format!("columns: {}", names.join(", "))),
                        );
                    }
                }
            }
            SourceKind::Table {
                table: s.req_str(cx, "table")?.value,
                columns: columns.map(|c| c.into_iter().map(|c| c.value).collect()),
            }
        }
        (false, true) => {
            if s.has("columns") {
                cx.problem(
                    s.key_at("columns"),
                    format!("`columns` in {} applies only to a `table` source", s.label),
                    Some("a query's columns are its SELECT list".to_string()),
                );
            }
            SourceKind::Query {
                sql: s.req_str(cx, "query")?.value,
            }
        }
    };
    Some(BackfillSource {
        database,
        kind,
        key: key_strs.into_iter().map(|k| k.value).collect(),
    })
}

fn target(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
    from: Option<&BackfillSource>,
) -> Option<BackfillTarget> {
    s.only(
        cx,
        &[
            "database",
            "table",
            "sql",
            "key",
            "map",
            "version_column",
            "insert_only",
        ],
    );
    let database = database_ref(cx, s, "database", "new", refs);
    // Placeholders can be checked when the source lists its columns.
    let columns: Option<Vec<&str>> = match from.map(|f| &f.kind) {
        Some(SourceKind::Table {
            columns: Some(c), ..
        }) => Some(c.iter().map(String::as_str).collect()),
        _ => None,
    };
    let why = |cols: &[&str]| {
        format!(
            "placeholders are the source's columns: {}",
            cols.iter()
                .map(|c| format!(":{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let write = match (s.has("table"), s.has("sql")) {
        (true, true) => {
            cx.problem(
                s.key_at("sql"),
                format!("{} has both `table` and `sql`", s.label),
                Some("a target is a table to copy into, or a statement run per row".to_string()),
            );
            return None;
        }
        (false, false) => {
            s.missing(
                cx,
                "table` or `sql",
                "table = \"…\"` or `sql = \"UPDATE …\"",
            );
            return None;
        }
        (false, true) => {
            for extra in ["key", "map", "version_column", "insert_only"] {
                if s.has(extra) {
                    cx.problem(
                        s.key_at(extra),
                        format!("`{extra}` in {} applies only to a `table` target", s.label),
                        Some("a `sql` target writes what its statement says".to_string()),
                    );
                }
            }
            let sql = s.req_str(cx, "sql")?;
            if let Some(cols) = &columns {
                check_bound(cx, &sql, &format!("`sql` in {}", s.label), cols, &why(cols));
            }
            TargetWrite::Statement { sql: sql.value }
        }
        (true, false) => {
            let table = s.req_str(cx, "table");
            let key = key_list(cx, s, "key");
            let mut map = BTreeMap::new();
            if let Some(m) = s.table(cx, "map") {
                for (k, v) in m.table.iter() {
                    let what = format!("`map.{}` in {}", k.get_ref(), s.label);
                    if let Some(expr) = as_str(cx, v, &what, "column = \":source_column\"") {
                        if let Some(cols) = &columns {
                            check_bound(cx, &expr, &what, cols, &why(cols));
                        }
                        map.insert(k.get_ref().to_string(), expr.value);
                    }
                }
            }
            TargetWrite::Copy {
                table: table?.value,
                key,
                map,
                version_column: s.str(cx, "version_column").map(|v| v.value),
                insert_only: s.bool(cx, "insert_only").unwrap_or(false),
            }
        }
    };
    Some(BackfillTarget { database, write })
}

fn pause(cx: &mut Cx<'_>, s: &Section<'_, '_>, refs: &mut Refs) -> Option<PauseCondition> {
    if s.has("replica_lag_seconds_above") {
        s.only(cx, &["replica_lag_seconds_above", "database"]);
        let seconds_above = s.float(cx, "replica_lag_seconds_above");
        let database = database_ref(cx, s, "database", "new", refs);
        return Some(PauseCondition::ReplicaLag {
            database,
            seconds_above: seconds_above?,
        });
    }
    s.only(
        cx,
        &[
            "path",
            "side",
            "p95_ms_above",
            "replica_lag_seconds_above",
            "database",
        ],
    );
    if !s.has("path") {
        s.missing(
            cx,
            "path",
            "pause_when = { path = \"…\", side = \"old\", p95_ms_above = 50 }` or `{ replica_lag_seconds_above = 5, database = \"new\" }",
        );
        return None;
    }
    let path = s.req_str(cx, "path");
    if let Some(p) = &path {
        refs.uses(RefKind::Path, p, format!("`path` in {}", s.label));
    }
    let side = match s.str(cx, "side") {
        None => Side::Old,
        Some(v) if v.value == "old" => Side::Old,
        Some(v) if v.value == "new" => Side::New,
        Some(v) => {
            cx.problem(
                v.at,
                format!("`side` in {}: `{}` is not a side", s.label, v.value),
                Some("write `side = \"old\"` or `side = \"new\"`".to_string()),
            );
            return None;
        }
    };
    if !s.has("p95_ms_above") {
        s.missing(cx, "p95_ms_above", "p95_ms_above = 50");
    }
    let p95_ms_above = s.float(cx, "p95_ms_above");
    Some(PauseCondition::PathLatency {
        path: path?.value,
        side,
        p95_ms_above: p95_ms_above?,
    })
}

pub(crate) fn verify(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
    databases: &BTreeMap<String, DatabaseConfig>,
) -> Option<VerifyCheck> {
    s.only(
        cx,
        &[
            "name",
            "key",
            "sample",
            "old",
            "new",
            "normalize",
            "redact",
            "recheck_after_ms",
            "float_tolerance",
            "full",
        ],
    );
    let name = s.req_str(cx, "name");
    if let Some(n) = &name {
        refs.declare("[[verify]]", n);
    }
    if !s.has("key") {
        s.missing(cx, "key", "key = \"id\"");
    }
    let key = key_list(cx, s, "key");
    let sample = super::sample::sample(cx, s, refs, databases);
    let why = "a verify query binds only `:keys`, the sampled keys: `WHERE id IN (:keys)`";
    // `old = "SQL"` runs on the database named `old`; `old = { database = "legacy", sql = "…" }`
    // names it.
    let mut side_sql = |side: &str| {
        let (database, sql) = match s.get(side).map(|v| v.get_ref()) {
            Some(DeValue::Table(_)) => {
                let t = s.table(cx, side)?;
                t.only(cx, &["database", "sql"]);
                let database = database_ref(cx, &t, "database", side, refs);
                (database, t.req_str(cx, "sql")?)
            }
            _ => (side.to_string(), s.req_str(cx, side)?),
        };
        let what = format!("`{side}` in {}", s.label);
        if !placeholder_names(&sql.value).iter().any(|n| n == "keys") {
            cx.problem(
                sql.at,
                format!("{what} does not use `:keys`"),
                Some(why.to_string()),
            );
        }
        check_bound(cx, &sql, &what, &["keys"], why);
        Some((database, sql.value))
    };
    let old_side = side_sql("old");
    let new_side = side_sql("new");
    let mut normalize = BTreeMap::new();
    if let Some(n) = s.table(cx, "normalize") {
        for (col, v) in n.table.iter() {
            let what = format!("`normalize.{}` in {}", col.get_ref(), s.label);
            let rules: Vec<Str> = match v.get_ref() {
                DeValue::Array(items) => items
                    .iter()
                    .filter_map(|i| as_str(cx, i, &what, "col = [\"trim\", \"lowercase\"]"))
                    .collect(),
                _ => as_str(cx, v, &what, "col = \"lowercase\"")
                    .into_iter()
                    .collect(),
            };
            let parsed: Vec<ColumnRule> = rules
                .iter()
                .filter_map(|r| column_rule(cx, r, &what))
                .collect();
            normalize.insert(col.get_ref().to_string(), parsed);
        }
    }
    let redact = key_list(cx, s, "redact");
    let recheck_after_ms = s.uint(cx, "recheck_after_ms").unwrap_or(5_000);
    let float_tolerance = s.float(cx, "float_tolerance").unwrap_or(1e-9);
    let full = s
        .table(cx, "full")
        .map(|t| {
            t.only(
                cx,
                &[
                    "old_table",
                    "new_table",
                    "columns",
                    "chunk_rows",
                    "max_rows_per_second",
                ],
            );
            let columns = t.has("columns").then(|| key_list(cx, &t, "columns"));
            let chunk_rows = t.uint(cx, "chunk_rows");
            if chunk_rows == Some(0) {
                cx.problem(
                    t.at,
                    format!("`full.chunk_rows` in {} must be at least 1", s.label),
                    Some("chunk_rows = 10000".into()),
                );
            }
            let max_rows_per_second = t.float(cx, "max_rows_per_second");
            if max_rows_per_second.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
                cx.problem(
                    t.at,
                    format!(
                        "`full.max_rows_per_second` in {} must be a positive number",
                        s.label
                    ),
                    Some("max_rows_per_second = 50000 (or leave it out: unthrottled)".into()),
                );
            }
            FullDiffConfig {
                old_table: t.str(cx, "old_table").map(|v| v.value),
                new_table: t.str(cx, "new_table").map(|v| v.value),
                columns,
                chunk_rows,
                max_rows_per_second,
            }
        })
        .unwrap_or_default();
    let sample = sample?;
    let (old_db, new_db) = (&old_side.as_ref()?.0, &new_side.as_ref()?.0);
    if sample.database != *old_db && sample.database != *new_db {
        // The keys are drawn on one side and read on both: a third database's keys say
        // nothing about these two (and the verifier would quietly sample `old`).
        cx.problem(
            s.at,
            format!(
                "`sample.from` in {} is `{}`, which is neither side of the check (`{old_db}`, `{new_db}`)",
                s.label, sample.database
            ),
            Some(format!("sample from one of them: from = \"{old_db}\"")),
        );
    }
    Some(VerifyCheck {
        name: name?.value,
        key,
        sample,
        old_database: old_side.as_ref()?.0.clone(),
        new_database: new_side.as_ref()?.0.clone(),
        old_sql: old_side?.1,
        new_sql: new_side?.1,
        normalize,
        redact,
        recheck_after_ms,
        float_tolerance,
        full,
        at: cx.loc(s.at),
    })
}

/// `lowercase`, `trim`, `round:N`, `timestamp:N` (0..=6) or `ignore`.
fn column_rule(cx: &mut Cx<'_>, r: &Str, what: &str) -> Option<ColumnRule> {
    let digits = |arg: &str, max: u32| arg.parse::<u32>().ok().filter(|n| *n <= max);
    let rule = match r.value.split_once(':') {
        None if r.value == "lowercase" => Some(ColumnRule::Lowercase),
        None if r.value == "trim" => Some(ColumnRule::Trim),
        None if r.value == "ignore" => Some(ColumnRule::Ignore),
        Some(("round", n)) => digits(n, 18).map(ColumnRule::Round),
        Some(("timestamp", n)) => digits(n, 6).map(ColumnRule::TimestampDigits),
        _ => None,
    };
    if rule.is_none() {
        let known = ["lowercase", "trim", "round:", "timestamp:", "ignore"];
        let head = r.value.split(':').next().unwrap_or_default();
        let hint = match super::source::did_you_mean(head, known) {
            Some(m) if m.ends_with(':') => {
                format!("did you mean `{m}N`? (round:0..18 decimals, timestamp:0..6 digits)")
            }
            Some(m) => format!("did you mean `{m}`?"),
            None => "rules: lowercase, trim, round:N, timestamp:N (0..6), ignore".to_string(),
        };
        cx.problem(
            r.at,
            format!("{what}: `{}` is not a normalize rule", r.value),
            Some(hint),
        );
    }
    rule
}
