//! `cargo bench --bench backfill`: migtui's backfill against the physical limits, on the same
//! machine in one run, printed as ratios (the machines are shared and noisy).
//!
//! Data: ../shared/bench/incidents-pg.sql (1M rows by default; MIGTUI_BENCH_ROWS to change).
//! - PostgreSQL → PostgreSQL across two databases vs a `COPY … TO STDOUT | COPY … FROM STDIN`
//!   pipe between the same two (the bar: ≥ 0.7×);
//! - pushdown in one database vs one `INSERT … SELECT` of the whole table with the status
//!   lookup (≥ 0.9×);
//! - MariaDB → PostgreSQL vs pgloader (../shared/bench/pgloader-incidents.load, pointed at this
//!   run's databases), when pgloader is installed (≥ 1.0×); skipped with a message otherwise.
//!   The rows reach MariaDB (database `migtui_bench_mdb`) by `LOAD DATA LOCAL INFILE`.
//!
//! Each pair runs `MIGTUI_BENCH_ROUNDS` times (default 2), peer then migtui, each on a fresh
//! target; `MIGTUI_BENCH_PAIRS` (default `copy,pushdown,mariadb`) picks pairs. The load average
//! is printed before and after (the machines are shared), resident memory (VmHWM) of this
//! process, which runs migtui in process, last. The bench databases are dropped at the end.

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

fn mysql(db: &str, sql: &str) {
    let ok = Command::new("mysql")
        .args(["-h", "127.0.0.1", "-u", "root", "--local-infile=1"])
        .args((!db.is_empty()).then_some(db))
        .args(["-e", sql])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "mysql {db} -e {sql:?} failed");
}

fn shell(script: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(script)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{script} failed");
}

