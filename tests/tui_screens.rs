//! The Backfill, Divergences, Latency and Log screens: snapshots of each at 80×24 and 160×48
//! from a fixed state, their pure logic (paging, filters, keys, log lines, diff marks), and the
//! loader paging through a real store.
mod common;

use std::time::Duration;

use migtui::engine::backfill::{BackfillEvent, BackfillProgress, StepProgress, StepState};
use migtui::engine::flag::FlagValue;
use migtui::engine::phase::PhaseId;
use migtui::engine::probe::hist::{Outcome, SideStats, Tally};
use migtui::engine::probe::{PathLatency, WindowLatency};
use migtui::engine::session::{Event, LeaseState, Snapshot, VerifyStatus};
use migtui::engine::verify::RateBound;
use migtui::store::{
    AuditRecord, DivergenceRecord, DivergenceStatus, Lease, MetricRow, Operator, Store,
};
use migtui::tui::action::{Action, Effect, Then};
use migtui::tui::keymap::Keymap;
use migtui::tui::load::{self, DIVERGENCE_PAGE, Loaded, Request};
use migtui::tui::screens::{self, ScreenId, divergences, latency, log};
use migtui::tui::state::{AppState, Level, LogEntry, LogKind};
use migtui::tui::{Theme, widgets};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::json;

/// 2026-11-21 09:00:00 UTC: every time in the fixture is relative to it, so snapshots are fixed.
const NOW: i64 = 1_795_251_600_000_000;
const SEC: i64 = 1_000_000;

fn operator() -> Operator {
    Operator {
        id: "op-1".into(),
        user: "alice".into(),
        host: "laptop".into(),
        pid: 4242,
    }
}

fn step(name: &str, state: StepState, done: u64, total: u64) -> StepProgress {
    StepProgress {
        step: name.into(),
        state,
        rows_done: done,
        total_rows: total,
        total_exact: name != "line_items",
        rows_per_second: if state == StepState::Running {
            4_250.0
        } else {
            0.0
        },
        eta_secs: (state == StepState::Running).then_some((190.0, 260.0)),
        last_chunk_ms: 38.5,
        chunk_rows: 2_000,
        chunks: done / 2_000,
        retries: if name == "line_items" { 2 } else { 0 },
        throttled_ms: if name == "line_items" { 95_000 } else { 0 },
        max_rows_per_second: (name == "orders").then_some(5_000.0),
        paused_by: if state == StepState::Paused {
            vec!["replica_lag > 5s".into()]
        } else {
            Vec::new()
        },
        last_key: Some(done.to_string()),
        high_water: Some(total.to_string()),
        error: (state == StepState::Failed)
            .then(|| "duplicate key value violates unique constraint \"invoices_pkey\"".into()),
    }
}

fn side(p50: f64, p95: f64, p99: f64, count: u64, errors: u64) -> SideStats {
    SideStats {
        count,
        errors,
        timeouts: 0,
        error_rate: Some(errors as f64 / (count + errors) as f64),
        p50_ms: Some(p50),
        p95_ms: Some(p95),
        p99_ms: Some(p99),
        max_ms: Some(p99 * 2.0),
    }
}

fn path(name: &str, breached: bool) -> PathLatency {
    let w = |window: &str, k: f64| WindowLatency {
        window: window.into(),
        old: side(1.2 * k, 3.4 * k, 7.9 * k, 600, 0),
        new: side(1.1 * k, 4.1 * k, 9.5 * k, 598, 2),
        ratio_p50: Some(0.92),
        ratio_p95: Some(1.21),
        ratio_p99: Some(1.2),
    };
    PathLatency {
        path: name.into(),
        keys: 500,
        problem: None,
        last_error_old: None,
        last_error_new: None,
        windows: vec![w("1m", 1.0), w("10m", 1.1), w("session", 1.05)],
        pairs: 1_200,
        overhead_us_per_probe: Some(12.0),
        budget: "new p95 ≤ 5 ms, ≤ 1.5× old p95, errors ≤ 1% (default)".into(),
        verdict: if breached {
            "new p95 6.2 ms > 5 ms".into()
        } else {
            "within budget: new p95 4.10 ms, old p95 3.40 ms".into()
        },
        breached,
    }
}

fn snapshot() -> Snapshot {
    let lease = Lease {
        holder: operator(),
        acquired_us: NOW - 3_600 * SEC,
        heartbeat_us: NOW - 2 * SEC,
        ttl_secs: 30,
    };
    Snapshot {
        migration: "split_orders".into(),
        phase: PhaseId::Backfill,
        plan: PhaseId::ALL.to_vec(),
        since_us: NOW - 1_800 * SEC,
        next: Some(PhaseId::Shadow),
        gates: Vec::new(),
        lease: LeaseState::Driving { lease },
        databases: Vec::new(),
        history: Vec::new(),
        recent_actions: Vec::new(),
        flag: None,
        latency: vec![path("order_by_id", false), path("orders_by_customer", true)],
        rollback: Default::default(),
        drain: Vec::new(),
        backups: Vec::new(),
        verify: vec![
            VerifyStatus {
                check: "orders".into(),
                phase: RateBound::new(48_210, 3, Some(1_000_000)),
                recent: RateBound::new(5_100, 1, Some(1_000_000)),
                healed: 14,
                in_flight: 2,
                full: None,
                last_error: None,
            },
            VerifyStatus {
                check: "line_items".into(),
                phase: RateBound::new(20_000, 0, None),
                recent: RateBound::new(2_000, 0, None),
                ..Default::default()
            },
        ],
        backfill: BackfillProgress {
            running: true,
            paused: None,
            steps: vec![
                step("customers", StepState::Complete, 50_000, 50_000),
                step("orders", StepState::Running, 612_000, 1_000_000),
                step("line_items", StepState::Paused, 120_000, 2_400_000),
                step("invoices", StepState::Failed, 4_000, 90_000),
            ],
        },
    }
}

