//! Two operators as two real `migtui` processes on one migration, with the state store on
//! PostgreSQL, SQLite and (for the races) MariaDB:
//! - two cockpits in tmux: one drives, the other is read-only, names the holder and refuses
//!   dangerous keys; a takeover from the second is confirmed with a reason, audited, and the
//!   first then shows it lost the lease;
//! - the holder is `SIGKILL`ed: its lease goes stale after `lease_ttl_secs` and the other
//!   cockpit offers to take it; taking it is audited as an expiry;
//! - two `migtui advance` processes released at the same instant, many times, never both
//!   succeed: the phase moves once, the history and the audit log have the transition once,
//!   and the loser exits 5 (lease held) or is refused; with a cockpit driving, neither moves it.
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::tmux::{Pane, Tmux};
use common::{Kind, TestDb};
use migtui::engine::phase::PhaseId;
use migtui::store::{AuditRecord, Lease, Operator, Store, TransitionKind};

/// The lease ttl of these tests: short, so a killed holder's lease expires quickly.
const TTL_SECS: u64 = 2;
const MIGRATION: &str = "two-operators";

/// A migration file whose old, new and state databases are all `$TWO_OPS_URL`, with one check
/// on an empty table: leaving `dual_write` needs rows compared in that phase, so an advance
/// from `dual_write` is always refused, and a second advance that started after the first
/// one finished cannot pass for a race won twice.
fn write_migration(dir: &Path) -> PathBuf {
    let text = format!(
        r#"[migration]
name = "{MIGRATION}"

[databases.old]
url = "${{TWO_OPS_URL}}"
[databases.new]
url = "${{TWO_OPS_URL}}"

[state]
database = "new"
lease_ttl_secs = {TTL_SECS}

[[verify]]
name = "items"
key = "id"
sample = {{ from = "old", table = "items" }}
old = "SELECT id FROM items WHERE id IN (:keys)"
new = "SELECT id FROM items WHERE id IN (:keys)"
"#
    );
    let path = dir.join("migration.toml");
    std::fs::write(&path, text).expect("write the migration file");
    path
}

fn env(url: &str, dir: &Path) -> Vec<String> {
    vec![
        format!("TWO_OPS_URL={url}"),
        format!("MIGTUI_CONFIG_DIR={}", dir.join("config").display()),
        "TERM=tmux-256color".to_string(),
    ]
}

/// The state store, and the empty table the check reads.
async fn store(tdb: &TestDb) -> Store {
    tdb.run_script("CREATE TABLE IF NOT EXISTS items (id BIGINT PRIMARY KEY)")
        .await;
    Store::open(tdb.connect().await, MIGRATION)
        .await
        .expect("open the state store")
}

