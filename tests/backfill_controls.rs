//! Live controls and honest progress: an operator pause and a `pause_when` latency condition
//! hold the step (each shown by name), the rate ceiling holds, the chunk size changes live,
//! and the `backfill` gate passes only when every step is complete.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestDb;
use common::backfill::{all_items, drive, finished, insert_items, item_rows, items_ddl, migration};
use migtui::config::Side;
use migtui::engine::backfill::{
    BackfillEvent, BackfillProgress, Controls, RunContext, StepState, run,
};
use migtui::engine::session::{Command, Outcome};
use migtui::engine::signals::Signals;
use tokio::sync::watch;

const STEP: &str = r#"
[[path]]
name = "incident-by-id"
old = "SELECT name FROM items WHERE a = :key"
new = "SELECT name FROM items WHERE a = :key"
keys = ["3"]

[[backfill]]
name = "items"
from = { database = "old", table = "items", key = ["a", "b"] }
to = { database = "new", table = "items", key = ["a", "b"], insert_only = true }
chunk_rows = 10
pause_when = { path = "incident-by-id", side = "old", p95_ms_above = 50 }
"#;

async fn wait_for(
    rx: &mut watch::Receiver<BackfillProgress>,
    what: &str,
    f: impl Fn(&BackfillProgress) -> bool,
) -> BackfillProgress {
    let got = tokio::time::timeout(Duration::from_secs(20), rx.wait_for(|p| f(p)))
        .await
        .map(|r| r.map(|p| p.clone()));
    match got {
        Ok(Ok(p)) => p,
        _ => panic!("timed out waiting for {what}: {:?}", rx.borrow()),
    }
}

#[tokio::test]
async fn pauses_by_operator_and_by_condition_then_finishes() {
    let (Some(old), Some(new)) = (TestDb::sqlite().await, TestDb::sqlite().await) else {
        return;
    };
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    let (o, n) = (old.connect().await, new.connect().await);
    insert_items(&o, "items", item_rows(300, 1)).await;
    migtui::store::Store::open(n.clone(), "controls")
        .await
        .unwrap();

    let config = migration("controls", &old, &new, "new", STEP);
    let mut dbs = BTreeMap::new();
    dbs.insert("old".to_string(), o.clone());
    dbs.insert("new".to_string(), n.clone());
    let (controls_tx, controls_rx) = watch::channel(Controls::default());
    let signals = watch::channel(Signals::default()).0;
    let (_cancel_tx, cancel_rx) = watch::channel(false);
    let progress = watch::channel(BackfillProgress::default()).0;
    let mut prx = progress.subscribe();
    let seen: Arc<Mutex<Vec<BackfillEvent>>> = Arc::default();
    let seen2 = seen.clone();
    // Slow enough to act on while it runs: 300 rows at 200 rows/s.
    controls_tx.send_modify(|c| c.rows_per_second = Some(Some(200.0)));
    let ctx = RunContext {
        config: Arc::new(config),
        dbs,
        store_db: n.clone(),
        controls: controls_rx,
        signals: signals.clone(),
        cancel: cancel_rx,
        progress: progress.clone(),
        events: Arc::new(move |e| seen2.lock().unwrap().push(e)),
    };
    let started = Instant::now();
    let task = tokio::spawn(async move { run(&ctx, None).await });

    wait_for(&mut prx, "some rows", |p| {
        p.steps.first().is_some_and(|s| s.rows_done >= 20)
    })
    .await;
    controls_tx.send_modify(|c| c.paused = Some("DBA asked for a break".into()));
    let p = wait_for(&mut prx, "the operator pause", |p| {
        p.steps[0].state == StepState::Paused
    })
    .await;
    assert_eq!(
        p.steps[0].paused_by,
        vec!["operator: DBA asked for a break".to_string()]
    );
    let held = p.steps[0].rows_done;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        prx.borrow().steps[0].rows_done,
        held,
        "no chunk runs while paused"
    );

    // A latency condition holds too: both reasons show, by name.
    signals.send_modify(|s| {
        s.path_p95_ms
            .insert(("incident-by-id".into(), Side::Old), 80.0);
    });
    let p = wait_for(&mut prx, "both reasons", |p| {
        p.steps[0].paused_by.len() == 2
    })
    .await;
    assert!(
        p.steps[0].paused_by[1].contains("incident-by-id (old) p95 80 ms > 50 ms"),
        "{:?}",
        p.steps[0].paused_by
    );
    controls_tx.send_modify(|c| c.paused = None);
    let p = wait_for(&mut prx, "only the condition", |p| {
        p.steps[0].paused_by.len() == 1
    })
    .await;
    assert_eq!(p.steps[0].state, StepState::Paused);
    signals.send_modify(|s| {
        s.path_p95_ms
            .insert(("incident-by-id".into(), Side::Old), 10.0);
    });
    wait_for(&mut prx, "running again", |p| {
        p.steps[0].state == StepState::Running
    })
    .await;

    // Chunk size, live.
    controls_tx.send_modify(|c| c.chunk_rows = Some(Some(25)));
    wait_for(&mut prx, "chunks of 25", |p| p.steps[0].chunk_rows == 25).await;
    controls_tx.send_modify(|c| c.rows_per_second = Some(None));

    task.await.unwrap().unwrap();
    let p = progress.borrow().clone();
    let st = &p.steps[0];
    assert_eq!(st.state, StepState::Complete);
    assert_eq!((st.rows_done, st.total_rows), (300, 300));
    assert!(st.throttled_ms > 0, "time under the ceiling is counted");
    assert!(started.elapsed() > Duration::from_millis(500));
    let events = seen.lock().unwrap().clone();
    assert!(
        events
            .iter()
            .any(|e| matches!(e, BackfillEvent::Paused { .. }))
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, BackfillEvent::Resumed { .. }))
    );
    assert_eq!(all_items(&n, "items").await, all_items(&o, "items").await);
}

