//! `:name` placeholders, translated to each engine's bind style.
//!
//! Values always travel as bound parameters; only placeholders (`$1`, `?`) are written into the
//! SQL text. `:keys`-style list parameters expand to one placeholder per element, and tuple lists
//! (composite keys) to `(?, ?), (?, ?)`.
//!
//! Where the dialect binds arrays (PostgreSQL, [`Dialect::binds_arrays`]), [`translate_bound`]
//! sends a list written as `IN (:keys)` as one typed array instead: `x IN (:keys)` becomes
//! `x = ANY($1)`, `x NOT IN (:keys)` becomes `x <> ALL($1)`, and a tuple list
//! `(a, b) IN (:keys)` becomes `(a, b) IN (SELECT * FROM UNNEST($1, $2))`, one array per
//! column. The statement then has one parameter per list whatever its length: parsed and
//! planned once, not once per element. A list that cannot travel as one typed array (a NULL,
//! mixed types, a type without an array mapping) or that is not inside `IN (…)` expands as
//! [`translate`] does.

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
/// Lists always expand to one placeholder per element.
pub fn translate(
    sql: &str,
    params: &Params,
    dialect: &dyn Dialect,
) -> Result<(String, Vec<Value>), DbError> {
    let (text, binds) = translate_with(sql, params, dialect, false)?;
    // Without arrays every bind is a single value.
    let values = binds
        .into_iter()
        .flat_map(|b| match b {
            Bind::One(v) => vec![v],
            Bind::Array(a) => a.into_values(),
        })
        .collect();
    Ok((text, values))
}

/// [`translate`], with lists inside `IN (…)` bound as one typed array where the dialect can
/// (see the module documentation).
pub fn translate_bound(
    sql: &str,
    params: &Params,
    dialect: &dyn Dialect,
) -> Result<(String, Vec<Bind>), DbError> {
    translate_with(sql, params, dialect, dialect.binds_arrays())
}

/// One parameter to bind: a value, or a whole list as one typed array.
#[derive(Debug, Clone, PartialEq)]
pub enum Bind {
    One(Value),
    Array(TypedArray),
}

/// A list whose elements all have one type, bound as one array parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum TypedArray {
    Int(Vec<i64>),
    Text(Vec<String>),
    Uuid(Vec<uuid::Uuid>),
    Decimal(Vec<bigdecimal::BigDecimal>),
    Date(Vec<chrono::NaiveDate>),
    Timestamp(Vec<chrono::NaiveDateTime>),
    TimestampTz(Vec<chrono::DateTime<chrono::Utc>>),
}

impl TypedArray {
    /// The list as one array, or `None` when its elements do not share one mapped type (or
    /// it is empty, or holds a NULL).
    pub fn of(values: &[Value]) -> Option<TypedArray> {
        fn all<T>(values: &[Value], f: impl Fn(&Value) -> Option<T>) -> Option<Vec<T>> {
            values.iter().map(f).collect()
        }
        let int = |v: &Value| match v {
            Value::Int(i) => Some(*i),
            Value::UInt(u) => i64::try_from(*u).ok(),
            _ => None,
        };
        Some(match values.first()? {
            Value::Int(_) | Value::UInt(_) => TypedArray::Int(all(values, int)?),
            Value::Text(_) => TypedArray::Text(all(values, |v| match v {
                Value::Text(s) => Some(s.clone()),
                _ => None,
            })?),
            Value::Uuid(_) => TypedArray::Uuid(all(values, |v| match v {
                Value::Uuid(u) => Some(*u),
                _ => None,
            })?),
            Value::Decimal(_) => TypedArray::Decimal(all(values, |v| match v {
                Value::Decimal(d) => Some(d.clone()),
                _ => None,
            })?),
            Value::Date(_) => TypedArray::Date(all(values, |v| match v {
                Value::Date(d) => Some(*d),
                _ => None,
            })?),
            Value::Timestamp(_) => TypedArray::Timestamp(all(values, |v| match v {
                Value::Timestamp(t) => Some(*t),
                _ => None,
            })?),
            Value::TimestampTz(_) => TypedArray::TimestampTz(all(values, |v| match v {
                Value::TimestampTz(t) => Some(*t),
                _ => None,
            })?),
            _ => return None,
        })
    }

