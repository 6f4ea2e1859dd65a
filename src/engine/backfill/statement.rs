//! Turning a per-row custom statement into one set-based statement per chunk.
//!
//! The file gives a target-side statement with `:column` placeholders, meant for every source
//! row. Running it once per row would cost a round trip per row; instead each `:column` becomes
//! `src.migtui_column` and the chunk's rows are joined in as the relation `src`:
//!
//! - `UPDATE t SET … [FROM x] WHERE …` → `UPDATE t SET … FROM <rows> AS src[, x] WHERE …`
//!   (MySQL: `UPDATE <rows> AS src CROSS JOIN t … SET …`);
//! - `INSERT INTO t (…) VALUES (…) [tail]` → `INSERT INTO t (…) SELECT … FROM <rows> AS src [tail]`;
//! - `INSERT INTO t (…) SELECT … [FROM x] …` → `… SELECT … FROM <rows> AS src CROSS JOIN x …`.
//!
//! Anything else is refused with an error that says what is supported.

use crate::db::Engine;
use crate::db::placeholders::replace_placeholders;

/// The name a source column has in the chunk's relation: prefixed, so an unqualified column in
/// the statement (`WHERE id = :id`) still means the target's column, never the chunk's.
pub fn src_column(name: &str) -> String {
    format!("migtui_{name}")
}

/// A write statement split around the place the chunk's relation goes: `before` + relation +
/// ` AS src` + `after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub before: String,
    pub after: String,
}

impl Template {
    pub fn render(&self, relation: &str) -> String {
        format!("{}{relation} AS src{}", self.before, self.after)
    }
}

/// The set-based form of a per-row statement, for a target on `engine`.
pub fn set_based(sql: &str, engine: Engine, filler: &str) -> Result<Template, String> {
    let d = engine.dialect();
    let text = replace_placeholders(sql.trim().trim_end_matches(';'), |name| {
        format!("src.{}", d.quote_ident(&src_column(name)))
    });
    let words = top_level_words(&text);
    let first = words.first().map(|(_, w)| w.as_str()).unwrap_or("");
    let find = |w: &str, after: usize| {
        words
            .iter()
            .find(|(at, word)| *at >= after && word == w)
            .map(|(at, _)| *at)
    };
    let split_at = |at: usize, insert_before: &str, after: &str| Template {
        before: format!("{}{insert_before}", &text[..at]),
        after: format!("{after}{}", &text[at..]),
    };
    match first {
        "update" if engine == Engine::MySql => {
            // The rows go first, so `ON` clauses of the statement's own joins can use them.
            let set = find("set", 0).ok_or("an UPDATE without SET")?;
            let table = update_target(&text, &words, set).ok_or("an UPDATE without a table")?;
            Ok(Template {
                before: text[..table].to_string(),
                after: format!(" CROSS JOIN {}", &text[table..]),
            })
        }
        "update" => {
            let set = find("set", 0).ok_or("an UPDATE without SET")?;
            match find("from", set) {
                Some(from) => {
                    let rest = from + "from".len();
                    Ok(Template {
                        before: format!("{}FROM ", &text[..from]),
                        after: format!(",{}", &text[rest..]),
                    })
                }
                None => {
                    let at = find("where", set).unwrap_or(text.len());
                    Ok(split_at(at, " FROM ", " "))
                }
            }
        }
        "insert" => {
            if let Some(values) = find("values", 0) {
                let open = text[values..]
                    .find('(')
                    .map(|p| values + p)
                    .ok_or("INSERT … VALUES without a row")?;
                let close = matching_paren(&text, open).ok_or("unbalanced parentheses")?;
                if text[close + 1..].trim_start().starts_with(',') {
                    return Err("an INSERT with more than one VALUES row".into());
                }
                Ok(Template {
                    before: format!("{}SELECT {} FROM ", &text[..values], &text[open + 1..close]),
                    after: format!("{filler}{}", &text[close + 1..]),
                })
            } else if let Some(select) = find("select", 0) {
                match find("from", select) {
                    Some(from) => {
                        let rest = from + "from".len();
                        Ok(Template {
                            before: format!("{}FROM ", &text[..from]),
                            after: format!(" CROSS JOIN{}", &text[rest..]),
                        })
                    }
                    None => {
                        let at = ["where", "on", "group", "order", "limit"]
                            .iter()
                            .filter_map(|w| find(w, select))
                            .min()
                            .unwrap_or(text.len());
                        let filler = if find("where", select).is_some() {
                            ""
                        } else {
                            filler
                        };
                        Ok(split_at(at, " FROM ", &format!("{filler} ")))
                    }
                }
            } else {
                Err("an INSERT that is neither INSERT … VALUES nor INSERT … SELECT".into())
            }
        }
        _ => Err(format!(
            "a statement starting with `{}`: custom statements must be an UPDATE or an INSERT",
            first.to_uppercase()
        )),
    }
}

