//! The real cockpit in a tmux server of the test's own (`-L`): start a command in a detached
//! session, send keys, read the screen with `capture-pane`. Killed when dropped.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Tests of one process run in parallel: each gets a tmux server of its own.
static SERVERS: AtomicU32 = AtomicU32::new(0);

pub struct Tmux {
    socket: String,
    target: String,
}

/// True when tmux is installed; under `MIGTUI_REQUIRE_SERVERS=1` its absence fails the test.
pub fn available() -> bool {
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("MIGTUI_REQUIRE_SERVERS").as_deref() != Ok("1"),
            "tmux is required for this test"
        );
        eprintln!("SKIP: tmux is not installed");
    }
    ok
}

impl Tmux {
    /// Run `command` (through `sh -c`) in a 120×36 session in `dir`, with `env` set.
    pub fn start(dir: &Path, env: &[(String, String)], command: &str) -> Tmux {
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").expect("tmux.conf");
        let tmux = Tmux {
            socket: format!(
                "migtui-e2e-{}-{}",
                std::process::id(),
                SERVERS.fetch_add(1, Ordering::Relaxed)
            ),
            target: "cockpit".into(),
        };
        let mut args: Vec<String> = [
            "-f",
            conf.to_str().unwrap_or_default(),
            "new-session",
            "-d",
            "-s",
            "cockpit",
            "-x",
            "120",
            "-y",
            "36",
            "-c",
            dir.to_str().unwrap_or_default(),
        ]
        .map(String::from)
        .to_vec();
        for (k, v) in env {
            args.extend(["-e".to_string(), format!("{k}={v}")]);
        }
        args.extend(["-e".to_string(), "TERM=tmux-256color".to_string()]);
        args.push(command.to_string());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = tmux.cmd(&args);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.target.as_str()];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status.success(), "send-keys {keys:?}");
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", &self.target]).stdout)
            .into_owned()
    }

    /// Wait until the screen shows `what`, returning it (or fail with the screen as it is).
    pub fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited 30 s for {what:?}; the screen shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}