    /// The elements back as values.
    pub fn into_values(self) -> Vec<Value> {
        match self {
            TypedArray::Int(v) => v.into_iter().map(Value::Int).collect(),
            TypedArray::Text(v) => v.into_iter().map(Value::Text).collect(),
            TypedArray::Uuid(v) => v.into_iter().map(Value::Uuid).collect(),
            TypedArray::Decimal(v) => v.into_iter().map(Value::Decimal).collect(),
            TypedArray::Date(v) => v.into_iter().map(Value::Date).collect(),
            TypedArray::Timestamp(v) => v.into_iter().map(Value::Timestamp).collect(),
            TypedArray::TimestampTz(v) => v.into_iter().map(Value::TimestampTz).collect(),
        }
    }
}

/// The columns of a tuple list as one array each, or `None` (see [`TypedArray::of`]).
fn column_arrays(tuples: &[Vec<Value>]) -> Option<Vec<TypedArray>> {
    let width = tuples.first()?.len();
    if width == 0 || tuples.iter().any(|t| t.len() != width) {
        return None;
    }
    (0..width)
        .map(|c| {
            let column: Vec<Value> = tuples.iter().map(|t| t[c].clone()).collect();
            TypedArray::of(&column)
        })
        .collect()
}

/// Length of a trailing `IN (` (any case and spacing, `IN` a whole word) at the end of `text`,
/// and whether a `NOT` precedes it (then its length is included).
fn trailing_in(text: &str) -> Option<(usize, bool)> {
    let t = text.trim_end();
    let t = t.strip_suffix('(')?.trim_end();
    let before = t.len().checked_sub(2)?;
    if !t[before..].eq_ignore_ascii_case("in")
        || t[..before].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
    {
        return None;
    }
    let head = t[..before].trim_end();
    let not = head.len() >= 3
        && head[head.len() - 3..].eq_ignore_ascii_case("not")
        && !head[..head.len() - 3].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
    let start = if not { head.len() - 3 } else { before };
    Some((text.len() - start, not))
}

