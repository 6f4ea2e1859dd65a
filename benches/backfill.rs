//! `cargo bench --bench backfill`: migtui's backfill against the physical limits, on the same
//! machine in one run, printed as ratios (the machines are shared and noisy).
//!
//! Data: ../shared/bench/incidents-pg.sql (1M rows by default; MIGTUI_BENCH_ROWS to change).
//! - PostgreSQL → PostgreSQL across two databases vs a `COPY … TO STDOUT | COPY … FROM STDIN`
//!   pipe between the same two (the bar: ≥ 0.7×);
//! - pushdown in one database vs one `INSERT … SELECT` of the whole table with the status
//!   lookup (≥ 0.9×);
//! - MariaDB → PostgreSQL vs pgloader, when pgloader is installed (≥ 1.0×); skipped otherwise.
//!
//! Resident memory (VmHWM) of this process, which runs migtui in process, is printed last.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use migtui::config::Config;
use migtui::db::Db;
use migtui::engine::backfill::{BackfillProgress, Controls, RunContext, run};
use tokio::sync::watch;

const PG: &str = "postgres://postgres@127.0.0.1:5432";
const SHARED: &str = "../shared/bench";

fn psql(db: &str, args: &[&str]) {
    let ok = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
        ])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "psql -d {db} {args:?} failed");
}

fn sql(db: &str, text: &str) {
    psql(db, &["-c", text]);
}

fn config(name: &str, old: &str, new: &str, body: &str) -> Config {
    let text = format!(
        "[migration]\nname = \"{name}\"\n[databases.old]\nurl = \"{old}\"\nmax_connections = 2\n\
         statement_timeout_ms = 600000\n[databases.new]\nurl = \"{new}\"\nmax_connections = 2\n\
         statement_timeout_ms = 600000\n[state]\ndatabase = \"new\"\n{body}"
    );
    migtui::config::parse_text(Path::new("bench.toml"), &text, &|_| None).expect("bench config")
}

/// Run every step of `config` in process; returns the seconds taken.
async fn backfill(config: Config) -> f64 {
    let mut dbs: BTreeMap<String, Db> = BTreeMap::new();
    for (name, d) in &config.databases {
        dbs.insert(
            name.clone(),
            migtui::db::connect(d, &config.secrets)
                .await
                .expect("connect"),
        );
    }
    let store = migtui::store::Store::open(dbs["new"].clone(), &config.migration.name)
        .await
        .expect("store");
    let (_c, controls) = watch::channel(Controls::default());
    let (_x, cancel) = watch::channel(false);
    let ctx = RunContext {
        config: Arc::new(config),
        dbs: dbs.clone(),
        store_db: store.db().clone(),
        controls,
        signals: watch::channel(Default::default()).0,
        cancel,
        progress: watch::channel(BackfillProgress::default()).0,
        events: Arc::new(|_| {}),
    };
    let t0 = Instant::now();
    run(&ctx, None).await.expect("backfill");
    let secs = t0.elapsed().as_secs_f64();
    for db in dbs.values() {
        db.close().await;
    }
    secs
}

fn timed(f: impl FnOnce()) -> f64 {
    let t0 = Instant::now();
    f();
    t0.elapsed().as_secs_f64()
}