#[tokio::test]
async fn session_commands_and_the_gate() {
    let (Some(old), Some(new)) = (TestDb::sqlite().await, TestDb::postgres().await) else {
        return;
    };
    old.run_script(&items_ddl(old.kind, "items")).await;
    new.run_script(&items_ddl(new.kind, "items")).await;
    insert_items(&old.connect().await, "items", item_rows(200, 1)).await;
    let s = drive(migration("gate", &old, &new, "new", STEP)).await;
    let gate = |s: &migtui::engine::session::SessionHandle| {
        let snap = s.snapshot();
        snap.gates
            .iter()
            .find(|g| g.name == "backfill complete")
            .cloned()
    };
    // The gate is measured in the backfill phase: move there (the earlier gates are overridden).
    for _ in 0..3 {
        let r = s
            .request(Command::Advance {
                override_reason: Some("test".into()),
                confirm: None,
            })
            .await
            .unwrap();
        assert!(matches!(r, Outcome::Moved { .. }), "{r:?}");
    }
    s.request(Command::RefreshGates).await.unwrap();
    let g = gate(&s).expect("backfill gate");
    assert!(
        !g.pass && g.explanation.contains("items not started"),
        "{g:?}"
    );

    assert_eq!(
        s.request(Command::SetBackfillRate {
            rows_per_second: Some(400.0)
        })
        .await
        .unwrap(),
        Outcome::Done
    );
    assert!(matches!(
        s.request(Command::SetBackfillRate {
            rows_per_second: Some(-1.0)
        })
        .await
        .unwrap(),
        Outcome::Refused { .. }
    ));
    assert!(matches!(
        s.request(Command::StartBackfill {
            step: Some("nope".into())
        })
        .await
        .unwrap(),
        Outcome::Refused { .. }
    ));
    s.request(Command::StartBackfill { step: None })
        .await
        .unwrap();
    s.request(Command::PauseBackfill {
        reason: "lunch".into(),
    })
    .await
    .unwrap();
    let mut w = s.watch();
    tokio::time::timeout(
        Duration::from_secs(20),
        w.wait_for(|x| {
            x.backfill
                .steps
                .first()
                .is_some_and(|st| st.paused_by == vec!["operator: lunch".to_string()])
        }),
    )
    .await
    .expect("paused in the snapshot")
    .unwrap();
    s.request(Command::SetChunkRows { rows: Some(40) })
        .await
        .unwrap();
    s.request(Command::ResumeBackfill).await.unwrap();
    let p = finished(&s, Duration::from_secs(30)).await;
    assert_eq!(
        p.steps[0].state,
        StepState::Complete,
        "{:?}",
        p.steps[0].error
    );
    assert_eq!(p.steps[0].rows_done, 200);
    s.request(Command::RefreshGates).await.unwrap();
    let g = gate(&s).expect("backfill gate");
    assert!(g.pass, "{g:?}");
    let actions: Vec<String> = s
        .snapshot()
        .recent_actions
        .iter()
        .map(|a| a.action.clone())
        .collect();
    for a in [
        "backfill.start",
        "backfill.pause",
        "backfill.resume",
        "backfill.rate",
        "backfill.chunk_rows",
    ] {
        assert!(actions.iter().any(|x| x == a), "{a} audited: {actions:?}");
    }
    s.shutdown().await;
}
