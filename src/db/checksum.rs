//! Chunk checksums over a key range, computed inside the database where the engine can hash in
//! SQL (PostgreSQL, MySQL/MariaDB) and in Rust from streamed rows where it cannot (SQLite, and
//! MariaDB tables with a JSON column: see `mysql/checksum.rs`).
//! Both give the same `(count, sum)` for the same logical rows: see [`super::rowhash`].
//!
//! ```text
//! let spec = HashSpec::for_table(db, "incidents", &["id".into()], None, HashOptions::default()).await?;
//! let all = checksum(db, &spec, &KeyRange::all()).await?;          // Checksum { count, sum }
//! let rows = key_hashes(db, &spec, &KeyRange::between(1, 1000)).await?; // [(key, hash)] by key
//! ```

use super::rowhash::{Checksum, HashClass, HashColumn, HashOptions};
use super::{Database, DbError, Params, RowHashing, Rows, Transaction, Value};

/// What to hash of one table: key columns first, then the compared columns, each with the
/// class its declared type gives.
#[derive(Debug, Clone, PartialEq)]
pub struct HashSpec {
    pub table: String,
    pub key: Vec<String>,
    /// Every hashed column in order, the key columns first.
    pub columns: Vec<(String, HashClass)>,
    /// Whether each column may be NULL, in the order of `columns` (from introspection); a
    /// column without an entry is taken as nullable, which hashes the same bytes, slower.
    pub nullable: Vec<bool>,
    pub options: HashOptions,
    /// Use the engine's native row hash ([`super::Dialect::native_row_hash_sql`]) instead of
    /// the canonical encoding: only when both sides are the same engine, major version and
    /// column types (see [`native_compatible`]).
    pub native: bool,
}

impl HashSpec {
    /// Build a spec from the table's declared types. `columns: None` hashes every column of
    /// the table (key columns first, then the rest in table order); otherwise the named ones.
    pub async fn for_table(
        db: &dyn Database,
        table: &str,
        key: &[String],
        columns: Option<&[String]>,
        options: HashOptions,
    ) -> Result<HashSpec, DbError> {
        let info = db
            .table_info(table)
            .await?
            .ok_or_else(|| schema_error(db, table, format!("table {table} does not exist")))?;
        let mut names: Vec<String> = key.to_vec();
        match columns {
            Some(cols) => names.extend(
                cols.iter()
                    .filter(|c| !key.iter().any(|k| k.eq_ignore_ascii_case(c)))
                    .cloned(),
            ),
            None => names.extend(
                info.columns
                    .iter()
                    .filter(|c| !key.iter().any(|k| k.eq_ignore_ascii_case(&c.name)))
                    .map(|c| c.name.clone()),
            ),
        }
        let mut out = Vec::with_capacity(names.len());
        let mut nullable = Vec::with_capacity(names.len());
        for n in names {
            let col = info.column(&n).ok_or_else(|| {
                schema_error(
                    db,
                    table,
                    format!(
                        "column {n} not found in table {table} (columns: {})",
                        info.column_names().join(", ")
                    ),
                )
            })?;
            out.push((col.name.clone(), HashClass::from_type_name(&col.data_type)));
            nullable.push(col.nullable);
        }
        Ok(HashSpec {
            table: table.to_string(),
            key: key.to_vec(),
            columns: out,
            nullable,
            options,
            native: false,
        })
    }

    pub fn column_names(&self) -> Vec<String> {
        self.columns.iter().map(|(c, _)| c.clone()).collect()
    }

    pub fn classes(&self) -> Vec<HashClass> {
        self.columns.iter().map(|(_, c)| *c).collect()
    }
}

/// A half-open range `[from, to)` of the first key column; `None` is unbounded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyRange {
    pub from: Option<Value>,
    pub to: Option<Value>,
}

impl KeyRange {
    /// The whole table.
    pub fn all() -> KeyRange {
        KeyRange::default()
    }

    pub fn between(from: impl Into<Value>, to: impl Into<Value>) -> KeyRange {
        KeyRange {
            from: Some(from.into()),
            to: Some(to.into()),
        }
    }
}

fn schema_error(db: &dyn Database, table: &str, message: String) -> DbError {
    DbError::Query {
        db: db.name().to_string(),
        sql: format!("(checksum of {table})"),
        message,
        code: None,
        transient: false,
    }
}