fn text(v: &str) -> serde_json::Value {
    json!({ "type": "text", "value": v })
}

fn divergence(check: &str, key: i64, status: DivergenceStatus) -> DivergenceRecord {
    let int = |i: i64| json!({ "type": "int", "value": i });
    let old = json!({
        "id": int(key),
        "status": text("shipped"),
        "total": text("19.90"),
        "customer_id": int(7),
    });
    let new = json!({
        "id": int(key),
        "status": text("SHIPPED"),
        "total": text("19.9"),
        "customer_id": int(8),
    });
    let old_norm = json!({
        "id": int(key),
        "status": text("shipped"),
        "total": text("19.9"),
        "customer_id": int(7),
    });
    DivergenceRecord {
        check: check.into(),
        key_text: key.to_string(),
        key: json!([int(key)]),
        kind: "mismatch".into(),
        columns: vec!["customer_id".into()],
        old_raw: Some(old),
        new_raw: Some(new.clone()),
        old_norm: Some(old_norm),
        new_norm: Some(json!({
            "id": int(key),
            "status": text("shipped"),
            "total": text("19.9"),
            "customer_id": int(8),
        })),
        source: "sample".into(),
        status,
        note: None,
        first_seen_us: NOW - 900 * SEC + key * SEC,
        last_seen_us: NOW - 30 * SEC,
        times_seen: 1 + key % 4,
    }
}

fn tally(base_ms: u64, n: u64) -> Tally {
    let mut t = Tally::default();
    for i in 0..n {
        t.record(Outcome::Ok(Duration::from_micros(
            base_ms * 1000 + (i % 40) * 150,
        )));
    }
    t.record(Outcome::Error);
    t
}

/// Metric rows as the probe writes them: six 10-second intervals per side of one path.
fn metric_rows(path: &str) -> Vec<MetricRow> {
    let mut rows = Vec::new();
    for i in 0..6 {
        for (side, base) in [
            (migtui::config::Side::Old, 2),
            (migtui::config::Side::New, 3),
        ] {
            let mut r = migtui::engine::probe::metrics::row(path, side, 10, &tally(base + i, 200));
            r.at_us = NOW - (60 - i as i64 * 10) * SEC;
            rows.push(r);
        }
    }
    rows
}

fn audit(id: i64, action: &str, params: serde_json::Value, outcome: &str) -> AuditRecord {
    AuditRecord {
        id,
        at_us: NOW - (100 - id) * 60 * SEC,
        user: "bob".into(),
        host: "ops-1".into(),
        action: action.into(),
        params,
        outcome: outcome.into(),
    }
}

/// The fixed cockpit state every snapshot draws. The keymap is empty: the app's defaults
/// change on their own schedule, and a screen with no binding offers no hint.
fn fixture() -> AppState {
    let mut s = AppState::new(snapshot(), Keymap::default(), NOW);
    for i in 0..120 {
        let at = NOW - (120 - i) * SEC;
        let h = &mut s.history.series;
        h.entry("backfill:orders".into())
            .or_default()
            .push(at, 3_800.0 + ((i * 37) % 900) as f64);
        h.entry("p95:order_by_id:old".into())
            .or_default()
            .push(at, 3.2 + (i % 7) as f64 * 0.1);
        h.entry("p95:order_by_id:new".into())
            .or_default()
            .push(at, 4.0 + (i % 5) as f64 * 0.15);
    }
    // The store's answers, as the loader hands them over.
    let rows: Vec<DivergenceRecord> = (1..=12)
        .map(|k| {
            let st = match k % 4 {
                0 => DivergenceStatus::Healed,
                1 => DivergenceStatus::Open,
                2 => DivergenceStatus::InFlight,
                _ => DivergenceStatus::Acknowledged,
            };
            divergence(if k <= 8 { "orders" } else { "line_items" }, k, st)
        })
        .collect();
    let q = s.divergences.query();
    divergences::apply_page(&mut s, q, Ok(rows));
    divergences::apply_counts(
        &mut s,
        Ok(vec![
            (DivergenceStatus::Open, 3),
            (DivergenceStatus::InFlight, 3),
            (DivergenceStatus::Healed, 3),
            (DivergenceStatus::Acknowledged, 3),
        ]),
    );
    s.divergences.checks = vec![divergences::CheckSql {
        check: "orders".into(),
        key: vec!["id".into()],
        old_sql: "SELECT id, status, total, customer_id FROM orders WHERE id IN (:keys)".into(),
        new_sql: "SELECT o.id, o.status, o.total, c.customer_id FROM orders_v2 o\n  JOIN order_customers c ON c.order_id = o.id WHERE o.id IN (:keys)".into(),
    }];
    let mut metrics = metric_rows("order_by_id");
    metrics.extend(metric_rows("orders_by_customer"));
    latency::apply_metrics(&mut s, NOW - 3_600 * SEC, Ok(latency::summarize(&metrics)));
    log::apply_audit(
        &mut s,
        None,
        Ok(vec![
            audit(3, "backfill.pause", json!({"reason": "replica lag"}), "ok"),
            audit(2, "advance", json!({"to": "backfill"}), "ok"),
            audit(
                1,
                "flag.set",
                json!({"to": true}),
                "refused: phase is expand",
            ),
        ]),
    );
    for (i, ev) in events().iter().enumerate() {
        s.now_us = NOW - (10 - i as i64) * SEC;
        s.apply_event(ev);
    }
    s.now_us = NOW;
    s
}

