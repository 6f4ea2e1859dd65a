//! Property tests of the migration-file parser and validator (`config::`): arbitrary bytes and
//! TOML-ish text never panic and either parse or give problems located inside the file;
//! generated valid files round-trip their values; a mutation of a valid file is reported at
//! the mutated line, naming the key.
//!
//! 256 cases per property; `PROPTEST_CASES=N` runs more.
mod cli_support;
mod prop_support;

use std::collections::BTreeMap;
use std::path::Path;

use cli_support::lit;
use migtui::config::{ColumnRule, ConfigError, SourceKind, TargetWrite, load_with_env, parse_text};
use prop_support::{cases, text};
use proptest::prelude::*;

const FILE: &str = "fuzz.toml";

/// Every problem sits on a line of the file (or the line just past its end) at column ≥ 1, and
/// says something.
fn assert_located(err: &ConfigError, src: &str) -> Result<(), TestCaseError> {
    let lines = src.split('\n').count();
    prop_assert!(!err.problems.is_empty());
    for p in &err.problems {
        prop_assert!(
            p.location.line >= 1 && p.location.line <= lines + 1,
            "{:?} in {} lines",
            p.location,
            lines
        );
        prop_assert!(p.location.column >= 1, "{:?}", p.location);
        prop_assert!(!p.message.trim().is_empty());
        prop_assert_eq!(p.location.file.as_path(), Path::new(FILE));
    }
    Ok(())
}

/// TOML-ish text: section headers, keys, values of every kind, broken quoting.
fn tomlish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("[migration]\n".to_string()),
        Just("[databases.old]\n".to_string()),
        Just("[databases.new]\n".to_string()),
        Just("[[backfill]]\n".to_string()),
        Just("[[verify]]\n".to_string()),
        Just("[[path]]\n".to_string()),
        Just("[state]\n".to_string()),
        Just("[flag]\n".to_string()),
        Just("[contract]\n".to_string()),
        "[a-z_]{1,12}".prop_map(|k| format!("{k} = ")),
        Just("name = ".to_string()),
        Just("url = ".to_string()),
        Just("\"${OLD_URL}\"\n".to_string()),
        Just("\"${\"\n".to_string()),
        Just("\"sqlite://x.db\"\n".to_string()),
        Just("{ database = \"old\", table = \"t\", key = \"id\" }\n".to_string()),
        Just("[\"a\", \"b\"]\n".to_string()),
        Just("\"\"\"\nSELECT :keys\n\"\"\"\n".to_string()),
        "-?[0-9]{1,20}\n",
        Just("1e999\n".to_string()),
        Just("true\n".to_string()),
        Just("\"unterminated\n".to_string()),
        Just("'''\n".to_string()),
        text().prop_map(|t| format!("{t}\n")),
        "\\PC{0,10}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|v| v.concat())
}

