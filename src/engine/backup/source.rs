//! Reading (key, columns) out of a table in key order, one chunk at a time (keyset paging, so a
//! chunk costs the same at the end of a table as at its start), and checksumming what was read
//! with the shared row hash (`db::rowhash`), the same one verification uses.

use crate::db::checksum::{HashSpec, KeyRange, checksum};
use crate::db::rowhash::{Checksum, HashClass, HashColumn, HashOptions, row_hash};
use crate::db::{Db, DbError, Params, Rows, Value};
use crate::store::BackedUpColumn;

/// What one backup reads: a table, its key and the backed-up columns, with their types.
#[derive(Debug, Clone)]
pub struct Shape {
    pub table: String,
    pub key: Vec<BackedUpColumn>,
    pub columns: Vec<BackedUpColumn>,
}

impl Shape {
    /// Key columns first, then the backed-up columns: the order of every row migtui reads,
    /// writes and hashes for this backup.
    pub fn all(&self) -> impl Iterator<Item = &BackedUpColumn> {
        self.key.iter().chain(self.columns.iter())
    }

    pub fn names(&self) -> Vec<String> {
        self.all().map(|c| c.name.clone()).collect()
    }

    /// How each column is hashed, from the type it had at backup time.
    pub fn classes(&self) -> Vec<HashClass> {
        self.all()
            .map(|c| HashClass::from_type_name(&c.data_type))
            .collect()
    }
}

/// Keyset paging over one table, `chunk` rows at a time, in key order.
pub struct ChunkReader<'a> {
    db: &'a Db,
    select: String,
    order: Vec<String>,
    after: Option<Vec<Value>>,
    key_len: usize,
    chunk: u64,
    done: bool,
    /// An extra condition every row must meet (restore: keys present in the backup).
    filter: Option<String>,
}

impl<'a> ChunkReader<'a> {
    /// Only rows meeting `condition` (SQL over the table's quoted columns; no placeholders).
    pub fn filtered(mut self, condition: String) -> Self {
        self.filter = Some(condition);
        self
    }

    /// Read `table`'s (key, columns) in key order. `table` may differ from `shape.table` (a
    /// backup table has the same columns as its source).
    pub fn new(db: &'a Db, table: &str, shape: &Shape, chunk: u64) -> Self {
        let d = db.dialect();
        let list = shape
            .names()
            .iter()
            .map(|c| d.quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ");
        ChunkReader {
            db,
            select: format!("SELECT {list} FROM {}", d.quote_path(table)),
            order: shape.key.iter().map(|c| d.quote_ident(&c.name)).collect(),
            after: None,
            key_len: shape.key.len(),
            chunk: chunk.max(1),
            done: false,
            filter: None,
        }
    }

    /// The next chunk, or `None` at the end of the table.
    pub async fn next(&mut self) -> Result<Option<Rows>, DbError> {
        if self.done {
            return Ok(None);
        }
        let mut params = Params::new().bind("limit", self.chunk as i64);
        let mut cond = match &self.after {
            None => String::new(),
            Some(last) => {
                let names: Vec<String> = (0..last.len()).map(|i| format!(":k{i}")).collect();
                for (i, v) in last.iter().enumerate() {
                    params = params.bind(&format!("k{i}"), v.clone());
                }
                if last.len() == 1 {
                    format!(" WHERE {} > {}", self.order[0], names[0])
                } else {
                    format!(
                        " WHERE ({}) > ({})",
                        self.order.join(", "),
                        names.join(", ")
                    )
                }
            }
        };
        if let Some(f) = &self.filter {
            cond = if cond.is_empty() {
                format!(" WHERE {f}")
            } else {
                format!("{cond} AND {f}")
            };
        }
        let sql = format!(
            "{}{cond} ORDER BY {} LIMIT :limit",
            self.select,
            self.order.join(", ")
        );
        let rows = self.db.query(&sql, &params).await?;
        if (rows.len() as u64) < self.chunk {
            self.done = true;
        }
        match rows.rows.last() {
            Some(last) => self.after = Some(last[..self.key_len].to_vec()),
            None => return Ok(None),
        }
        Ok(Some(rows))
    }
}

/// The checksum of rows read in the shape's column order.
pub fn checksum_rows(rows: &Rows, classes: &[HashClass], acc: &mut Checksum) {
    let opts = HashOptions::default();
    for row in &rows.rows {
        acc.add(row_hash(row, classes, &opts));
    }
}

/// The checksum of `table`'s (key, columns): inside the database where the engine hashes in
/// SQL (`db::checksum`), else by reading the rows chunk by chunk and hashing them here.
pub async fn checksum_table(
    db: &Db,
    table: &str,
    shape: &Shape,
    chunk: u64,
) -> Result<Checksum, DbError> {
    let classes = shape.classes();
    let spec = HashSpec {
        table: table.to_string(),
        key: shape.key.iter().map(|c| c.name.clone()).collect(),
        columns: shape
            .names()
            .into_iter()
            .zip(classes.iter().copied())
            .collect(),
        // Unknown here: every column takes the NULL test (the same bytes either way).
        nullable: Vec::new(),
        options: HashOptions::default(),
        native: false,
    };
    let quoted: Vec<HashColumn> = spec
        .columns
        .iter()
        .map(|(c, k)| HashColumn {
            sql: db.dialect().quote_ident(c),
            class: *k,
            nullable: true,
        })
        .collect();
    if db.dialect().row_hash_sql(&quoted, &spec.options).is_some() {
        return checksum(db.as_ref(), &spec, &KeyRange::all()).await;
    }
    let mut reader = ChunkReader::new(db, table, shape, chunk);
    let mut sum = Checksum::default();
    while let Some(rows) = reader.next().await? {
        checksum_rows(&rows, &classes, &mut sum);
    }
    Ok(sum)
}

/// `rows:sum` in hex: how checksums are recorded and shown.
pub fn format_checksum(c: &Checksum) -> String {
    format!("{}:{:x}", c.count, c.sum)
}
