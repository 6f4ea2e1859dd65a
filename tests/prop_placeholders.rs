//! Property tests of `:name` placeholder translation: quoted text, quoted identifiers,
//! comments, dollar quotes and `::casts` are left alone; every engine's output binds exactly the
//! referenced names, in order; nothing panics. The last property runs the translated SQL on each
//! real engine and checks the row it returns.
//!
//! Cases per property: 256 (pure) and 32 per engine (databases); `PROPTEST_CASES=N` runs more.
mod common;
mod prop_support;

use migtui::db::placeholders::{placeholder_names, replace_placeholders, translate};
use migtui::db::{Engine, Params, Value};
use prop_support::cases;
use proptest::prelude::*;

/// One piece of generated SQL, and what the translator must do with it.
#[derive(Debug, Clone)]
enum Tok {
    /// Plain SQL text (no quotes, colons, dollars or comment starts).
    Word(String),
    /// `:name`, to be bound.
    Name(String),
    /// Text that hides `:lookalikes`: a string literal, a quoted identifier, a comment, a
    /// dollar quote or a cast. Must come out unchanged.
    Hidden(String),
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,6}"
}

/// Characters a literal's body may hold: colons, other quote kinds, placeholder-looking text.
fn body() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            "[a-z0-9 ]{1,4}",
            ident().prop_map(|n| format!(":{n}")),
            Just("::".to_string()),
            Just("?".to_string()),
            Just("$1".to_string()),
            Just("é☕".to_string()),
            Just("--".to_string()),
            Just("/*".to_string()),
        ],
        0..5,
    )
    .prop_map(|v| v.concat())
}

fn hidden() -> impl Strategy<Value = String> {
    prop_oneof![
        // 'it''s :x' — a doubled quote stays inside the literal.
        (body(), body()).prop_map(|(a, b)| format!("'{a}''{b}'")),
        body().prop_map(|a| format!("'{a}'")),
        body().prop_map(|a| format!("\"{}\"", a.replace('"', "\"\""))),
        body().prop_map(|a| format!("`{}`", a.replace('`', "``"))),
        body().prop_map(|a| format!("-- {a}\n")),
        body().prop_map(|a| format!("/* {} */", a.replace("*/", ""))),
        (ident(), body()).prop_map(|(t, a)| {
            let t = t
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .to_string();
            format!("${t}${}${t}$", a.replace('$', ""))
        }),
        ident().prop_map(|t| format!("x::{t}")),
    ]
}

fn tokens() -> impl Strategy<Value = Vec<Tok>> {
    prop::collection::vec(
        prop_oneof![
            "[A-Za-z0-9_(),=<>*+]{1,6}".prop_map(Tok::Word),
            ident().prop_map(Tok::Name),
            hidden().prop_map(Tok::Hidden),
        ],
        0..14,
    )
}

