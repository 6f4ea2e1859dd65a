//! `:name` placeholders, translated to each engine's bind style.
//!
//! Values always travel as bound parameters; only placeholders (`$1`, `?`) are written into the
//! SQL text. `:keys`-style list parameters expand to one placeholder per element, and tuple lists
//! (composite keys) to `(?, ?), (?, ?)`.

use super::{DbError, Dialect, Value};

/// A bound parameter: one value, a list (`IN (:keys)`), or a list of tuples (composite keys).
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    One(Value),
    List(Vec<Value>),
    Tuples(Vec<Vec<Value>>),
}

/// Named parameters for one statement.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Params(Vec<(String, Param)>);

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bind one value to `:name`.
    pub fn bind(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.set(name, Param::One(value.into()));
        self
    }

    /// Bind a list to `:name`, expanded to `v1, v2, …`. An empty list expands to `NULL`, so
    /// `IN (:keys)` matches nothing instead of being a syntax error.
    pub fn bind_list(mut self, name: &str, values: Vec<Value>) -> Self {
        self.set(name, Param::List(values));
        self
    }

    /// Bind a list of tuples to `:name`, expanded to `(a1, b1), (a2, b2), …`.
    pub fn bind_tuples(mut self, name: &str, tuples: Vec<Vec<Value>>) -> Self {
        self.set(name, Param::Tuples(tuples));
        self
    }

    pub fn set(&mut self, name: &str, param: Param) {
        if let Some(slot) = self.0.iter_mut().find(|(n, _)| n == name) {
            slot.1 = param;
        } else {
            self.0.push((name.to_string(), param));
        }
    }

    pub fn get(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A piece of SQL text: literal text, or a placeholder by name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

/// The placeholder names in `sql`, in order of first appearance, without duplicates.
pub fn placeholder_names(sql: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for piece in split(sql) {
        if let Piece::Name(n) = piece
            && !names.iter().any(|x| x == n)
        {
            names.push(n.to_string());
        }
    }
    names
}

/// `sql` with each `:name` placeholder replaced by `f(name)` (the backfill turns `:status`
/// into a column of the chunk's rows); quoted text, comments and casts are left alone.
pub fn replace_placeholders(sql: &str, mut f: impl FnMut(&str) -> String) -> String {
    let mut out = String::with_capacity(sql.len());
    for piece in split(sql) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Name(n) => out.push_str(&f(n)),
        }
    }
    out
}

/// Translate `sql` to the dialect's placeholder style and collect the values to bind, in order.
pub fn translate(
    sql: &str,
    params: &Params,
    dialect: &dyn Dialect,
) -> Result<(String, Vec<Value>), DbError> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut values: Vec<Value> = Vec::new();
    let push = |out: &mut String, values: &mut Vec<Value>, v: &Value| {
        values.push(v.clone());
        out.push_str(&dialect.placeholder(values.len()));
    };
    for piece in split(sql) {
        match piece {
            Piece::Text(t) => out.push_str(t),
            Piece::Name(name) => match params.get(name) {
                None => {
                    return Err(DbError::Unbound {
                        name: name.to_string(),
                        sql: sql.to_string(),
                    });
                }
                Some(Param::One(v)) => push(&mut out, &mut values, v),
                Some(Param::List(list)) if list.is_empty() => out.push_str("NULL"),
                Some(Param::List(list)) => {
                    for (i, v) in list.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        push(&mut out, &mut values, v);
                    }
                }
                Some(Param::Tuples(tuples)) if tuples.is_empty() => out.push_str("(NULL)"),
                Some(Param::Tuples(tuples)) => {
                    for (i, tuple) in tuples.iter().enumerate() {
                        out.push_str(if i > 0 { ", (" } else { "(" });
                        for (j, v) in tuple.iter().enumerate() {
                            if j > 0 {
                                out.push_str(", ");
                            }
                            push(&mut out, &mut values, v);
                        }
                        out.push(')');
                    }
                }
            },
        }
    }
    Ok((out, values))
}

/// Split SQL into text and placeholders, skipping quoted strings, quoted identifiers, comments,
/// PostgreSQL dollar quotes and `::` casts.
///
/// A backslash escapes the next byte in single-quoted strings on MySQL (its default) but not
/// in standard SQL (PostgreSQL, SQLite: `'C:\'` is a whole string). The text is read the MySQL
/// way first; if that leaves a string open at the end, it is read the standard way.
fn split(sql: &str) -> Vec<Piece<'_>> {
    let mut pieces = Vec::new();
    if !split_into(sql, true, &mut pieces) {
        pieces.clear();
        split_into(sql, false, &mut pieces);
    }
    pieces
}

