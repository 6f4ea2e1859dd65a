//! Just enough SQL parsing to name what a contract statement drops: `ALTER TABLE … DROP
//! [COLUMN] …` (one or several actions) and `DROP TABLE …`. Anything else is reported as not
//! understood, and the contract then needs an explicit override with a reason.

use serde::{Deserialize, Serialize};

/// One thing a statement drops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dropped {
    Column { table: String, column: String },
    Table { table: String },
}

impl Dropped {
    pub fn table(&self) -> &str {
        match self {
            Dropped::Column { table, .. } | Dropped::Table { table } => table,
        }
    }
}

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dropped::Column { table, column } => write!(f, "column {table}.{column}"),
            Dropped::Table { table } => write!(f, "table {table}"),
        }
    }
}

/// A contract statement as migtui understands it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub sql: String,
    pub drops: Vec<Dropped>,
    /// Why migtui cannot say everything this statement removes, when it cannot.
    pub not_understood: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Word(String),
    /// A quoted identifier, unquoted.
    Quoted(String),
    Punct(char),
    Other,
}

fn tokens(sql: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < chars.len() && !(chars[i] == '*' && chars[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if c == '"' || c == '`' || c == '\'' {
            let mut s = String::new();
            i += 1;
            while i < chars.len() {
                if chars[i] == c {
                    if chars.get(i + 1) == Some(&c) {
                        s.push(c);
                        i += 2;
                        continue;
                    }
                    break;
                }
                s.push(chars[i]);
                i += 1;
            }
            i += 1;
            out.push(if c == '\'' {
                Tok::Other
            } else {
                Tok::Quoted(s)
            });
        } else if c.is_alphanumeric() || c == '_' || c == '$' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '$')
            {
                i += 1;
            }
            out.push(Tok::Word(chars[start..i].iter().collect()));
        } else if ",.;()*".contains(c) {
            out.push(Tok::Punct(c));
            i += 1;
        } else {
            out.push(Tok::Other);
            i += 1;
        }
    }
    while out.last() == Some(&Tok::Punct(';')) {
        out.pop();
    }
    out
}

struct P {
    toks: Vec<Tok>,
    i: usize,
}

impl P {
    fn kw(&mut self, word: &str) -> bool {
        match self.toks.get(self.i) {
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word) => {
                self.i += 1;
                true
            }
            _ => false,
        }
    }
    fn kws(&mut self, words: &[&str]) -> bool {
        let at = self.i;
        if words.iter().all(|w| self.kw(w)) {
            true
        } else {
            self.i = at;
            false
        }
    }
    fn punct(&mut self, c: char) -> bool {
        if self.toks.get(self.i) == Some(&Tok::Punct(c)) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn ident(&mut self) -> Option<String> {
        let s = match self.toks.get(self.i)? {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q) => q.clone(),
            _ => return None,
        };
        self.i += 1;
        Some(s)
    }
    /// A possibly qualified name, `schema.table`.
    fn name(&mut self) -> Option<String> {
        let mut n = self.ident()?;
        while self.punct('.') {
            n = format!("{n}.{}", self.ident()?);
        }
        Some(n)
    }
    fn done(&self) -> bool {
        self.i >= self.toks.len()
    }
    /// Skip to just after the next comma at parenthesis depth 0; false at the end.
    fn next_item(&mut self) -> bool {
        let mut depth = 0i32;
        while let Some(t) = self.toks.get(self.i) {
            self.i += 1;
            match t {
                Tok::Punct('(') => depth += 1,
                Tok::Punct(')') => depth -= 1,
                Tok::Punct(',') if depth == 0 => return true,
                _ => {}
            }
        }
        false
    }
}