/// True for an `INSERT … ON CONFLICT … DO NOTHING`: it never touches an existing row, so it
/// cannot put an older value back over a newer dual write (the insert-only guard).
pub fn is_insert_only(sql: &str) -> bool {
    let words = top_level_words(sql);
    words.first().is_some_and(|(_, w)| w == "insert")
        && words.iter().any(|(_, w)| w == "conflict")
        && words
            .windows(2)
            .any(|w| w[0].1 == "do" && w[1].1 == "nothing")
}

/// The insert without its `ON CONFLICT …` clause: on PostgreSQL a plain insert costs about
/// two thirds of a speculative one, so chunks try it first. It changes no existing row (it
/// fails on one, and the chunk rolls back and runs again as written), so it keeps every guard
/// the statement had. `None` when there is no such clause or something follows it (`RETURNING`).
pub fn without_conflict_clause(t: &Template) -> Option<Template> {
    let first = top_level_words(&t.before).into_iter().next()?;
    if first.1 != "insert" {
        return None;
    }
    let words = top_level_words(&t.after);
    let at = words
        .windows(2)
        .find(|w| w[0].1 == "on" && w[1].1 == "conflict")
        .map(|w| w[0].0)?;
    if words.iter().any(|(pos, w)| *pos > at && w == "returning") {
        return None;
    }
    Some(Template {
        before: t.before.clone(),
        after: t.after[..at].trim_end().to_string(),
    })
}

/// Where the table reference of `UPDATE [LOW_PRIORITY] [IGNORE] table … SET` starts, before
/// `set`. Found by position, not as a word: a quoted name (`` `order` ``) is not a word.
fn update_target(text: &str, words: &[(usize, String)], set: usize) -> Option<usize> {
    let mut at = words.first()?.0 + "update".len();
    for (w_at, w) in words.iter().skip(1) {
        let gap = text.get(at..*w_at)?;
        if gap.trim().is_empty() && matches!(w.as_str(), "low_priority" | "ignore") {
            at = w_at + w.len();
        } else {
            break;
        }
    }
    let start = at + (text.len() - at - text[at..].trim_start().len());
    (start < set).then_some(start)
}

