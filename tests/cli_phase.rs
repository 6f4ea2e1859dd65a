//! `status`, `advance` and `rollback` through the real binary, each a new process: the phase
//! lives in the state store, so every command resumes where the last one stopped.
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TestDb;

struct Migration {
    _old: TestDb,
    new: TestDb,
    env: Vec<(String, String)>,
    config: String,
}

impl Migration {
    async fn sqlite() -> Migration {
        let old = TestDb::sqlite().await.unwrap();
        let new = TestDb::sqlite().await.unwrap();
        old.run_fixture("incidents-old-sqlite.sql").await;
        new.run_fixture("incidents-new-sqlite.sql").await;
        let env = vec![
            ("OLD_DATABASE_URL".into(), old.url.clone()),
            ("NEW_DATABASE_URL".into(), new.url.clone()),
        ];
        let config = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("sample-config/sqlite.toml")
            .display()
            .to_string();
        Migration {
            _old: old,
            new,
            env,
            config,
        }
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut all = vec![args[0], "-c", &self.config];
        all.extend_from_slice(&args[1..]);
        let out: Output = Command::new(env!("CARGO_BIN_EXE_migtui"))
            .args(&all)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_COLOR", "1")
            .output()
            .expect("run migtui");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }

    fn status_json(&self) -> serde_json::Value {
        let (code, text) = self.run(&["status", "--json"]);
        assert_eq!(code, Some(0), "{text}");
        serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("status --json is not JSON ({e}):\n{text}"))
    }
}

#[tokio::test]
async fn phases_advance_through_gates_overrides_and_one_way_doors() {
    let m = Migration::sqlite().await;

    let (code, text) = m.run(&["status"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("phase 1/10: plan"), "{text}");
    assert!(
        text.contains("✓ connections") && text.contains("✓ schema checks"),
        "{text}"
    );

    // plan → expand → dual_write: real gates, both passing on the prepared databases.
    let (code, text) = m.run(&["advance"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("plan → expand"), "{text}");
    let (code, text) = m.run(&["advance"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("expand → dual_write"), "{text}");

    // dual_write's gate has not been measured: refused without a reason, and says why.
    let (code, text) = m.run(&["advance"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("not measured"), "{text}");
    let (code, text) = m.run(&["advance", "--reason", "   "]);
    assert_eq!(code, Some(1), "a blank reason is no reason:\n{text}");

    let (code, text) = m.run(&[
        "advance",
        "--reason",
        "dual writes verified by hand in staging",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("dual_write → backfill"), "{text}");

    let (code, text) = m.run(&["rollback", "--reason", "backfill target needs an index"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("backfill → dual_write"), "{text}");

    for _ in 0..3 {
        let (code, text) = m.run(&["advance", "--reason", "test run"]);
        assert_eq!(code, Some(0), "{text}");
    }
    let status = m.status_json();
    assert_eq!(status["status"]["phase"], "read_new", "{status:#}");

    // The next phase is a one-way door: it needs the migration's name, typed exactly.
    let (code, text) = m.run(&["advance", "--reason", "test run"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("one-way door"), "{text}");
    let (code, text) = m.run(&[
        "advance",
        "--reason",
        "test run",
        "--confirm",
        "incident-status",
    ]);
    assert_eq!(code, Some(1), "{text}");
    let (code, text) = m.run(&[
        "advance",
        "--reason",
        "test run",
        "--confirm",
        "incident-statuses",
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("read_new → stop_old_writes"), "{text}");

    // No way back through the door.
    let (code, text) = m.run(&["rollback", "--reason", "changed my mind"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("one-way door"), "{text}");

    // Every transition is in the history, and every attempt in the audit log, refusals too.
    let status = m.status_json();
    let s = &status["status"];
    assert_eq!(s["phase"], "stop_old_writes");
    let history = s["history"].as_array().expect("history");
    assert_eq!(history.len(), 8, "{s:#}");
    let text = s.to_string();
    assert!(
        text.contains("dual writes verified by hand in staging"),
        "override reason kept: {text}"
    );
    assert!(
        text.contains("backfill target needs an index"),
        "rollback reason kept: {text}"
    );
    let actions = s["recent_actions"].as_array().expect("actions");
    assert!(
        actions.iter().any(|a| a["outcome"]
            .as_str()
            .is_some_and(|o| o.starts_with("refused"))),
        "{s:#}"
    );
    assert!(m.new.sqlite_path().is_some());
}

#[tokio::test]
async fn status_json_has_a_stable_versioned_shape() {
    let m = Migration::sqlite().await;
    let status = m.status_json();
    assert_eq!(status["schema_version"], 1);
    let s = &status["status"];
    for field in [
        "migration",
        "phase",
        "plan",
        "since_us",
        "next",
        "gates",
        "lease",
        "databases",
        "history",
        "recent_actions",
    ] {
        assert!(s.get(field).is_some(), "missing {field}: {s:#}");
    }
    assert_eq!(s["plan"].as_array().map(Vec::len), Some(10));
    assert_eq!(
        s["lease"]["mode"], "free",
        "status must not take the lease: {s:#}"
    );
}