/// Parse one contract statement.
pub fn parse(sql: &str) -> Statement {
    let mut p = P {
        toks: tokens(sql),
        i: 0,
    };
    let mut st = Statement {
        sql: sql.trim().to_string(),
        drops: Vec::new(),
        not_understood: None,
    };
    if p.kws(&["ALTER", "TABLE"]) {
        p.kws(&["IF", "EXISTS"]);
        p.kw("ONLY");
        let Some(table) = p.name() else {
            st.not_understood = Some("no table name after ALTER TABLE".into());
            return st;
        };
        p.punct('*');
        loop {
            if p.kw("DROP") {
                if p.kw("CONSTRAINT")
                    || p.kw("INDEX")
                    || p.kw("KEY")
                    || p.kws(&["FOREIGN", "KEY"])
                    || p.kws(&["PRIMARY", "KEY"])
                    || p.kw("CHECK")
                {
                    // Drops no data.
                } else {
                    p.kw("COLUMN");
                    p.kws(&["IF", "EXISTS"]);
                    match p.ident() {
                        Some(column) => st.drops.push(Dropped::Column {
                            table: table.clone(),
                            column,
                        }),
                        None => {
                            st.not_understood = Some("a DROP without a column name".into());
                        }
                    }
                }
            } else if !p.done() {
                st.not_understood.get_or_insert_with(|| {
                    "it changes the table in other ways than dropping columns; migtui cannot tell \
                     what data that loses"
                        .into()
                });
            }
            if !p.next_item() {
                break;
            }
        }
    } else if p.kws(&["DROP", "TABLE"]) {
        p.kws(&["IF", "EXISTS"]);
        loop {
            match p.name() {
                Some(table) => st.drops.push(Dropped::Table { table }),
                None => {
                    st.not_understood = Some("no table name after DROP TABLE".into());
                    break;
                }
            }
            if !p.punct(',') {
                break;
            }
        }
        p.kw("CASCADE");
        p.kw("RESTRICT");
        if !p.done() {
            st.not_understood = Some("unexpected text after the table names".into());
        }
    } else {
        st.not_understood =
            Some("only ALTER TABLE … DROP COLUMN … and DROP TABLE … are understood".into());
    }
    st
}

/// True when two table names name the same table: equal ignoring case, or equal in their last
/// part when only one of them is qualified.
pub fn same_table(a: &str, b: &str) -> bool {
    if a.eq_ignore_ascii_case(b) {
        return true;
    }
    let last = |s: &str| s.rsplit('.').next().unwrap_or(s).to_ascii_lowercase();
    (a.contains('.') != b.contains('.')) && last(a) == last(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(t: &str, c: &str) -> Dropped {
        Dropped::Column {
            table: t.into(),
            column: c.into(),
        }
    }

    #[test]
    fn names_what_alter_table_drops() {
        let s = parse("ALTER TABLE incidents DROP COLUMN status");
        assert_eq!(s.drops, vec![col("incidents", "status")]);
        assert_eq!(s.not_understood, None);
        let s = parse(
            "alter table if exists only public.\"Incidents\" drop status cascade, \
             DROP COLUMN IF EXISTS `old_flag`, drop constraint incidents_chk;",
        );
        assert_eq!(
            s.drops,
            vec![
                col("public.Incidents", "status"),
                col("public.Incidents", "old_flag")
            ]
        );
        assert_eq!(s.not_understood, None);
    }

    #[test]
    fn names_dropped_tables() {
        let s = parse("DROP TABLE IF EXISTS a, b.c CASCADE");
        let t = |n: &str| Dropped::Table { table: n.into() };
        assert_eq!(s.drops, vec![t("a"), t("b.c")]);
        assert!(s.not_understood.is_none());
    }

    #[test]
    fn says_what_it_does_not_understand() {
        assert!(parse("TRUNCATE incidents").not_understood.is_some());
        let s = parse("ALTER TABLE t DROP COLUMN a, ALTER COLUMN b TYPE int");
        assert_eq!(s.drops, vec![col("t", "a")]);
        assert!(s.not_understood.is_some());
        assert!(
            parse("DROP TABLE t; DELETE FROM x")
                .not_understood
                .is_some()
        );
    }

    #[test]
    fn compares_table_names() {
        assert!(same_table("incidents", "INCIDENTS"));
        assert!(same_table("public.incidents", "incidents"));
        assert!(!same_table("a.incidents", "b.incidents"));
        assert!(!same_table("incidents", "incident"));
    }
}
