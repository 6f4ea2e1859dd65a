//! `cargo bench --bench verify`: the full-table diff on 1M-row tables (PostgreSQL →
//! PostgreSQL and MariaDB → PostgreSQL, identical and with 0.1% changed / 0.01% deleted rows),
//! checked to find exactly the changed keys, timed against `reladiff` (`-k id -c '%'`) in the
//! same run; and a sampled compare of 1,000 keys on PostgreSQL.
//!
//! Needs psql and mysql clients and the servers on 127.0.0.1; builds the data with
//! `benches/verify-setup.sh` (idempotent, BENCH_ROWS to change the size). reladiff is skipped
//! with a message when it is not installed.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use migtui::config::{DatabaseConfig, FullDiffConfig, SampleConfig, VerifyCheck};
use migtui::db::{Db, Params, Value};
use migtui::engine::verify::full::{FullOptions, full_diff};
use migtui::engine::verify::sample::{Rng, random_keys};
use migtui::engine::verify::{KeySourceKind, Verifier, key_text};
use migtui::secret::{SecretUrl, Secrets};

const PG_OLD: &str = "postgres://postgres@127.0.0.1:5432/migtui_bench_old";
const PG_NEW: &str = "postgres://postgres@127.0.0.1:5432/migtui_bench_new";
const MY: &str = "mysql://root@127.0.0.1:3306/migtui_bench";

async fn connect(name: &str, url: &str) -> Db {
    let cfg = DatabaseConfig {
        name: name.into(),
        url: SecretUrl::new(url.to_string()),
        max_connections: 4,
        statement_timeout_ms: 600_000,
        at: Default::default(),
    };
    match migtui::db::connect(&cfg, &Secrets::default()).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("bench: {e}");
            std::process::exit(1)
        }
    }
}

fn check(old_table: &str, new_table: &str) -> VerifyCheck {
    VerifyCheck {
        name: "incidents".into(),
        key: vec!["id".into()],
        sample: SampleConfig {
            database: "old".into(),
            table: old_table.into(),
            per_second: 50.0,
            recent_column: None,
            unit: Default::default(),
        },
        old_database: "old".into(),
        new_database: "new".into(),
        old_sql: format!("SELECT * FROM {old_table} WHERE id IN (:keys)"),
        new_sql: format!("SELECT * FROM {new_table} WHERE id IN (:keys)"),
        normalize: Default::default(),
        redact: Vec::new(),
        recheck_after_ms: 0,
        float_tolerance: 1e-9,
        full: FullDiffConfig {
            old_table: Some(old_table.into()),
            new_table: Some(new_table.into()),
            columns: None,
            ..Default::default()
        },
        at: Default::default(),
    }
}

/// The keys the setup changed or deleted, from the data itself.
async fn expected(new: &Db) -> BTreeSet<String> {
    let sql = "SELECT id FROM generate_series(1, (SELECT max(id) FROM incidents_same)) id \
               WHERE ('x' || substr(md5('c' || id), 1, 8))::bit(32)::bigint % 1000 = 0 \
                  OR ('x' || substr(md5('d' || id), 1, 8))::bit(32)::bigint % 10000 = 0";
    let rows = new.query(sql, &Params::new()).await.unwrap_or_default();
    rows.rows.iter().map(|r| key_text(&r[..1])).collect()
}

async fn ours(
    old: &Db,
    new: &Db,
    old_table: &str,
    new_table: &str,
) -> (Duration, BTreeSet<String>) {
    let v = Verifier::new(check(old_table, new_table), old.clone(), new.clone(), None);
    let started = Instant::now();
    let opts = FullOptions {
        parallel: std::env::var("BENCH_PARALLEL")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(FullOptions::default().parallel),
        ..FullOptions::default()
    };
    let report = match full_diff(&v, &opts, &mut |_| {}).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench: full diff failed: {e}");
            std::process::exit(1)
        }
    };
    let took = started.elapsed();
    let keys = report
        .differences
        .iter()
        .map(|d| key_text(&d.key))
        .collect();
    (took, keys)
}