fn translate_with(
    sql: &str,
    params: &Params,
    dialect: &dyn Dialect,
    arrays: bool,
) -> Result<(String, Vec<Bind>), DbError> {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut binds: Vec<Bind> = Vec::new();
    let push = |out: &mut String, binds: &mut Vec<Bind>, b: Bind| {
        binds.push(b);
        out.push_str(&dialect.placeholder(binds.len()));
    };
    let pieces = split(sql);
    // Set when an array took the list's `IN (`: the next text starts with its `)`.
    let mut drop_paren = false;
    for (i, piece) in pieces.iter().enumerate() {
        let name = match piece {
            Piece::Text(t) if drop_paren => {
                drop_paren = false;
                out.push_str(t.trim_start().strip_prefix(')').unwrap_or(t));
                continue;
            }
            Piece::Text(t) => {
                out.push_str(t);
                continue;
            }
            Piece::Name(name) => *name,
        };
        // An array only replaces a list that is the whole of an `IN ( … )`.
        let closes =
            matches!(pieces.get(i + 1), Some(Piece::Text(t)) if t.trim_start().starts_with(')'));
        let in_list = if arrays && closes {
            trailing_in(&out)
        } else {
            None
        };
        match params.get(name) {
            None => {
                return Err(DbError::Unbound {
                    name: name.to_string(),
                    sql: sql.to_string(),
                });
            }
            Some(Param::One(v)) => push(&mut out, &mut binds, Bind::One(v.clone())),
            Some(Param::List(list)) if list.is_empty() => out.push_str("NULL"),
            Some(Param::List(list)) => match (in_list, TypedArray::of(list)) {
                (Some((len, not)), Some(array)) => {
                    out.truncate(out.len() - len);
                    out.truncate(out.trim_end().len());
                    out.push_str(if not { " <> ALL(" } else { " = ANY(" });
                    push(&mut out, &mut binds, Bind::Array(array));
                    out.push(')');
                    drop_paren = true;
                }
                _ => {
                    for (i, v) in list.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        push(&mut out, &mut binds, Bind::One(v.clone()));
                    }
                }
            },
            Some(Param::Tuples(tuples)) if tuples.is_empty() => out.push_str("(NULL)"),
            Some(Param::Tuples(tuples)) => match (in_list, column_arrays(tuples)) {
                (Some(_), Some(columns)) => {
                    out.push_str("SELECT * FROM UNNEST(");
                    for (j, column) in columns.into_iter().enumerate() {
                        if j > 0 {
                            out.push_str(", ");
                        }
                        push(&mut out, &mut binds, Bind::Array(column));
                    }
                    out.push(')');
                }
                _ => {
                    for (i, tuple) in tuples.iter().enumerate() {
                        out.push_str(if i > 0 { ", (" } else { "(" });
                        for (j, v) in tuple.iter().enumerate() {
                            if j > 0 {
                                out.push_str(", ");
                            }
                            push(&mut out, &mut binds, Bind::One(v.clone()));
                        }
                        out.push(')');
                    }
                }
            },
        }
    }
    Ok((out, binds))
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

    fn pg_bound(sql: &str, p: &Params) -> (String, Vec<Bind>) {
        translate_bound(sql, p, Engine::Postgres.dialect()).unwrap()
    }

    #[test]
    fn postgres_binds_an_in_list_as_one_array() {
        let p = Params::new()
            .bind("a", 1)
            .bind_list("keys", vec![2.into(), 3.into(), 4.into()]);
        let (sql, binds) = pg_bound("WHERE a = :a AND id IN ( :keys ) AND b", &p);
        assert_eq!(sql, "WHERE a = $1 AND id = ANY($2) AND b");
        assert_eq!(
            binds,
            vec![
                Bind::One(Value::Int(1)),
                Bind::Array(TypedArray::Int(vec![2, 3, 4]))
            ]
        );
        let (sql, _) = pg_bound("WHERE id not in (:keys)", &p);
        assert_eq!(sql, "WHERE id <> ALL($1)");
    }

    #[test]
    fn postgres_binds_tuples_as_one_array_per_column() {
        let p = Params::new().bind_tuples(
            "keys",
            vec![vec![1.into(), "x".into()], vec![2.into(), "y".into()]],
        );
        let (sql, binds) = pg_bound("WHERE (a, b) IN (:keys)", &p);
        assert_eq!(sql, "WHERE (a, b) IN (SELECT * FROM UNNEST($1, $2))");
        assert_eq!(
            binds,
            vec![
                Bind::Array(TypedArray::Int(vec![1, 2])),
                Bind::Array(TypedArray::Text(vec!["x".into(), "y".into()]))
            ]
        );
    }

    #[test]
    fn lists_that_are_not_one_typed_in_list_still_expand() {
        // Mixed types, a NULL, a list outside `IN (…)`, a word ending in `in`, another engine.
        let mixed = Params::new().bind_list("keys", vec![1.into(), "x".into()]);
        let with_null = Params::new().bind_list("keys", vec![1.into(), Value::Null]);
        let ints = Params::new().bind_list("keys", vec![1.into(), 2.into()]);
        for (sql, p, want) in [
            ("WHERE id IN (:keys)", &mixed, "WHERE id IN ($1, $2)"),
            ("WHERE id IN (:keys)", &with_null, "WHERE id IN ($1, $2)"),
            ("SELECT greatest(:keys)", &ints, "SELECT greatest($1, $2)"),
            ("WHERE id IN (0, :keys)", &ints, "WHERE id IN (0, $1, $2)"),
            (
                "SELECT * FROM join(:keys)",
                &ints,
                "SELECT * FROM join($1, $2)",
            ),
        ] {
            let (got, binds) = pg_bound(sql, p);
            assert_eq!(got, want);
            assert!(binds.iter().all(|b| matches!(b, Bind::One(_))), "{sql}");
        }
        let (sql, binds) =
            translate_bound("WHERE id IN (:keys)", &ints, Engine::MySql.dialect()).unwrap();
        assert_eq!(sql, "WHERE id IN (?, ?)");
        assert_eq!(binds.len(), 2);
    }

    #[test]
    fn values_never_enter_the_sql_text() {
        let evil = "'; DROP TABLE t; --";
        let (sql, vals) = pg("SELECT :v", &Params::new().bind("v", evil));
        assert_eq!(sql, "SELECT $1");
        assert_eq!(vals, vec![Value::Text(evil.into())]);
    }
}
