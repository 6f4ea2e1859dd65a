//! The real binary in a real terminal: `migtui -c sample-config/sqlite.toml` runs in tmux on
//! fresh SQLite databases; the test presses keys (switch screens, start and pause the backfill
//! with a reason, flip the read flag with a reason, quit), reads the screen with
//! `capture-pane`, and checks the state store afterwards.
mod common;

use std::path::{Path, PathBuf};

use common::TestDb;
use common::tmux::Tmux;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cockpit_drives_a_sqlite_migration_in_tmux() {
    let old = TestDb::sqlite().await.unwrap();
    let new = TestDb::sqlite().await.unwrap();
    old.run_fixture("incidents-old-sqlite.sql").await;
    new.run_fixture("incidents-new-sqlite.sql").await;
    let work = tempfile::tempdir().unwrap();
    let config_dir = work.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let config: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/sqlite.toml");
    let Some(server) = Tmux::start(work.path()) else {
        return;
    };
    let env = [
        format!("OLD_DATABASE_URL={}", old.url),
        format!("NEW_DATABASE_URL={}", new.url),
        format!("MIGTUI_CONFIG_DIR={}", config_dir.display()),
        "TERM=tmux-256color".to_string(),
    ];
    let config_arg = format!("-c {}", config.display());
    let bin = env!("CARGO_BIN_EXE_migtui");
    let tmux = server.open("cockpit", &env, bin, &[&config_arg]);

    // It opens on the Overview, driving. (Wait for the footer, the last line drawn: a capture
    // may catch a frame half written.)
    tmux.wait_for("1-5 tab screens");
    let screen = tmux.wait_for("● driving");
    assert!(screen.contains("incident-statuses"), "{screen}");
    assert!(screen.contains("Gates to"), "{screen}");

    // Screens switch with numbers; the help overlay names the one on show.
    tmux.keys(&["2", "?"]);
    tmux.wait_for("Keys · Backfill");
    // Esc on its own: Esc followed at once by a key reads as alt-key.
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Keys ·");
    tmux.keys(&["3", "?"]);
    tmux.wait_for("Keys · Divergences");
    tmux.keys(&["Escape"]);
    tmux.wait_gone("Keys ·");
    tmux.keys(&["1"]);

    // Too small a window gets a message, and the cockpit comes back when it grows.
    server.cmd(&["resize-window", "-t", "cockpit", "-x", "70", "-y", "20"]);
    tmux.wait_for("make the window at least 80×24");
    server.cmd(&["resize-window", "-t", "cockpit", "-x", "120", "-y", "36"]);
    tmux.wait_for("● driving");

    // Start the backfill, then pause it with a reason.
    tmux.keys(&["b"]);
    tmux.wait_for("backfill start");
    tmux.keys(&["p"]);
    tmux.wait_for("Pause the backfill");
    tmux.keys(&["Enter"]);
    tmux.wait_for("a reason is required");
    tmux.text("e2e: peak traffic");
    tmux.keys(&["Enter"]);
    tmux.wait_for("backfill pause: done");

    // Flip the read flag with a reason: the prompt shows current → new.
    tmux.keys(&["f"]);
    tmux.wait_for("Flip the read flag");
    tmux.wait_for("→ true (new)");
    tmux.text("e2e: shadow gate green");
    tmux.keys(&["Enter"]);
    tmux.wait_for("flag: done");

    // A second cockpit on the same migration opens read-only, names the holder, and refuses
    // driving keys.
    let observer = server.open("observer", &env, bin, &[&config_arg]);
    observer.wait_for("T take over");
    let screen = observer.wait_for("READ-ONLY:");
    assert!(screen.contains("holds the lease since"), "{screen}");
    assert!(!screen.contains("A advance"), "{screen}");
    observer.keys(&["A"]);
    observer.wait_for("press T to take over");
    observer.keys(&["q"]);
    observer.wait_exit();

    tmux.keys(&["q"]);
    let code = tmux.wait_exit();
    assert_eq!(code, 0, "{}", tmux.screen());

    // The state store saw it all, and the lease was released on quit.
    let db = new.connect().await;
    let store = migtui::store::Store::open(db, "incident-statuses")
        .await
        .unwrap();
    let audit = store.audit_page(None, 100).await.unwrap();
    let find = |action: &str| {
        audit
            .iter()
            .find(|r| r.action == action)
            .unwrap_or_else(|| panic!("no {action} in the audit log: {audit:#?}"))
    };
    let pause = find("backfill.pause");
    assert_eq!(pause.outcome, "ok");
    assert_eq!(pause.params["reason"], "e2e: peak traffic");
    let flip = find("flag.set");
    assert_eq!(flip.outcome, "ok", "{flip:?}");
    assert_eq!(flip.params["reason"], "e2e: shadow gate green");
    assert_eq!(find("backfill.start").outcome, "ok");
    assert_eq!(
        store.lease().await.unwrap(),
        None,
        "the lease is released on quit"
    );

    let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&new.url)
        .await
        .unwrap();
    let value: String =
        sqlx::query_scalar("SELECT value FROM feature_flags WHERE key = 'incidents.read_from_new'")
            .fetch_one(&mut c)
            .await
            .unwrap();
    assert_eq!(value, "true");
}