fn events() -> Vec<Event> {
    let up = |update| Event::Backfill { update };
    vec![
        up(BackfillEvent::StepStarted {
            step: "orders".into(),
            total_rows: 1_000_000,
            total_exact: true,
            resumed_after: Some("40000".into()),
        }),
        up(BackfillEvent::Chunk {
            step: "orders".into(),
            rows: 2_000,
            rows_done: 42_000,
            chunk_ms: 30.0,
        }),
        up(BackfillEvent::Paused {
            step: "line_items".into(),
            by: vec!["replica_lag > 5s".into()],
        }),
        Event::Divergence {
            check: "orders".into(),
            key: "5".into(),
            kind: "mismatch".into(),
            columns: vec!["customer_id".into()],
            status: DivergenceStatus::Open,
        },
        up(BackfillEvent::StepFailed {
            step: "invoices".into(),
            error: "duplicate key".into(),
        }),
        Event::FlagChanged {
            from: Some(FlagValue::Bool(false)),
            to: FlagValue::Bool(true),
            reason: "canary looks fine".into(),
            automatic: false,
        },
    ]
}

fn draw(state: &AppState, w: u16, h: u16) -> String {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| screens::render(state, &Theme::default(), f, f.area()))
        .unwrap();
    term.backend().to_string()
}

fn snap(name: &str, state: &AppState) {
    insta::assert_snapshot!(format!("{name}_80x24"), draw(state, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), draw(state, 160, 48));
}

fn on(screen: ScreenId) -> AppState {
    let mut s = fixture();
    s.screen = screen;
    s
}

#[test]
fn backfill_screen() {
    let mut s = on(ScreenId::Backfill);
    screens::on_action(&mut s, Action::Down);
    snap("backfill", &s);
}

#[test]
fn backfill_screen_before_it_runs() {
    let mut s = on(ScreenId::Backfill);
    s.snapshot.backfill = BackfillProgress::default();
    let text = draw(&s, 80, 24);
    assert!(
        text.contains("the backfill has not run yet; its steps appear here"),
        "{text}"
    );
}

#[test]
fn divergences_screen() {
    snap("divergences", &on(ScreenId::Divergences));
}

#[test]
fn divergences_screen_filtered() {
    let mut s = on(ScreenId::Divergences);
    screens::on_action(&mut s, Action::CycleStatus); // open
    screens::on_action(&mut s, Action::CycleCheck); // orders
    let q = s.divergences.query();
    assert_eq!(q.status, Some(DivergenceStatus::Open));
    assert_eq!(q.check.as_deref(), Some("orders"));
    divergences::set_filter(&mut s, "cust");
    let rows = vec![
        divergence("orders", 1, DivergenceStatus::Open),
        divergence("orders", 5, DivergenceStatus::Open),
    ];
    give(&mut s, Ok(rows));
    snap("divergences_filtered", &s);
}

#[test]
fn divergences_drill_down() {
    let mut s = on(ScreenId::Divergences);
    screens::on_action(&mut s, Action::Open);
    snap("divergences_detail", &s);
    screens::on_action(&mut s, Action::ShowSql);
    snap("divergences_sql", &s);
    screens::on_action(&mut s, Action::Back);
    assert!(s.divergences.detail && !s.divergences.sql);
    screens::on_action(&mut s, Action::Back);
    assert!(!s.divergences.detail);
}

#[test]
fn divergences_empty_states_say_what_is_going_on() {
    let mut s = on(ScreenId::Divergences);
    let q = s.divergences.query();
    divergences::apply_page(&mut s, q, Ok(Vec::new()));
    let text = draw(&s, 80, 24);
    assert!(text.contains("no divergences found yet"), "{text}");
    give(&mut s, Err("database is locked".into()));
    let text = draw(&s, 80, 24);
    assert!(text.contains("database is locked"), "{text}");
}

