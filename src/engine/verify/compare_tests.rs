use super::*;

fn rows(cols: &[&str], data: Vec<Vec<Value>>) -> Rows {
    Rows {
        columns: cols.iter().map(|c| c.to_string()).collect(),
        rows: data,
    }
}

fn comparer(rules: &[(&str, Vec<ColumnRule>)]) -> Comparer {
    Comparer {
        key: vec!["id".into()],
        rules: rules
            .iter()
            .map(|(c, r)| (c.to_string(), r.clone()))
            .collect(),
        options: Options::default(),
    }
}

#[test]
fn classifies_each_key() {
    let keys: Vec<Vec<Value>> = (1..=5).map(|i| vec![Value::Int(i)]).collect();
    let old = rows(
        &["id", "status"],
        vec![
            vec![1.into(), "open".into()],
            vec![2.into(), "OPEN".into()],
            vec![3.into(), "closed".into()],
            vec![4.into(), Value::Text(String::new())],
        ],
    );
    let new = rows(
        &["id", "status"],
        vec![
            vec![1.into(), "open".into()],
            vec![2.into(), "open".into()],
            vec![4.into(), Value::Null],
            vec![5.into(), "extra".into()],
        ],
    );
    let out = comparer(&[]).compare(&keys, &old, &new).unwrap();
    assert_eq!(out.compared, 5);
    assert_eq!(out.matched, 1);
    let kinds: Vec<(String, DiffKind, Vec<String>)> = out
        .differences
        .iter()
        .map(|d| (key_text(&d.key), d.kind, d.columns.clone()))
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("2".into(), DiffKind::Mismatch, vec!["status".to_string()]),
            ("3".into(), DiffKind::MissingInNew, vec![]),
            ("4".into(), DiffKind::Mismatch, vec!["status".to_string()]),
            ("5".into(), DiffKind::MissingInOld, vec![]),
        ]
    );
    // The lowercase rule heals key 2; NULL vs '' stays a divergence.
    let out = comparer(&[("status", vec![ColumnRule::Lowercase])])
        .compare(&keys, &old, &new)
        .unwrap();
    assert_eq!(out.matched, 2);
    assert_eq!(out.differences.len(), 3);
}

#[test]
fn keys_match_across_representations() {
    assert_eq!(
        key_text(&[Value::Int(5)]),
        key_text(&[Value::Text("5".into())])
    );
    assert_eq!(key_text(&[Value::UInt(5)]), "5");
    assert_ne!(key_text(&[Value::Text("05".into())]), "5");
    assert_eq!(key_text(&[Value::Int(1), "a".into()]), r#"["1","a"]"#);
}

#[test]
fn ignored_columns_and_float_tolerance() {
    let c = comparer(&[("note", vec![ColumnRule::Ignore])]);
    let o: Row = [
        ("id".into(), Value::Int(1)),
        ("note".into(), "a".into()),
        ("f".into(), Value::Float(0.1 + 0.2)),
    ]
    .into();
    let n: Row = [
        ("id".into(), Value::Int(1)),
        ("note".into(), "b".into()),
        ("f".into(), Value::Float(0.3)),
    ]
    .into();
    assert!(c.compare_rows(vec![Value::Int(1)], &o, &n).is_none());
}
