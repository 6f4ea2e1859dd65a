//! The impact check on SQLite: views, triggers and indexes from `sqlite_master` that mention
//! the table or column, and foreign keys from `pragma_foreign_key_list`. SQLite refuses to drop
//! a column that an index, a view, a trigger or a foreign key uses, so all of them block.

use super::Db;
use crate::db::impact::{Dependent, bare, mentioned, mentions};
use crate::db::{Database, DbError, Params, Value};

impl Db {
    pub(super) async fn dependents(
        &self,
        table: &str,
        columns: &[String],
    ) -> Result<Vec<Dependent>, DbError> {
        let t = bare(table);
        let all = columns.is_empty();
        let hits = |text: &str| mentioned(table, columns, text);
        let objects = Database::query(
            self,
            "SELECT type, name, tbl_name, sql FROM sqlite_master \
             WHERE sql IS NOT NULL AND type IN ('view', 'trigger', 'index', 'table') \
             ORDER BY type, name",
            &Params::new(),
        )
        .await?;
        let mut out = Vec::new();
        let mut tables = Vec::new();
        for r in &objects.rows {
            let s = |i: usize| r[i].to_text();
            let (kind, name, on_table, sql) = (s(0), s(1), s(2), s(3));
            let ours = on_table.eq_ignore_ascii_case(t);
            match kind.as_str() {
                "table" => tables.push(name),
                "view" if mentions(&sql, t) => {
                    for on in hits(&sql) {
                        out.push(
                            Dependent::new("view", name.clone(), on).detail("the view reads it"),
                        );
                    }
                }
                "trigger" if ours || mentions(&sql, t) => {
                    for on in hits(&sql) {
                        out.push(
                            Dependent::new("trigger", name.clone(), on).detail("its body uses it"),
                        );
                    }
                }
                "index" if ours && !all => {
                    for on in hits(&sql) {
                        out.push(Dependent::new("index", name.clone(), on).detail(
                            "SQLite refuses to drop an indexed column: drop the index first",
                        ));
                    }
                }
                _ => {}
            }
        }
        for other in tables {
            let fks = Database::query(
                self,
                "SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(:t)",
                &Params::new().bind("t", other.as_str()),
            )
            .await?;
            for r in &fks.rows {
                let (to_table, from, to) = (r[0].to_text(), r[1].to_text(), r[2].to_text());
                let self_ref = other.eq_ignore_ascii_case(t);
                let hit = if to_table.eq_ignore_ascii_case(t) && !self_ref {
                    all || columns.iter().any(|c| c.eq_ignore_ascii_case(&to))
                } else {
                    self_ref && !all && columns.iter().any(|c| c.eq_ignore_ascii_case(&from))
                };
                if hit {
                    let col = if self_ref { &from } else { &to };
                    let on = if all {
                        table.to_string()
                    } else {
                        format!("{table}.{col}")
                    };
                    out.push(
                        Dependent::new(
                            "foreign key",
                            format!("{other}({from}) → {to_table}({to})"),
                            on,
                        )
                        .detail("SQLite refuses the drop while a foreign key uses it"),
                    );
                }
            }
        }
        let _ = Value::Null;
        Ok(out)
    }
}
