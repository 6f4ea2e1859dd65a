//! The latency gates read `migtui_metrics`: a budget met over the whole span passes, a breach
//! or too few probes or too short a span fails and says which.
mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::TestDb;
use migtui::config::Side;
use migtui::engine::gates::{GateContext, measure};
use migtui::engine::phase::PhaseId;
use migtui::engine::probe::hist::{Outcome, Tally};
use migtui::engine::probe::metrics;
use migtui::store::Store;

fn tally(ms: u64, n: u64) -> Tally {
    let mut t = Tally::default();
    for i in 0..n {
        t.record(Outcome::Ok(Duration::from_micros(ms * 1000 + i % 100)));
    }
    t
}

#[tokio::test]
async fn shadow_latency_gate_judges_the_stored_history() {
    let tdb = TestDb::sqlite().await.unwrap();
    let text = format!(
        r#"
[migration]
name = "gates"
[databases.old]
url = "{url}"
[databases.new]
url = "{url}"
[phases]
shadow_min_minutes = 2
[[path]]
name = "by-id"
old = "SELECT 1 WHERE 1 = :key"
new = "SELECT 1 WHERE 1 = :key"
keys = [1]
budget = {{ p95_ms = 20, new_over_old_at_most = 1.5 }}
"#,
        url = tdb.url
    );
    let config = migtui::config::parse_text(Path::new("g.toml"), &text, &|_| None).unwrap();
    let db = tdb.connect().await;
    let store = Store::open(db.clone(), "gates").await.unwrap();
    let dbs = BTreeMap::from([
        ("old".to_string(), db.clone()),
        ("new".to_string(), db.clone()),
    ]);
    let ctx = GateContext {
        config: &config,
        dbs: &dbs,
        store: &store,
    };
    let latency = |gates: Vec<migtui::engine::phase::Gate>| {
        gates
            .into_iter()
            .find(|g| g.name == "latency `by-id`")
            .expect("a latency gate per path")
    };

    // Nothing measured yet: failing, and it says so.
    let g = latency(measure(PhaseId::Shadow, &ctx).await);
    assert!(
        !g.pass && g.explanation.contains("not enough probes"),
        "{g:?}"
    );

    // Plenty of fast probes, but only just now: the span is not covered.
    let rows = vec![
        metrics::row("by-id", Side::Old, 10, &tally(5, 100)),
        metrics::row("by-id", Side::New, 10, &tally(6, 100)),
    ];
    store.record_metrics(&rows).await.unwrap();
    let g = latency(measure(PhaseId::Shadow, &ctx).await);
    assert!(!g.pass && g.explanation.contains("measured for"), "{g:?}");

    // Age them: the history now covers the two minutes, within budget.
    tdb.run_script("UPDATE migtui_metrics SET at_us = at_us - 115000000")
        .await;
    let g = latency(measure(PhaseId::Shadow, &ctx).await);
    assert!(g.pass, "{g:?}");
    assert!(
        g.measured.as_deref().unwrap().contains("new p95 6."),
        "{g:?}"
    );

    // New reads get slow: the merged p95 breaks the budget and the ratio.
    let slow = vec![metrics::row("by-id", Side::New, 10, &tally(40, 300))];
    store.record_metrics(&slow).await.unwrap();
    let g = latency(measure(PhaseId::Shadow, &ctx).await);
    assert!(!g.pass, "{g:?}");
    let m = g.measured.unwrap();
    assert!(m.contains("> 20 ms") && m.contains("new/old p95"), "{m}");

    // A read-only session probes nothing and shows the stored figures of the last minute.
    let observer = migtui::engine::session::Session::start(
        config.clone(),
        migtui::engine::session::Mode::Observe,
    )
    .await
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while observer.snapshot().latency.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "no stored figures shown"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let lat = observer.snapshot().latency[0].clone();
    assert_eq!(lat.windows[0].window, "1m");
    assert_eq!(lat.windows[0].new.count, 300, "{lat:?}");
    assert_eq!(lat.windows[1].new.count, 400, "{lat:?}");
    assert!(lat.breached, "{lat:?}");
    observer.shutdown().await;
    db.close().await;
}
