//! `cargo bench --bench cockpit`: the cockpit against its three bars, each printed with the
//! ratio to its bar.
//!
//! - Rendering the Overview at 160×48 from the busy fixture (`tui::fixture::busy`), median of
//!   many frames on a `TestBackend` (bar: < 1 ms).
//! - Keypress to screen with the backfill running at full speed: the real binary in tmux on
//!   SQLite databases with 1M incidents and no rate ceiling; `?` is sent with `send-keys`
//!   and `capture-pane` is polled until the help overlay shows (and again until it is gone).
//!   The polling itself costs a few ms, so the figure is an upper bound (bar: < 50 ms).
//! - Idle CPU: the binary in tmux on a migration with no task to run, utime + stime from
//!   /proc over 10 s (bar: < 1% of a core).
//!
//! Needs tmux for the last two (skipped with a message without it). About 40 s in all.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use migtui::tui::{fixture, theme::Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

const ROWS: u64 = 1_000_000;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn report(what: &str, value: f64, unit: &str, bar: f64) {
    println!(
        "{what:<52} {value:>9.3} {unit:<3} bar < {bar} {unit:<3} ratio {:.3} {}",
        value / bar,
        if value < bar { "PASS" } else { "FAIL" }
    );
}

fn render_bench() {
    let state = fixture::busy();
    let theme = Theme::dark();
    let mut terminal = Terminal::new(TestBackend::new(160, 48)).expect("test backend");
    // Warm up, then time each frame (the whole draw: layout, widgets, buffer diff).
    for _ in 0..200 {
        let _ = terminal.draw(|f| migtui::tui::app::draw(&state, &theme, f));
    }
    let mut times: Vec<f64> = (0..3000)
        .map(|_| {
            let t = Instant::now();
            let _ = terminal.draw(|f| migtui::tui::app::draw(&state, &theme, f));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let med = median(&mut times);
    report(
        "render Overview 160×48, busy state (median)",
        med,
        "ms",
        1.0,
    );
}

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "cockpit"]).stdout)
            .into_owned()
    }

    fn wait(&self, what: &str, present: bool) -> Duration {
        let t = Instant::now();
        while self.screen().contains(what) != present {
            if t.elapsed() > Duration::from_secs(30) {
                panic!(
                    "waited 30 s for {what:?} (present: {present}):\n{}",
                    self.screen()
                );
            }
        }
        t.elapsed()
    }

    /// The cockpit's pid: the pane's process, or its only child when a shell runs it.
    fn cockpit_pid(&self) -> u32 {
        let out = self.cmd(&["display-message", "-p", "-t", "cockpit", "#{pane_pid}"]);
        let pid: u32 = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("pane pid");
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "migtui" {
            return pid;
        }
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
            .ok()
            .and_then(|c| c.split_whitespace().next().and_then(|p| p.parse().ok()))
            .expect("the cockpit's process")
    }

    fn start(&self, dir: &Path, env: &[String], config: &Path) {
        let conf = dir.join("tmux.conf");
        std::fs::write(&conf, "set -g status off\n").expect("tmux.conf");
        let command = format!(
            "exec {} -c {}",
            env!("CARGO_BIN_EXE_migtui"),
            config.display()
        );
        let mut args = vec![
            "-f".to_string(),
            conf.display().to_string(),
            "new-session".into(),
            "-d".into(),
            "-s".into(),
            "cockpit".into(),
            "-x".into(),
            "160".into(),
            "-y".into(),
            "48".into(),
            "-c".into(),
            dir.display().to_string(),
        ];
        for e in env {
            args.extend(["-e".to_string(), e.clone()]);
        }
        args.push(command);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        assert!(self.cmd(&args).status.success(), "tmux new-session");
        self.wait("● driving", true);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

async fn sqlite(path: &Path, fixture: &str, extra: &str) -> String {
    use sqlx::Connection;
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.expect("sqlite");
    let sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture),
    )
    .expect("fixture");
    sqlx::raw_sql(&sql).execute(&mut c).await.expect("fixture");
    if !extra.is_empty() {
        sqlx::raw_sql(extra)
            .execute(&mut c)
            .await
            .expect("extra rows");
    }
    c.close().await.expect("close");
    format!("sqlite://{}", path.display())
}