#[test]
fn latency_screen() {
    snap("latency", &on(ScreenId::Latency));
    let mut s = on(ScreenId::Latency);
    screens::on_action(&mut s, Action::Down);
    assert_eq!(s.latency.selected, 1);
    screens::on_action(&mut s, Action::Down);
    assert_eq!(s.latency.selected, 1, "stops at the last path");
    let text = draw(&s, 160, 48);
    assert!(text.contains("orders_by_customer") && text.contains("new p95 6.2 ms > 5 ms"));
}

#[test]
fn log_screen() {
    snap("log", &on(ScreenId::Log));
}

#[test]
fn every_screen_draws_on_a_tiny_terminal_without_panicking() {
    for screen in [
        ScreenId::Backfill,
        ScreenId::Divergences,
        ScreenId::Latency,
        ScreenId::Log,
    ] {
        let mut s = on(screen);
        draw(&s, 20, 5);
        screens::on_action(&mut s, Action::Open);
        draw(&s, 30, 8);
    }
}

// ── paging, filters, keys ──

/// Answer the page the view wants now.
fn give(s: &mut AppState, rows: Result<Vec<DivergenceRecord>, String>) {
    let q = s.divergences.query();
    divergences::apply_page(s, q, rows);
}

fn page_of(n: i64, from: i64) -> Vec<DivergenceRecord> {
    (from..from + n)
        .map(|k| divergence("orders", k, DivergenceStatus::Open))
        .collect()
}

#[test]
fn divergence_pages_move_by_keyset_cursor() {
    let mut s = on(ScreenId::Divergences);
    let q = s.divergences.query();
    // A full page and one more row: there is a next page.
    divergences::apply_page(
        &mut s,
        q.clone(),
        Ok(page_of(DIVERGENCE_PAGE as i64 + 1, 100)),
    );
    assert_eq!(s.divergences.rows.len(), DIVERGENCE_PAGE);
    assert!(s.divergences.more);
    assert!(
        load::due(&s)
            .iter()
            .all(|r| !matches!(r, Request::Divergences(_)))
    );
    screens::on_action(&mut s, Action::Bottom);
    screens::on_action(&mut s, Action::Down);
    let q2 = s.divergences.query();
    let last = 100 + DIVERGENCE_PAGE as i64 - 1;
    assert_eq!(q2.after, Some(("orders".into(), last.to_string())));
    assert_eq!(s.divergences.page(), 2);
    assert!(load::due(&s).contains(&Request::Divergences(q2.clone())));
    // A page asked for before the move arrives late: dropped.
    divergences::apply_page(&mut s, q.clone(), Ok(page_of(3, 1)));
    assert!(s.divergences.rows.is_empty());
    divergences::apply_page(&mut s, q2, Ok(page_of(5, last + 1)));
    assert_eq!(s.divergences.rows.len(), 5);
    assert!(!s.divergences.more);
    // Down on the last row of the last page stays put.
    screens::on_action(&mut s, Action::Bottom);
    screens::on_action(&mut s, Action::Down);
    assert_eq!(s.divergences.selected, 4);
    assert_eq!(s.divergences.page(), 2);
    // Up from the first row goes back a page and selects its last row once it arrives.
    screens::on_action(&mut s, Action::Top);
    assert_eq!(s.divergences.page(), 1, "Top returns to the first page");
    divergences::apply_page(&mut s, q, Ok(page_of(DIVERGENCE_PAGE as i64 + 1, 100)));
    screens::on_action(&mut s, Action::PageDown);
    assert_eq!(s.divergences.page(), 2);
    give(&mut s, Ok(page_of(5, last + 1)));
    screens::on_action(&mut s, Action::Up);
    assert_eq!(s.divergences.page(), 1);
    give(&mut s, Ok(page_of(DIVERGENCE_PAGE as i64 + 1, 100)));
    assert_eq!(s.divergences.selected, DIVERGENCE_PAGE - 1);
}

#[test]
fn a_refreshed_page_keeps_the_selected_row_selected() {
    let mut s = on(ScreenId::Divergences);
    screens::on_action(&mut s, Action::Down);
    screens::on_action(&mut s, Action::Down);
    let key = s.divergences.selected_row().unwrap().key_text.clone();
    // The refreshed page has a new row in front of the selected one.
    let mut rows = s.divergences.rows.clone();
    rows.insert(0, divergence("line_items", 0, DivergenceStatus::Open));
    give(&mut s, Ok(rows));
    assert_eq!(s.divergences.selected_row().unwrap().key_text, key);
    assert_eq!(s.divergences.selected, 3);
}

#[test]
fn status_and_check_filters_cycle_and_restart_paging() {
    let mut s = on(ScreenId::Divergences);
    let mut seen = Vec::new();
    for _ in 0..5 {
        screens::on_action(&mut s, Action::CycleStatus);
        seen.push(s.divergences.status);
        assert!(s.divergences.rows.is_empty() && s.divergences.cursors.is_empty());
    }
    assert_eq!(seen, {
        let mut c = divergences::STATUS_CYCLE[1..].to_vec();
        c.push(None);
        c
    });
    let checks = ["orders".to_string(), "line_items".to_string()];
    assert_eq!(
        divergences::next_check(&checks, None).as_deref(),
        Some("orders")
    );
    assert_eq!(
        divergences::next_check(&checks, Some("orders")).as_deref(),
        Some("line_items")
    );
    assert_eq!(divergences::next_check(&checks, Some("line_items")), None);
    assert_eq!(divergences::next_check(&checks, Some("gone")), None);
}