/// Lowercased words outside quotes, comments and parentheses, with their byte offsets.
fn top_level_words(sql: &str) -> Vec<(usize, String)> {
    let b = sql.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                i += 1;
                while i < b.len() && b[i] != c {
                    i += if b[i] == b'\\' && c == b'\'' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                depth += 1;
                i += 1;
            }
            b')' => {
                depth -= 1;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.')
                {
                    i += 1;
                }
                let prev = start.checked_sub(1).map(|p| b[p]);
                if depth == 0 && prev != Some(b'.') {
                    out.push((start, sql[start..i].to_ascii_lowercase()));
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn matching_paren(text: &str, open: usize) -> Option<usize> {
    let mut depth = 0;
    for (i, c) in text[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPDATE: &str = "UPDATE incidents SET incident_status_id = s.id
  FROM incident_statuses s
  WHERE incidents.id = :id AND s.organisation_id = :organisation_id AND s.name = :status";

    #[test]
    fn update_from_gets_the_rows_first_in_its_from_list() {
        let t = set_based(UPDATE, Engine::Postgres, "").unwrap();
        assert_eq!(
            t.render("(R)"),
            "UPDATE incidents SET incident_status_id = s.id\n  FROM (R) AS src, incident_statuses s\n  \
             WHERE incidents.id = src.\"migtui_id\" AND s.organisation_id = src.\"migtui_organisation_id\" AND s.name = src.\"migtui_status\""
        );
    }

    #[test]
    fn mysql_update_cross_joins_the_rows() {
        let t = set_based(
            "UPDATE incidents i JOIN incident_statuses s ON s.name = :status SET i.incident_status_id = s.id WHERE i.id = :id",
            Engine::MySql,
            "",
        )
        .unwrap();
        assert_eq!(
            t.render("(R)"),
            "UPDATE (R) AS src CROSS JOIN incidents i JOIN incident_statuses s ON s.name = src.`migtui_status` \
             SET i.incident_status_id = s.id WHERE i.id = src.`migtui_id`"
        );
    }

    #[test]
    fn mysql_update_of_a_quoted_table_cross_joins_before_it() {
        let t = set_based(
            "UPDATE IGNORE `order` SET `stmt col` = :from WHERE `select` = :select",
            Engine::MySql,
            "",
        )
        .unwrap();
        assert_eq!(
            t.render("(R)"),
            "UPDATE IGNORE (R) AS src CROSS JOIN `order` SET `stmt col` = src.`migtui_from` \
             WHERE `select` = src.`migtui_select`"
        );
    }

    #[test]
    fn update_without_from_gains_one() {
        let t = set_based("UPDATE t SET a = :a WHERE id = :id", Engine::Sqlite, "").unwrap();
        assert_eq!(
            t.render("(R)"),
            "UPDATE t SET a = src.\"migtui_a\"  FROM (R) AS src WHERE id = src.\"migtui_id\""
        );
    }

    #[test]
    fn insert_values_becomes_insert_select() {
        let t = set_based(
            "INSERT INTO t (a, b) VALUES (:a, lower(:b)) ON CONFLICT (a) DO NOTHING;",
            Engine::Sqlite,
            " WHERE true",
        )
        .unwrap();
        assert_eq!(
            t.render("(R)"),
            "INSERT INTO t (a, b) SELECT src.\"migtui_a\", lower(src.\"migtui_b\") FROM (R) AS src WHERE true \
             ON CONFLICT (a) DO NOTHING"
        );
    }

    #[test]
    fn insert_select_joins_the_rows_in() {
        let t = set_based(
            "INSERT INTO t (a, s) SELECT :a, x.id FROM x WHERE x.name = :name",
            Engine::Postgres,
            "",
        )
        .unwrap();
        assert_eq!(
            t.render("(R)"),
            "INSERT INTO t (a, s) SELECT src.\"migtui_a\", x.id FROM (R) AS src CROSS JOIN x WHERE x.name = src.\"migtui_name\""
        );
    }

    #[test]
    fn insert_only_statements_are_recognised() {
        assert!(is_insert_only(
            "INSERT INTO t (a) VALUES (:a) ON CONFLICT (a) DO NOTHING"
        ));
        assert!(!is_insert_only(
            "INSERT INTO t (a) VALUES (:a) ON CONFLICT (a) DO UPDATE SET a = excluded.a"
        ));
        assert!(!is_insert_only(
            "UPDATE t SET note = 'do nothing' WHERE id = :id"
        ));
    }

    #[test]
    fn the_conflict_clause_comes_off_an_insert_and_nothing_else() {
        let sql = "INSERT INTO t (id, s) SELECT :id, x.id FROM x WHERE x.name = :s \
                   ON CONFLICT (id) DO UPDATE SET s = excluded.s WHERE t.v < excluded.v";
        let t = set_based(sql, Engine::Postgres, "").unwrap();
        let plain = without_conflict_clause(&t).unwrap();
        assert_eq!(plain.before, t.before);
        assert!(
            plain
                .render("R")
                .ends_with("WHERE x.name = src.\"migtui_s\"")
        );
        let on_join = set_based(
            "INSERT INTO t (id) SELECT :id FROM x JOIN y ON y.id = x.id",
            Engine::Postgres,
            "",
        )
        .unwrap();
        assert_eq!(without_conflict_clause(&on_join), None);
        let returning = set_based(
            "INSERT INTO t (id) VALUES (:id) ON CONFLICT DO NOTHING RETURNING id",
            Engine::Postgres,
            "",
        )
        .unwrap();
        assert_eq!(without_conflict_clause(&returning), None);
        let update = set_based("UPDATE t SET s = :s WHERE id = :id", Engine::Postgres, "").unwrap();
        assert_eq!(without_conflict_clause(&update), None);
        let quoted = set_based(
            "INSERT INTO t (id, note) VALUES (:id, 'on conflict') ON CONFLICT DO NOTHING",
            Engine::Postgres,
            "",
        )
        .unwrap();
        let plain = without_conflict_clause(&quoted).unwrap().render("R");
        assert!(
            plain.contains("'on conflict'") && !plain.contains("NOTHING"),
            "{plain}"
        );
    }

    #[test]
    fn other_statements_are_refused_with_what_is_supported() {
        let err = set_based("DELETE FROM t WHERE id = :id", Engine::Postgres, "").unwrap_err();
        assert!(err.contains("UPDATE or an INSERT"), "{err}");
        let err = set_based("INSERT INTO t VALUES (:a), (:b)", Engine::Postgres, "").unwrap_err();
        assert!(err.contains("more than one"), "{err}");
    }
}