/// Fill `pieces`; false when a quoted run is still open at the end of the text.
fn split_into<'a>(sql: &'a str, backslash: bool, pieces: &mut Vec<Piece<'a>>) -> bool {
    let b = sql.as_bytes();
    let mut closed = true;
    let mut start = 0; // start of the pending text piece
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => match skip_quoted(b, i, q, backslash) {
                Some(end) => i = end,
                None => {
                    closed = false;
                    i = b.len();
                }
            },
            b'-' if b.get(i + 1) == Some(&b'-') => i = skip_until(b, i, b"\n"),
            b'/' if b.get(i + 1) == Some(&b'*') => i = skip_until(b, i + 2, b"*/"),
            b'$' => i = skip_dollar_quote(sql, i),
            b':' if b.get(i + 1) == Some(&b':') => i += 2,
            b':' if i > 0 && b[i - 1] == b':' => i += 1,
            b':' if b
                .get(i + 1)
                .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
            {
                let mut end = i + 1;
                while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                    end += 1;
                }
                if start < i {
                    pieces.push(Piece::Text(&sql[start..i]));
                }
                pieces.push(Piece::Name(&sql[i + 1..end]));
                start = end;
                i = end;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        pieces.push(Piece::Text(&sql[start..]));
    }
    closed
}

/// Past a quoted run starting at `i`, `None` when it never closes; a doubled quote is an
/// escaped quote, and with `backslash` a backslash escapes the next byte in single-quoted
/// strings.
fn skip_quoted(b: &[u8], i: usize, q: u8, backslash: bool) -> Option<usize> {
    let mut j = i + 1;
    while j < b.len() {
        if backslash && b[j] == b'\\' && q == b'\'' {
            j += 2;
            continue;
        }
        if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
                continue;
            }
            return Some(j + 1);
        }
        j += 1;
    }
    None
}

fn skip_until(b: &[u8], from: usize, end: &[u8]) -> usize {
    b[from..]
        .windows(end.len())
        .position(|w| w == end)
        .map_or(b.len(), |p| from + p + end.len())
}

/// `$tag$ … $tag$` (PostgreSQL). A lone `$` (or `$1`) is passed over as text.
fn skip_dollar_quote(sql: &str, i: usize) -> usize {
    let rest = &sql[i + 1..];
    let tag_len = rest
        .bytes()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
        .count();
    if rest.as_bytes().get(tag_len) != Some(&b'$') || rest.starts_with(|c: char| c.is_ascii_digit())
    {
        return i + 1;
    }
    let tag = &sql[i..i + tag_len + 2];
    let body = i + tag.len();
    sql[body..]
        .find(tag)
        .map_or(sql.len(), |p| body + p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Engine;

    fn pg(sql: &str, p: &Params) -> (String, Vec<Value>) {
        translate(sql, p, Engine::Postgres.dialect()).unwrap()
    }

    #[test]
    fn names_skip_strings_comments_casts_and_dollar_quotes() {
        let sql = "SELECT ':no', \"a:b\", `c:d`, x::text, $q$ :nope $q$ -- :c\n /* :d */ FROM t WHERE a = :a AND b IN (:keys) AND c = :a";
        assert_eq!(placeholder_names(sql), vec!["a", "keys"]);
    }

    #[test]
    fn a_backslash_escapes_a_quote_only_where_the_text_needs_it() {
        // MySQL's escaped quote keeps the string going…
        assert_eq!(placeholder_names(r"SELECT 'it\'s :no', :a"), vec!["a"]);
        // …a standard string ending in a backslash does not hide what follows.
        assert_eq!(
            placeholder_names(r"SELECT 'C:\', :a, 'D:\', :b"),
            vec!["a", "b"]
        );
    }

    #[test]
    fn postgres_numbers_placeholders_in_order() {
        let p = Params::new()
            .bind("a", 1)
            .bind_list("keys", vec![2.into(), 3.into()]);
        let (sql, vals) = pg("WHERE a = :a AND id IN (:keys) AND z = :a", &p);
        assert_eq!(sql, "WHERE a = $1 AND id IN ($2, $3) AND z = $4");
        assert_eq!(
            vals,
            vec![Value::Int(1), Value::Int(2), Value::Int(3), Value::Int(1)]
        );
    }

    #[test]
    fn mysql_uses_question_marks_and_tuples_expand() {
        let p = Params::new().bind_tuples(
            "keys",
            vec![vec![1.into(), "x".into()], vec![2.into(), "y".into()]],
        );
        let (sql, vals) =
            translate("WHERE (a, b) IN (:keys)", &p, Engine::MySql.dialect()).unwrap();
        assert_eq!(sql, "WHERE (a, b) IN ((?, ?), (?, ?))");
        assert_eq!(vals.len(), 4);
    }

    #[test]
    fn empty_list_matches_nothing_instead_of_breaking_syntax() {
        let (sql, vals) = pg(
            "WHERE id IN (:keys)",
            &Params::new().bind_list("keys", vec![]),
        );
        assert_eq!(sql, "WHERE id IN (NULL)");
        assert!(vals.is_empty());
    }

    #[test]
    fn unbound_placeholder_is_an_error_naming_it() {
        let err =
            translate("WHERE id = :id", &Params::new(), Engine::Sqlite.dialect()).unwrap_err();
        assert!(err.to_string().contains(":id"), "{err}");
    }

    #[test]
    fn values_never_enter_the_sql_text() {
        let evil = "'; DROP TABLE t; --";
        let (sql, vals) = pg("SELECT :v", &Params::new().bind("v", evil));
        assert_eq!(sql, "SELECT $1");
        assert_eq!(vals, vec![Value::Text(evil.into())]);
    }
}
