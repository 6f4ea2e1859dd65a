//! The real binary in a real terminal: `migtui -c sample-config/sqlite.toml` runs in tmux on
//! fresh SQLite databases; the test presses keys (switch screens, start and pause the backfill
//! with a reason, flip the read flag with a reason, quit), reads the screen with
//! `capture-pane`, and checks the state store afterwards.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::TestDb;

/// A tmux server of our own (`-L`), killed when dropped.
struct Tmux {
    socket: String,
    /// The tmux session the keys go to and the screen is read from.
    target: String,
    /// Where the shell around the cockpit writes its exit status (tmux's own
    /// `pane_dead_status` is not reliable: tmux 3.3a sometimes leaves the process unreaped).
    exit_file: PathBuf,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.target.as_str()];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    fn text(&self, text: &str) {
        self.keys(&["-l", text]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", &self.target]).stdout)
            .into_owned()
    }

    /// Wait until the screen shows `what` (or fail with the screen as it is).
    fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("waited 30 s for {what:?}; the screen shows:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the screen no longer shows `what`.
    fn wait_gone(&self, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.screen().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{what:?} stays:\n{}",
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `Some(exit status)` once the cockpit's process has exited.
    fn exited(&self) -> Option<i32> {
        let text = std::fs::read_to_string(&self.exit_file).ok()?;
        text.trim().parse().ok()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cockpit_drives_a_sqlite_migration_in_tmux() {
    if !tmux_available() {
        assert!(
            std::env::var("MIGTUI_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "tmux is required for this test"
        );
        eprintln!("SKIP: tmux is not installed");
        return;
    }
    let old = TestDb::sqlite().await.unwrap();
    let new = TestDb::sqlite().await.unwrap();
    old.run_fixture("incidents-old-sqlite.sql").await;
    new.run_fixture("incidents-new-sqlite.sql").await;
    let work = tempfile::tempdir().unwrap();
    let config_dir = work.path().join("config");
    std::fs::create_dir_all(&config_dir).unwrap();
    let tmux_conf = work.path().join("tmux.conf");
    std::fs::write(&tmux_conf, "set -g remain-on-exit on\nset -g status off\n").unwrap();
    let config: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/sqlite.toml");
    let tmux = Tmux {
        socket: format!("migtui-e2e-{}", std::process::id()),
        target: "cockpit".into(),
        exit_file: work.path().join("exit-cockpit"),
    };
    let env = [
        format!("OLD_DATABASE_URL={}", old.url),
        format!("NEW_DATABASE_URL={}", new.url),
        format!("MIGTUI_CONFIG_DIR={}", config_dir.display()),
        "TERM=tmux-256color".to_string(),
    ];
    // tmux runs the command through `sh -c`: the shell records the cockpit's exit status.
    let command = |name: &str| {
        format!(
            "{} -c {}; echo $? > {}",
            env!("CARGO_BIN_EXE_migtui"),
            config.display(),
            work.path().join(format!("exit-{name}")).display()
        )
    };
    let session_args = |name: &'static str| -> Vec<String> {
        let mut args: Vec<String> = [
            "-f",
            tmux_conf.to_str().unwrap(),
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "36",
            "-c",
            work.path().to_str().unwrap(),
        ]
        .map(String::from)
        .to_vec();
        for e in &env {
            args.extend(["-e".to_string(), e.clone()]);
        }
        args.push(command(name));
        args
    };
    let mut args: Vec<&str> = vec![
        "-f",
        tmux_conf.to_str().unwrap(),
        "new-session",
        "-d",
        "-s",
        "cockpit",
        "-x",
        "120",
        "-y",
        "36",
        "-c",
        work.path().to_str().unwrap(),
    ];
    for e in &env {
        args.extend_from_slice(&["-e", e]);
    }
    let driver = command("cockpit");
    args.push(&driver);
    let out = tmux.cmd(&args);
    assert!(out.status.success(), "tmux new-session: {out:?}");

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
    tmux.cmd(&["resize-window", "-t", "cockpit", "-x", "70", "-y", "20"]);
    tmux.wait_for("make the window at least 80×24");
    tmux.cmd(&["resize-window", "-t", "cockpit", "-x", "120", "-y", "36"]);
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
    let observer = Tmux {
        socket: tmux.socket.clone(),
        target: "observer".into(),
        exit_file: work.path().join("exit-observer"),
    };
    let args = session_args("observer");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert!(tmux.cmd(&args).status.success());
    observer.wait_for("T take over");
    let screen = observer.wait_for("READ-ONLY:");
    assert!(screen.contains("holds the lease since"), "{screen}");
    assert!(!screen.contains("A advance"), "{screen}");
    observer.keys(&["A"]);
    observer.wait_for("press T to take over");
    observer.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while observer.exited().is_none() {
        assert!(
            Instant::now() < deadline,
            "the observer did not exit:\n{}",
            observer.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(code) = tmux.exited() {
            break code;
        }
        assert!(
            Instant::now() < deadline,
            "the cockpit did not exit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
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