/// Wait (up to 30 s) until the lease satisfies `pred`; returns it.
async fn lease_until(store: &Store, what: &str, pred: impl Fn(&Option<Lease>) -> bool) -> Lease {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let lease = store.lease().await.expect("read the lease");
        if pred(&lease) {
            return lease.unwrap_or_else(|| panic!("{what}: nobody holds the lease"));
        }
        assert!(Instant::now() < deadline, "waited for {what}: {lease:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn audit(store: &Store) -> Vec<AuditRecord> {
    store
        .audit_page(None, 1000)
        .await
        .expect("read the audit log")
}

fn quit(pane: &Pane<'_>) {
    pane.keys(&["q"]);
    assert_eq!(pane.wait_exit(), 0, "{} exit status", pane.target);
}

/// Two cockpits: exclusive driving, a confirmed and audited takeover, and a killed holder
/// whose lease expires and is then taken, audited as an expiry.
async fn two_cockpits(tdb: &TestDb) {
    let kind = tdb.kind;
    let work = tempfile::tempdir().expect("tempdir");
    let Some(tmux) = Tmux::start(work.path()) else {
        return;
    };
    let config = write_migration(work.path());
    let env = env(&tdb.url, work.path());
    let bin = env!("CARGO_BIN_EXE_migtui");
    let config_arg = format!("-c {}", config.display());
    let store = store(tdb).await;

    let alpha = tmux.open("alpha", &env, bin, &[&config_arg]);
    alpha.wait_for("1-5 tab screens");
    alpha.wait_for("● driving");
    let first = lease_until(&store, "alpha's lease", Option::is_some).await;

    // The second cockpit is read-only, says who drives, and refuses a dangerous key.
    let bravo = tmux.open("bravo", &env, bin, &[&config_arg]);
    bravo.wait_for("1-5 tab screens");
    let screen = bravo.wait_for("READ-ONLY:");
    assert!(
        screen.contains(&format!("(pid {}) holds the lease since", first.holder.pid)),
        "{kind:?}: bravo names the holder:\n{screen}"
    );
    assert!(screen.contains("◌ read-only"), "{kind:?}:\n{screen}");
    assert!(!screen.contains("A advance"), "{kind:?}:\n{screen}");
    bravo.keys(&["A"]);
    bravo.wait_for("press T to take over");
    bravo.keys(&["f"]);
    bravo.wait_for("press T to take over");
    assert_eq!(
        store.state().await.unwrap().phase,
        PhaseId::Plan,
        "{kind:?}"
    );
    assert_eq!(
        store.lease().await.unwrap().map(|l| l.holder),
        Some(first.holder.clone()),
        "{kind:?}: a refused key leaves the lease alone"
    );

    // Bravo takes over: a prompt that insists on a reason, then the audit line.
    bravo.keys(&["T"]);
    bravo.wait_for("Take over the lease");
    bravo.keys(&["Enter"]);
    bravo.wait_for("a reason is required");
    bravo.text("alpha's laptop is asleep");
    bravo.keys(&["Enter"]);
    bravo.wait_for("● driving");
    let second = lease_until(&store, "bravo's lease", |l| {
        l.as_ref().is_some_and(|l| l.holder.id != first.holder.id)
    })
    .await;
    let screen = alpha.wait_for("READ-ONLY:");
    assert!(
        screen.contains(&format!(
            "(pid {}) holds the lease since",
            second.holder.pid
        )),
        "{kind:?}: alpha names the new holder:\n{screen}"
    );
    alpha.wait_for("◌ read-only");
    let log = audit(&store).await;
    let takeovers: Vec<_> = log
        .iter()
        .filter(|a| a.action == "lease.takeover")
        .collect();
    assert_eq!(takeovers.len(), 1, "{kind:?}: {log:#?}");
    assert_eq!(takeovers[0].outcome, "ok");
    assert_eq!(takeovers[0].params["reason"], "alpha's laptop is asleep");
    assert_eq!(
        takeovers[0].params["previous"]["id"], first.holder.id,
        "{kind:?}: the takeover names whom it replaced"
    );
    // Alpha lost the lease: its driving keys are refused now.
    alpha.keys(&["A"]);
    alpha.wait_for("press T to take over");

    // Bravo's process dies without releasing. Its lease stays until the ttl runs out; then
    // alpha is told the lease is stale and takes it only when asked, audited as an expiry.
    kill_9(second.holder.pid);
    assert_ne!(bravo.wait_exit(), 0, "{kind:?}: killed");
    let screen = alpha.wait_for("expired");
    assert!(
        screen.contains(&format!("(pid {})", second.holder.pid)),
        "{kind:?}: alpha names the stale holder:\n{screen}"
    );
    tokio::time::sleep(Duration::from_secs(TTL_SECS + 1)).await;
    assert_eq!(
        store.lease().await.unwrap().map(|l| l.holder.id),
        Some(second.holder.id.clone()),
        "{kind:?}: nobody takes a stale lease without being asked"
    );
    alpha.keys(&["T"]);
    alpha.wait_for("Take over the lease");
    alpha.text("bravo's process died");
    alpha.keys(&["Enter"]);
    alpha.wait_for("● driving");
    let third = lease_until(&store, "alpha again", |l| {
        l.as_ref().is_some_and(|l| l.holder.id == first.holder.id)
    })
    .await;
    assert_eq!(third.holder, first.holder, "{kind:?}");
    let log = audit(&store).await;
    let expiry = log
        .iter()
        .find(|a| a.action == "lease.expired")
        .unwrap_or_else(|| panic!("{kind:?}: no lease.expired in {log:#?}"));
    assert!(
        expiry.outcome.starts_with("ok: expired after"),
        "{expiry:?}"
    );
    assert_eq!(expiry.params["previous"]["id"], second.holder.id);
    assert_eq!(expiry.params["reason"], "bravo's process died");
    assert!(
        expiry.params["idle_ms"].as_i64().unwrap_or(0) >= (TTL_SECS * 1000) as i64,
        "{kind:?}: {expiry:?}"
    );
    quit(&alpha);
    assert_eq!(
        store.lease().await.unwrap(),
        None,
        "{kind:?}: released on quit"
    );
}

/// SIGKILL, by process id (only a process this test started through the cockpit).
fn kill_9(pid: u32) {
    let out = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .output()
        .expect("run kill");
    assert!(out.status.success(), "kill -KILL {pid}: {out:?}");
}

/// One `migtui advance` waiting on a start file, so several start at the same instant.
fn spawn_advance(bin: &str, config: &Path, url: &str, go: &Path) -> std::process::Child {
    // A busy wait: a sleep would release the processes up to its own granularity apart.
    let script = format!(
        "while [ ! -e '{}' ]; do :; done; exec '{bin}' advance -c '{}'",
        go.display(),
        config.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .env("TWO_OPS_URL", url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn migtui advance")
}

/// Two `migtui advance` released together (once both shells wait on `go`); their outputs.
fn race(config: &Path, url: &str, go: &Path) -> Vec<std::process::Output> {
    let bin = env!("CARGO_BIN_EXE_migtui");
    let racers: Vec<_> = (0..2)
        .map(|_| spawn_advance(bin, config, url, go))
        .collect();
    std::thread::sleep(Duration::from_millis(150));
    std::fs::write(go, b"").expect("write the start file");
    racers
        .into_iter()
        .map(|c| c.wait_with_output().expect("wait for migtui advance"))
        .collect()
}

/// Back to `expand` with nobody holding the lease, through the store as a third operator.
async fn reset_to_expand(store: &Store) {
    let op = Operator::current();
    let state = store.state().await.unwrap();
    store
        .take_over(&op, "test: next round", TTL_SECS)
        .await
        .unwrap();
    if state.phase != PhaseId::Expand {
        let kind = match state.phase {
            PhaseId::Plan => TransitionKind::Advance,
            _ => TransitionKind::Rollback,
        };
        store
            .transition(
                state.phase,
                state.seq,
                PhaseId::Expand,
                kind,
                Some("test: next round"),
                &[],
                &op,
            )
            .await
            .unwrap();
    }
    store.release(&op).await.unwrap();
}

fn advances(history: &[migtui::store::PhaseRecord]) -> usize {
    history
        .iter()
        .filter(|h| h.kind != TransitionKind::Rollback)
        .count()
}

/// `rounds` races of two `migtui advance` processes from `expand` with the lease free.
async fn advance_races(tdb: &TestDb, rounds: usize) {
    let kind = tdb.kind;
    let work = tempfile::tempdir().expect("tempdir");
    let config = write_migration(work.path());
    let store = store(tdb).await;
    let (mut lease_held, mut refused) = (0, 0);
    for round in 0..rounds {
        reset_to_expand(&store).await;
        let before = store.history(1000).await.unwrap();
        let audited_before = audit(&store)
            .await
            .iter()
            .filter(|a| a.action == "advance" && a.outcome == "ok")
            .count();
        let outs = race(&config, &tdb.url, &work.path().join(format!("go-{round}")));
        let codes: Vec<i32> = outs.iter().map(|o| o.status.code().unwrap_or(-1)).collect();
        let text = |i: usize| {
            format!(
                "{}{}",
                String::from_utf8_lossy(&outs[i].stdout),
                String::from_utf8_lossy(&outs[i].stderr)
            )
        };
        let ctx = format!(
            "{kind:?} round {round}: {codes:?}\n{}\n---\n{}",
            text(0),
            text(1)
        );
        let winners: Vec<usize> = (0..2).filter(|&i| codes[i] == 0).collect();
        assert_eq!(winners.len(), 1, "exactly one advance succeeds: {ctx}");
        let loser = 1 - winners[0];
        match codes[loser] {
            5 => {
                assert!(text(loser).contains("holds the lease"), "{ctx}");
                lease_held += 1;
            }
            1 => {
                // Started after the winner released: it found `dual_write`, whose gate fails.
                assert!(text(loser).contains("recent-row agreement"), "{ctx}");
                refused += 1;
            }
            other => panic!("the loser exits 5 or 1, not {other}: {ctx}"),
        }
        assert!(text(winners[0]).contains("expand → dual_write"), "{ctx}");
        let state = store.state().await.unwrap();
        assert_eq!(state.phase, PhaseId::DualWrite, "{ctx}");
        let after = store.history(1000).await.unwrap();
        assert_eq!(advances(&after), advances(&before) + 1, "{ctx}");
        let audited = audit(&store)
            .await
            .iter()
            .filter(|a| a.action == "advance" && a.outcome == "ok")
            .count();
        assert_eq!(
            audited,
            audited_before + 1,
            "the audit log has it once: {ctx}"
        );
    }
    eprintln!(
        "{kind:?}: {rounds} races, one winner each; losers: {lease_held} lease held, \
         {refused} refused at dual_write"
    );
    assert!(
        lease_held > 0,
        "{kind:?}: no race was ever close (every loser started after the winner finished)"
    );
}

/// With a cockpit driving, two simultaneous `migtui advance` both exit 5 and nothing moves.
async fn advances_while_a_cockpit_drives(tdb: &TestDb, rounds: usize) {
    let kind = tdb.kind;
    let work = tempfile::tempdir().expect("tempdir");
    let Some(tmux) = Tmux::start(work.path()) else {
        return;
    };
    let config = write_migration(work.path());
    let bin = env!("CARGO_BIN_EXE_migtui");
    let store = store(tdb).await;
    reset_to_expand(&store).await;
    let config_arg = format!("-c {}", config.display());
    let cockpit = tmux.open("driver", &env(&tdb.url, work.path()), bin, &[&config_arg]);
    cockpit.wait_for("● driving");
    let holder = lease_until(&store, "the cockpit's lease", Option::is_some).await;
    let seq = store.state().await.unwrap().seq;
    for round in 0..rounds {
        for out in race(&config, &tdb.url, &work.path().join(format!("go-{round}"))) {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(5), "{kind:?}: {stderr}");
            assert!(
                stderr.contains(&format!("(pid {})", holder.holder.pid)),
                "{kind:?}: names the cockpit: {stderr}"
            );
        }
    }
    let state = store.state().await.unwrap();
    assert_eq!((state.phase, state.seq), (PhaseId::Expand, seq), "{kind:?}");
    assert_eq!(
        store.lease().await.unwrap().map(|l| l.holder),
        Some(holder.holder),
        "{kind:?}: the cockpit still drives"
    );
    cockpit.wait_for("● driving");
    quit(&cockpit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cockpits_on_postgres() {
    if let Some(tdb) = TestDb::postgres().await {
        two_cockpits(&tdb).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_cockpits_on_sqlite() {
    let tdb = TestDb::sqlite().await.unwrap();
    two_cockpits(&tdb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_advances_never_both_succeed() {
    let mut engines = Vec::new();
    engines.extend(TestDb::postgres().await);
    engines.extend(TestDb::sqlite().await);
    engines.extend(TestDb::mysql().await);
    for tdb in &engines {
        advance_races(tdb, 12).await;
        if tdb.kind != Kind::MySql {
            advances_while_a_cockpit_drives(tdb, 3).await;
        }
    }
}