/// reladiff's wall time, or `None` when it is not installed.
fn reladiff(db1: &str, t1: &str, db2: &str, t2: &str) -> Option<(Duration, usize)> {
    // reladiff names PostgreSQL `postgresql://`.
    let (db1, db2) = (
        db1.replace("postgres://", "postgresql://"),
        db2.replace("postgres://", "postgresql://"),
    );
    let started = Instant::now();
    let out = Command::new("reladiff")
        .args([&db1, t1, &db2, t2, "-k", "id", "-c", "%"])
        .output()
        .ok()?;
    let took = started.elapsed();
    // reladiff exits 0 even when it fails: look for its error line too.
    if !out.status.success() || String::from_utf8_lossy(&out.stderr).contains("ERROR") {
        eprintln!(
            "bench: reladiff failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        return None;
    }
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .count();
    Some((took, lines))
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[allow(clippy::too_many_arguments)]
async fn case(
    label: &str,
    old: &Db,
    new: &Db,
    old_table: &str,
    new_table: &str,
    peer: (&str, &str, &str, &str),
    want: &BTreeSet<String>,
    bar: f64,
) -> bool {
    if std::env::var("BENCH_CASES").is_ok_and(|c| !label.contains(c.as_str())) {
        return true;
    }
    let (took, keys) = ours(old, new, old_table, new_table).await;
    let exact = &keys == want;
    print!(
        "{label:<34} migtui {:>8}  {} keys{}",
        secs(took),
        keys.len(),
        if exact { " (exact)" } else { " (WRONG)" }
    );
    if !exact {
        let extra: Vec<_> = keys.difference(want).take(5).collect();
        let missed: Vec<_> = want.difference(&keys).take(5).collect();
        print!("  extra {extra:?} missed {missed:?}");
    }
    let peer_run = std::env::var("BENCH_NO_PEER").is_err();
    let peer = if peer_run {
        reladiff(peer.0, peer.1, peer.2, peer.3)
    } else {
        None
    };
    match peer {
        Some((peer_took, lines)) => {
            let ratio = peer_took.as_secs_f64() / took.as_secs_f64();
            println!(
                "  reladiff {:>8} ({lines} lines)  ratio {ratio:.2}x (bar {bar}x){}",
                secs(peer_took),
                if ratio >= bar { "" } else { " BELOW BAR" }
            );
        }
        None => println!("  reladiff not installed: pip install 'reladiff[postgresql,mysql]'"),
    }
    exact
}

async fn sampled(old: &Db, new: &Db) {
    let v = Verifier::new(
        check("incidents", "incidents_same"),
        old.clone(),
        new.clone(),
        None,
    );
    let mut rng = Rng::new(42);
    let mut times = Vec::new();
    for _ in 0..7 {
        let keys: Vec<Vec<Value>> =
            match random_keys(old.as_ref(), "incidents", &v.check.key, 1000, &mut rng).await {
                Ok(k) => k,
                Err(e) => {
                    eprintln!("bench: sampling failed: {e}");
                    return;
                }
            };
        let started = Instant::now();
        let r = v.verify_keys(&keys, KeySourceKind::Sample).await;
        times.push(started.elapsed());
        if let Ok(r) = r {
            assert_eq!(r.open.len(), 0);
            assert_eq!(r.compared as usize, keys.len());
        }
    }
    times.sort();
    println!(
        "sampled compare, 1,000 keys, PG→PG: median {:.1} ms (bar < 50 ms; min {:.1}, max {:.1})",
        times[times.len() / 2].as_secs_f64() * 1000.0,
        times[0].as_secs_f64() * 1000.0,
        times[times.len() - 1].as_secs_f64() * 1000.0
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let setup = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/verify-setup.sh");
    let status = Command::new(setup).status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("bench: {setup} failed ({status:?}); are psql, mysql and the servers there?");
        std::process::exit(1);
    }
    let old = connect("old", PG_OLD).await;
    let new = connect("new", PG_NEW).await;
    let my = connect("old", MY).await;
    let want = expected(&new).await;
    let none = BTreeSet::new();
    println!("full diff, {} changed/deleted keys planted", want.len());
    let mut ok = true;
    ok &= case(
        "PG→PG identical",
        &old,
        &new,
        "incidents",
        "incidents_same",
        (PG_OLD, "incidents", PG_NEW, "incidents_same"),
        &none,
        1.5,
    )
    .await;
    ok &= case(
        "PG→PG changed",
        &old,
        &new,
        "incidents",
        "incidents_changed",
        (PG_OLD, "incidents", PG_NEW, "incidents_changed"),
        &want,
        3.0,
    )
    .await;
    ok &= case(
        "MariaDB→PG identical",
        &my,
        &new,
        "incidents",
        "incidents_same",
        (MY, "incidents", PG_NEW, "incidents_same_text"),
        &none,
        1.5,
    )
    .await;
    ok &= case(
        "MariaDB→PG changed",
        &my,
        &new,
        "incidents",
        "incidents_changed",
        (MY, "incidents", PG_NEW, "incidents_changed_text"),
        &want,
        3.0,
    )
    .await;
    sampled(&old, &new).await;
    if !ok {
        eprintln!("bench: a full diff did not find exactly the planted keys");
        std::process::exit(1);
    }
}
