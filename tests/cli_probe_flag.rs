//! `migtui probe` and `migtui flag` through the real binary on the SQLite sample migration.
mod common;

use std::path::Path;
use std::process::Command;

use common::TestDb;

struct Sample {
    _old: TestDb,
    _new: TestDb,
    env: Vec<(String, String)>,
    config: String,
}

async fn sample() -> Sample {
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
    Sample {
        _old: old,
        _new: new,
        env,
        config,
    }
}

impl Sample {
    /// `migtui <cmd> -c FILE <rest…>`: exit code, stdout, stderr.
    fn run(&self, cmd: &str, rest: &[&str]) -> (Option<i32>, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_migtui"))
            .arg(cmd)
            .args(["-c", &self.config])
            .args(rest)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("NO_COLOR", "1")
            .output()
            .expect("run migtui");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_get_and_set_round_trip_with_a_reason_in_the_audit_log() {
    let s = sample().await;
    let (code, out, err) = s.run("flag", &["get"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("incidents.read_from_new = false (old)"),
        "{out}"
    );

    let (code, out, err) = s.run("flag", &["set", "true", "--reason", "shadow green, OPS-42"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("flag set to true (new) and read back"),
        "{out}"
    );

    let (code, out, _) = s.run("flag", &["get", "--json"]);
    assert_eq!(code, Some(0));
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["reads_new"], true, "{doc}");

    // The flip is in the audit log with its reason.
    let (_, status, _) = s.run("status", &["--json"]);
    assert!(
        status.contains("flag.set") && status.contains("shadow green, OPS-42"),
        "{status}"
    );

    // A value this flag cannot hold, and a flip without a reason, change nothing.
    let (code, _, err) = s.run("flag", &["set", "maybe", "--reason", "x"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("true or false"), "{err}");
    let (code, _, err) = s.run("flag", &["set", "false"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--reason"), "{err}");
    let (_, out, _) = s.run("flag", &["get"]);
    assert!(out.contains("= true (new)"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_prints_percentiles_per_path_and_side() {
    let s = sample().await;
    let (code, out, err) = s.run("probe", &["--seconds", "1", "--json"]);
    let doc: serde_json::Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let path = &doc["paths"][0];
    assert_eq!(path["path"], "incident-by-id");
    // Exit status 1 exactly when a budget is breached (a loaded machine may breach 20 ms).
    let breached = path["breached"].as_bool().unwrap();
    assert_eq!(code, Some(if breached { 1 } else { 0 }), "{path}");
    let session = &path["windows"][2];
    assert_eq!(session["window"], "session");
    assert!(session["old"]["count"].as_u64().unwrap() >= 5, "{path}");
    assert!(session["old"]["p95_ms"].as_f64().unwrap() > 0.0, "{path}");
    assert_eq!(session["new"]["errors"], 0, "{path}");

    let (code, out, err) = s.run("probe", &["--seconds", "1"]);
    assert!(matches!(code, Some(0 | 1)), "{out}{err}");
    for want in [
        "path incident-by-id",
        "p95",
        "old",
        "new",
        "new/old",
        "probe overhead",
    ] {
        assert!(out.contains(want), "missing {want}:\n{out}");
    }
}
