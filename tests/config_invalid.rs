//! Every file in `tests/invalid_configs/` must be refused with the message beside it.
//!
//! `NAME.expected` holds the lines that must appear in the error output (paths relative to the
//! folder), and its problem lines (those not starting with `  hint:`) must be exactly as many
//! as the problems reported: no mistake is missed and none is invented.
//! `MIGTUI_BLESS=1 cargo test --test config_invalid` rewrites the expected files (review them!).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use migtui::config::load_with_env;

/// The fixed environment every invalid file is loaded with.
fn env(name: &str) -> Option<String> {
    let vars: HashMap<&str, &str> = HashMap::from([
        ("OLD_DATABASE_URL", "sqlite://old.db"),
        ("NEW_DATABASE_URL", "sqlite://new.db"),
        (
            "PG_URL",
            "postgres://app:Sup3r-Secret-PW@db.internal:5432/app",
        ),
        ("DB_PASSWORD", "Sup3r-Secret-PW"),
    ]);
    vars.get(name).map(|v| v.to_string())
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/invalid_configs")
}

fn problem_lines(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("  hint:"))
        .count()
}

#[test]
fn every_invalid_config_is_refused_with_its_message() {
    let dir = dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/invalid_configs")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 24, "only {} invalid configs", files.len());
    let bless = std::env::var("MIGTUI_BLESS").is_ok_and(|v| v == "1");
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let shown = match load_with_env(file, &env) {
            Ok(_) => {
                failures.push(format!("{name}: accepted, but it is invalid"));
                continue;
            }
            Err(e) => e.to_string().replace(&format!("{}/", dir.display()), ""),
        };
        assert!(
            !shown.contains("Sup3r-Secret-PW"),
            "{name}: a secret leaked into the error:\n{shown}"
        );
        let expected_path = file.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, format!("{shown}\n")).expect("write expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        let actual: Vec<&str> = shown.lines().map(str::trim_end).collect();
        let missing: Vec<&str> = expected
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty() && !actual.contains(l))
            .collect();
        if expected.trim().is_empty() || !missing.is_empty() {
            failures.push(format!(
                "{name}: expected lines not in the output:\n  {}\n--- output:\n{shown}",
                missing.join("\n  ")
            ));
        } else if problem_lines(&expected) != problem_lines(&shown) {
            failures.push(format!(
                "{name}: {} problems expected, {} reported:\n{shown}",
                problem_lines(&expected),
                problem_lines(&shown)
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n\n"));
}
