//! The migration file: parse, interpolate `${ENV}`, validate, and report every problem at once
//! with file:line:column and a hint. Nothing else in migtui reads TOML.

mod model;
mod notify;
mod parse;
mod path;
mod read;
mod sample;
mod sections;
mod source;
mod steps;

pub use model::*;
pub use notify::{NotifyCommand, NotifyConfig, NotifyEvent};

/// Every problem found in a migration file, each with its place and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub location: Location,
    pub message: String,
    pub hint: Option<String>,
}

/// The file could not be used. `Display` lists every problem, one per line, `file:line:col: …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub problems: Vec<ConfigProblem>,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}: {}", p.location, p.message)?;
            if let Some(h) = &p.hint {
                write!(f, "\n  hint: {h}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Read, interpolate and validate a migration file, with variables from the process environment.
pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
    load_with_env(path, &|name| std::env::var(name).ok())
}

/// As [`load`], with variables looked up through `env` (tests pass their own).
pub fn load_with_env(
    path: &std::path::Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let at_start = |message: String, hint: &str| ConfigError {
        problems: vec![ConfigProblem {
            location: Location {
                file: path.to_path_buf(),
                line: 1,
                column: 1,
            },
            message,
            hint: Some(hint.to_string()),
        }],
    };
    let bytes = std::fs::read(path).map_err(|e| {
        at_start(
            format!("cannot read the migration file: {e}"),
            "check the path given with -c",
        )
    })?;
    let text = match source::check_text(&bytes) {
        Ok(text) => text,
        Err((offset, message, hint)) => {
            let prefix = String::from_utf8_lossy(&bytes[..offset]);
            let location = source::Cx::new(path, &prefix, env).loc(prefix.len());
            return Err(ConfigError {
                problems: vec![ConfigProblem {
                    location,
                    message,
                    hint: Some(hint),
                }],
            });
        }
    };
    parse_text(path, text, env)
}

/// As [`load_with_env`], for text already in memory; `path` names it in messages and anchors
/// relative file paths.
pub fn parse_text(
    path: &std::path::Path,
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let mut cx = source::Cx::new(path, text, env);
    if text.trim().is_empty() {
        cx.problem(
            0,
            "the file is empty: a migration needs at least [migration] and [databases.old]/[databases.new]",
            Some("start from a file in sample-config/".to_string()),
        );
        return Err(ConfigError {
            problems: cx.problems,
        });
    }
    let root = match toml::de::DeTable::parse(text) {
        Ok(root) => root,
        Err(e) => {
            let at = e.span().map_or(0, |s| s.start);
            cx.problem(
                at,
                format!("not valid TOML: {}", e.message().trim_end()),
                Some(
                    "a migration file is TOML: `key = \"value\"` lines under `[section]` headers"
                        .to_string(),
                ),
            );
            return Err(ConfigError {
                problems: cx.problems,
            });
        }
    };
    let config = parse::config(&mut cx, root.get_ref(), path);
    // Whatever a problem quotes, a value substituted from the environment is never shown.
    let secrets = crate::secret::Secrets::new(cx.secrets.clone());
    let mut problems = std::mem::take(&mut cx.problems);
    for p in &mut problems {
        p.message = secrets.mask(&p.message);
        p.hint = p.hint.as_deref().map(|h| secrets.mask(h));
    }
    problems.sort_by_key(|p| (p.location.line, p.location.column));
    match config {
        Some(config) if problems.is_empty() => Ok(config),
        _ => Err(ConfigError { problems }),
    }
}