/// The same rows in MariaDB (../shared/bench/README.md): exported from PostgreSQL as COPY text,
/// loaded with `LOAD DATA LOCAL INFILE` into `datetime(6)` and `json` columns.
fn load_mariadb(src_pg: &str, db: &str) {
    mysql("", &format!("DROP DATABASE IF EXISTS {db}"));
    mysql("", &format!("CREATE DATABASE {db} CHARACTER SET utf8mb4"));
    mysql(
        db,
        "CREATE TABLE incidents (id bigint NOT NULL PRIMARY KEY, organisation_id bigint NOT NULL, \
         status varchar(32) NOT NULL, title text NOT NULL, severity int NOT NULL, \
         created_at datetime(6) NOT NULL, updated_at datetime(6) NOT NULL, payload json NOT NULL)",
    );
    shell(&format!(
        "psql -X -q -h 127.0.0.1 -U postgres -d {src_pg} -c \"COPY (SELECT id, organisation_id, status, title, \
         severity, to_char(created_at AT TIME ZONE 'UTC','YYYY-MM-DD HH24:MI:SS.US'), \
         to_char(updated_at AT TIME ZONE 'UTC','YYYY-MM-DD HH24:MI:SS.US'), payload::text FROM incidents \
         ORDER BY id) TO STDOUT\" | mysql -h 127.0.0.1 -u root --local-infile=1 {db} -e \
         \"LOAD DATA LOCAL INFILE '/dev/stdin' INTO TABLE incidents\""
    ));
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: u64 = std::env::var("MIGTUI_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: u32 = std::env::var("MIGTUI_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let pairs =
        std::env::var("MIGTUI_BENCH_PAIRS").unwrap_or_else(|_| "copy,pushdown,mariadb".into());
    let (src, dst) = ("migtui_bench_src", "migtui_bench_dst");
    for db in [src, dst] {
        sql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
        sql("postgres", &format!("CREATE DATABASE {db}"));
    }
    let load = Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    println!("load before: {}", load.unwrap_or_default());
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
    let like = "DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (LIKE incidents INCLUDING ALL)";
    let fresh = |db: &str, t: &str| psql(db, &["-c", &like.replace("{t}", t)]);
    for round in 1..=rounds {
        println!("round {round} of {rounds}");
        if pairs.contains("copy") {
            // 1. Across two databases: COPY pipe vs migtui (an empty target each time).
            fresh(dst, "copy_peer");
            fresh(dst, "copy_ours");
            let peer = timed(|| {
                shell(&format!(
                    "psql -X -h 127.0.0.1 -U postgres -d {src} -c \"COPY incidents TO STDOUT (FORMAT binary)\" | \
                     psql -X -h 127.0.0.1 -U postgres -d {dst} -c \"COPY copy_peer FROM STDIN (FORMAT binary)\""
                ))
            });
            let ours = backfill(config(
                &format!("bench-copy-{round}"),
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
        }

        if pairs.contains("pushdown") {
            // 2. Pushdown in one database: one INSERT … SELECT vs migtui's chunks, both joining
            // the status lookup.
            for t in ["new_peer", "new_ours"] {
                psql(
                    src,
                    &[
                        "-v",
                        &format!("tbl={t}"),
                        "-f",
                        &format!("{SHARED}/incidents-target-pg.sql"),
                    ],
                );
            }
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
                &format!("bench-pushdown-{round}"),
                &url,
                &url,
                "[[backfill]]\nname = \"incidents\"\nfrom = { table = \"incidents\", key = \"id\" }\n\
                 to = { sql = \"\"\"INSERT INTO new_ours (id, organisation_id, incident_status_id, title, severity, \
                 created_at, updated_at, payload) SELECT :id, :organisation_id, s.id, :title, :severity, :created_at, \
                 :updated_at, :payload FROM incident_statuses s WHERE s.organisation_id = :organisation_id \
                 AND s.name = :status ON CONFLICT (id) DO NOTHING\"\"\" }\npushdown = true\n",
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
        }

        if pairs.contains("mariadb") {
            // 3. MariaDB -> PostgreSQL vs pgloader, into the same PostgreSQL database.
            if Command::new("pgloader").arg("--version").output().is_err() {
                println!(
                    "MariaDB -> PostgreSQL: skipped, pgloader is not installed (apt-get install -y pgloader)"
                );
                continue;
            }
            let mdb = "migtui_bench_mdb";
            if round == 1 {
                println!("loading the rows into MariaDB …");
                load_mariadb(src, mdb);
            }
            let load_file = std::env::temp_dir().join("migtui-bench-pgloader.load");
            // ../shared/bench/pgloader-incidents.load with this run's databases.
            let text = std::fs::read_to_string(format!("{SHARED}/pgloader-incidents.load"))
                .expect("pgloader-incidents.load")
                .replace(
                    "bench:bench@127.0.0.1:3306/oldapp",
                    &format!("root@127.0.0.1:3306/{mdb}"),
                )
                .replace("127.0.0.1:5432/newapp", &format!("127.0.0.1:5432/{dst}"))
                .replace("'oldapp'", &format!("'{mdb}'"));
            std::fs::write(&load_file, text).expect("write the pgloader load file");
            let peer = timed(|| {
                shell(&format!(
                    "pgloader --quiet {} > /tmp/migtui-bench-pgloader.log 2>&1",
                    load_file.display()
                ))
            });
            fresh(dst, "mdb_ours");
            let ours = backfill(config(
                &format!("bench-mariadb-{round}"),
                &format!("mysql://root@127.0.0.1:3306/{mdb}"),
                &format!("{PG}/{dst}"),
                "[[backfill]]\nname = \"incidents\"\nfrom = { table = \"incidents\", key = \"id\" }\n\
                 to = { table = \"mdb_ours\", key = [\"id\"], version_column = \"updated_at\" }\n",
            ))
            .await;
            report("MariaDB -> PostgreSQL", rows, ours, "pgloader", peer, 1.0);
            if round == rounds {
                mysql("", &format!("DROP DATABASE IF EXISTS {mdb}"));
            }
        }
    }
    let load = Command::new("uptime")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    println!("load after: {}", load.unwrap_or_default());
    println!(
        "resident memory (VmHWM): {:.0} MB (bar < 100 MB)",
        vm_hwm_mb()
    );
    for db in [src, dst] {
        sql("postgres", &format!("DROP DATABASE IF EXISTS {db}"));
    }
}
