//! Key sampling: uniform random keys (PostgreSQL `TABLESAMPLE SYSTEM … REPEATABLE`; elsewhere
//! random probes into the key range, keeping the hits — never `ORDER BY RAND()`), recently
//! changed keys by the check's `recent_column`, and keys typed by the operator. Keys are drawn
//! on the sample side; the same keys are then read on both.

use crate::db::{Database, DbError, Params, Value};

/// A small, fast pseudo-random generator (SplitMix64): sampling needs spread, not secrecy.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Seeded from the clock.
    pub fn from_time() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Rng(nanos ^ u64::from(std::process::id()).rotate_left(32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        let span = (hi as i128 - lo as i128 + 1) as u128;
        (lo as i128 + (u128::from(self.next_u64()) % span) as i128) as i64
    }
}

fn key_list(db: &dyn Database, key: &[String]) -> String {
    key.iter()
        .map(|k| db.dialect().quote_ident(k))
        .collect::<Vec<_>>()
        .join(", ")
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        Value::Decimal(d) => d.to_string().parse().ok(),
        _ => None,
    }
}

/// The table's row count as sampling sizes it: the engine's estimate, counted exactly when
/// small (where an estimate is often missing or far off).
async fn sample_rows(db: &dyn Database, table: &str) -> Result<u64, DbError> {
    let rows = db.row_count(table, false).await?.rows;
    if rows < 10_000 {
        return Ok(db.row_count(table, true).await?.rows);
    }
    Ok(rows)
}

/// Up to `n` uniformly drawn keys of `table`.
pub async fn random_keys(
    db: &dyn Database,
    table: &str,
    key: &[String],
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<Vec<Value>>, DbError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let d = db.dialect();
    let t = d.quote_path(table);
    let keys = key_list(db, key);
    let rows = sample_rows(db, table).await?;
    if rows == 0 {
        return Ok(Vec::new());
    }
    // Small tables: every key is the sample.
    if rows as usize <= n {
        let sql = format!("SELECT {keys} FROM {t}");
        return Ok(db.query(&sql, &Params::new()).await?.rows);
    }
    // Twice the pages needed, so the clustered sample still holds n rows. The rows come back
    // in block order: n of them are chosen at random (a `LIMIT` would keep only the pages at
    // the start of the table).
    let percent = (n as f64 * 2.0 / rows as f64 * 100.0).min(100.0);
    if let Some(clause) = d.tablesample_sql(percent, (rng.next_u64() >> 33) as u32) {
        let sql = format!("SELECT {keys} FROM {t} {clause}");
        let mut got = db.query(&sql, &Params::new()).await?.rows;
        if got.len() * 2 >= n {
            let keep = n.min(got.len());
            for i in 0..keep {
                let j = rng.range(i as i64, got.len() as i64 - 1) as usize;
                got.swap(i, j);
            }
            got.truncate(keep);
            return Ok(got);
        }
    }
    probe_keys(db, &t, key, rows, n, rng).await
}

/// Keys drawn by whole heap pages, each with the page (`ctid` block number) it lives on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageSample {
    pub keys: Vec<Vec<Value>>,
    /// `pages[i]` is the block number of `keys[i]`.
    pub pages: Vec<i64>,
}

impl PageSample {
    /// Distinct pages in the sample.
    pub fn page_count(&self) -> u64 {
        self.pages
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len() as u64
    }
}

/// About `n` rows' worth of whole pages of `table`, by `TABLESAMPLE SYSTEM (p) REPEATABLE
/// (seed)` — PostgreSQL only (config validation refuses `unit = "pages"` elsewhere). Every row
/// of a drawn page is kept (the page is the unit the bound counts); past `4 n` rows, whole
/// pages are dropped at random.
pub async fn random_pages(
    db: &dyn Database,
    table: &str,
    key: &[String],
    n: usize,
    seed: u32,
) -> Result<PageSample, DbError> {
    if n == 0 {
        return Ok(PageSample::default());
    }
    let d = db.dialect();
    let t = d.quote_path(table);
    let keys = key_list(db, key);
    let rows = sample_rows(db, table).await?;
    let percent = (n as f64 / rows.max(1) as f64 * 100.0).min(100.0);
    let clause = match d.tablesample_sql(percent, seed) {
        Some(c) if (rows as usize) > n => c,
        Some(_) => String::new(),
        None => {
            return Err(DbError::Query {
                db: db.name().to_string(),
                sql: "TABLESAMPLE SYSTEM".into(),
                message: format!(
                    "sampling pages of `{table}` needs PostgreSQL, this is {}; count rows \
                     (`sample.unit = \"rows\"`)",
                    db.engine().label()
                ),
                code: None,
                transient: false,
            });
        }
    };
    let sql = format!(
        "SELECT ((ctid::text)::point)[0]::bigint AS migtui_page, {keys} \
         FROM {t} {clause}"
    );
    let got = db.query(&sql, &Params::new()).await?;
    let mut by_page: std::collections::BTreeMap<i64, Vec<Vec<Value>>> = Default::default();
    for mut row in got.rows {
        if let Some(page) = row.first().and_then(as_int) {
            row.remove(0);
            by_page.entry(page).or_default().push(row);
        }
    }
    // Past the cap, whole pages are kept in a seeded random order, so no part of the table
    // is favoured.
    let mut pages: Vec<(i64, Vec<Vec<Value>>)> = by_page.into_iter().collect();
    let mut rng = Rng::new(u64::from(seed));
    for i in (1..pages.len()).rev() {
        pages.swap(i, rng.range(0, i as i64) as usize);
    }
    let mut out = PageSample::default();
    for (page, rows) in pages {
        if out.keys.len() >= n.saturating_mul(4) {
            break;
        }
        out.pages.extend(std::iter::repeat_n(page, rows.len()));
        out.keys.extend(rows);
    }
    Ok(out)
}