/// The SQL, with a space between tokens so a name never runs into the next token.
fn render(toks: &[Tok]) -> String {
    toks.iter()
        .map(|t| match t {
            Tok::Word(s) | Tok::Hidden(s) => s.clone(),
            Tok::Name(n) => format!(":{n}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A distinct value per name, so the order of bound values shows which name each came from.
fn value_of(name: &str) -> Value {
    Value::Text(format!("v:{name}"))
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_text_never_panics(sql in ".{0,200}", bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        for sql in [sql, String::from_utf8_lossy(&bytes).into_owned()] {
            let names = placeholder_names(&sql);
            let mut p = Params::new();
            for n in &names {
                p = p.bind(n, value_of(n));
            }
            let _ = replace_placeholders(&sql, |n| format!("<{n}>"));
            for e in [Engine::Postgres, Engine::MySql, Engine::Sqlite] {
                let (_, vals) = translate(&sql, &p, e.dialect()).expect("every found name is bound");
                prop_assert!(vals.len() >= names.len());
            }
        }
    }

    #[test]
    fn hidden_text_is_untouched_and_names_bind_in_order(toks in tokens()) {
        let sql = render(&toks);
        let used: Vec<&String> = toks.iter().filter_map(|t| match t { Tok::Name(n) => Some(n), _ => None }).collect();
        let mut distinct: Vec<String> = Vec::new();
        for n in &used {
            if !distinct.contains(n) {
                distinct.push((*n).clone());
            }
        }
        prop_assert_eq!(placeholder_names(&sql), distinct.clone(), "sql: {}", sql);

        let mut p = Params::new();
        for n in &distinct {
            p = p.bind(n, value_of(n));
        }
        let expected_vals: Vec<Value> = used.iter().map(|n| value_of(n)).collect();
        for e in [Engine::Postgres, Engine::MySql, Engine::Sqlite] {
            let d = e.dialect();
            let (out, vals) = translate(&sql, &p, d).unwrap();
            // Exactly the text with each name replaced by the engine's next placeholder.
            let mut i = 0;
            let expected_sql = toks.iter().map(|t| match t {
                Tok::Word(s) | Tok::Hidden(s) => s.clone(),
                Tok::Name(_) => { i += 1; d.placeholder(i) }
            }).collect::<Vec<_>>().join(" ");
            prop_assert_eq!(&out, &expected_sql, "{:?}", e);
            prop_assert_eq!(&vals, &expected_vals, "{:?}", e);
        }
        let replaced = replace_placeholders(&sql, |n| format!("src.{n}"));
        let expected = toks.iter().map(|t| match t {
            Tok::Word(s) | Tok::Hidden(s) => s.clone(),
            Tok::Name(n) => format!("src.{n}"),
        }).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(replaced, expected);
    }

    #[test]
    fn lists_and_tuples_expand_to_one_placeholder_per_value(
        n in 0usize..6, width in 1usize..4, rows in 0usize..5,
    ) {
        let list: Vec<Value> = (0..n as i64).map(Value::Int).collect();
        let tuples: Vec<Vec<Value>> = (0..rows)
            .map(|r| (0..width).map(|c| Value::Int((r * 10 + c) as i64)).collect())
            .collect();
        let p = Params::new().bind("a", 1).bind_list("keys", list.clone()).bind_tuples("t", tuples.clone());
        let sql = "WHERE a = :a AND id IN (:keys) AND (x, y) IN (:t) AND b = :a";
        for e in [Engine::Postgres, Engine::MySql, Engine::Sqlite] {
            let (out, vals) = translate(sql, &p, e.dialect()).unwrap();
            let mut want = vec![Value::Int(1)];
            want.extend(list.iter().cloned());
            want.extend(tuples.iter().flatten().cloned());
            want.push(Value::Int(1));
            prop_assert_eq!(&vals, &want);
            let marks = match e {
                Engine::Postgres => (1..=vals.len()).filter(|i| out.contains(&format!("${i}"))).count(),
                _ => out.matches('?').count(),
            };
            prop_assert_eq!(marks, vals.len(), "{}", out);
            prop_assert_eq!(out.contains("IN (NULL)"), n == 0, "{}", out);
            prop_assert_eq!(out.contains("IN ((NULL))"), rows == 0, "{}", out);
            prop_assert_eq!(out.matches("), (").count(), rows.saturating_sub(1), "{}", out);
        }
    }
}

/// `SELECT` items the real engines agree on: bound names and string literals hiding
/// placeholder-like text (no backslashes: MySQL reads them as escapes, PostgreSQL does not).
fn select_items() -> impl Strategy<Value = Vec<(bool, String)>> {
    let lit = prop::collection::vec(
        prop_oneof![
            "[a-z0-9 ]{1,4}",
            ident().prop_map(|n| format!(":{n}")),
            Just("::x".to_string()),
            Just("?".to_string()),
            Just("$1".to_string()),
            Just("''".to_string()),
            Just("\"`".to_string()),
            Just("naïve ☕".to_string()),
        ],
        1..4,
    )
    .prop_map(|v| v.concat());
    prop::collection::vec(
        prop_oneof![
            ident().prop_map(|n| (true, n)),
            lit.prop_map(|l| (false, l))
        ],
        1..6,
    )
}

/// The row each engine must return: a name's bound value, a literal's text with `''` undone.
fn expected_row(items: &[(bool, String)]) -> Vec<Value> {
    items
        .iter()
        .map(|(is_name, s)| {
            if *is_name {
                value_of(s)
            } else {
                Value::Text(s.replace("''", "'"))
            }
        })
        .collect()
}

fn select_sql(items: &[(bool, String)]) -> String {
    let list = items
        .iter()
        .enumerate()
        .map(|(i, (is_name, s))| {
            let e = if *is_name {
                format!(":{s}")
            } else {
                format!("'{s}'")
            };
            // A comment hiding a name between items: the engine and the translator skip it.
            format!("{e} AS c{i} /* :hidden{i} */")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("SELECT {list} -- :trailing\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn translated_sql_returns_bound_values_and_literals_on_every_engine() {
    let runtime = tokio::runtime::Handle::current();
    for tdb in common::all_engines().await {
        let db = tdb.connect().await;
        let mut runner = proptest::test_runner::TestRunner::new(cases(32));
        let kind = tdb.kind;
        let result = tokio::task::block_in_place(|| {
            runner.run(&select_items(), |items| {
                let sql = select_sql(&items);
                let mut p = Params::new();
                for (is_name, n) in &items {
                    if *is_name {
                        p = p.bind(n, value_of(n));
                    }
                }
                let rows = runtime
                    .block_on(db.query(&sql, &p))
                    .map_err(|e| TestCaseError::fail(format!("{kind:?}: {e}\n{sql}")))?;
                let got: Vec<Value> = rows.rows[0]
                    .iter()
                    .map(|v| match v {
                        Value::Bytes(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
                        other => other.clone(),
                    })
                    .collect();
                prop_assert_eq!(got, expected_row(&items), "{:?}: {}", kind, sql);
                Ok(())
            })
        });
        if let Err(e) = result {
            panic!("{kind:?}: {e}");
        }
    }
}

/// PostgreSQL and SQLite strings take a backslash literally: after `'C:\'` the statement
/// goes on, and `:b` is bound (the splitter reads MySQL's `\'` escape only where the text
/// then stays balanced).
#[tokio::test]
async fn a_backslash_ending_a_string_does_not_hide_placeholders() {
    let sql = r"SELECT 'C:\' AS a, :b AS b";
    assert_eq!(placeholder_names(sql), vec!["b".to_string()]);
    for tdb in common::all_engines().await {
        if tdb.kind == common::Kind::MySql {
            continue; // MySQL reads `\'` as an escaped quote: the statement is unterminated.
        }
        let db = tdb.connect().await;
        let rows = db.query(sql, &Params::new().bind("b", "v")).await.unwrap();
        assert_eq!(
            rows.rows[0],
            vec![Value::Text(r"C:\".into()), Value::Text("v".into())]
        );
    }
}