#[test]
fn text_filter_goes_through_a_prompt_and_reloads() {
    let mut s = on(ScreenId::Divergences);
    let fx = screens::on_action(&mut s, Action::Filter);
    assert!(matches!(&fx[..], [Effect::Prompt(p)] if p.then == Then::FilterDivergences));
    let fx = divergences::set_filter(&mut s, "  cust ");
    let q = s.divergences.query();
    assert_eq!(q.text, "cust");
    assert_eq!(fx, vec![Effect::Load(Request::Divergences(q))]);
    assert!(
        divergences::set_filter(&mut s, "cust").is_empty(),
        "same filter: nothing"
    );
}

#[test]
fn row_actions_send_commands_prompts_and_copies() {
    let mut s = on(ScreenId::Divergences);
    let row = s.divergences.selected_row().unwrap().clone();
    let fx = screens::on_action(&mut s, Action::Recheck);
    assert!(fx.contains(&Effect::Send(
        migtui::engine::session::Command::RecheckDivergence {
            check: row.check.clone(),
            key: "1".into()
        }
    )));
    let fx = screens::on_action(&mut s, Action::Acknowledge);
    match &fx[..] {
        [Effect::Prompt(p)] => {
            assert!(p.required);
            assert_eq!(
                p.then.command("seen, a known bug"),
                Some(migtui::engine::session::Command::AcknowledgeDivergence {
                    check: row.check.clone(),
                    key: row.key_text.clone(),
                    note: "seen, a known bug".into()
                })
            );
        }
        other => panic!("expected a prompt, got {other:?}"),
    }
    let fx = screens::on_action(&mut s, Action::CopyKey);
    assert_eq!(fx[0], Effect::Copy("1".into()));
    // With nothing on show, the actions say so instead of acting.
    let q = s.divergences.query();
    divergences::apply_page(&mut s, q, Ok(Vec::new()));
    let fx = screens::on_action(&mut s, Action::Recheck);
    assert!(matches!(&fx[..], [Effect::Toast(_)]));
}

#[test]
fn drill_down_marks_differing_columns() {
    let d = divergence("orders", 5, DivergenceStatus::Open);
    let cols = divergences::diff_columns(&d);
    let names: Vec<&str> = cols.iter().map(|c| c.column.as_str()).collect();
    assert_eq!(
        names,
        ["customer_id", "id", "status", "total"],
        "differing first"
    );
    let by = |n: &str| cols.iter().find(|c| c.column == n).unwrap();
    assert!(by("customer_id").differs);
    assert_eq!(by("customer_id").old_raw.as_deref(), Some("7"));
    assert_eq!(by("customer_id").new_raw.as_deref(), Some("8"));
    // Raw values differ but normalize equal: not a difference.
    assert!(!by("status").differs);
    assert!(!by("total").differs);
    assert_eq!(by("total").old_raw.as_deref(), Some("19.90"));
    assert_eq!(by("total").old_norm.as_deref(), Some("19.9"));
    // One side has no row: every column differs.
    let mut missing = d.clone();
    missing.kind = "missing_in_new".into();
    missing.columns.clear();
    missing.new_raw = None;
    missing.new_norm = None;
    let cols = divergences::diff_columns(&missing);
    assert!(cols.iter().all(|c| c.differs && c.new_raw.is_none()));
}

#[test]
fn keys_are_typed_as_a_recheck_reads_them_and_sql_is_the_checks_own() {
    let mut d = divergence("orders", 5, DivergenceStatus::Open);
    assert_eq!(divergences::typed_key(&d), "5");
    d.key = json!([{ "type": "int", "value": 1 }, { "type": "text", "value": "a'b" }]);
    assert_eq!(divergences::typed_key(&d), "1:a'b");
    let checks = vec![divergences::CheckSql {
        check: "orders".into(),
        key: vec!["id".into(), "region".into()],
        old_sql: "SELECT * FROM orders WHERE (id, region) IN (:keys)".into(),
        new_sql: "SELECT * FROM orders_v2 WHERE (id, region) IN (:keys)".into(),
    }];
    let sql = divergences::row_sql(&checks, &d).unwrap();
    assert!(sql[0].contains(":keys = (1, 'a''b')"), "{sql:?}");
    assert!(
        sql.iter()
            .any(|l| l == "SELECT * FROM orders_v2 WHERE (id, region) IN (:keys)")
    );
    d.check = "other".into();
    assert_eq!(divergences::row_sql(&checks, &d), None);
}

#[test]
fn backfill_selection_stays_on_a_step() {
    let mut s = on(ScreenId::Backfill);
    screens::on_action(&mut s, Action::Bottom);
    assert_eq!(s.backfill.selected, 3);
    screens::on_action(&mut s, Action::Down);
    assert_eq!(s.backfill.selected, 3);
    screens::on_scroll(&mut s, -10);
    assert_eq!(s.backfill.selected, 0);
}