fn keypress_bench(rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("tempdir");
    let more = format!(
        "WITH RECURSIVE g(n) AS (SELECT 201 UNION ALL SELECT n + 1 FROM g WHERE n < {ROWS})
         INSERT INTO incidents SELECT n, 1 + n % 7,
           CASE n % 4 WHEN 0 THEN 'investigating' WHEN 1 THEN 'fixing' WHEN 2 THEN 'monitoring' ELSE 'closed' END,
           'Incident ' || n, 1 + n % 5, '2024-01-01 00:00:00', '2024-01-01 00:00:05', '{{}}' FROM g;"
    );
    let (old, new) = rt.block_on(async {
        (
            sqlite(
                &dir.path().join("old.db"),
                "incidents-old-sqlite.sql",
                &more,
            )
            .await,
            sqlite(&dir.path().join("new.db"), "incidents-new-sqlite.sql", "").await,
        )
    });
    // The sample migration at full speed: no rate ceiling, bigger chunks.
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/sqlite.toml"),
    )
    .expect("sample config");
    let config: String = sample
        .lines()
        .filter(|l| !l.starts_with("max_rows_per_second") && !l.starts_with("pause_when"))
        .map(|l| l.replace("chunk_rows = 100 ", "chunk_rows = 2000 "))
        .collect::<Vec<_>>()
        .join("\n");
    let config_path = dir.path().join("migration.toml");
    std::fs::write(&config_path, config).expect("config");
    let tmux = Tmux {
        socket: format!("migtui-bench-{}", std::process::id()),
    };
    let env = [
        format!("OLD_DATABASE_URL={old}"),
        format!("NEW_DATABASE_URL={new}"),
        format!("MIGTUI_CONFIG_DIR={}", dir.path().join("cfg").display()),
    ];
    tmux.start(dir.path(), &env, &config_path);
    tmux.cmd(&["send-keys", "-t", "cockpit", "b"]);
    tmux.wait("Backfill · running", true);
    let mut times = Vec::new();
    for _ in 0..15 {
        for present in [true, false] {
            let t = Instant::now();
            tmux.cmd(&["send-keys", "-t", "cockpit", "?"]);
            tmux.wait("Keys · Overview", present);
            times.push(t.elapsed().as_secs_f64() * 1e3);
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let running = tmux.screen().contains("Backfill · running");
    let max = times.iter().cloned().fold(0.0, f64::max);
    report(
        "keypress → screen, backfill at full speed (median)",
        median(&mut times),
        "ms",
        50.0,
    );
    println!(
        "{:<52} {max:>9.3} ms  (backfill still running at the end: {running})",
        "  worst of 30"
    );
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().unwrap_or(0) + f[12].parse::<u64>().unwrap_or(0)
}

fn idle_bench(rt: &tokio::runtime::Runtime) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (old, new) = rt.block_on(async {
        (
            sqlite(&dir.path().join("old.db"), "incidents-old-sqlite.sql", "").await,
            sqlite(&dir.path().join("new.db"), "incidents-new-sqlite.sql", "").await,
        )
    });
    let config_path: PathBuf = dir.path().join("idle.toml");
    std::fs::write(
        &config_path,
        format!(
            "[migration]\nname = \"idle\"\n[databases.old]\nurl = \"{old}\"\n[databases.new]\nurl = \"{new}\"\n[state]\ndatabase = \"new\"\n"
        ),
    )
    .expect("config");
    let tmux = Tmux {
        socket: format!("migtui-idle-{}", std::process::id()),
    };
    let env = [format!(
        "MIGTUI_CONFIG_DIR={}",
        dir.path().join("cfg").display()
    )];
    tmux.start(dir.path(), &env, &config_path);
    let pid = tmux.cockpit_pid();
    std::thread::sleep(Duration::from_secs(2));
    let (t0, c0) = (Instant::now(), cpu_ticks(pid));
    std::thread::sleep(Duration::from_secs(10));
    let (secs, ticks) = (t0.elapsed().as_secs_f64(), cpu_ticks(pid) - c0);
    // Linux reports in clock ticks of 1/100 s (USER_HZ).
    let percent = ticks as f64 / 100.0 / secs * 100.0;
    report("idle CPU, % of one core over 10 s", percent, "%", 1.0);
}

fn main() {
    render_bench();
    let tmux = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux {
        println!("tmux is not installed: the keypress and idle figures are skipped");
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    keypress_bench(&rt);
    idle_bench(&rt);
}
