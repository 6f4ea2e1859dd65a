//! Runs the real `migtui` binary, one command at a time, as an operator's script would: each
//! command may get faults at random, seeded moments while it runs (`SIGKILL` of the process
//! itself, or a server-side fault from `faults.rs`), and a command that did not succeed is run
//! again, which must resume from where the state store says.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use tokio::io::AsyncReadExt;

use super::cluster::Cluster;
use super::faults::{self, Injected, Kind};

/// One run of one command.
#[derive(Debug, Clone)]
pub struct Run {
    pub args: String,
    pub pid: u32,
    pub code: Option<i32>,
    pub killed: bool,
    /// It held the operator lease when it was killed (so it never released it).
    pub held_lease: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn ok(&self) -> bool {
        !self.killed && self.code == Some(0)
    }
}

pub struct Driver<'a> {
    pub cluster: &'a Cluster,
    bin: PathBuf,
    config: PathBuf,
    env: Vec<(String, String)>,
    rng: fastrand::Rng,
    /// The chance that a command gets faults at all.
    fault_rate: f64,
    pub deadline: Instant,
    /// Where the playbook is, for the failure message.
    pub step: String,
    pub faults: Vec<Injected>,
    pub runs: Vec<Run>,
}

impl<'a> Driver<'a> {
    pub fn new(
        cluster: &'a Cluster,
        seed: u64,
        config: PathBuf,
        fault_rate: f64,
        deadline: Instant,
    ) -> Self {
        Driver {
            cluster,
            bin: PathBuf::from(env!("CARGO_BIN_EXE_migtui")),
            config,
            env: vec![
                ("CHAOS_OLD_URL".into(), cluster.url("chaos_old")),
                ("CHAOS_NEW_URL".into(), cluster.url("chaos_new")),
                ("NO_COLOR".into(), "1".into()),
            ],
            rng: fastrand::Rng::with_seed(seed),
            fault_rate,
            deadline,
            step: "start".into(),
            faults: Vec::new(),
            runs: Vec::new(),
        }
    }

    /// The migration file.
    pub fn config(&self) -> &std::path::Path {
        &self.config
    }

