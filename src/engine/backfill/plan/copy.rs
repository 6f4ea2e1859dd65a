//! The COPY path for PostgreSQL targets: which chunks can travel by `COPY`, binary or text,
//! through a staging table or straight into the target table.

use std::collections::BTreeMap;

use crate::config::TargetWrite;
use crate::db::{Db, Engine};

use super::super::statement::{Template, src_column};

/// How chunks reach a PostgreSQL target by `COPY`: into a temporary staging table (one per
/// connection, emptied at each commit) that the write statement then reads as `src`.
#[derive(Debug, Clone)]
pub struct CopyPlan {
    /// `CREATE TEMP TABLE IF NOT EXISTS migtui_stage_… (…) ON COMMIT DELETE ROWS`.
    pub create_sql: String,
    /// `COPY migtui_stage_… FROM STDIN (FORMAT …)`.
    pub copy_in_sql: String,
    /// The write statement reading the staging table.
    pub write_sql: String,
    /// Binary rows streamed from a PostgreSQL source's `COPY … TO STDOUT` (same types on
    /// both sides); otherwise the rows are read as values and sent as COPY text.
    pub binary: bool,
    /// `COPY target (…) FROM STDIN (FORMAT binary)`, when a chunk can go straight into the
    /// target table: a plain copy (no `map`), every column of the same name and type there.
    /// Tried until a chunk meets a row that exists (unique violation, rolled back); from then
    /// on the step goes through the staging table and its upsert.
    pub direct_sql: Option<String>,
}

/// The COPY plan for a PostgreSQL target: binary from a PostgreSQL table whose types are all
/// built in; COPY text for a copy-form write whose every column has a target type; else none
/// (the chunk travels as bound arrays).
pub(super) async fn copy_plan(
    source: &Db,
    source_table: Option<&str>,
    columns: &[String],
    fixed_types: &BTreeMap<String, String>,
    write: &TargetWrite,
    template: &Template,
) -> Result<Option<CopyPlan>, crate::db::DbError> {
    let binary_types = match (source.engine(), source_table) {
        (Engine::Postgres, Some(t)) => {
            crate::db::postgres::backfill::builtin_column_types(source, t, columns).await?
        }
        _ => None,
    };
    let (types, binary) = match binary_types {
        Some(t) => (t, true),
        None => {
            if !matches!(write, TargetWrite::Copy { .. }) {
                return Ok(None);
            }
            let mut types = Vec::with_capacity(columns.len());
            for c in columns {
                match fixed_types.get(c) {
                    Some(t) if !t.ends_with("[]") && !t.contains('"') => types.push(t.clone()),
                    _ => return Ok(None),
                }
            }
            (types, false)
        }
    };
    let d = Engine::Postgres.dialect();
    let direct_sql = match write {
        TargetWrite::Copy { table, map, .. }
            if binary
                && map.is_empty()
                && columns
                    .iter()
                    .zip(&types)
                    .all(|(c, t)| fixed_types.get(c) == Some(t)) =>
        {
            Some(format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                d.quote_path(table),
                columns
                    .iter()
                    .map(|c| d.quote_ident(c))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
        _ => None,
    };
    let cols = columns
        .iter()
        .zip(&types)
        .map(|(c, t)| format!("{} {t}", d.quote_ident(&src_column(c))))
        .collect::<Vec<_>>()
        .join(", ");
    // Named for its shape: a connection may hold stages of several steps.
    let stage = format!("migtui_stage_{:016x}", fnv1a(&cols));
    Ok(Some(CopyPlan {
        create_sql: format!(
            "CREATE TEMP TABLE IF NOT EXISTS {stage} ({cols}) ON COMMIT DELETE ROWS"
        ),
        copy_in_sql: format!(
            "COPY {stage} FROM STDIN (FORMAT {})",
            if binary { "binary" } else { "text" }
        ),
        write_sql: template.render(&stage),
        binary,
        direct_sql,
    }))
}

/// A stable 64-bit hash (FNV-1a) for naming staging tables.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
