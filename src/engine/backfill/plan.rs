//! Planning a step: which columns to read, how to page through the source by key, and the
//! write statement per chunk. The SQL is built once per step; each chunk only binds values.

use std::collections::BTreeMap;

use crate::config::{BackfillStep, SourceKind, TargetWrite};
use crate::db::backfill::{BackfillSql, ChunkColumn, OnConflict};
use crate::db::placeholders::replace_placeholders;
use crate::db::{Db, Engine, Params, TableInfo, Value};

use super::BackfillError;
use super::statement::{self, Template, src_column};

mod copy;
pub use copy::CopyPlan;
use copy::copy_plan;

/// How a step guards against putting an older value back over a newer dual write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LostUpdateGuard {
    /// Existing rows are left to the dual writes; only missing rows are inserted.
    InsertOnly,
    /// The upsert only overwrites a row whose version column is not newer.
    Version,
    /// One server-side statement reads the source rows with a share lock.
    LockingRead,
    /// SQLite pushdown: one writer, the statement is atomic.
    SingleWriter,
    /// None: a plain upsert (or a custom statement) may overwrite a newer dual write.
    None,
}

/// One step, ready to run.
#[derive(Debug, Clone)]
pub struct StepPlan {
    pub name: String,
    pub source_db: String,
    pub target_db: String,
    pub source_engine: Engine,
    pub target_engine: Engine,
    /// Columns read from the source, in order; the key columns are among them.
    pub columns: Vec<String>,
    pub key: Vec<String>,
    /// Positions of the key columns in `columns`.
    pub key_index: Vec<usize>,
    /// The source as a FROM item: a quoted table or `(query) AS migtui_q`.
    pub source_from: String,
    /// SQL types of the chunk's columns on the target, where known (PostgreSQL arrays).
    pub fixed_types: BTreeMap<String, String>,
    pub write: Template,
    /// `write` without its `ON CONFLICT` clause (PostgreSQL targets): tried first, until a
    /// chunk meets an existing row (see `statement::without_conflict_clause`).
    pub plain_write: Option<Template>,
    pub pushdown: bool,
    /// The chunk and its checkpoint commit in one transaction (the store is the target).
    pub checkpoint_in_tx: bool,
    pub guard: LostUpdateGuard,
    /// A table source (share locks and cheap estimates apply).
    pub source_is_table: bool,
    pub source_table: Option<String>,
    /// A PostgreSQL target fed by `COPY` into a staging table, when the types allow it.
    pub copy: Option<CopyPlan>,
}

