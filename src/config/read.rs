//! Typed reads from a spanned TOML table. A value of the wrong type, a missing required key or
//! an unknown key becomes a problem at its place in the file, and the read yields `None`, so
//! one pass finds every mistake.

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::source::{Cx, did_you_mean};

pub(crate) type Val<'i> = Spanned<DeValue<'i>>;

/// A string value (after `${ENV}` expansion) and the offset where it was written.
#[derive(Debug, Clone)]
pub(crate) struct Str {
    pub value: String,
    pub at: usize,
    /// End of the value in the file (exclusive), to find text inside it.
    pub end: usize,
}

/// One TOML table being read: a section, an array-of-tables element or an inline table.
#[derive(Clone)]
pub(crate) struct Section<'a, 'i> {
    /// How messages name it: `[migration]`, `[[backfill]] "incidents"`, `` `from` in … ``.
    pub label: String,
    pub table: &'a DeTable<'i>,
    /// Offset of its header (or opening brace).
    pub at: usize,
}

/// "a string", "an integer": the type of a value as a message says it.
pub(crate) fn a_type(v: &DeValue<'_>) -> &'static str {
    match v {
        DeValue::String(_) => "a string",
        DeValue::Integer(_) => "an integer",
        DeValue::Float(_) => "a float",
        DeValue::Boolean(_) => "a boolean",
        DeValue::Datetime(_) => "a date-time",
        DeValue::Array(_) => "an array",
        DeValue::Table(_) => "a table",
    }
}

/// Report a value of the wrong type.
pub(crate) fn wrong_type(cx: &mut Cx<'_>, v: &Val<'_>, what: &str, expected: &str, example: &str) {
    cx.problem(
        v.span().start,
        format!("{what}: expected {expected}, found {}", a_type(v.get_ref())),
        Some(format!("write it as `{example}`")),
    );
}

/// A string element or value, expanded.
pub(crate) fn as_str(cx: &mut Cx<'_>, v: &Val<'_>, what: &str, example: &str) -> Option<Str> {
    match v.get_ref() {
        DeValue::String(s) => {
            let value = cx.interpolate(s, v.span())?;
            Some(Str {
                value,
                at: v.span().start,
                end: v.span().end,
            })
        }
        _ => {
            wrong_type(cx, v, what, "a string", example);
            None
        }
    }
}

impl<'a, 'i> Section<'a, 'i> {
    pub fn new(label: impl Into<String>, table: &'a DeTable<'i>, at: usize) -> Self {
        Self {
            label: label.into(),
            table,
            at,
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Val<'i>> {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map(|(_, v)| v)
    }

    pub fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Offset of a key, for problems about the key rather than its value.
    pub fn key_at(&self, key: &str) -> usize {
        self.table
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == key)
            .map_or(self.at, |(k, _)| k.span().start)
    }

    /// Report every key not in `allowed`, suggesting the closest allowed one.
    pub fn only(&self, cx: &mut Cx<'_>, allowed: &[&str]) {
        for (k, _) in self.table.iter() {
            let key = k.get_ref().as_ref();
            if allowed.contains(&key) {
                continue;
            }
            let hint = match did_you_mean(key, allowed.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("known keys here: {}", allowed.join(", ")),
            };
            cx.problem(
                k.span().start,
                format!("unknown key `{key}` in {}", self.label),
                Some(hint),
            );
        }
    }

    /// Report a required key that is absent.
    pub fn missing(&self, cx: &mut Cx<'_>, key: &str, example: &str) {
        cx.problem(
            self.at,
            format!("{} is missing `{key}`", self.label),
            Some(format!("add `{example}`")),
        );
    }

    fn what(&self, key: &str) -> String {
        format!("`{key}` in {}", self.label)
    }

    pub fn str(&self, cx: &mut Cx<'_>, key: &str) -> Option<Str> {
        let v = self.get(key)?;
        as_str(cx, v, &self.what(key), &format!("{key} = \"…\""))
    }

    pub fn req_str(&self, cx: &mut Cx<'_>, key: &str) -> Option<Str> {
        if !self.has(key) {
            self.missing(cx, key, &format!("{key} = \"…\""));
            return None;
        }
        self.str(cx, key)
    }

    /// A non-negative integer.
    pub fn uint(&self, cx: &mut Cx<'_>, key: &str) -> Option<u64> {
        let v = self.get(key)?;
        let parsed = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok(),
            _ => {
                wrong_type(cx, v, &self.what(key), "an integer", &format!("{key} = 5"));
                return None;
            }
        };
        match parsed.and_then(|n| u64::try_from(n).ok()) {
            Some(n) => Some(n),
            None => {
                cx.problem(
                    v.span().start,
                    format!("{}: must be zero or more", self.what(key)),
                    None,
                );
                None
            }
        }
    }

    /// A number; integers are accepted where a float is expected.
    pub fn float(&self, cx: &mut Cx<'_>, key: &str) -> Option<f64> {
        let v = self.get(key)?;
        let n = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => {
                wrong_type(cx, v, &self.what(key), "a number", &format!("{key} = 1.5"));
                return None;
            }
        };
        match n.filter(|n| n.is_finite() && *n >= 0.0) {
            Some(n) => Some(n),
            None => {
                cx.problem(
                    v.span().start,
                    format!("{}: must be a finite number, zero or more", self.what(key)),
                    None,
                );
                None
            }
        }
    }

    pub fn bool(&self, cx: &mut Cx<'_>, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                wrong_type(
                    cx,
                    v,
                    &self.what(key),
                    "a boolean",
                    &format!("{key} = true"),
                );
                None
            }
        }
    }

    /// A list of strings; with `single_ok`, one string stands for a list of one.
    pub fn str_list(&self, cx: &mut Cx<'_>, key: &str, single_ok: bool) -> Option<Vec<Str>> {
        let v = self.get(key)?;
        let what = self.what(key);
        let example = format!("{key} = [\"…\", \"…\"]");
        match v.get_ref() {
            DeValue::String(_) if single_ok => Some(vec![as_str(cx, v, &what, &example)?]),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                let mut ok = true;
                for item in items.iter() {
                    match as_str(cx, item, &what, &example) {
                        Some(s) => out.push(s),
                        None => ok = false,
                    }
                }
                ok.then_some(out)
            }
            _ => {
                let expected = if single_ok {
                    "a string or an array of strings"
                } else {
                    "an array of strings"
                };
                wrong_type(cx, v, &what, expected, &example);
                None
            }
        }
    }

    /// A sub-table (usually inline), labelled for messages.
    pub fn table(&self, cx: &mut Cx<'_>, key: &str) -> Option<Section<'a, 'i>> {
        let v = self.get(key)?;
        match v.get_ref() {
            DeValue::Table(t) => Some(Section::new(
                format!("`{key}` of {}", self.label),
                t,
                v.span().start,
            )),
            _ => {
                wrong_type(
                    cx,
                    v,
                    &self.what(key),
                    "a table",
                    &format!("{key} = {{ … = … }}"),
                );
                None
            }
        }
    }

    pub fn req_table(&self, cx: &mut Cx<'_>, key: &str) -> Option<Section<'a, 'i>> {
        if !self.has(key) {
            self.missing(cx, key, &format!("{key} = {{ … }}"));
            return None;
        }
        self.table(cx, key)
    }

    /// One table or an array of tables (e.g. `pause_when`).
    pub fn tables(&self, cx: &mut Cx<'_>, key: &str) -> Vec<Section<'a, 'i>> {
        let Some(v) = self.get(key) else {
            return Vec::new();
        };
        let label = format!("`{key}` of {}", self.label);
        let example = format!("{key} = {{ … }}` or `{key} = [{{ … }}, {{ … }}]");
        match v.get_ref() {
            DeValue::Table(t) => vec![Section::new(label, t, v.span().start)],
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => {
                            out.push(Section::new(label.clone(), t, item.span().start))
                        }
                        _ => wrong_type(cx, item, &self.what(key), "a table", &example),
                    }
                }
                out
            }
            _ => {
                wrong_type(
                    cx,
                    v,
                    &self.what(key),
                    "a table or an array of tables",
                    &example,
                );
                Vec::new()
            }
        }
    }
}
