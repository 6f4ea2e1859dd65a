//! Compare one batch: the rows the `old` and `new` queries returned for the same keys, each
//! column normalized ([`crate::db::normalize`] plus the check's per-column rules), and each key
//! classified as a match, missing on one side, or a value mismatch naming its columns.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::config::{ColumnRule, VerifyCheck};
use crate::db::normalize::{self, Options, apply_rules, coerce_pair};
use crate::db::{Rows, Value};

/// How a key differs between the two models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// The old model has the row, the new one does not.
    MissingInNew,
    /// The new model has a row the old one does not.
    MissingInOld,
    /// Both have the row; some columns differ.
    Mismatch,
}

impl DiffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffKind::MissingInNew => "missing_in_new",
            DiffKind::MissingInOld => "missing_in_old",
            DiffKind::Mismatch => "mismatch",
        }
    }

    pub fn parse(s: &str) -> Option<DiffKind> {
        match s {
            "missing_in_new" => Some(DiffKind::MissingInNew),
            "missing_in_old" => Some(DiffKind::MissingInOld),
            "mismatch" => Some(DiffKind::Mismatch),
            _ => None,
        }
    }
}

/// One row as read, by column name.
pub type Row = BTreeMap<String, Value>;

/// One divergent key with both sides' raw and normalized values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Difference {
    pub key: Vec<Value>,
    pub kind: DiffKind,
    /// The differing columns (for a mismatch).
    pub columns: Vec<String>,
    pub old: Option<Row>,
    pub new: Option<Row>,
    pub old_normalized: Option<Row>,
    pub new_normalized: Option<Row>,
}

/// The outcome of one batch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BatchOutcome {
    /// Keys found on at least one side.
    pub compared: u64,
    pub matched: u64,
    pub differences: Vec<Difference>,
}

/// The comparison rules of one check.
#[derive(Debug, Clone)]
pub struct Comparer {
    pub key: Vec<String>,
    pub rules: BTreeMap<String, Vec<ColumnRule>>,
    pub options: Options,
}

/// A key's canonical text, equal for the same logical key from any engine (`5`, `5.0`, `"5"`).
pub fn key_text(key: &[Value]) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|v| match v {
            // The common key, without the general path's copies.
            Value::Int(i) => i.to_string(),
            v => key_part(v),
        })
        .collect();
    if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        serde_json::to_string(&parts).unwrap_or_default()
    }
}

fn key_part(v: &Value) -> String {
    match normalize::normalize(v, &Options::default()) {
        Value::Text(s) => match s.trim().parse::<i64>() {
            Ok(i) if i.to_string() == s.trim() => i.to_string(),
            _ => s,
        },
        Value::Decimal(d) => d.normalized().to_plain_string(),
        Value::Uuid(u) => u.hyphenated().to_string(),
        other => other.display(),
    }
}

impl Comparer {
    pub fn for_check(check: &VerifyCheck) -> Comparer {
        // A check-wide timestamp rule sets the precision; column rules refine it.
        Comparer {
            key: check.key.clone(),
            rules: check.normalize.clone(),
            options: Options {
                float_tolerance: check.float_tolerance,
                ..Options::default()
            },
        }
    }