/// Environment for `${NAME}`: a couple of variables, the rest missing.
fn env(name: &str) -> Option<String> {
    match name {
        "OLD_URL" => Some("postgres://app:S3cr3t-p4ss@127.0.0.1/db".into()),
        "NEW_URL" => Some("sqlite://new.db".into()),
        _ => None,
    }
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_errors_are_located(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE);
        std::fs::write(&path, &bytes).unwrap();
        if let Err(e) = load_with_env(&path, &env) {
            let shown = String::from_utf8_lossy(&bytes);
            let lines = shown.split('\n').count();
            for p in &e.problems {
                prop_assert!(p.location.line >= 1 && p.location.line <= lines + 1, "{:?}", p.location);
                prop_assert!(p.location.column >= 1);
            }
        }
    }

    #[test]
    fn tomlish_text_never_panics_and_errors_are_located(src in tomlish()) {
        if let Err(e) = parse_text(Path::new(FILE), &src, &env) {
            assert_located(&e, &src)?;
            // A value from the environment is never quoted back.
            prop_assert!(!e.to_string().contains("S3cr3t-p4ss"), "{}", e);
        }
    }

    #[test]
    fn valid_files_round_trip_their_values(m in valid_migration()) {
        let src = m.render();
        let cfg = parse_text(Path::new(FILE), &src, &env)
            .map_err(|e| TestCaseError::fail(format!("{e}\n---\n{src}")))?;
        prop_assert_eq!(&cfg.migration.name, &m.name);
        prop_assert_eq!(cfg.migration.description.as_ref(), Some(&m.description));
        let old = cfg.database("old").unwrap();
        prop_assert_eq!(old.url.expose(), env("OLD_URL").unwrap());
        prop_assert_eq!(old.max_connections, m.max_connections);
        prop_assert_eq!(cfg.database("new").unwrap().statement_timeout_ms, m.timeout_ms);
        prop_assert_eq!(&cfg.state.database, &m.state_db);
        prop_assert_eq!(cfg.state.lease_ttl_secs, m.ttl);
        prop_assert_eq!(cfg.backfill.len(), 1);
        let step = &cfg.backfill[0];
        prop_assert_eq!(&step.name, &m.step);
        prop_assert_eq!(step.chunk_rows, Some(m.chunk_rows));
        prop_assert_eq!(step.max_rows_per_second, Some(m.rate));
        prop_assert_eq!(&step.from.key, &m.key);
        match &step.from.kind {
            SourceKind::Table { table, .. } => prop_assert_eq!(table, &m.table),
            other => prop_assert!(false, "source {:?}", other),
        }
        match &step.to.write {
            TargetWrite::Copy { table, key, .. } => {
                prop_assert_eq!(table, &m.table);
                prop_assert_eq!(key, &m.key);
            }
            other => prop_assert!(false, "target {:?}", other),
        }
        let check = &cfg.verify[0];
        prop_assert_eq!(&check.name, &m.check);
        prop_assert_eq!(check.sample.per_second, m.per_second);
        prop_assert_eq!(&check.old_sql, &m.old_sql());
        prop_assert_eq!(&check.normalize, &m.rules());
        // The URL password came from the environment: it is one of the masked secrets.
        prop_assert!(!cfg.secrets.mask(old.url.expose()).contains("S3cr3t-p4ss"));
    }

    #[test]
    fn a_mutated_key_is_reported_at_its_line_by_name(m in valid_migration(), which in 0usize..MUTATIONS.len()) {
        let src = m.render();
        let (key, replacement) = MUTATIONS[which];
        let lines: Vec<&str> = src.lines().collect();
        let at = lines.iter().position(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("the generated file has `{key}`"));
        let mut mutated: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
        mutated[at] = replacement.to_string();
        let mutated = mutated.join("\n");
        let err = match parse_text(Path::new(FILE), &mutated, &env) {
            Ok(_) => return Err(TestCaseError::fail(format!("accepted:\n{mutated}"))),
            Err(e) => e,
        };
        assert_located(&err, &mutated)?;
        let named_key = replacement.split([' ', '=']).next().unwrap_or(key);
        let hit = err.problems.iter().any(|p| p.location.line == at + 1 && p.message.contains(named_key));
        prop_assert!(hit, "line {} `{}` not reported by name:\n{}", at + 1, replacement, err);
    }
}

/// `(key the line starts with, what replaces that line)`: each must be reported at that line,
/// naming the key that is now wrong.
const MUTATIONS: &[(&str, &str)] = &[
    ("max_connections", "max_connections = \"four\""),
    ("max_connections", "max_connectoins = 4"),
    ("lease_ttl_secs", "lease_ttl_secs = 0"),
    ("lease_ttl_secs", "lease_ttl_secs = -5"),
    ("chunk_rows", "chunk_rows = 1.5"),
    ("chunk_rows", "chunk_rowz = 10"),
    ("max_rows_per_second", "max_rows_per_second = \"fast\""),
    ("statement_timeout_ms", "statement_timeout_ms = true"),
    ("normalize", "normalize = { c = \"rounded:2\" }"),
    ("old", "old = \"SELECT 1\""),
    ("database", "database = \"elsewhere\""),
];

/// The values of one generated valid migration file.
#[derive(Debug, Clone)]
struct Migration {
    name: String,
    description: String,
    max_connections: u32,
    timeout_ms: u64,
    state_db: String,
    ttl: u64,
    step: String,
    table: String,
    key: Vec<String>,
    chunk_rows: u64,
    rate: f64,
    check: String,
    per_second: f64,
    rules: Vec<(String, String)>,
}

fn ident() -> impl Strategy<Value = String> {
    "[a-z_][a-z0-9_]{0,10}"
}