/// `WHERE` text and parameters for a key range (`:lo`, `:hi`).
fn range_sql(db: &dyn Database, spec: &HashSpec, range: &KeyRange) -> (String, Params) {
    let d = db.dialect();
    let first = spec
        .key
        .first()
        .map(|k| d.quote_ident(k))
        .unwrap_or_default();
    let mut conds = Vec::new();
    let mut p = Params::new();
    if let Some(lo) = &range.from {
        conds.push(format!("{first} >= :lo"));
        p = p.bind("lo", lo.clone());
    }
    if let Some(hi) = &range.to {
        conds.push(format!("{first} < :hi"));
        p = p.bind("hi", hi.clone());
    }
    let clause = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    (clause, p)
}

/// The row hash expression for this spec on this engine, `None` to hash in Rust.
fn hash_sql(db: &dyn Database, spec: &HashSpec) -> Option<String> {
    let d = db.dialect();
    if spec.native {
        let cols: Vec<String> = spec.columns.iter().map(|(c, _)| d.quote_ident(c)).collect();
        if let Some(sql) = d.native_row_hash_sql(&cols) {
            return Some(sql);
        }
    }
    d.row_hash_sql(&quoted_columns(db, spec), &spec.options)
}

/// True when two tables can be compared with the engine's native hash: the same engine with a
/// native hash, the same server major version, and the same declared types column by column.
pub async fn native_compatible(
    a: &dyn Database,
    a_table: &str,
    b: &dyn Database,
    b_table: &str,
    columns: &[String],
) -> Result<bool, DbError> {
    if a.engine() != b.engine() || a.dialect().native_row_hash_sql(&[]).is_none() {
        return Ok(false);
    }
    let major = |v: String| {
        v.split(|c: char| !c.is_ascii_digit())
            .find(|p| !p.is_empty())
            .and_then(|p| p.parse::<u32>().ok())
    };
    let (va, vb) = (
        major(a.server_version().await?),
        major(b.server_version().await?),
    );
    // hash_record_extended arrived in PostgreSQL 14.
    if va != vb || va.is_none_or(|v| v < 14) {
        return Ok(false);
    }
    let (Some(ia), Some(ib)) = (a.table_info(a_table).await?, b.table_info(b_table).await?) else {
        return Ok(false);
    };
    Ok(columns.iter().all(|c| match (ia.column(c), ib.column(c)) {
        (Some(x), Some(y)) => x.data_type.eq_ignore_ascii_case(&y.data_type),
        _ => false,
    }))
}

fn quoted_columns(db: &dyn Database, spec: &HashSpec) -> Vec<HashColumn> {
    let d = db.dialect();
    spec.columns
        .iter()
        .enumerate()
        .map(|(i, (c, class))| HashColumn {
            sql: d.quote_ident(c),
            class: *class,
            nullable: spec.nullable.get(i).copied().unwrap_or(true),
        })
        .collect()
}