// ── the log ──

#[test]
fn log_lines_for_events() {
    let e = |ev: &Event| log::entry_for(ev, NOW);
    let rec = audit(7, "flag.set", json!({"to": true, "reason": "go"}), "ok");
    let a = e(&Event::Audited { record: rec }).unwrap();
    assert_eq!(a.kind, LogKind::Audit);
    assert_eq!(a.who.as_deref(), Some("bob@ops-1"));
    assert_eq!(a.text, "flag.set reason=go to=true → ok");
    let spaced = e(&Event::Audited {
        record: audit(
            9,
            "advance",
            json!({"reason": "gates green", "failing_gates": [], "note": null, "seq": 2}),
            "ok",
        ),
    })
    .unwrap();
    assert_eq!(
        spaced.text, "advance reason=\"gates green\" seq=2 → ok",
        "empties left out"
    );
    // Only confirmed divergences get a line; healed and in-flight races are counts.
    let div = |status| Event::Divergence {
        check: "orders".into(),
        key: "5".into(),
        kind: "mismatch".into(),
        columns: vec!["total".into()],
        status,
    };
    let open = e(&div(DivergenceStatus::Open)).unwrap();
    assert_eq!(
        (open.level, open.text.as_str()),
        (Level::Warn, "divergence orders key 5: mismatch [total]")
    );
    assert!(e(&div(DivergenceStatus::Healed)).is_none());
    assert!(e(&div(DivergenceStatus::InFlight)).is_none());
    assert_eq!(a.level, Level::Ok);
    assert_eq!(
        a.at_us,
        NOW - 93 * 60 * SEC,
        "an audit line keeps its own time"
    );
    let refused = e(&Event::Audited {
        record: audit(8, "advance", json!(null), "refused: gates fail"),
    })
    .unwrap();
    assert_eq!(
        (refused.level, refused.text.as_str()),
        (Level::Warn, "advance → refused: gates fail")
    );
    // Progress ticks get no line.
    assert!(
        e(&Event::Backfill {
            update: BackfillEvent::Chunk {
                step: "o".into(),
                rows: 1,
                rows_done: 1,
                chunk_ms: 1.0
            }
        })
        .is_none()
    );
    let failed = e(&Event::Backfill {
        update: BackfillEvent::StepFailed {
            step: "orders".into(),
            error: "disk full".into(),
        },
    })
    .unwrap();
    assert_eq!(
        (failed.level, failed.text.as_str()),
        (Level::Danger, "backfill orders failed: disk full")
    );
    let flag = e(&Event::FlagChanged {
        from: None,
        to: FlagValue::Percent(10),
        reason: "auto".into(),
        automatic: true,
    })
    .unwrap();
    assert_eq!(flag.text, "read flag automatically unset → 10% new — auto");
    assert_eq!(flag.level, Level::Danger);
    let err = e(&Event::Error {
        context: "reading the flag".into(),
        message: "connection refused".into(),
    })
    .unwrap();
    assert_eq!(
        (err.kind, err.level, err.at_us),
        (LogKind::Event, Level::Danger, NOW)
    );
}

#[test]
fn log_filters_scrolls_and_reads_older_rows_once() {
    let mut s = on(ScreenId::Log);
    let all = log::visible(&s).len();
    assert_eq!(
        all,
        3 + 5,
        "three audit rows from the store and five event lines"
    );
    // The status key cycles the kinds; the Filter key asks for a text.
    screens::on_action(&mut s, Action::CycleStatus);
    assert!(log::visible(&s).iter().all(|e| e.kind == LogKind::Audit));
    screens::on_action(&mut s, Action::CycleStatus);
    assert!(log::visible(&s).iter().all(|e| e.kind == LogKind::Event));
    screens::on_action(&mut s, Action::CycleStatus);
    assert!(
        log::visible(&s)
            .iter()
            .all(|e| matches!(e.level, Level::Warn | Level::Danger))
    );
    screens::on_action(&mut s, Action::CycleStatus);
    assert_eq!(log::visible(&s).len(), all);
    let asked = screens::on_action(&mut s, Action::Filter);
    assert!(matches!(
        asked.as_slice(),
        [Effect::Prompt(p)] if p.then == Then::FilterLog
    ));
    log::set_filter(&mut s, "BOB");
    assert_eq!(
        log::visible(&s).len(),
        3,
        "who matches too, case-insensitively"
    );
    log::set_filter(&mut s, "");
    // Scrolling up stops at the oldest line; End follows again.
    for _ in 0..20 {
        screens::on_action(&mut s, Action::Up);
    }
    assert_eq!(s.log_view.scroll, all - 1);
    screens::on_action(&mut s, Action::Bottom);
    assert_eq!(s.log_view.scroll, 0);
    // The first page was short: nothing older is asked for.
    assert!(load::due(&s).is_empty());
    // A row the session already logged (as an Audited event) is not shown twice.
    let rec = audit(50, "backfill.resume", json!({}), "ok");
    let mut cold = AppState::new(snapshot(), Keymap::default(), NOW);
    cold.screen = ScreenId::Log;
    cold.apply_event(&Event::Audited {
        record: rec.clone(),
    });
    assert_eq!(
        load::due(&cold),
        vec![Request::AuditPage { before_id: None }]
    );
    log::apply_audit(
        &mut cold,
        None,
        Ok(vec![rec, audit(49, "advance", json!({}), "ok")]),
    );
    assert_eq!(log::visible(&cold).len(), 2);
    assert!(load::due(&cold).is_empty());
}

