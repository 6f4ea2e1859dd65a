//! The impact check on MySQL/MariaDB, from `information_schema`: views, foreign keys, indexes,
//! triggers, generated columns and routines that reference the table or column, and
//! `performance_schema` statement digests that mention them (when enabled).

use super::Db;
use crate::db::impact::{Dependent, bare, mentioned, mentions, statement_dependents};
use crate::db::{Database, DbError, Params, Rows, Value};

impl Db {
    pub(super) async fn dependents(
        &self,
        table: &str,
        columns: &[String],
    ) -> Result<Vec<Dependent>, DbError> {
        let t = bare(table);
        let all = columns.is_empty();
        let has_col = |text: &str| all || columns.iter().any(|c| mentions(text, c));
        let on_for = |text: &str| mentioned(table, columns, text);
        let p = Params::new().bind("t", t);
        let mut out = Vec::new();

        let views = Database::query(
            self,
            "SELECT TABLE_NAME, VIEW_DEFINITION FROM information_schema.VIEWS \
                       WHERE TABLE_SCHEMA = DATABASE()",
            &p,
        )
        .await?;
        for (name, def) in pairs(&views) {
            if mentions(&def, t) && has_col(&def) {
                for on in on_for(&def) {
                    out.push(
                        Dependent::new("view", name.clone(), on)
                            .detail("the view reads it: it stops working after the drop"),
                    );
                }
            }
        }

        let fks = Database::query(
            self,
            "SELECT CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, \
                     REFERENCED_COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                     WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL \
                       AND (TABLE_NAME = :t OR REFERENCED_TABLE_NAME = :t)",
            &p,
        )
        .await?;
        for r in &fks.rows {
            let s = |i: usize| r[i].to_text();
            let (name, from, col, to, to_col) = (s(0), s(1), s(2), s(3), s(4));
            let other = !from.eq_ignore_ascii_case(t);
            let (touched, hit) = if to.eq_ignore_ascii_case(t) && other {
                (
                    to_col.clone(),
                    all || columns.iter().any(|c| c.eq_ignore_ascii_case(&to_col)),
                )
            } else {
                (
                    col.clone(),
                    !all && columns.iter().any(|c| c.eq_ignore_ascii_case(&col)),
                )
            };
            if !hit {
                continue;
            }
            let on = if all {
                table.to_string()
            } else {
                format!("{table}.{touched}")
            };
            let dep = Dependent::new("foreign key", format!("{name} on {from}"), on);
            out.push(if other {
                dep.detail("another table references it: the drop fails")
            } else {
                dep.detail("this table's own foreign key").informational()
            });
        }

        let idx = Database::query(
            self,
            "SELECT INDEX_NAME, COLUMN_NAME, NON_UNIQUE FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t ORDER BY INDEX_NAME",
            &p,
        )
        .await?;
        for r in &idx.rows {
            let (name, col) = (r[0].to_text(), r[1].to_text());
            if all || !columns.iter().any(|c| c.eq_ignore_ascii_case(&col)) {
                continue;
            }
            let unique = matches!(r[2], Value::Int(0)) || r[2].to_text() == "0";
            let detail = if unique {
                "MariaDB removes the column from this unique index: the rows left must then be \
                 unique on fewer columns, and a restore does not rebuild it"
            } else {
                "MariaDB removes the column from the index (or the index); a restore does not rebuild it"
            };
            out.push(
                Dependent::new("index", name, format!("{table}.{col}"))
                    .detail(detail)
                    .informational(),
            );
        }

        let triggers = Database::query(
            self,
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT \
                          FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
            &p,
        )
        .await?;
        for r in &triggers.rows {
            let (name, on_table, body) = (r[0].to_text(), r[1].to_text(), r[2].to_text());
            let ours = on_table.eq_ignore_ascii_case(t);
            if (ours || mentions(&body, t)) && (has_col(&body)) {
                for on in on_for(&body) {
                    out.push(
                        Dependent::new("trigger", name.clone(), on)
                            .detail("its body uses it: it fails on its next run after the drop"),
                    );
                }
            }
        }

        let generated = Database::query(
            self,
            "SELECT COLUMN_NAME, GENERATION_EXPRESSION FROM information_schema.COLUMNS \
                           WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = :t \
                             AND GENERATION_EXPRESSION IS NOT NULL AND GENERATION_EXPRESSION <> ''",
            &p,
        )
        .await?;
        for (name, expr) in pairs(&generated) {
            if !all && has_col(&expr) {
                for on in on_for(&expr) {
                    out.push(
                        Dependent::new("generated column", format!("{t}.{name}"), on)
                            .detail(format!("computed as {expr}: the drop fails")),
                    );
                }
            }
        }

        let routines = Database::query(
            self,
            "SELECT CONCAT(ROUTINE_TYPE, ' ', ROUTINE_NAME), ROUTINE_DEFINITION \
                          FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
            &p,
        )
        .await?;
        for (name, body) in pairs(&routines) {
            if mentions(&body, t) && has_col(&body) {
                for on in on_for(&body) {
                    out.push(
                        Dependent::new("function", name.clone(), on)
                            .detail("its body mentions it (a text search: check it)"),
                    );
                }
            }
        }

        // performance_schema may be off: then there is simply nothing to report.
        if let Ok(rows) = Database::query(
            self,
            "SELECT DIGEST_TEXT, COUNT_STAR FROM \
                             performance_schema.events_statements_summary_by_digest \
                             WHERE SCHEMA_NAME = DATABASE() AND DIGEST_TEXT IS NOT NULL \
                             ORDER BY COUNT_STAR DESC LIMIT 500",
            &p,
        )
        .await
        {
            out.extend(statement_dependents(&rows, table, columns));
        }
        Ok(out)
    }
}

fn pairs(rows: &Rows) -> Vec<(String, String)> {
    rows.rows
        .iter()
        .map(|r| {
            (
                r[0].to_text(),
                r.get(1).map(Value::to_text).unwrap_or_default(),
            )
        })
        .collect()
}
