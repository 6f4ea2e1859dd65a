//! `[[path]]`: a read path the latency probes time on old and new, and where its keys come from.

use toml::de::DeValue;

use super::parse::{RefKind, Refs, database_ref, positive};
use super::read::{Section, Str, as_str, wrong_type};
use super::source::Cx;
use super::steps::check_bound;
use super::*;
use crate::db::placeholders::placeholder_names;

pub(crate) fn read_path(cx: &mut Cx<'_>, s: &Section<'_, '_>, refs: &mut Refs) -> Option<ReadPath> {
    s.only(
        cx,
        &[
            "name",
            "old",
            "new",
            "keys",
            "per_second",
            "timeout_ms",
            "budget",
        ],
    );
    let name = s.req_str(cx, "name");
    if let Some(n) = &name {
        refs.declare("[[path]]", n);
    }
    let why = "a read path binds only `:key`, one probe key: `WHERE id = :key`";
    let mut side_sql = |side: &str| {
        let sql = s.req_str(cx, side)?;
        let what = format!("`{side}` in {}", s.label);
        if !placeholder_names(&sql.value).iter().any(|n| n == "key") {
            cx.problem(
                sql.at,
                format!("{what} does not use `:key`"),
                Some(why.to_string()),
            );
        }
        check_bound(cx, &sql, &what, &["key"], why);
        Some(sql.value)
    };
    let old_sql = side_sql("old");
    let new_sql = side_sql("new");
    let keys = path_keys(cx, s, refs);
    let per_second = s.float(cx, "per_second").unwrap_or(10.0);
    let timeout_ms = positive(cx, s, "timeout_ms").unwrap_or(5_000);
    let budget = s.table(cx, "budget").map(|b| {
        b.only(
            cx,
            &["p95_ms", "new_over_old_at_most", "error_rate_at_most"],
        );
        Budget {
            p95_ms: b.float(cx, "p95_ms"),
            new_over_old_at_most: b.float(cx, "new_over_old_at_most"),
            error_rate_at_most: b.float(cx, "error_rate_at_most"),
        }
    });
    Some(ReadPath {
        name: name?.value,
        old_sql: old_sql?,
        new_sql: new_sql?,
        keys: keys?,
        per_second,
        timeout_ms,
        budget: budget.unwrap_or_default(),
        at: cx.loc(s.at),
    })
}

/// `keys = "verify:NAME"`, a list of keys, or `{ database = …, sql = … }`.
fn path_keys(cx: &mut Cx<'_>, s: &Section<'_, '_>, refs: &mut Refs) -> Option<KeySource> {
    let example = "keys = \"verify:NAME\"` or `keys = [1, 2, 3]` or `keys = { database = \"old\", sql = \"SELECT id …\" }";
    let Some(v) = s.get("keys") else {
        s.missing(cx, "keys", example);
        return None;
    };
    let what = format!("`keys` in {}", s.label);
    match v.get_ref() {
        DeValue::String(_) => {
            let k = as_str(cx, v, &what, example)?;
            match k.value.strip_prefix("verify:") {
                Some(check) => {
                    let name = Str {
                        value: check.to_string(),
                        ..k
                    };
                    refs.uses(RefKind::Verify, &name, what);
                    Some(KeySource::Verify(name.value))
                }
                None => {
                    cx.problem(
                        k.at,
                        format!("{what}: `{}` is not `verify:NAME`", k.value),
                        Some(format!("write `{example}`")),
                    );
                    None
                }
            }
        }
        DeValue::Array(items) => {
            let mut list = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::Integer(i) => list.push(
                        i64::from_str_radix(i.as_str(), i.radix())
                            .map_or_else(|_| i.as_str().to_string(), |n| n.to_string()),
                    ),
                    _ => list.push(as_str(cx, item, &what, example)?.value),
                }
            }
            Some(KeySource::List(list))
        }
        DeValue::Table(t) => {
            let q = Section::new(what, t, v.span().start);
            q.only(cx, &["database", "sql"]);
            let database = database_ref(cx, &q, "database", "old", refs);
            Some(KeySource::Query {
                database,
                sql: q.req_str(cx, "sql")?.value,
            })
        }
        _ => {
            wrong_type(cx, v, &what, "a string, an array or a table", example);
            None
        }
    }
}
