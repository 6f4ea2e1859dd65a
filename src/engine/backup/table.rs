//! Backup tables: a table beside the source, in the same database, with the key and the
//! backed-up columns under their original types and the same primary key.

use crate::db::{Db, DbError, Params, Value};

use super::source::Shape;

/// At most this many bound values in one `INSERT` (every engine accepts it).
const MAX_BINDS: usize = 10_000;

/// `CREATE TABLE` for a backup table shaped like `shape`: original types, key as primary key.
pub fn create_sql(db: &Db, table: &str, shape: &Shape) -> String {
    let d = db.dialect();
    let mut defs: Vec<String> = shape
        .all()
        .map(|c| {
            let not_null = if c.nullable { "" } else { " NOT NULL" };
            format!("{} {}{not_null}", d.quote_ident(&c.name), c.data_type).replace("  ", " ")
        })
        .collect();
    let key: Vec<String> = shape.key.iter().map(|c| d.quote_ident(&c.name)).collect();
    defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
    format!(
        "CREATE TABLE {} (\n  {}\n)",
        d.quote_path(table),
        defs.join(",\n  ")
    )
}

/// Make `table` an empty backup table: create it, or empty it when a previous run left one
/// with the same columns. A table with other columns is someone else's: refused.
pub async fn prepare(db: &Db, table: &str, shape: &Shape) -> Result<(), String> {
    match db.table_info(table).await.map_err(|e| e.to_string())? {
        None => db
            .execute_script(&create_sql(db, table, shape))
            .await
            .map_err(|e| e.to_string()),
        Some(info) => {
            let want = shape.names();
            let have = info.column_names();
            let same = want.len() == have.len()
                && want
                    .iter()
                    .zip(&have)
                    .all(|(a, b)| a.eq_ignore_ascii_case(b));
            if !same {
                return Err(format!(
                    "table `{table}` exists with columns ({}), not ({}); it is not this backup's \
                     table: choose another `table:` name or drop it yourself",
                    have.join(", "),
                    want.join(", ")
                ));
            }
            let sql = format!("DELETE FROM {}", db.dialect().quote_path(table));
            db.execute(&sql, &Params::new())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}

/// Insert rows (values in the shape's order) in as few statements as the bind limit allows,
/// in one transaction.
pub async fn insert(
    db: &Db,
    table: &str,
    shape: &Shape,
    rows: &[Vec<Value>],
) -> Result<(), DbError> {
    if rows.is_empty() {
        return Ok(());
    }
    let d = db.dialect();
    let cols: Vec<String> = shape.names().iter().map(|c| d.quote_ident(c)).collect();
    let sql = format!(
        "INSERT INTO {} ({}) VALUES :rows",
        d.quote_path(table),
        cols.join(", ")
    );
    let per = (MAX_BINDS / cols.len().max(1)).max(1);
    let mut tx = db.begin().await?;
    for batch in rows.chunks(per) {
        tx.execute(&sql, &Params::new().bind_tuples("rows", batch.to_vec()))
            .await?;
    }
    tx.commit().await
}
