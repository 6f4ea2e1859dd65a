//! `backup`, `contract` and `restore` through the real binary on SQLite: the whole contract
//! path a script would drive, each command a new process.
mod common;

use std::process::Command;

use common::TestDb;

struct Cli {
    old: TestDb,
    _new: TestDb,
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Cli {
    async fn new() -> Cli {
        let old = TestDb::sqlite().await.unwrap();
        let new = TestDb::sqlite().await.unwrap();
        old.run_fixture("incidents-old-sqlite.sql").await;
        new.run_fixture("incidents-new-sqlite.sql").await;
        let dir = tempfile::tempdir().unwrap();
        // The sample file, so the test follows what users start from; its backup file lands
        // beside this copy, in the temp dir.
        let sample = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/sqlite.toml"),
        )
        .unwrap();
        std::fs::write(dir.path().join("m.toml"), sample).unwrap();
        let env = vec![
            ("OLD_DATABASE_URL".into(), old.url.clone()),
            ("NEW_DATABASE_URL".into(), new.url.clone()),
            ("NO_COLOR".into(), "1".into()),
        ];
        Cli {
            old,
            _new: new,
            dir,
            env,
        }
    }

    fn run(&self, args: &[&str]) -> (Option<i32>, String) {
        let config = self.dir.path().join("m.toml").display().to_string();
        let mut all = vec![args[0], "-c", config.as_str()];
        all.extend_from_slice(&args[1..]);
        let out = Command::new(env!("CARGO_BIN_EXE_migtui"))
            .args(&all)
            .envs(self.env.iter().cloned())
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.code(), text)
    }

    async fn has_status(&self) -> bool {
        let db = self.old.connect().await;
        let info = db.table_info("incidents").await.unwrap().unwrap();
        db.close().await;
        info.column("status").is_some()
    }
}

#[tokio::test]
async fn backup_contract_and_restore_from_the_command_line() {
    let c = Cli::new().await;
    let (code, out) = c.run(&["backup"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("restore `incidents_status` with: migtui restore -c"),
        "{out}"
    );
    assert_eq!(out.matches("✓ `incidents_status`").count(), 2, "{out}");
    let (code, out) = c.run(&["backup", "--verify-only"]);
    assert_eq!(code, Some(0), "{out}");

    // Not in phase drop yet.
    let (code, out) = c.run(&["contract", "--confirm", "incidents"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("phase `drop`"), "{out}");
    let name = "incident-statuses";
    for _ in 0..8 {
        let (code, out) = c.run(&["advance", "--reason", "test", "--confirm", name]);
        assert_eq!(code, Some(0), "{out}");
    }
    let (code, out) = c.run(&["contract", "--confirm", "incidnets"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("DANGER") && out.contains("ALTER TABLE incidents DROP COLUMN status"));
    assert!(out.contains("type `incidents` to confirm"), "{out}");
    assert!(c.has_status().await);

    let (code, out) = c.run(&["contract", "--confirm", "incidents"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("1 of 1 statements took effect"), "{out}");
    assert!(!c.has_status().await);

    let (code, out) = c.run(&["restore", "--backup", "incidents_status", "--dry-run"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("would run") && out.contains("ADD COLUMN"),
        "{out}"
    );
    assert!(!c.has_status().await);
    let (code, out) = c.run(&["restore", "--backup", "nope"]);
    assert_eq!(code, Some(1), "{out}");
    let (code, out) = c.run(&["restore", "--backup", "incidents_status"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("✓ restored rows: checksum 200:"), "{out}");
    assert!(c.has_status().await);
}
