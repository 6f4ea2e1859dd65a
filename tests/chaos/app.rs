//! The simulated application: creates and updates accounts at a steady pace, writing the old
//! model only, then both (old first, then new through an outbox), then the new one only, as
//! the playbook says. It is correct under faults by construction: every write is an upsert
//! guarded by the row's version, retried until it lands, so whatever differs at the end is
//! migtui's doing. It keeps the truth (every row as it last wrote it) for the final compare.

use std::collections::{BTreeMap, VecDeque};
use std::str::FromStr;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;

/// Which models the application writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writes {
    OldOnly,
    Dual,
    NewOnly,
}

/// A row as the harness expects it: `(org, status, ver)` by id.
pub type Truth = BTreeMap<i64, (i64, String, i64)>;

pub const STATUSES: [&str; 5] = ["open", "acknowledged", "resolved", "closed", "reopened"];

/// What the application did, and what each model must hold.
#[derive(Debug, Default)]
pub struct AppOutcome {
    /// Every row as last written: what the new model must equal.
    pub truth: Truth,
    /// Every row as last written to the old model.
    pub old_truth: Truth,
    pub creates: u64,
    pub updates: u64,
    /// Writes that failed (server restarted, lock table full, …) and were tried again.
    pub retried_writes: u64,
    pub max_outbox: usize,
}

pub struct App {
    mode: watch::Sender<Writes>,
    seen: watch::Receiver<Writes>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<AppOutcome, String>>,
}

#[derive(Debug, Clone)]
struct Op {
    id: i64,
    org: i64,
    status: String,
    ver: i64,
}

const UPSERT: &str = "INSERT INTO accounts (id, org, status, ver, updated_at) \
     VALUES ($1, $2, $3, $4, now()) ON CONFLICT (id) DO UPDATE SET org = excluded.org, \
     status = excluded.status, ver = excluded.ver, updated_at = excluded.updated_at \
     WHERE accounts.ver < excluded.ver";

async fn pool(url: &str) -> Result<PgPool, String> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| e.to_string())?
        .application_name("chaos-app");
    Ok(PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(opts))
}

async fn write(pool: &PgPool, op: &Op) -> Result<(), sqlx::Error> {
    sqlx::query(UPSERT)
        .bind(op.id)
        .bind(op.org)
        .bind(&op.status)
        .bind(op.ver)
        .execute(pool)
        .await
        .map(|_| ())
}

impl App {
    /// Start writing the old model only, on top of the rows in `seeded`.
    pub async fn start(
        old_url: &str,
        new_url: &str,
        seeded: Truth,
        seed: u64,
        pace: Duration,
        deadline: Instant,
    ) -> Result<App, String> {
        let (old, new) = (pool(old_url).await?, pool(new_url).await?);
        let (mode, mode_rx) = watch::channel(Writes::OldOnly);
        let (seen_tx, seen) = watch::channel(Writes::OldOnly);
        let (stop, stop_rx) = watch::channel(false);
        let state = Loop {
            old,
            new,
            rng: fastrand::Rng::with_seed(seed ^ 0xA11CE),
            out: AppOutcome {
                old_truth: seeded.clone(),
                truth: seeded,
                ..Default::default()
            },
            outbox: VecDeque::new(),
            deadline,
        };
        let task = tokio::spawn(state.run(mode_rx, seen_tx, stop_rx, pace));
        Ok(App {
            mode,
            seen,
            stop,
            task,
        })
    }

    /// Switch what the application writes, and wait until every write from now on does so.
    pub async fn set(&mut self, writes: Writes) -> Result<(), String> {
        self.mode.send_replace(writes);
        tokio::time::timeout(
            Duration::from_secs(60),
            self.seen.wait_for(|w| *w == writes),
        )
        .await
        .map_err(|_| format!("the application did not switch to {writes:?} within 60 s"))?
        .map_err(|_| "the application stopped".to_string())?;
        Ok(())
    }

    /// Stop, deliver every pending new-model write, and return what it did.
    pub async fn stop(self) -> Result<AppOutcome, String> {
        self.stop.send_replace(true);
        self.task
            .await
            .map_err(|e| format!("the application panicked: {e}"))?
    }
}

struct Loop {
    old: PgPool,
    new: PgPool,
    rng: fastrand::Rng,
    out: AppOutcome,
    outbox: VecDeque<Op>,
    deadline: Instant,
}

impl Loop {
    async fn run(
        mut self,
        mode: watch::Receiver<Writes>,
        seen: watch::Sender<Writes>,
        stop: watch::Receiver<bool>,
        pace: Duration,
    ) -> Result<AppOutcome, String> {
        loop {
            if *stop.borrow() {
                while !self.outbox.is_empty() {
                    self.drain().await?;
                }
                self.old.close().await;
                self.new.close().await;
                return Ok(self.out);
            }
            // Read once per operation: the whole operation follows the mode it started in.
            let writes = *mode.borrow();
            seen.send_replace(writes);
            let op = self.next_op();
            if writes != Writes::NewOnly {
                self.until_written(true, &op).await?;
                self.out
                    .old_truth
                    .insert(op.id, (op.org, op.status.clone(), op.ver));
            }
            if writes != Writes::OldOnly {
                self.outbox.push_back(op.clone());
                self.out.max_outbox = self.out.max_outbox.max(self.outbox.len());
                let _ = self.try_drain().await;
            }
            self.out.truth.insert(op.id, (op.org, op.status, op.ver));
            tokio::time::sleep(pace).await;
        }
    }

    fn next_op(&mut self) -> Op {
        let create = self.out.truth.is_empty() || self.rng.u32(0..5) == 0;
        if create {
            self.out.creates += 1;
            let id = self.out.truth.keys().next_back().map_or(1, |k| k + 1);
            return Op {
                id,
                org: self.rng.i64(1..=20),
                status: STATUSES[0].to_string(),
                ver: 1,
            };
        }
        self.out.updates += 1;
        let max = *self.out.truth.keys().next_back().unwrap_or(&1);
        let pick = self.rng.i64(1..=max);
        let (&id, (org, _, ver)) = self
            .out
            .truth
            .range(pick..)
            .next()
            .or_else(|| self.out.truth.iter().next())
            .expect("the truth is not empty here");
        Op {
            id,
            org: *org,
            status: STATUSES[self.rng.usize(..STATUSES.len())].to_string(),
            ver: ver + 1,
        }
    }

    /// Write `op` to one model, trying again until it lands (or the seed's deadline).
    async fn until_written(&mut self, old: bool, op: &Op) -> Result<(), String> {
        loop {
            let pool = if old { &self.old } else { &self.new };
            match write(pool, op).await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > self.deadline => {
                    return Err(format!("the application could not write {op:?}: {e}"));
                }
                Err(_) => {
                    self.out.retried_writes += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Deliver the outbox in order; stop at the first failure (the next operation tries again).
    async fn try_drain(&mut self) -> Result<(), sqlx::Error> {
        while let Some(op) = self.outbox.front() {
            write(&self.new, op).await?;
            self.outbox.pop_front();
        }
        Ok(())
    }

    async fn drain(&mut self) -> Result<(), String> {
        if let Err(e) = self.try_drain().await {
            if Instant::now() > self.deadline {
                return Err(format!("the application could not empty its outbox: {e}"));
            }
            self.out.retried_writes += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