/// The table's page count on PostgreSQL: its main fork's size over the block size (exact and
/// current, where `pg_class.relpages` is as old as the last VACUUM/ANALYZE).
pub async fn table_pages(db: &dyn Database, table: &str) -> Result<u64, DbError> {
    let sql = "SELECT (pg_relation_size(to_regclass(:t)) \
               / current_setting('block_size')::bigint)::bigint AS pages";
    let got = db
        .query(
            sql,
            &Params::new().bind("t", db.dialect().quote_path(table)),
        )
        .await?;
    Ok(got
        .rows
        .first()
        .and_then(|r| r.first())
        .and_then(as_int)
        .map_or(0, |p| p.max(0) as u64))
}

/// Random probes into an integer key range; other keys by random offsets.
async fn probe_keys(
    db: &dyn Database,
    t: &str,
    key: &[String],
    rows: u64,
    n: usize,
    rng: &mut Rng,
) -> Result<Vec<Vec<Value>>, DbError> {
    let d = db.dialect();
    let first = d.quote_ident(&key[0]);
    let keys = key_list(db, key);
    let bounds = db
        .query(
            &format!("SELECT min({first}), max({first}) FROM {t}"),
            &Params::new(),
        )
        .await?;
    let (lo, hi) = match bounds.rows.first().map(|r| (as_int(&r[0]), as_int(&r[1]))) {
        Some((Some(lo), Some(hi))) if key.len() == 1 => (lo, hi),
        _ => {
            let mut out = Vec::with_capacity(n);
            let sql = format!("SELECT {keys} FROM {t} ORDER BY {keys} LIMIT 1 OFFSET :o");
            for _ in 0..n {
                let o = rng.range(0, rows.saturating_sub(1) as i64);
                out.extend(db.query(&sql, &Params::new().bind("o", o)).await?.rows);
            }
            return Ok(out);
        }
    };
    let density = (rows as f64 / ((hi as f64 - lo as f64) + 1.0)).clamp(1e-6, 1.0);
    let mut out: Vec<Vec<Value>> = Vec::with_capacity(n);
    let mut seen = std::collections::HashSet::new();
    let sql = format!("SELECT {keys} FROM {t} WHERE {first} IN (:ids)");
    for _ in 0..8 {
        let want = n - out.len();
        let draws = ((want as f64 / density) * 1.2).ceil().min(20_000.0) as usize + 1;
        let ids: Vec<Value> = (0..draws).map(|_| Value::Int(rng.range(lo, hi))).collect();
        let got = db.query(&sql, &Params::new().bind_list("ids", ids)).await?;
        for r in got.rows {
            if out.len() < n && seen.insert(r[0].display()) {
                out.push(r);
            }
        }
        if out.len() >= n {
            break;
        }
    }
    Ok(out)
}

/// The `n` most recently changed keys by `recent_column` (the dual-write check).
pub async fn recent_keys(
    db: &dyn Database,
    table: &str,
    key: &[String],
    recent_column: &str,
    n: usize,
) -> Result<Vec<Vec<Value>>, DbError> {
    let d = db.dialect();
    let sql = format!(
        "SELECT {} FROM {} ORDER BY {} DESC LIMIT :n",
        key_list(db, key),
        d.quote_path(table),
        d.quote_ident(recent_column)
    );
    Ok(db
        .query(&sql, &Params::new().bind("n", n as i64))
        .await?
        .rows)
}

/// Keys typed by the operator (`1,2,3`; composite keys as `1:a,2:b`), as text values: each
/// engine compares them to the key column through its own casts.
pub fn parse_keys(text: &str, key_columns: usize) -> Result<Vec<Vec<Value>>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let parts: Vec<Value> = item
            .split(':')
            .map(|p| match p.trim().parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => Value::Text(p.trim().to_string()),
            })
            .collect();
        if parts.len() != key_columns {
            return Err(format!(
                "key `{item}` has {} part(s), the check's key has {key_columns} column(s) \
                 (write composite keys as `1:a`)",
                parts.len()
            ));
        }
        out.push(parts);
    }
    if out.is_empty() {
        return Err("no keys given: write them as --keys 1,2,3".into());
    }
    Ok(out)
}