#[test]
fn log_asks_for_older_pages_at_the_top() {
    let mut s = AppState::new(snapshot(), Keymap::default(), NOW);
    s.screen = ScreenId::Log;
    let page: Vec<AuditRecord> = (0..load::AUDIT_PAGE as i64)
        .map(|i| audit(1_000 - i, "flag.set", json!({ "i": i }), "ok"))
        .collect();
    log::apply_audit(&mut s, None, Ok(page));
    assert!(s.log_view.more_older);
    screens::on_action(&mut s, Action::Top);
    let before = Some(1_000 - load::AUDIT_PAGE as i64 + 1);
    assert_eq!(
        load::due(&s),
        vec![Request::AuditPage { before_id: before }]
    );
    log::apply_audit(
        &mut s,
        before,
        Ok(vec![audit(5, "advance", json!({}), "ok")]),
    );
    assert_eq!(s.log_view.older.len(), load::AUDIT_PAGE + 1);
    assert_eq!(
        s.log_view.older[0].text, "advance → ok",
        "older rows go first"
    );
    assert!(!s.log_view.more_older);
    assert!(load::due(&s).is_empty());
}

#[test]
fn units_read_well() {
    assert_eq!(widgets::units::count(1_234_567), "1,234,567");
    assert_eq!(widgets::units::secs(3_700.0), "1h 01m");
}

// ── the loader on a real store ──

#[tokio::test]
async fn loader_pages_through_a_real_store() {
    for tdb in common::all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        // 130 divergences over two checks; every tenth of `orders` acknowledged.
        for k in 0..130_i64 {
            let check = if k < 100 { "orders" } else { "line_items" };
            let mut d = divergence(check, k, DivergenceStatus::Open);
            d.key_text = format!("{k:04}");
            if k == 42 {
                d.columns = vec!["customer_id".into(), "Total".into()];
            }
            store.record_divergence(&d).await.unwrap();
        }
        for k in (0..100).step_by(10) {
            let key = format!("{k:04}");
            assert!(
                store
                    .acknowledge_divergence("orders", &key, "known", &operator())
                    .await
                    .unwrap()
            );
        }
        // Page through everything the way the screen does: cursors from the last row.
        let mut s = AppState::new(snapshot(), Keymap::default(), NOW);
        s.screen = ScreenId::Divergences;
        let mut seen = Vec::new();
        loop {
            let want = s.divergences.query();
            let loaded = load::run(store.clone(), Request::Divergences(want)).await;
            load::apply(&mut s, loaded);
            assert_eq!(s.divergences.error, None, "{kind:?}");
            assert!(s.divergences.rows.len() <= DIVERGENCE_PAGE);
            seen.extend(
                s.divergences
                    .rows
                    .iter()
                    .map(|r| (r.check.clone(), r.key_text.clone())),
            );
            if !s.divergences.more {
                break;
            }
            screens::on_action(&mut s, Action::PageDown);
        }
        assert_eq!(seen.len(), 130, "{kind:?}");
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, seen, "{kind:?}: in key order, no row twice");
        // The status filter, in the database.
        screens::on_action(&mut s, Action::CycleStatus); // open
        screens::on_action(&mut s, Action::CycleStatus); // in_flight
        screens::on_action(&mut s, Action::CycleStatus); // healed
        screens::on_action(&mut s, Action::CycleStatus); // acknowledged
        let loaded = load::run(store.clone(), Request::Divergences(s.divergences.query())).await;
        load::apply(&mut s, loaded);
        assert_eq!(s.divergences.rows.len(), 10, "{kind:?}");
        assert!(
            s.divergences
                .rows
                .iter()
                .all(|r| r.note.as_deref() == Some("known"))
        );
        // The text filter matches keys and columns, case-insensitively.
        screens::on_action(&mut s, Action::CycleStatus); // all
        divergences::set_filter(&mut s, "012");
        let loaded = load::run(store.clone(), Request::Divergences(s.divergences.query())).await;
        load::apply(&mut s, loaded);
        let keys: Vec<&str> = s
            .divergences
            .rows
            .iter()
            .map(|r| r.key_text.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "0120", "0121", "0122", "0123", "0124", "0125", "0126", "0127", "0128", "0129",
                "0012"
            ],
            "{kind:?}"
        );
        divergences::set_filter(&mut s, "TOTAL");
        let loaded = load::run(store.clone(), Request::Divergences(s.divergences.query())).await;
        load::apply(&mut s, loaded);
        let keys: Vec<&str> = s
            .divergences
            .rows
            .iter()
            .map(|r| r.key_text.as_str())
            .collect();
        assert_eq!(keys, ["0042"], "{kind:?}");
        // Counts.
        match load::run(store.clone(), Request::DivergenceCounts).await {
            Loaded::DivergenceCounts(Ok(mut c)) => {
                c.sort_by_key(|x| x.0.as_str());
                assert_eq!(
                    c,
                    [
                        (DivergenceStatus::Acknowledged, 10),
                        (DivergenceStatus::Open, 120)
                    ],
                    "{kind:?}"
                );
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        // The audit log: the acknowledgements, newest first, then older pages.
        s.screen = ScreenId::Log;
        assert_eq!(load::due(&s), vec![Request::AuditPage { before_id: None }]);
        let loaded = load::run(store.clone(), Request::AuditPage { before_id: None }).await;
        load::apply(&mut s, loaded);
        let lines = log::visible(&s);
        assert_eq!(lines.len(), 10, "{kind:?}");
        assert!(
            lines
                .iter()
                .all(|l| l.who.as_deref() == Some("alice@laptop"))
        );
        assert!(
            lines[0].text.starts_with("divergence.acknowledge"),
            "{:?}",
            lines[0]
        );
        // Metrics: an hour back, decoded into series and histograms.
        let mut rows = metric_rows("p");
        for r in &mut rows {
            r.at_us = 0;
        }
        store.record_metrics(&rows[..2]).await.unwrap();
        let since = store.now_us().await.unwrap() - load::METRICS_SPAN_US;
        match load::run(store.clone(), Request::Metrics { since_us: since }).await {
            Loaded::Metrics { paths: Ok(p), .. } => {
                let h = &p["p"];
                assert_eq!((h.old_p95.len(), h.new_p95.len()), (1, 1), "{kind:?}");
                assert_eq!(h.old_hist.iter().sum::<u64>(), 200, "{kind:?}");
                assert_eq!(h.new_hist.iter().sum::<u64>(), 200, "{kind:?}");
                assert_eq!((h.old_errors, h.new_errors), (1, 1));
                // 2 ms + up to 5.85 ms: the 2–5 ms and 5–10 ms buckets.
                assert_eq!(h.old_hist[2] + h.old_hist[3], 200, "{:?}", h.old_hist);
            }
            other => panic!("{kind:?}: {other:?}"),
        }
    }
}