fn order_by(db: &dyn Database, spec: &HashSpec) -> String {
    let d = db.dialect();
    spec.key
        .iter()
        .map(|k| d.quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ")
}

/// An unsigned integer result (count, hash or exact sum) whatever type the engine returns.
fn as_u128(v: Option<&Value>) -> Option<u128> {
    match v? {
        Value::Null => Some(0),
        Value::Int(i) => u128::try_from(*i).ok(),
        Value::UInt(u) => Some(u128::from(*u)),
        Value::Decimal(d) => d.with_scale(0).to_string().parse().ok(),
        Value::Text(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn bad_result(db: &dyn Database, sql: &str, what: &str) -> DbError {
    DbError::Query {
        db: db.name().to_string(),
        sql: sql.to_string(),
        message: format!("unexpected {what} in checksum result"),
        code: None,
        transient: false,
    }
}

/// Run one query in `tx` when given (a snapshot), else on any pooled connection of `db`.
async fn read(
    db: &dyn Database,
    tx: Option<&mut (dyn Transaction + '_)>,
    sql: &str,
    p: &Params,
) -> Result<Rows, DbError> {
    match tx {
        Some(tx) => tx.query(sql, p).await,
        None => db.query(sql, p).await,
    }
}

/// `(count, exact sum of row hashes)` of the rows whose first key column is in `range`.
pub async fn checksum(
    db: &dyn Database,
    spec: &HashSpec,
    range: &KeyRange,
) -> Result<Checksum, DbError> {
    checksum_in(db, None, spec, range).await
}

/// [`checksum`], read inside `tx` when given (e.g. [`Database::begin_snapshot`]).
pub async fn checksum_in(
    db: &dyn Database,
    tx: Option<&mut (dyn Transaction + '_)>,
    spec: &HashSpec,
    range: &KeyRange,
) -> Result<Checksum, DbError> {
    let (clause, p) = range_sql(db, spec, range);
    let table = db.dialect().quote_path(&spec.table);
    let Some(hash) = hash_sql(db, spec) else {
        // Hash in Rust, from the rows themselves.
        let mut sum = Checksum::default();
        for (_, h) in key_hashes_in(db, tx, spec, range).await? {
            sum.add(h);
        }
        return Ok(sum);
    };
    let sql = format!("SELECT count(*), sum({hash}) FROM {table}{clause}");
    let rows = read(db, tx, &sql, &p).await?;
    let row = rows
        .rows
        .first()
        .ok_or_else(|| bad_result(db, &sql, "empty"))?;
    let count = as_u128(row.first()).ok_or_else(|| bad_result(db, &sql, "count"))?;
    let sum = as_u128(row.get(1)).ok_or_else(|| bad_result(db, &sql, "sum"))?;
    Ok(Checksum {
        count: u64::try_from(count).unwrap_or(u64::MAX),
        sum,
    })
}

/// `(key values, row hash)` of every row in `range`, in key order. In SQL where the engine can
/// hash; else the rows are read and hashed here.
pub async fn key_hashes(
    db: &dyn Database,
    spec: &HashSpec,
    range: &KeyRange,
) -> Result<Vec<(Vec<Value>, u64)>, DbError> {
    key_hashes_in(db, None, spec, range).await
}

/// [`key_hashes`], read inside `tx` when given.
pub async fn key_hashes_in(
    db: &dyn Database,
    tx: Option<&mut (dyn Transaction + '_)>,
    spec: &HashSpec,
    range: &KeyRange,
) -> Result<Vec<(Vec<Value>, u64)>, DbError> {
    let (clause, p) = range_sql(db, spec, range);
    let d = db.dialect();
    let table = d.quote_path(&spec.table);
    let keys = order_by(db, spec);
    let nkey = spec.key.len();
    if let Some(hash) = hash_sql(db, spec) {
        let sql = format!("SELECT {keys}, {hash} FROM {table}{clause} ORDER BY {keys}");
        let rows = read(db, tx, &sql, &p).await?;
        let mut out = Vec::with_capacity(rows.len());
        for mut r in rows.rows {
            let h = as_u128(r.get(nkey)).ok_or_else(|| bad_result(db, &sql, "hash"))?;
            r.truncate(nkey);
            out.push((r, u64::try_from(h).unwrap_or(u64::MAX)));
        }
        return Ok(out);
    }
    // JSON under an alias: MariaDB's driver then leaves it as the text stored rather than
    // parsing it into a tree, and the encoder writes its `jsonb` text from that text.
    let cols = spec
        .columns
        .iter()
        .enumerate()
        .map(|(i, (c, class))| match class {
            HashClass::Json => format!(
                "{} AS {}",
                d.quote_ident(c),
                d.quote_ident(&format!("migtui_json_{i}"))
            ),
            _ => d.quote_ident(c),
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("SELECT {cols} FROM {table}{clause} ORDER BY {keys}");
    let classes = spec.classes();
    let h = RowHashing {
        nkey,
        classes: &classes,
        options: &spec.options,
    };
    match tx {
        Some(tx) => tx.query_hashed(&sql, &p, &h).await,
        None => db.query_hashed(&sql, &p, &h).await,
    }
}

/// The smallest and largest value of the first key column, `None` for an empty table.
pub async fn key_bounds(
    db: &dyn Database,
    spec: &HashSpec,
) -> Result<Option<(Value, Value)>, DbError> {
    let d = db.dialect();
    let k = spec
        .key
        .first()
        .map(|k| d.quote_ident(k))
        .unwrap_or_default();
    let sql = format!(
        "SELECT min({k}), max({k}) FROM {}",
        d.quote_path(&spec.table)
    );
    let rows = db.query(&sql, &Params::new()).await?;
    Ok(rows.rows.into_iter().next().and_then(|mut r| {
        let hi = r.pop()?;
        let lo = r.pop()?;
        (!lo.is_null()).then_some((lo, hi))
    }))
}