fn vm_hwm_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|k| k.parse::<f64>().ok())
            })
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn report(what: &str, rows: u64, ours: f64, peer_name: &str, peer: f64, bar: f64) {
    let (r_ours, r_peer) = (rows as f64 / ours, rows as f64 / peer);
    let ratio = r_ours / r_peer;
    println!(
        "{what}: migtui {ours:.2} s ({r_ours:.0} rows/s) vs {peer_name} {peer:.2} s ({r_peer:.0} rows/s) \
         = {ratio:.2}x (bar {bar}x) {}",
        if ratio >= bar { "ok" } else { "BELOW THE BAR" }
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::var("MIGTUI_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (src, dst) = ("migtui_bench_src", "migtui_bench_dst");
    for db in [src, dst] {
        sql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
        sql("postgres", &format!("CREATE DATABASE {db}"));
    }
    println!("loading {rows} rows from {SHARED}/incidents-pg.sql …");
    let n = rows.to_string();
    psql(
        src,
        &[
            "-v",
            "tbl=incidents",
            "-v",
            &format!("n={n}"),
            "-f",
            &format!("{SHARED}/incidents-pg.sql"),
        ],
    );
    psql(
        dst,
        &[
            "-v",
            "tbl=incidents",
            "-v",
            "n=1",
            "-f",
            &format!("{SHARED}/incidents-pg.sql"),
        ],
    );
    let like = "CREATE TABLE {t} (LIKE incidents INCLUDING ALL)";

    // 1. Across two databases: COPY pipe vs migtui (same shape, an empty target each time).
    sql(dst, &like.replace("{t}", "copy_peer"));
    sql(dst, &like.replace("{t}", "copy_ours"));
    let peer = timed(|| {
        let ok = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "psql -X -h 127.0.0.1 -U postgres -d {src} -c \"COPY incidents TO STDOUT (FORMAT binary)\" | \
                 psql -X -h 127.0.0.1 -U postgres -d {dst} -c \"COPY copy_peer FROM STDIN (FORMAT binary)\""
            ))
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "COPY pipe failed");
    });
    let ours = backfill(config(
        "bench-copy",
        &format!("{PG}/{src}"),
        &format!("{PG}/{dst}"),
        "[[backfill]]\nname = \"incidents\"\nfrom = { table = \"incidents\", key = \"id\" }\n\
         to = { table = \"copy_ours\", key = [\"id\"], version_column = \"updated_at\" }\n",
    ))
    .await;
    report(
        "PostgreSQL -> PostgreSQL, two databases",
        rows,
        ours,
        "COPY pipe",
        peer,
        0.7,
    );

    // 2. Pushdown in one database: one INSERT … SELECT vs migtui's chunks.
    psql(
        src,
        &[
            "-v",
            "tbl=new_peer",
            "-f",
            &format!("{SHARED}/incidents-target-pg.sql"),
        ],
    );
    psql(
        src,
        &[
            "-v",
            "tbl=new_ours",
            "-f",
            &format!("{SHARED}/incidents-target-pg.sql"),
        ],
    );
    let peer = timed(|| {
        sql(
            src,
            "INSERT INTO new_peer SELECT i.id, i.organisation_id, s.id, i.title, i.severity, i.created_at, \
             i.updated_at, i.payload FROM incidents i JOIN incident_statuses s \
             ON s.organisation_id = i.organisation_id AND s.name = i.status",
        )
    });
    let url = format!("{PG}/{src}");
    let ours = backfill(config(
        "bench-pushdown",
        &url,
        &url,
        "[[backfill]]\nname = \"incidents\"\nfrom = { table = \"incidents\", key = \"id\" }\n\
         to = { table = \"new_ours\", key = [\"id\"], insert_only = true, map = { incident_status_id = \
         \"(SELECT id FROM incident_statuses WHERE organisation_id = :organisation_id AND name = :status)\" } }\n\
         pushdown = true\n",
    ))
    .await;
    report(
        "pushdown, one PostgreSQL database",
        rows,
        ours,
        "INSERT ... SELECT",
        peer,
        0.9,
    );

    // 3. MariaDB -> PostgreSQL vs pgloader.
    if Command::new("pgloader").arg("--version").output().is_err() {
        println!(
            "MariaDB -> PostgreSQL: skipped, pgloader is not installed (apt-get install -y pgloader)"
        );
    } else {
        println!("MariaDB -> PostgreSQL: pgloader found, but this pair is not automated yet");
    }
    println!(
        "resident memory (VmHWM): {:.0} MB (bar < 100 MB)",
        vm_hwm_mb()
    );
    for db in [src, dst] {
        sql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
    }
}