    fn rules(&self, col: &str) -> &[ColumnRule] {
        self.rules
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(col))
            .map_or(&[], |(_, r)| r.as_slice())
    }

    /// Rows by canonical key text: each key with its row's index in `rows`. Rows whose key
    /// columns are missing are an error.
    pub fn index(&self, rows: &Rows) -> Result<HashMap<String, (Vec<Value>, usize)>, String> {
        let idx: Vec<usize> = self
            .key
            .iter()
            .map(|k| {
                rows.column_index(k).ok_or_else(|| {
                    format!(
                        "the query returns no key column `{k}` (columns: {})",
                        rows.columns.join(", ")
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        let mut out = HashMap::with_capacity(rows.len());
        for (i, r) in rows.rows.iter().enumerate() {
            let key: Vec<Value> = idx.iter().map(|c| r[*c].clone()).collect();
            out.insert(key_text(&key), (key, i));
        }
        Ok(out)
    }

    /// Compare the rows both sides returned for `keys` (keys absent from both are skipped).
    ///
    /// Most rows match: they are compared in place, column by column, and a column whose two
    /// raw values are equal is not normalized at all (normalization is a function of the
    /// value and the column's rules, so equal values stay equal). Only a row that differs is
    /// copied out, by name, for its [`Difference`].
    pub fn compare(
        &self,
        keys: &[Vec<Value>],
        old: &Rows,
        new: &Rows,
    ) -> Result<BatchOutcome, String> {
        let old_idx = self.index(old)?;
        let new_idx = self.index(new)?;
        let shape = Shape::of(old, new);
        let mut out = BatchOutcome::default();
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        // Requested keys first (in order), then any extra key a side returned.
        let requested = keys.iter().map(|k| (key_text(k), k));
        let returned = old_idx
            .iter()
            .chain(new_idx.iter())
            .map(|(t, (k, _))| (t.clone(), k));
        for (text, key) in requested.chain(returned) {
            if !seen.insert(text.clone()) {
                continue;
            }
            match (old_idx.get(&text), new_idx.get(&text)) {
                (None, None) => {}
                (Some((k, o)), None) => {
                    out.compared += 1;
                    let o = row_map(old, *o);
                    out.differences.push(self.missing(
                        k.clone(),
                        DiffKind::MissingInNew,
                        Some(&o),
                        None,
                    ));
                }
                (None, Some((k, n))) => {
                    out.compared += 1;
                    let n = row_map(new, *n);
                    out.differences.push(self.missing(
                        k.clone(),
                        DiffKind::MissingInOld,
                        None,
                        Some(&n),
                    ));
                }
                (Some((_, o)), Some((_, n))) => {
                    out.compared += 1;
                    let (orow, nrow) = (&old.rows[*o], &new.rows[*n]);
                    let diff = if self.rows_equal(&shape, orow, nrow) {
                        None
                    } else {
                        self.compare_rows(key.clone(), &row_map(old, *o), &row_map(new, *n))
                    };
                    match diff {
                        Some(d) => out.differences.push(d),
                        None => out.matched += 1,
                    }
                }
            }
        }
        Ok(out)
    }

    /// True when every column compares equal (see [`Comparer::compare_rows`]).
    fn rows_equal(&self, shape: &Shape<'_>, o: &[Value], n: &[Value]) -> bool {
        let null = Value::Null;
        shape.pairs.iter().all(|(name, i, j)| {
            let (ov, nv) = (&o[*i], j.map_or(&null, |j| &n[j]));
            ov == nv || self.column_equal(name, ov, nv).is_none_or(|(_, _, eq)| eq)
        }) && shape.only_new.iter().all(|j| n[*j].is_null())
    }

    /// One column's two values normalized, and whether they are equal; `None` when the
    /// column's rules ignore it.
    fn column_equal(&self, col: &str, ov: &Value, nv: &Value) -> Option<(Value, Value, bool)> {
        let (a, b) = coerce_pair(
            normalize::normalize(ov, &self.options),
            normalize::normalize(nv, &self.options),
            &self.options,
        );
        let rules = self.rules(col);
        let (a, b) = (apply_rules(a, rules)?, apply_rules(b, rules)?);
        let equal = match (&a, &b) {
            (Value::Float(x), Value::Float(y)) => {
                normalize::floats_equal(*x, *y, self.options.float_tolerance)
            }
            _ => a == b,
        };
        Some((a, b, equal))
    }

    fn missing(
        &self,
        key: Vec<Value>,
        kind: DiffKind,
        o: Option<&Row>,
        n: Option<&Row>,
    ) -> Difference {
        let norm = |r: &Row| -> Row {
            r.iter()
                .filter_map(|(c, v)| {
                    let v = normalize::normalize(v, &self.options);
                    apply_rules(v, self.rules(c)).map(|v| (c.clone(), v))
                })
                .collect()
        };
        Difference {
            key,
            kind,
            columns: Vec::new(),
            old: o.cloned(),
            new: n.cloned(),
            old_normalized: o.map(norm),
            new_normalized: n.map(norm),
        }
    }

    /// `None` when every compared column is equal.
    pub fn compare_rows(&self, key: Vec<Value>, o: &Row, n: &Row) -> Option<Difference> {
        let mut cols = Vec::new();
        let mut on = Row::new();
        let mut nn = Row::new();
        for (c, ov) in o {
            let nv = n
                .iter()
                .find(|(nc, _)| nc.eq_ignore_ascii_case(c))
                .map_or(&Value::Null, |(_, v)| v);
            let Some((a, b, equal)) = self.column_equal(c, ov, nv) else {
                continue;
            };
            if !equal {
                cols.push(c.clone());
            }
            on.insert(c.clone(), a);
            nn.insert(c.clone(), b);
        }
        // A column only the new query returns also counts.
        for (c, nv) in n {
            if !o.keys().any(|oc| oc.eq_ignore_ascii_case(c)) && !nv.is_null() {
                cols.push(c.clone());
            }
        }
        (!cols.is_empty()).then(|| Difference {
            key,
            kind: DiffKind::Mismatch,
            columns: cols,
            old: Some(o.clone()),
            new: Some(n.clone()),
            old_normalized: Some(on),
            new_normalized: Some(nn),
        })
    }
}

/// How the two sides' columns line up, worked out once per batch: each old column with the
/// new column of the same name (any case), and the columns only the new query returns.
struct Shape<'a> {
    pairs: Vec<(&'a str, usize, Option<usize>)>,
    only_new: Vec<usize>,
}

impl<'a> Shape<'a> {
    fn of(old: &'a Rows, new: &'a Rows) -> Shape<'a> {
        let find = |c: &str| new.columns.iter().position(|n| n.eq_ignore_ascii_case(c));
        let pairs = old
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (c.as_str(), i, find(c)))
            .collect();
        let only_new = (0..new.columns.len())
            .filter(|j| {
                !old.columns
                    .iter()
                    .any(|c| c.eq_ignore_ascii_case(&new.columns[*j]))
            })
            .collect();
        Shape { pairs, only_new }
    }
}

/// Row `i` of `rows`, by column name.
fn row_map(rows: &Rows, i: usize) -> Row {
    rows.columns
        .iter()
        .cloned()
        .zip(rows.rows[i].iter().cloned())
        .collect()
}

#[cfg(test)]
#[path = "compare_tests.rs"]
mod tests;
