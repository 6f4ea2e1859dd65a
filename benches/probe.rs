//! The probe's cost, measured on PostgreSQL (127.0.0.1:5432, user postgres):
//! 1. overhead of a probe beyond its query: a probe of `SELECT 1` against a bare `SELECT 1`
//!    through the same pool (limit 100 µs);
//! 2. CPU of 200 probes per second (100 pairs/s) over 10 s, as a share of one core, from
//!    /proc/self/stat (limit 5%).
//!
//! `cargo bench --bench probe`. Prints each figure, its limit, and the ratio.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use migtui::config::{Budget, DatabaseConfig, KeySource, ReadPath};
use migtui::db::{Db, Params};
use migtui::engine::probe::{PathProbe, lock};
use migtui::secret::{SecretUrl, Secrets};

const URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const OVERHEAD_LIMIT_US: f64 = 100.0;
const CPU_LIMIT_PCT: f64 = 5.0;

fn path(per_second: f64) -> ReadPath {
    ReadPath {
        name: "select-1".into(),
        old_sql: "SELECT 1".into(),
        new_sql: "SELECT 1".into(),
        keys: KeySource::List(vec!["1".into()]),
        per_second,
        timeout_ms: 5000,
        budget: Budget::default(),
        at: Default::default(),
    }
}

fn config(per_second: f64) -> migtui::config::Config {
    let text = format!(
        "[migration]\nname = \"bench\"\n[databases.old]\nurl = \"{URL}\"\n[databases.new]\nurl = \"{URL}\"\n"
    );
    let mut c = migtui::config::parse_text(std::path::Path::new("bench.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("{e}"));
    c.paths = vec![path(per_second)];
    c
}

/// CPU seconds used by this process so far (user + system, every thread).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of stat; 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

async fn bare(db: &Db, n: usize) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        db.query("SELECT 1", &Params::new())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    t.elapsed()
}

async fn probes(
    p: &mut PathProbe,
    cfg: &migtui::config::Config,
    dbs: &BTreeMap<String, Db>,
    pairs: usize,
) -> Duration {
    let t = Instant::now();
    for _ in 0..pairs {
        assert!(p.probe_once(cfg, dbs).await);
    }
    t.elapsed()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(run());
}

async fn run() {
    let cfg = DatabaseConfig {
        name: "old".into(),
        url: SecretUrl::new(URL.to_string()),
        max_connections: 2,
        statement_timeout_ms: 30_000,
        at: Default::default(),
    };
    let db = match migtui::db::connect(&cfg, &Secrets::default()).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("SKIP: PostgreSQL not answering on 127.0.0.1:5432: {e}");
            return;
        }
    };
    let dbs = BTreeMap::from([
        ("old".to_string(), db.clone()),
        ("new".to_string(), db.clone()),
    ]);
    let config = config(100.0);
    let mut probe = PathProbe::new(&config.paths[0], &dbs, Instant::now());

    // 1. Overhead: interleaved rounds so drift hits both sides alike.
    bare(&db, 500).await;
    probes(&mut probe, &config, &dbs, 250).await;
    let (mut bare_t, mut probe_t) = (Duration::ZERO, Duration::ZERO);
    let (rounds, n) = (10, 1000);
    for _ in 0..rounds {
        bare_t += bare(&db, n).await;
        probe_t += probes(&mut probe, &config, &dbs, n / 2).await;
    }
    let queries = (rounds * n) as f64;
    let bare_us = bare_t.as_secs_f64() * 1e6 / queries;
    let probe_us = probe_t.as_secs_f64() * 1e6 / queries;
    let overhead = probe_us - bare_us;
    let self_counted = lock(&probe.state)
        .report(&config.paths[0], Instant::now())
        .overhead_us_per_probe
        .unwrap_or(0.0);
    println!(
        "probe overhead (PostgreSQL, SELECT 1, {} queries each way)",
        rounds * n
    );
    println!("  bare SELECT 1:           {bare_us:8.1} µs per query");
    println!("  probe of SELECT 1:       {probe_us:8.1} µs per probe");
    println!(
        "  overhead beyond query:   {overhead:8.1} µs   limit {OVERHEAD_LIMIT_US} µs   ratio {:.3}",
        overhead / OVERHEAD_LIMIT_US
    );
    println!(
        "  self-counted overhead:   {self_counted:8.1} µs   (what the cockpit shows)   ratio {:.3}",
        self_counted / OVERHEAD_LIMIT_US
    );

    // 2. CPU at 200 probes/s through the real scheduler, for 10 s.
    let secs = 10.0;
    let cpu0 = cpu_secs();
    let wall = Instant::now();
    let reports =
        migtui::engine::probe::probe_for(Arc::new(config), &dbs, Duration::from_secs_f64(secs))
            .await;
    let wall = wall.elapsed().as_secs_f64();
    let cpu = cpu_secs() - cpu0;
    let pct = cpu / wall * 100.0;
    let probes_run = reports.first().map_or(0, |r| r.pairs * 2);
    println!(
        "CPU at 200 probes/s ({probes_run} probes in {wall:.1} s = {:.0}/s)",
        probes_run as f64 / wall
    );
    println!(
        "  migtui process CPU:      {pct:8.2} % of one core   limit {CPU_LIMIT_PCT} %   ratio {:.3}",
        pct / CPU_LIMIT_PCT
    );
    db.close().await;
}