fn valid_migration() -> impl Strategy<Value = Migration> {
    (
        (
            text().prop_filter("non-blank", |s| !s.trim().is_empty()),
            text(),
            1u32..64,
            0u64..10_000_000,
        ),
        (
            prop_oneof![Just("old"), Just("new")],
            1u64..100_000,
            ident(),
            ident(),
        ),
        (
            prop::collection::vec(ident(), 1..3),
            1u64..1_000_000,
            0.5f64..1e6,
            text().prop_filter("non-blank", |s| !s.trim().is_empty()),
        ),
        (
            0.1f64..1000.0,
            prop::collection::btree_map(
                ident(),
                prop_oneof![
                    Just("lowercase".to_string()),
                    Just("trim".to_string()),
                    Just("ignore".to_string()),
                    (0u32..=18).prop_map(|n| format!("round:{n}")),
                    (0u32..=6).prop_map(|n| format!("timestamp:{n}")),
                ],
                0..4,
            ),
        ),
    )
        .prop_map(
            |(
                (name, description, max_connections, timeout_ms),
                (state_db, ttl, step, table),
                (key, chunk_rows, rate, check),
                (per_second, rules),
            )| {
                let mut seen = Vec::new();
                let key: Vec<String> = key
                    .into_iter()
                    .filter(|k| {
                        let new = !seen.contains(k);
                        seen.push(k.clone());
                        new
                    })
                    .collect();
                Migration {
                    name,
                    description,
                    max_connections,
                    timeout_ms,
                    state_db: state_db.to_string(),
                    ttl,
                    step,
                    table,
                    key,
                    chunk_rows,
                    rate,
                    check,
                    per_second,
                    rules: rules.into_iter().collect(),
                }
            },
        )
}

/// A string value as the file writes it: `${` is interpolation, so a literal one is `$${`.
fn val(s: &str) -> String {
    lit(&s.replace("${", "$${"))
}

impl Migration {
    fn old_sql(&self) -> String {
        format!(
            "SELECT * FROM {} WHERE {} IN (:keys)",
            self.table, self.key[0]
        )
    }

    fn rules(&self) -> BTreeMap<String, Vec<ColumnRule>> {
        self.rules
            .iter()
            .map(|(c, r)| {
                let rule = match r.split_once(':') {
                    Some(("round", n)) => ColumnRule::Round(n.parse().unwrap()),
                    Some((_, n)) => ColumnRule::TimestampDigits(n.parse().unwrap()),
                    None if r == "lowercase" => ColumnRule::Lowercase,
                    None if r == "trim" => ColumnRule::Trim,
                    None => ColumnRule::Ignore,
                };
                (c.clone(), vec![rule])
            })
            .collect()
    }

    fn render(&self) -> String {
        let keys = self
            .key
            .iter()
            .map(|k| lit(k))
            .collect::<Vec<_>>()
            .join(", ");
        let rules = self
            .rules
            .iter()
            .map(|(c, r)| format!("{c} = {}", lit(r)))
            .collect::<Vec<_>>()
            .join(", ");
        format!(
            "[migration]\nname = {name}\ndescription = {description}\n\n\
             [databases.old]\nurl = \"${{OLD_URL}}\"\nmax_connections = {maxc}\n\n\
             [databases.new]\nurl = \"${{NEW_URL}}\"\nstatement_timeout_ms = {timeout}\n\n\
             [state]\ndatabase = {state}\nlease_ttl_secs = {ttl}\n\n\
             [[backfill]]\nname = {step}\n\
             from = {{ database = \"old\", table = {table}, key = [{keys}] }}\n\
             to = {{ database = \"new\", table = {table}, key = [{keys}] }}\n\
             chunk_rows = {chunk}\nmax_rows_per_second = {rate:?}\n\n\
             [[verify]]\nname = {check}\nkey = [{keys}]\n\
             sample = {{ from = \"old\", table = {table}, per_second = {ps:?} }}\n\
             old = {old}\nnew = {old}\nnormalize = {{ {rules} }}\n",
            name = val(&self.name),
            description = val(&self.description),
            maxc = self.max_connections,
            timeout = self.timeout_ms,
            state = lit(&self.state_db),
            ttl = self.ttl,
            step = val(&self.step),
            table = lit(&self.table),
            chunk = self.chunk_rows,
            rate = self.rate,
            check = val(&self.check),
            ps = self.per_second,
            old = lit(&self.old_sql()),
        )
    }
}