    /// The environment every command gets (database URLs, `NO_COLOR`).
    pub fn env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }

    fn check_deadline(&self) -> Result<(), String> {
        if Instant::now() > self.deadline {
            return Err(format!("deadline passed at step `{}`", self.step));
        }
        Ok(())
    }

    /// Run `args` (the subcommand first) until it exits with one of `ok` codes, unkilled.
    /// `horizon` is how long the command usually takes: faults land within it.
    pub async fn until(
        &mut self,
        args: &[&str],
        ok: &[i32],
        horizon: Duration,
    ) -> Result<Run, String> {
        for attempt in 0..60 {
            self.check_deadline()?;
            let run = self.once(args, horizon).await?;
            if !run.killed && run.code.is_some_and(|c| ok.contains(&c)) {
                return Ok(run);
            }
            // Exit 5: the lease of a killed process has not expired yet (ttl 2 s).
            let pause = if run.code == Some(5) {
                1000
            } else {
                200 + 100 * attempt.min(10)
            };
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        let last = self.runs.last().cloned();
        Err(format!(
            "`migtui {}` never succeeded in 60 attempts; last: {:?}",
            args.join(" "),
            last.map(|r| (r.code, r.stdout, r.stderr))
        ))
    }

    /// One run of `args`, with the faults the seed picks for it.
    pub async fn once(&mut self, args: &[&str], horizon: Duration) -> Result<Run, String> {
        let mut all: Vec<String> = vec![args[0].to_string(), "-c".into()];
        all.push(self.config.display().to_string());
        all.extend(args[1..].iter().map(|s| s.to_string()));
        let mut child = tokio::process::Command::new(&self.bin)
            .args(&all)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start migtui: {e}"))?;
        let pid = child.id().unwrap_or(0);
        let out = read_all(child.stdout.take());
        let err = read_all(child.stderr.take());
        let mut plan = self.plan(horizon);
        let text = args.join(" ");
        let t0 = Instant::now();
        let mut killed = false;
        let mut held_lease = false;
        let status = loop {
            let next = plan.first().copied();
            let wait = next.map_or(Duration::from_secs(3600), |(at, _)| {
                at.saturating_sub(t0.elapsed())
            });
            tokio::select! {
                s = child.wait() => break s.map_err(|e| e.to_string())?,
                _ = tokio::time::sleep(wait), if next.is_some() => {
                    let (_, kind) = plan.remove(0);
                    if kind == Kind::Kill {
                        let _ = child.start_kill();
                        let s = child.wait().await.map_err(|e| e.to_string())?;
                        killed = true;
                        held_lease = self.lease_pid().await == Some(i64::from(pid));
                        self.faults.push(Injected {
                            kind,
                            during: text.clone(),
                            landed: true,
                            detail: format!("pid {pid}, lease held: {held_lease}"),
                        });
                        break s;
                    }
                    self.server_fault(kind, &text).await;
                }
            }
        };
        let run = Run {
            args: text,
            pid,
            code: if killed { None } else { status.code() },
            killed,
            held_lease,
            stdout: out.await.unwrap_or_default(),
            stderr: err.await.unwrap_or_default(),
        };
        self.runs.push(run.clone());
        Ok(run)
    }

    /// The faults for one command: none, or a few at seeded moments within `horizon`.
    fn plan(&mut self, horizon: Duration) -> Vec<(Duration, Kind)> {
        if self.rng.f64() >= self.fault_rate {
            return Vec::new();
        }
        let n = 1 + self
            .rng
            .usize(..(horizon.as_secs() as usize / 2).clamp(1, 5));
        let ms = horizon.as_millis().max(200) as u64;
        let mut v: Vec<(Duration, Kind)> = (0..n)
            .map(|_| {
                let at = Duration::from_millis(self.rng.u64(30..ms));
                (at, Kind::ALL[self.rng.usize(..Kind::ALL.len())])
            })
            .collect();
        v.sort();
        v
    }

    async fn server_fault(&mut self, kind: Kind, during: &str) {
        let r = match kind {
            Kind::Terminate => faults::terminate(self.cluster).await,
            Kind::Cancel => faults::cancel(self.cluster).await,
            Kind::Restart => self
                .cluster
                .restart()
                .await
                .map(|_| (true, "restarted".into())),
            Kind::LockFull => {
                let hold = Duration::from_millis(self.rng.u64(1000..3000));
                faults::fill_lock_table(self.cluster, hold).await
            }
            Kind::Kill => Ok((false, String::new())),
        };
        let (landed, detail) = r.unwrap_or_else(|e| (false, format!("not injected: {e}")));
        self.faults.push(Injected {
            kind,
            during: during.to_string(),
            landed,
            detail,
        });
    }

    /// The pid recorded in the lease row, read by the harness itself (with retries: the server
    /// may be restarting).
    async fn lease_pid(&self) -> Option<i64> {
        // A killed client's last statement (a lease insert, say) may still be committing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..50 {
            if let Ok(mut c) = PgConnection::connect(&self.cluster.url("chaos_new")).await {
                let r: Result<Option<i64>, _> =
                    sqlx::query_scalar("SELECT holder_pid FROM migtui_lease")
                        .fetch_optional(&mut c)
                        .await;
                let _ = c.close().await;
                match r {
                    Ok(pid) => return pid,
                    Err(e) if e.to_string().contains("does not exist") => return None,
                    Err(_) => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }
}

fn read_all<R: tokio::io::AsyncRead + Unpin + Send + 'static>(
    r: Option<R>,
) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut s = Vec::new();
        if let Some(mut r) = r {
            let _ = r.read_to_end(&mut s).await;
        }
        String::from_utf8_lossy(&s).into_owned()
    })
}
