//! Running the real `migtui` binary on a migration file in a temp dir, for the end-to-end
//! tests (`tests/quoting.rs`, `tests/secrets.rs`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// A migration file in its own temp dir and the environment the binary runs with.
pub struct Cli {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

/// One run: exit status, stdout, stderr.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for assertions and failure messages.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl Cli {
    /// Write `toml` as `m.toml` in a fresh temp dir.
    pub fn new(toml: &str, env: &[(&str, &str)]) -> Cli {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("m.toml"), toml).expect("write m.toml");
        let mut all: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        all.push(("NO_COLOR".into(), "1".into()));
        Cli { dir, env: all }
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("m.toml")
    }

    /// `migtui <args[0]> -c m.toml <args[1..]>`.
    pub fn run(&self, args: &[&str]) -> Run {
        let config = self.config().display().to_string();
        let mut all = vec![args[0], "-c", config.as_str()];
        all.extend_from_slice(&args[1..]);
        self.raw(&all)
    }

    /// `migtui <args>` as given, in the temp dir.
    pub fn raw(&self, args: &[&str]) -> Run {
        let out = Command::new(env!("CARGO_BIN_EXE_migtui"))
            .args(args)
            .current_dir(self.dir.path())
            .envs(self.env.iter().cloned())
            .output()
            .expect("run migtui");
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The environment as `NAME=value` pairs, for a cockpit opened in tmux.
    pub fn env_pairs(&self) -> Vec<String> {
        let mut env: Vec<String> = self.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        env.push("TERM=tmux-256color".into());
        env
    }

    /// Run and require exit status `code`, returning the output.
    pub fn expect(&self, code: i32, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, Some(code), "migtui {args:?}:\n{}", r.all());
        r.all()
    }
}

/// A TOML string literal, escaped by the toml crate itself.
pub fn lit(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
