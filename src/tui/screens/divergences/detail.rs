//! One divergence taken apart: its key as an operator types it, its columns side by side
//! (raw and normalized, differing ones marked), and the verifier's own queries for the key.

use std::collections::BTreeMap;

use super::CheckSql;
use crate::db::Value;
use crate::store::DivergenceRecord;

/// One column of the drill-down: both sides' raw and normalized values as text (`None`: the
/// side has no row), and whether the check found it different.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDiff {
    pub column: String,
    pub old_raw: Option<String>,
    pub new_raw: Option<String>,
    pub old_norm: Option<String>,
    pub new_norm: Option<String>,
    pub differs: bool,
}

/// A stored row (`{column: Value}` as JSON) as text per column; `None` for no row.
fn row_text(row: &Option<serde_json::Value>) -> Option<BTreeMap<String, String>> {
    let row = row.as_ref()?;
    match serde_json::from_value::<BTreeMap<String, Value>>(row.clone()) {
        Ok(r) => Some(r.into_iter().map(|(c, v)| (c, v.display())).collect()),
        // Not the usual shape (an older store, a hand-written row): show the JSON as it is.
        Err(_) => row
            .as_object()
            .map(|o| o.iter().map(|(c, v)| (c.clone(), v.to_string())).collect()),
    }
}

/// The columns of both sides, the differing ones first (in the check's order), then the rest
/// alphabetically. A column differs when the check said so, when its normalized values differ,
/// or when one side has no row at all.
pub fn diff_columns(rec: &DivergenceRecord) -> Vec<ColumnDiff> {
    let (or, nr) = (row_text(&rec.old_raw), row_text(&rec.new_raw));
    let (on, nn) = (row_text(&rec.old_norm), row_text(&rec.new_norm));
    let mut names: Vec<String> = Vec::new();
    for c in &rec.columns {
        if !names.iter().any(|n| n.eq_ignore_ascii_case(c)) {
            names.push(c.clone());
        }
    }
    let mut rest: Vec<String> = [&or, &nr]
        .into_iter()
        .flatten()
        .flat_map(|m| m.keys().cloned())
        .filter(|c| !names.iter().any(|n| n.eq_ignore_ascii_case(c)))
        .collect();
    rest.sort();
    rest.dedup();
    names.extend(rest);
    let get = |m: &Option<BTreeMap<String, String>>, c: &str| -> Option<String> {
        let m = m.as_ref()?;
        m.get(c).cloned().or_else(|| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(c))
                .map(|(_, v)| v.clone())
        })
    };
    let one_side = or.is_none() != nr.is_none();
    names
        .into_iter()
        .map(|c| {
            let d = ColumnDiff {
                old_raw: get(&or, &c),
                new_raw: get(&nr, &c),
                old_norm: get(&on, &c),
                new_norm: get(&nn, &c),
                differs: false,
                column: c,
            };
            let named = rec
                .columns
                .iter()
                .any(|x| x.eq_ignore_ascii_case(&d.column));
            let norm_differs = (d.old_norm.is_some() || d.new_norm.is_some())
                && d.old_norm != d.new_norm
                && on.is_some()
                && nn.is_some();
            ColumnDiff {
                differs: named || norm_differs || one_side,
                ..d
            }
        })
        .collect()
}

/// The key as the operator types it for a recheck or `--keys`: `42`, or `1:a` for a composite
/// key (what `verify::sample::parse_keys` reads back).
pub fn typed_key(rec: &DivergenceRecord) -> String {
    match serde_json::from_value::<Vec<Value>>(rec.key.clone()) {
        Ok(parts) if !parts.is_empty() => parts
            .iter()
            .map(Value::display)
            .collect::<Vec<_>>()
            .join(":"),
        _ => rec.key_text.clone(),
    }
}

/// The check's own `old` and `new` queries (the ones the verifier runs, not a copy of their
/// logic), with the key they are bound to: what to paste into a SQL shell to look at the row.
/// `None` when the check is not in the config the cockpit was given.
pub fn row_sql(checks: &[CheckSql], rec: &DivergenceRecord) -> Option<Vec<String>> {
    let c = checks.iter().find(|c| c.check == rec.check)?;
    let bound = match serde_json::from_value::<Vec<Value>>(rec.key.clone()) {
        Ok(parts) if parts.len() > 1 => format!(
            "({})",
            parts.iter().map(literal).collect::<Vec<_>>().join(", ")
        ),
        Ok(parts) if parts.len() == 1 => literal(&parts[0]),
        _ => format!("'{}'", rec.key_text.replace('\'', "''")),
    };
    let mut out = vec![format!(
        "-- :keys = {bound}   (key {}; migtui binds it, never splices it)",
        c.key.join(", ")
    )];
    out.push("-- old".into());
    out.extend(c.old_sql.trim().lines().map(str::to_string));
    out.push("-- new".into());
    out.extend(c.new_sql.trim().lines().map(str::to_string));
    Some(out)
}

/// A value written as a SQL literal, for reading (numbers bare, everything else quoted).
fn literal(v: &Value) -> String {
    match v {
        Value::Null => "NULL".into(),
        Value::Int(_) | Value::UInt(_) | Value::Decimal(_) | Value::Float(_) | Value::Bool(_) => {
            v.display()
        }
        other => format!("'{}'", other.display().replace('\'', "''")),
    }
}