#[test]
fn log_entries_keep_their_shape() {
    // The struct the app pushes: built by entry_for, read by the Overview's latest events.
    let e = LogEntry {
        at_us: NOW,
        who: None,
        kind: LogKind::Event,
        level: Level::Info,
        text: "x".into(),
    };
    let mut s = AppState::new(snapshot(), Keymap::default(), NOW);
    s.push_log(e.clone());
    assert_eq!(log::visible(&s), vec![&e]);
}

#[test]
fn a_short_backfill_screen_still_says_why_a_step_holds() {
    let s = on(ScreenId::Backfill);
    let text = draw(&s, 80, 18);
    assert!(text.contains("⏸ throttled by replica_lag > 5s"), "{text}");
    assert!(text.contains("✗ duplicate key value"), "{text}");
    assert!(
        text.contains("rows per second"),
        "the chart keeps some room: {text}"
    );
}

#[test]
fn the_drill_down_follows_up_and_down() {
    let mut s = on(ScreenId::Divergences);
    screens::on_action(&mut s, Action::Open);
    screens::on_action(&mut s, Action::Down);
    assert!(s.divergences.detail);
    assert_eq!(s.divergences.selected_row().unwrap().key_text, "2");
    let text = draw(&s, 80, 24);
    assert!(text.contains("orders key 2"), "{text}");
}

#[test]
fn latency_history_is_read_again_every_ten_seconds_not_more() {
    let mut s = AppState::new(snapshot(), Keymap::default(), NOW);
    s.screen = ScreenId::Latency;
    let first = load::due(&s);
    assert!(matches!(&first[..], [Request::Metrics { .. }]));
    // Asked again a second later while the first read is in flight: the same request.
    s.now_us += SEC;
    assert_eq!(load::due(&s), first);
    latency::apply_metrics(&mut s, 0, Ok(Default::default()));
    assert!(load::due(&s).is_empty());
    s.now_us += 10 * SEC;
    assert_eq!(load::due(&s).len(), 1);
    // A failed read is shown, and tried again on the same schedule.
    latency::apply_metrics(&mut s, 0, Err("timeout".into()));
    assert!(draw(&s, 160, 48).contains("the latency history could not be read: timeout"));
    assert!(load::due(&s).is_empty());
}

#[test]
fn a_missing_row_says_so_in_the_drill_down() {
    let mut s = on(ScreenId::Divergences);
    let mut d = divergence("orders", 77, DivergenceStatus::Open);
    d.kind = "missing_in_new".into();
    d.columns.clear();
    (d.new_raw, d.new_norm) = (None, None);
    give(&mut s, Ok(vec![d]));
    screens::on_action(&mut s, Action::Open);
    let text = draw(&s, 80, 24);
    assert!(
        text.contains("missing new") && text.contains("(no row)"),
        "{text}"
    );
    assert!(!text.contains("(no column)"), "{text}");
}
