//! Regression tests for the bugs the chaos run found, each small and on its own databases.

use std::time::Duration;

use migtui::engine::session::{Command, Mode, Outcome, Session};

use super::common::TestDb;
use super::common::migration::migration;

/// Found by the chaos run: a command started while the database hiccupped (lock table full,
/// restart) could not take the lease on its first ask, and then answered "read-only: nobody
/// holds the lease" (exit 5) though nobody did. A driving command now asks for a free or
/// expired lease itself before it refuses. Here the lease is freed after the second session
/// looked: with a 30 s ttl its keeper would not ask again for 10 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_driving_command_takes_a_lease_freed_since_the_session_last_looked() {
    let (Some(old), Some(state)) = (TestDb::sqlite().await, TestDb::sqlite().await) else {
        return;
    };
    let config = migration("freed", &old.url, &state.url, 30);
    let alice = Session::start(config.clone(), Mode::Drive).await.unwrap();
    let bob = Session::start(config.clone(), Mode::Drive).await.unwrap();
    assert!(alice.snapshot().lease.is_driving());
    assert!(!bob.snapshot().lease.is_driving());
    alice.shutdown().await;
    let advance = Command::Advance {
        override_reason: Some("alice went home".into()),
        confirm: None,
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), bob.request(advance))
        .await
        .expect("no answer");
    assert!(matches!(outcome, Ok(Outcome::Moved { .. })), "{outcome:?}");
    assert!(bob.snapshot().lease.is_driving());

    // An observer never takes it, free or not.
    let carol = Session::start(config, Mode::Observe).await.unwrap();
    bob.shutdown().await;
    let err = carol
        .request(Command::Rollback {
            reason: Some("no".into()),
        })
        .await;
    assert!(err.is_err(), "{err:?}");
    carol.shutdown().await;
}

/// Found by the chaos run: with the shared lock table full (another session holding thousands
/// of locks), every write fails with SQLSTATE 53200 "out of shared memory" until that session
/// ends. The backfill stopped the step as if the error were permanent; it now retries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backfill_retries_through_a_full_lock_table() {
    use super::cluster::Cluster;
    use super::scenario::{self, Size};
    use sqlx::Connection;

    let Some(cluster) = Cluster::create().await else {
        return;
    };
    let rows = scenario::initial_rows(7, 600);
    scenario::prepare(&cluster, &rows).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let size = Size {
        rows: 600,
        chunk_rows: 20,
        rows_per_second: 200,
    };
    let file = scenario::migration_file(dir.path(), size).unwrap();
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
        .args(["backfill", "-c"])
        .arg(&file)
        .env("CHAOS_OLD_URL", cluster.url("chaos_old"))
        .env("CHAOS_NEW_URL", cluster.url("chaos_new"))
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut c = sqlx::PgConnection::connect(&cluster.url("chaos_new"))
        .await
        .unwrap();
    let t0 = std::time::Instant::now();
    loop {
        let done: Option<i64> = sqlx::query_scalar("SELECT rows_done FROM migtui_checkpoints")
            .fetch_optional(&mut c)
            .await
            .unwrap_or(None);
        if done.unwrap_or(0) >= 60 {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(30), "no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = c.close().await;
    let (filled, detail) = super::faults::fill_lock_table(&cluster, Duration::from_millis(2500))
        .await
        .unwrap();
    assert!(filled, "{detail}");
    let out = child.wait_with_output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("out of shared memory"),
        "the full lock table was not met (or not retried):\n{stdout}"
    );
    assert!(stdout.contains("complete, 600 rows"), "{stdout}");
}
