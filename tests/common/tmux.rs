//! The real binary in a real terminal: a tmux server of our own (`-L`), one session per
//! process, keys typed with `send-keys`, the screen read with `capture-pane`, and the exit
//! status written by the shell around the process (tmux 3.3a's `pane_dead_status` is not
//! reliable: it sometimes leaves the process unreaped).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long a wait for the screen may take before the test fails with the screen as it is.
const WAIT: Duration = Duration::from_secs(30);

/// A tmux server, killed when dropped.
pub struct Tmux {
    socket: String,
    conf: PathBuf,
    dir: PathBuf,
}

/// One tmux session running one process.
pub struct Pane<'a> {
    tmux: &'a Tmux,
    pub target: String,
    exit_file: PathBuf,
}

impl Tmux {
    /// A server whose sessions start in `dir` (which holds its config and the exit files), or
    /// `None` (skip) when tmux is missing; under `MIGTUI_REQUIRE_SERVERS=1` that fails.
    pub fn start(dir: &Path) -> Option<Tmux> {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            assert!(
                std::env::var("MIGTUI_REQUIRE_SERVERS").as_deref() != Ok("1"),
                "tmux is required for this test"
            );
            eprintln!("SKIP: tmux is not installed");
            return None;
        }
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, "set -g remain-on-exit on\nset -g status off\n").expect("tmux.conf");
        Some(Tmux {
            socket: format!("migtui-e2e-{}", super::unique_name("t")),
            conf,
            dir: dir.to_path_buf(),
        })
    }

    pub fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Start `program args…` in a new 120×36 session `name` with `env` (`NAME=value`); the
    /// shell around it records its exit status.
    pub fn open(&self, name: &str, env: &[String], program: &str, args: &[&str]) -> Pane<'_> {
        let exit_file = self.dir.join(format!("exit-{name}"));
        let _ = std::fs::remove_file(&exit_file);
        let line = format!(
            "{program} {}; echo $? > {}",
            args.join(" "),
            exit_file.display()
        );
        let mut argv: Vec<String> = [
            "-f",
            self.conf.to_str().expect("utf-8 temp path"),
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "36",
            "-c",
            self.dir.to_str().expect("utf-8 temp path"),
        ]
        .map(String::from)
        .to_vec();
        for e in env {
            argv.extend(["-e".to_string(), e.clone()]);
        }
        argv.push(line);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self.cmd(&argv);
        assert!(out.status.success(), "tmux new-session {name}: {out:?}");
        Pane {
            tmux: self,
            target: name.to_string(),
            exit_file,
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

impl Pane<'_> {
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", self.target.as_str()];
        args.extend_from_slice(keys);
        let out = self.tmux.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Type `text` literally.
    pub fn text(&self, text: &str) {
        self.keys(&["-l", text]);
    }

    pub fn screen(&self) -> String {
        let out = self.tmux.cmd(&["capture-pane", "-p", "-t", &self.target]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the screen shows `what` (or fail with the screen as it is).
    pub fn wait_for(&self, what: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if screen.contains(what) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!(
                    "{}: waited {WAIT:?} for {what:?}; the screen shows:\n{screen}",
                    self.target
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the screen no longer shows `what`.
    pub fn wait_gone(&self, what: &str) {
        let deadline = Instant::now() + WAIT;
        while self.screen().contains(what) {
            assert!(
                Instant::now() < deadline,
                "{}: {what:?} stays:\n{}",
                self.target,
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `Some(exit status)` once the process has exited.
    pub fn exited(&self) -> Option<i32> {
        let text = std::fs::read_to_string(&self.exit_file).ok()?;
        text.trim().parse().ok()
    }

    /// Wait for the process to exit and return its status.
    pub fn wait_exit(&self) -> i32 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(code) = self.exited() {
                return code;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit:\n{}",
                self.target,
                self.screen()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