impl StepPlan {
    fn src_sql(&self) -> &'static dyn BackfillSql {
        self.source_engine.dialect().backfill()
    }

    /// `WHERE` conditions bounding keys to `(after, up_to]`; `after` absent on the first chunk.
    pub fn range(&self, sql: &dyn BackfillSql, after: bool) -> String {
        let hi = sql.key_compare(&self.key, "<=", "migtui_hi");
        if after {
            format!("{} AND {hi}", sql.key_compare(&self.key, ">", "migtui_lo"))
        } else {
            hi
        }
    }

    fn order_by(&self, desc: bool) -> String {
        let d = self.source_engine.dialect();
        self.key
            .iter()
            .map(|k| format!("{}{}", d.quote_ident(k), if desc { " DESC" } else { "" }))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn select_list(&self, d: &dyn crate::db::Dialect) -> String {
        self.columns
            .iter()
            .map(|c| d.quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key columns, quoted, comma-separated.
    fn key_list(&self) -> String {
        let d = self.source_engine.dialect();
        self.key
            .iter()
            .map(|k| d.quote_ident(k))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The key of the last source row: the step's high-water mark.
    pub fn high_water_sql(&self) -> String {
        format!(
            "SELECT {} FROM {} ORDER BY {} LIMIT 1",
            self.key_list(),
            self.source_from,
            self.order_by(true)
        )
    }

    /// The next chunk's rows (`:migtui_n` of them) in key order.
    pub fn read_sql(&self, after: bool) -> String {
        let d = self.source_engine.dialect();
        let list = if self.copy.is_some() && self.source_engine == Engine::MySql {
            // Renamed, so MariaDB's JSON columns arrive as their text: COPY sends text anyway,
            // and decoding then re-encoding each document would only cost time.
            self.columns
                .iter()
                .enumerate()
                .map(|(i, c)| format!("{} AS migtui_c{i}", d.quote_ident(c)))
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            self.select_list(d)
        };
        format!(
            "SELECT {list} FROM {} WHERE {} ORDER BY {} LIMIT :migtui_n",
            self.source_from,
            self.range(self.src_sql(), after),
            self.order_by(false)
        )
    }

    /// Pushdown: the key that ends the next chunk (`:migtui_skip` rows past its start).
    pub fn bound_sql(&self, after: bool) -> String {
        format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT 1 OFFSET :migtui_skip",
            self.key_list(),
            self.source_from,
            self.range(self.src_sql(), after),
            self.order_by(false)
        )
    }

    /// Pushdown: rows in `(after, hi]`, for the last chunk's count.
    pub fn count_sql(&self, after: bool) -> String {
        format!(
            "SELECT count(*) FROM {} WHERE {}",
            self.source_from,
            self.range(self.src_sql(), after)
        )
    }

    /// The write template: the plain insert when asked for and there is one.
    fn template(&self, plain: bool) -> &Template {
        match &self.plain_write {
            Some(t) if plain => t,
            _ => &self.write,
        }
    }

    /// Pushdown: the whole write statement, its rows read inside the server.
    pub fn pushdown_sql(&self, after: bool, plain: bool) -> String {
        let d = self.source_engine.dialect();
        // Only where nothing else guards against lost updates: share locks dirty every source
        // row they touch, which insert-only and version-guarded writes do not need.
        let lock = if self.guard == LostUpdateGuard::LockingRead {
            self.src_sql().share_lock()
        } else {
            ""
        };
        let columns = self
            .columns
            .iter()
            .map(|c| format!("{} AS {}", d.quote_ident(c), d.quote_ident(&src_column(c))))
            .collect::<Vec<_>>()
            .join(", ");
        let relation = format!(
            "(SELECT {columns} FROM {} WHERE {}{lock})",
            self.source_from,
            self.range(self.src_sql(), after)
        );
        self.template(plain).render(&relation)
    }

    /// Binary COPY: `COPY (SELECT … WHERE key in (after, up_to]) TO STDOUT (FORMAT binary)`,
    /// the keys written as literals (COPY takes no parameters).
    pub fn copy_out_sql(&self, after: Option<&[Value]>, up_to: &[Value]) -> String {
        let d = self.source_engine.dialect();
        let range = replace_placeholders(&self.range(self.src_sql(), after.is_some()), |name| {
            let (key, i) = match name.strip_prefix("migtui_lo") {
                Some(i) => (after.unwrap_or(up_to), i),
                None => (up_to, name.trim_start_matches("migtui_hi")),
            };
            i.parse::<usize>()
                .ok()
                .and_then(|i| key.get(i))
                .map_or_else(|| "NULL".into(), crate::db::postgres::backfill::literal)
        });
        format!(
            "COPY (SELECT {} FROM {} WHERE {range}) TO STDOUT (FORMAT binary)",
            self.select_list(d),
            self.source_from
        )
    }

    /// The write statement for rows that travelled through migtui, and its parameters.
    pub fn write_sql(
        &self,
        cols: &[ChunkColumn],
        rows: Vec<Vec<Value>>,
        plain: bool,
    ) -> (String, Params) {
        let mut params = Params::new();
        let relation =
            self.target_engine
                .dialect()
                .backfill()
                .rows_relation(cols, rows, &mut params);
        (self.template(plain).render(&relation), params)
    }
}

/// Bind a key (`:{prefix}0`, `:{prefix}1`, …) into `params`.
pub fn bind_key(mut params: Params, prefix: &str, key: &[Value]) -> Params {
    for (i, v) in key.iter().enumerate() {
        params = params.bind(&format!("{prefix}{i}"), v.clone());
    }
    params
}

fn fail(step: &BackfillStep, what: impl std::fmt::Display) -> BackfillError {
    BackfillError::Plan {
        step: step.name.clone(),
        message: format!("{what} (at {})", step.at),
    }
}

/// Each database's URL by name, for "are these one database?" (pushdown).
pub fn database_urls(config: &crate::config::Config) -> BTreeMap<String, String> {
    config
        .databases
        .iter()
        .map(|(n, d)| (n.clone(), d.url.expose().to_string()))
        .collect()
}

/// Plan one step against the live schemas.
pub async fn plan_step(
    step: &BackfillStep,
    dbs: &BTreeMap<String, Db>,
    state_db: &str,
    config_urls: &BTreeMap<String, String>,
) -> Result<StepPlan, BackfillError> {
    let db = |name: &str| {
        dbs.get(name)
            .cloned()
            .ok_or_else(|| fail(step, format!("database `{name}` is not connected")))
    };
    let source = db(&step.from.database)?;
    let target = db(&step.to.database)?;
    let sd = source.dialect();
    let (source_from, source_table) = match &step.from.kind {
        SourceKind::Table { table, .. } => (sd.quote_path(table), Some(table.clone())),
        SourceKind::Query { sql } => (
            format!("({}) AS migtui_q", sql.trim().trim_end_matches(';')),
            None,
        ),
    };
    let info = match &source_table {
        Some(t) => Some(
            source
                .table_info(t)
                .await
                .map_err(|e| fail(step, e))?
                .ok_or_else(|| fail(step, format!("source table {t} not found")))?,
        ),
        None => None,
    };
    let columns = match (&step.from.kind, &info) {
        (
            SourceKind::Table {
                columns: Some(c), ..
            },
            _,
        ) => c.clone(),
        (_, Some(info)) => info.column_names(),
        (SourceKind::Query { sql }, None) => source
            .describe(sql, &Params::new())
            .await
            .map_err(|e| fail(step, e))?,
        _ => Vec::new(),
    };
    let key = if !step.from.key.is_empty() {
        step.from.key.clone()
    } else if let Some(info) = info.as_ref().filter(|i| !i.primary_key.is_empty()) {
        info.primary_key.clone()
    } else {
        columns.clone()
    };
    let key_index = key
        .iter()
        .map(|k| {
            columns
                .iter()
                .position(|c| c.eq_ignore_ascii_case(k))
                .ok_or_else(|| {
                    fail(
                        step,
                        format!("key column {k} is not among the columns read"),
                    )
                })
        })
        .collect::<Result<Vec<_>, _>>()?;

    let te = target.engine();
    let tsql = te.dialect().backfill();
    let mut fixed_types = BTreeMap::new();
    let (write, guard) = match &step.to.write {
        TargetWrite::Copy {
            table,
            key: tkey,
            map,
            version_column,
            insert_only,
        } => {
            let tinfo = target
                .table_info(table)
                .await
                .map_err(|e| fail(step, e))?
                .ok_or_else(|| fail(step, format!("target table {table} not found")))?;
            if te == Engine::Postgres {
                for c in &columns {
                    if let Some(tc) = tinfo.column(c) {
                        fixed_types.insert(c.clone(), tc.data_type.clone());
                    }
                }
            }
            let (sql, guard) = copy_statement(
                &columns,
                table,
                tkey,
                map,
                version_column,
                *insert_only,
                &tinfo,
                te,
                tsql,
            )
            .map_err(|e| fail(step, e))?;
            (sql, guard)
        }
        TargetWrite::Statement { sql } => {
            let t = statement::set_based(sql, te, tsql.insert_select_filler())
                .map_err(|e| fail(step, format!("to.sql cannot run once per chunk: {e}")))?;
            let guard = if statement::is_insert_only(sql) {
                LostUpdateGuard::InsertOnly
            } else {
                LostUpdateGuard::None
            };
            (t, guard)
        }
    };
    let pushdown = step.pushdown;
    let url = |name: &str| {
        config_urls
            .get(name)
            .cloned()
            .unwrap_or_else(|| name.to_string())
    };
    if pushdown && url(&step.from.database) != url(&step.to.database) {
        return Err(fail(
            step,
            format!(
                "pushdown needs old and new in one database, but the source is `{}` and the target `{}`",
                step.from.database, step.to.database
            ),
        ));
    }
    let guard = match (pushdown, guard) {
        (true, LostUpdateGuard::None) if te == Engine::Sqlite => LostUpdateGuard::SingleWriter,
        (true, LostUpdateGuard::None) if source_table.is_some() => LostUpdateGuard::LockingRead,
        (_, g) => g,
    };
    let copy = if te == Engine::Postgres && !pushdown {
        copy_plan(
            &source,
            source_table.as_deref(),
            &columns,
            &fixed_types,
            &step.to.write,
            &write,
        )
        .await
        .map_err(|e| fail(step, e))?
    } else {
        None
    };
    Ok(StepPlan {
        name: step.name.clone(),
        source_db: step.from.database.clone(),
        target_db: step.to.database.clone(),
        source_engine: source.engine(),
        target_engine: te,
        columns,
        key,
        key_index,
        source_from,
        fixed_types,
        plain_write: (te == Engine::Postgres)
            .then(|| statement::without_conflict_clause(&write))
            .flatten(),
        write,
        pushdown,
        checkpoint_in_tx: step.to.database == state_db,
        guard,
        source_is_table: source_table.is_some(),
        source_table,
        copy,
    })
}

/// `INSERT INTO t (…) SELECT … FROM <rows> AS src ON CONFLICT …` for the copy write form.
#[allow(clippy::too_many_arguments)]
fn copy_statement(
    columns: &[String],
    table: &str,
    key: &[String],
    map: &BTreeMap<String, String>,
    version: &Option<String>,
    insert_only: bool,
    tinfo: &TableInfo,
    engine: Engine,
    sql: &dyn BackfillSql,
) -> Result<(Template, LostUpdateGuard), String> {
    let d = engine.dialect();
    let mut targets: Vec<(String, String)> = Vec::new();
    for (col, expr) in map {
        let expr = replace_placeholders(expr, |n| format!("src.{}", d.quote_ident(&src_column(n))));
        targets.push((col.clone(), expr));
    }
    for c in columns {
        let Some(tc) = tinfo.column(c) else { continue };
        if targets
            .iter()
            .any(|(t, _)| t.eq_ignore_ascii_case(&tc.name))
        {
            continue;
        }
        targets.push((
            tc.name.clone(),
            format!("src.{}", d.quote_ident(&src_column(c))),
        ));
    }
    let key: Vec<String> = if key.is_empty() {
        tinfo.primary_key.clone()
    } else {
        key.to_vec()
    };
    for k in &key {
        if !targets.iter().any(|(t, _)| t.eq_ignore_ascii_case(k)) {
            return Err(format!(
                "target key column {k} gets no value: no source column of that name and no `map` entry"
            ));
        }
    }
    if targets.is_empty() {
        return Err(format!(
            "no source column matches a column of {table}, and `map` is empty"
        ));
    }
    let update: Vec<String> = targets
        .iter()
        .map(|(t, _)| t.clone())
        .filter(|t| !key.iter().any(|k| k.eq_ignore_ascii_case(t)))
        .collect();
    let (action, guard) = if insert_only || update.is_empty() {
        (OnConflict::Nothing, LostUpdateGuard::InsertOnly)
    } else if version.is_some() {
        (
            OnConflict::Update {
                columns: update,
                version: version.clone(),
            },
            LostUpdateGuard::Version,
        )
    } else {
        (
            OnConflict::Update {
                columns: update,
                version: None,
            },
            LostUpdateGuard::None,
        )
    };
    let names = targets
        .iter()
        .map(|(t, _)| d.quote_ident(t))
        .collect::<Vec<_>>()
        .join(", ");
    let exprs = targets
        .iter()
        .map(|(_, e)| e.clone())
        .collect::<Vec<_>>()
        .join(", ");
    Ok((
        Template {
            before: format!(
                "INSERT INTO {} ({names}) SELECT {exprs} FROM ",
                d.quote_path(table)
            ),
            after: format!(
                "{}{}",
                sql.insert_select_filler(),
                sql.on_conflict(table, &key, &action)
            ),
        },
        guard,
    ))
}
