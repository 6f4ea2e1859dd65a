//! The impact check on PostgreSQL: `pg_depend` knows what depends on a table or a column
//! (views through their rewrite rules, indexes, constraints, triggers, generated columns and
//! defaults); function bodies are searched as text; `pg_stat_statements`, when installed,
//! shows statements that still mention them.

use super::Db;
use crate::db::impact::{Dependent, bare, mentions, statement_dependents, targets};
use crate::db::{Database, DbError, Params, Value};

impl Db {
    pub(super) async fn dependents(
        &self,
        table: &str,
        columns: &[String],
    ) -> Result<Vec<Dependent>, DbError> {
        let Some(oid) = self.table_oid(table).await? else {
            return Ok(Vec::new());
        };
        let all = columns.is_empty();
        let cols: Vec<Value> = columns.iter().map(|c| Value::from(c.as_str())).collect();
        let p = Params::new()
            .bind("oid", oid)
            .bind("all", all)
            .bind_list("cols", cols);
        let sql = "SELECT d.classid::regclass::text AS catalog, \
                   pg_describe_object(d.classid, d.objid, d.objsubid) AS what, \
                   COALESCE(a.attname::text, '') AS col, \
                   COALESCE(con.contype::text, '') AS contype, \
                   COALESCE(con.conrelid, 0)::int8 AS conrel, \
                   COALESCE(v.oid::regclass::text, '') AS view, \
                   COALESCE(dep.relkind::text, '') AS relkind \
                   FROM pg_depend d \
                   LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
                   LEFT JOIN pg_constraint con ON d.classid = 'pg_constraint'::regclass AND con.oid = d.objid \
                   LEFT JOIN pg_rewrite r ON d.classid = 'pg_rewrite'::regclass AND r.oid = d.objid \
                   LEFT JOIN pg_class v ON v.oid = r.ev_class \
                   LEFT JOIN pg_class dep ON d.classid = 'pg_class'::regclass AND dep.oid = d.objid \
                   WHERE d.refclassid = 'pg_class'::regclass AND d.refobjid = CAST(:oid AS oid) \
                     AND d.deptype IN ('n', 'a') \
                     AND (:all OR a.attname IN (:cols)) \
                   ORDER BY 1, 2";
        let rows = Database::query(self, sql, &p).await?;
        let mut out: Vec<Dependent> = Vec::new();
        for r in &rows.rows {
            let text = |i: usize| r.get(i).map(Value::to_text).unwrap_or_default();
            let (catalog, what, col) = (text(0), text(1), text(2));
            let on = if col.is_empty() {
                table.to_string()
            } else {
                format!("{table}.{col}")
            };
            let conrel = matches!(r.get(4), Some(Value::Int(o)) if *o != oid && *o != 0);
            let dep = match catalog.as_str() {
                "pg_rewrite" => {
                    let view = text(5);
                    if view.is_empty() || view.eq_ignore_ascii_case(table) {
                        continue;
                    }
                    Dependent::new("view", view, on).detail(
                        "the view reads it: the drop fails without CASCADE, and CASCADE drops the view",
                    )
                }
                "pg_class" if text(6) == "i" => Dependent::new("index", what, on)
                    .detail("dropped with the column; a restore does not recreate it")
                    .informational(),
                "pg_class" => continue, // owned sequences and the like go with the table
                "pg_constraint" if text(3) == "f" && conrel => {
                    Dependent::new("foreign key", what, on)
                        .detail("another table references it: the drop fails without CASCADE")
                }
                "pg_constraint" if text(3) == "f" => Dependent::new("foreign key", what, on)
                    .detail("this table's own foreign key; dropped with the column")
                    .informational(),
                "pg_constraint" => Dependent::new("constraint", what, on)
                    .detail("dropped with the column; a restore does not recreate it")
                    .informational(),
                "pg_trigger" => Dependent::new("trigger", what, on)
                    .detail("fires on it: the drop fails without CASCADE"),
                "pg_attrdef" => Dependent::new("generated column", what, on)
                    .detail("computed from it: the drop fails without CASCADE"),
                "pg_policy" => Dependent::new("policy", what, on).detail("row security uses it"),
                _ => Dependent::new("object", what, on).detail(format!("recorded in {catalog}")),
            };
            if !out.contains(&dep) {
                out.push(dep);
            }
        }
        out.extend(self.functions_mentioning(table, columns).await?);
        out.extend(self.statements_mentioning(table, columns).await);
        Ok(out)
    }

    /// User functions whose body mentions the table (and the column): PostgreSQL does not
    /// track what a function body reads, so this is a text search.
    async fn functions_mentioning(
        &self,
        table: &str,
        columns: &[String],
    ) -> Result<Vec<Dependent>, DbError> {
        let sql = "SELECT p.oid::regprocedure::text, p.prosrc FROM pg_proc p \
                   JOIN pg_namespace n ON n.oid = p.pronamespace \
                   WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') \
                     AND n.nspname NOT LIKE 'pg_%' AND p.prosrc ILIKE :like";
        let like = format!("%{}%", bare(table).replace('%', "\\%").replace('_', "\\_"));
        let rows = Database::query(self, sql, &Params::new().bind("like", like)).await?;
        let mut out = Vec::new();
        for r in &rows.rows {
            let (name, body) = (r[0].to_text(), r[1].to_text());
            if !mentions(&body, bare(table)) {
                continue;
            }
            for on in targets(table, columns) {
                let col = on.rsplit('.').next().unwrap_or(&on);
                if columns.is_empty() || mentions(&body, col) {
                    out.push(
                        Dependent::new("function", name.clone(), on.clone())
                            .detail("its body mentions it (a text search: check it)"),
                    );
                }
            }
        }
        Ok(out)
    }

    /// Statements in `pg_stat_statements` (when installed) that mention the table and column.
    async fn statements_mentioning(&self, table: &str, columns: &[String]) -> Vec<Dependent> {
        let sql = "SELECT s.query, s.calls::int8 FROM pg_stat_statements s \
                   WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                     AND s.query ILIKE :like ORDER BY s.calls DESC LIMIT 200";
        let like = format!("%{}%", bare(table).replace('%', "\\%").replace('_', "\\_"));
        let Ok(rows) = Database::query(self, sql, &Params::new().bind("like", like)).await else {
            return Vec::new(); // not installed, or not readable: nothing to say
        };
        statement_dependents(&rows, table, columns)
    }
}
