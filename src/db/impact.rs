//! The impact check's vocabulary: what depends on a table or column, as each engine's catalog
//! says (`postgres/impact.rs`, `mysql/impact.rs`, `sqlite/impact.rs`).

use serde::{Deserialize, Serialize};

/// Something that still depends on a table or column the contract drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dependent {
    /// `view`, `foreign key`, `index`, `trigger`, `generated column`, `default`, `function`,
    /// `constraint`, `statement`.
    pub kind: String,
    pub name: String,
    /// What it depends on: `table.column` or `table`.
    pub on: String,
    /// What will happen to it, or what it is.
    pub detail: String,
    /// True when it blocks the drop (unless overridden); false for what goes away with the drop
    /// and is only worth knowing (an index) or is evidence rather than an object (a statement).
    pub blocking: bool,
}

impl Dependent {
    pub fn new(kind: &str, name: impl Into<String>, on: impl Into<String>) -> Dependent {
        Dependent {
            kind: kind.to_string(),
            name: name.into(),
            on: on.into(),
            detail: String::new(),
            blocking: true,
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Dependent {
        self.detail = detail.into();
        self
    }

    pub fn informational(mut self) -> Dependent {
        self.blocking = false;
        self
    }
}

/// True when `text` mentions the identifier `word` as a whole word (case-insensitive):
/// `status` in `NEW.status` or `"status"`, not in `status_code`. For catalog text (view and
/// function bodies) that the engine does not track as a dependency.
pub fn mentions(text: &str, word: &str) -> bool {
    let hay = text.to_lowercase();
    let needle = word.to_lowercase();
    if needle.is_empty() {
        return false;
    }
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut from = 0;
    while let Some(pos) = hay[from..].find(&needle) {
        let start = from + pos;
        let end = start + needle.len();
        let before = hay[..start].chars().next_back();
        let after = hay[end..].chars().next();
        if !before.is_some_and(ident) && !after.is_some_and(ident) {
            return true;
        }
        from = start + needle.len().max(1);
    }
    false
}

/// The last part of a possibly qualified name.
pub fn bare(table: &str) -> &str {
    table.rsplit('.').next().unwrap_or(table)
}

/// What `text` (a view, trigger or routine body) touches: `table.column` for each of `columns`
/// it mentions, or `table` when `columns` is empty (the whole table is dropped).
pub fn mentioned(table: &str, columns: &[String], text: &str) -> Vec<String> {
    if columns.is_empty() {
        vec![table.to_string()]
    } else {
        columns
            .iter()
            .filter(|c| mentions(text, c))
            .map(|c| format!("{table}.{c}"))
            .collect()
    }
}

/// `table.column` for each column, or `table` when `columns` is empty.
pub fn targets(table: &str, columns: &[String]) -> Vec<String> {
    if columns.is_empty() {
        vec![table.to_string()]
    } else {
        columns.iter().map(|c| format!("{table}.{c}")).collect()
    }
}

/// Statements from a digest table (query text, calls) that mention the table and column;
/// informational, since migtui's own reads appear there too.
pub fn statement_dependents(
    rows: &crate::db::Rows,
    table: &str,
    columns: &[String],
) -> Vec<Dependent> {
    let mut out = Vec::new();
    for r in &rows.rows {
        let (query, calls) = (r[0].to_text(), r[1].to_text());
        if !mentions(&query, bare(table)) || query.contains("migtui_") {
            continue;
        }
        for on in targets(table, columns) {
            let col = on.rsplit('.').next().unwrap_or(&on);
            if (columns.is_empty() || mentions(&query, col)) && out.len() < 20 {
                let short: String = query.chars().take(160).collect();
                out.push(
                    Dependent::new("statement", short, on.clone())
                        .detail(format!("run {calls} times since statistics were reset"))
                        .informational(),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_words_only() {
        assert!(mentions("select NEW.status from x", "status"));
        assert!(mentions("`Status`", "status"));
        assert!(!mentions("status_code = 1", "status"));
        assert!(!mentions("incident_status", "status"));
        assert!(mentions("x status_code, status", "status"));
    }
}
