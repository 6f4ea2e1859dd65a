//! `sample = { from, table, per_second, recent_column, unit }` of a `[[verify]]` check.

use std::collections::BTreeMap;

use super::parse::{Refs, database_ref};
use super::read::Section;
use super::source::Cx;
use super::{DatabaseConfig, SampleConfig, SampleUnit};

/// The check's `sample` table; `databases` tells which engine `from` names.
pub(crate) fn sample(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    refs: &mut Refs,
    databases: &BTreeMap<String, DatabaseConfig>,
) -> Option<SampleConfig> {
    s.req_table(cx, "sample").and_then(|t| {
        t.only(
            cx,
            &["from", "table", "per_second", "recent_column", "unit"],
        );
        let database = database_ref(cx, &t, "from", "old", refs);
        let unit = sample_unit(cx, &t, &database, databases);
        Some(SampleConfig {
            database,
            table: t.req_str(cx, "table")?.value,
            per_second: t.float(cx, "per_second").unwrap_or(20.0),
            recent_column: t.str(cx, "recent_column").map(|v| v.value),
            unit,
        })
    })
}

/// `sample.unit`: `"rows"` (the default) or `"pages"`, which only PostgreSQL can sample (its
/// `TABLESAMPLE SYSTEM` draws whole heap pages and `ctid` names each row's page).
fn sample_unit(
    cx: &mut Cx<'_>,
    t: &Section<'_, '_>,
    database: &str,
    databases: &BTreeMap<String, DatabaseConfig>,
) -> SampleUnit {
    let Some(unit) = t.str(cx, "unit") else {
        return SampleUnit::Rows;
    };
    match unit.value.as_str() {
        "rows" => SampleUnit::Rows,
        "pages" => {
            // An undeclared database is reported by the reference check; only a declared
            // one of another engine is wrong here.
            let engine = databases
                .get(database)
                .and_then(|d| crate::db::Engine::from_scheme(&d.url.scheme()));
            if let Some(engine) = engine.filter(|e| *e != crate::db::Engine::Postgres) {
                cx.problem(
                    unit.at,
                    format!(
                        "`sample.unit = \"pages\"` in {}: the sample database `{database}` \
                         is {}, and pages can only be sampled on PostgreSQL",
                        t.label,
                        engine.label()
                    ),
                    Some(
                        "sample from a PostgreSQL database (`from = \"…\"`), or count rows \
                         (`unit = \"rows\"`, the default)"
                            .into(),
                    ),
                );
            }
            SampleUnit::Pages
        }
        other => {
            cx.problem(
                unit.at,
                format!("`sample.unit` in {}: unknown unit `{other}`", t.label),
                Some(
                    "write `unit = \"rows\"` (the default) or `unit = \"pages\"` (PostgreSQL)"
                        .into(),
                ),
            );
            SampleUnit::Rows
        }
    }
}
