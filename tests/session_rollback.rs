//! The automatic rollback in `read_new`: a budget breached for the configured time flips the
//! flag back, pauses the backfill and says why; a single slow probe does not.
mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::TestDb;
use migtui::engine::flag::FlagValue;
use migtui::engine::session::{Command, Event, Mode, Outcome, Session, SessionHandle};

fn config(url: &str, new_sql: &str) -> migtui::config::Config {
    let text = format!(
        r#"
[migration]
name = "rollback"
[databases.old]
url = "{url}"
[databases.new]
url = "{url}"
[phases]
auto_rollback = true
auto_rollback_after_secs = 1
[flag]
backend = "sql"
table = "feature_flags"
key = "incidents.read_from_new"
[[path]]
name = "by-id"
old = "SELECT 1 WHERE 1 <= :key"
new = "{new_sql}"
keys = [{keys}]
per_second = 40
budget = {{ p95_ms = 20 }}
"#,
        keys = (1..=50)
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    migtui::config::parse_text(Path::new("rollback.toml"), &text, &|_| None).unwrap()
}

/// A session in `read_new` with reads flipped to new.
async fn in_read_new(pg: &TestDb, new_sql: &str) -> SessionHandle {
    pg.run_script(
        "CREATE TABLE feature_flags (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO feature_flags VALUES ('incidents.read_from_new', 'false');",
    )
    .await;
    let s = Session::start(config(&pg.url, new_sql), Mode::Drive)
        .await
        .unwrap();
    for _ in 0..5 {
        let moved = s
            .request(Command::Advance {
                override_reason: Some("test: straight to read_new".into()),
                confirm: None,
            })
            .await
            .unwrap();
        assert!(matches!(moved, Outcome::Moved { .. }), "{moved:?}");
    }
    assert_eq!(s.snapshot().phase.as_str(), "read_new");
    let set = s
        .request(Command::SetFlag {
            value: FlagValue::Bool(true),
            reason: "shadow gate green".into(),
        })
        .await
        .unwrap();
    assert_eq!(set, Outcome::Done);
    s
}

async fn flag_in_db(pg: &TestDb) -> String {
    let db = pg.connect().await;
    let rows = db
        .query(
            "SELECT value FROM feature_flags WHERE key = 'incidents.read_from_new'",
            &migtui::db::Params::new(),
        )
        .await
        .unwrap();
    db.close().await;
    rows.rows[0][0].to_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sustained_breach_flips_reads_back_and_pauses_the_backfill() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let s = in_read_new(&pg, "SELECT pg_sleep(0.03) WHERE 1 <= :key").await;
    let mut events = s.subscribe();
    assert_eq!(flag_in_db(&pg).await, "true");
    let deadline = Instant::now() + Duration::from_secs(20);
    while s.snapshot().rollback.fired.is_none() {
        assert!(
            Instant::now() < deadline,
            "no rollback: {:?}",
            s.snapshot().rollback
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let snap = s.snapshot();
    let fired = snap.rollback.fired.clone().unwrap();
    assert!(
        fired.reason.contains("new p95") && fired.reason.contains("> 20 ms"),
        "{fired:?}"
    );
    assert_eq!(fired.flag_error, None);
    assert_eq!(flag_in_db(&pg).await, "false", "reads flipped back to old");
    assert_eq!(
        snap.flag.as_ref().unwrap().value,
        Some(FlagValue::Bool(false))
    );
    // The pause command goes through the command queue: give it a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.snapshot().backfill.paused.is_none() {
        assert!(
            Instant::now() < deadline,
            "the backfill was not asked to pause"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    assert!(
        seen.iter().any(|e| matches!(e, Event::AutoRollback { .. })),
        "{seen:?}"
    );
    let audit = s.store().audit_page(None, 50).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|a| a.action.as_str()).collect();
    for want in ["rollback.auto", "backfill.pause", "flag.set"] {
        assert!(actions.contains(&want), "{want} not audited: {actions:?}");
    }
    let auto_flip = audit
        .iter()
        .find(|a| a.action == "flag.set" && a.params["automatic"] == true)
        .expect("the automatic flip is audited");
    assert!(
        auto_flip.params["reason"]
            .as_str()
            .unwrap()
            .contains("automatic rollback")
    );
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_slow_probe_does_not_roll_back() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    // Key 1 sleeps 200 ms; the 49 others answer at once.
    let s = in_read_new(
        &pg,
        "SELECT pg_sleep(CASE WHEN :key = 1 THEN 0.2 ELSE 0 END)",
    )
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let snap = s.snapshot();
    let lat = &snap.latency[0];
    let session = &lat.windows[2];
    assert!(
        session.new.max_ms.unwrap_or_default() >= 200.0,
        "the slow probe must have run: {lat:?}"
    );
    assert!(session.new.count >= 20, "{lat:?}");
    assert_eq!((session.old.errors, session.new.errors), (0, 0), "{lat:?}");
    assert!(snap.rollback.armed, "{:?}", snap.rollback);
    assert_eq!(snap.rollback.fired, None, "{:?}", snap.rollback);
    assert_eq!(flag_in_db(&pg).await, "true");
    // A flip without a reason is refused and changes nothing.
    let refused = s
        .request(Command::SetFlag {
            value: FlagValue::Bool(false),
            reason: "  ".into(),
        })
        .await
        .unwrap();
    assert!(matches!(refused, Outcome::Refused { .. }), "{refused:?}");
    assert_eq!(flag_in_db(&pg).await, "true");
    s.shutdown().await;
}
