//! A PostgreSQL cluster of the chaos run's own (`pg_createcluster`), so restarting it never
//! touches the shared server on 5432. Small `max_connections` and `max_locks_per_transaction`
//! make "lock table full" easy to cause. Dropped when this value is dropped, also on failure.

use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::Connection;

/// Our own cluster: `<version>/<name>` on 127.0.0.1:`port`, trust auth, user `postgres`.
pub struct Cluster {
    pub version: String,
    pub name: String,
    pub port: u16,
}

fn require_servers() -> bool {
    std::env::var("MIGTUI_REQUIRE_SERVERS").is_ok_and(|v| v == "1")
}

/// The newest PostgreSQL installed (`/usr/lib/postgresql/<version>`), if any.
fn installed_version() -> Option<String> {
    let mut versions: Vec<(u32, String)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let v = name.parse::<u32>().ok()?;
            e.path().join("bin/postgres").exists().then_some((v, name))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, n)| n)
}

/// A port nobody listens on right now.
fn free_port() -> Option<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").ok()?;
    l.local_addr().ok().map(|a| a.port())
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} exited {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl Cluster {
    /// Create and start the cluster. `None` (skip, with a message) when PostgreSQL's cluster
    /// tools are missing or fail, unless `MIGTUI_REQUIRE_SERVERS=1`, which fails instead.
    pub async fn create() -> Option<Cluster> {
        match Self::try_create().await {
            Ok(c) => Some(c),
            Err(e) if require_servers() => {
                panic!(
                    "chaos: cannot create a PostgreSQL cluster of its own (MIGTUI_REQUIRE_SERVERS=1): {e}"
                )
            }
            Err(e) => {
                eprintln!("SKIP: chaos: cannot create a PostgreSQL cluster of its own: {e}");
                None
            }
        }
    }

    async fn try_create() -> Result<Cluster, String> {
        let version = installed_version().ok_or("no PostgreSQL under /usr/lib/postgresql")?;
        let port = free_port().ok_or("no free TCP port")?;
        let name = format!("migtui_chaos_{}_{port}", std::process::id());
        run(Command::new("pg_createcluster")
            .args([&version, &name, "-p", &port.to_string(), "--start"])
            .args([
                "-o",
                "max_connections=40",
                "-o",
                "max_locks_per_transaction=16",
            ])
            // No durability needed for a throwaway cluster; keep its log quiet.
            .args(["-o", "fsync=off", "-o", "log_min_messages=fatal"])
            .args(["--", "--auth-host=trust", "--auth-local=trust"]))?;
        let cluster = Cluster {
            version,
            name,
            port,
        };
        cluster.wait_ready(Duration::from_secs(30)).await?;
        Ok(cluster)
    }

    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    /// Wait until the server accepts connections.
    pub async fn wait_ready(&self, within: Duration) -> Result<(), String> {
        let t0 = Instant::now();
        loop {
            match sqlx::PgConnection::connect(&self.url("postgres")).await {
                Ok(c) => {
                    let _ = c.close().await;
                    return Ok(());
                }
                Err(e) if t0.elapsed() > within => {
                    return Err(format!(
                        "cluster {} not ready after {within:?}: {e}",
                        self.name
                    ));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// `pg_ctlcluster … restart` (fast: every session is terminated), then wait until ready.
    pub async fn restart(&self) -> Result<(), String> {
        let (v, n) = (self.version.clone(), self.name.clone());
        tokio::task::spawn_blocking(move || {
            run(Command::new("pg_ctlcluster").args([&v, &n, "restart", "-m", "fast"]))
        })
        .await
        .map_err(|e| e.to_string())??;
        self.wait_ready(Duration::from_secs(30)).await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let r = run(Command::new("pg_dropcluster").args([&self.version, &self.name, "--stop"]));
        if let Err(e) = r {
            eprintln!("note: could not drop the chaos cluster {}: {e}", self.name);
        }
    }
}
