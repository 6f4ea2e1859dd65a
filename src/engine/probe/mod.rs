//! Latency per read path: each `[[path]]`'s `old` and `new` query run at the path's rate with
//! keys from its source, old and new in a random order per pair (neither side always runs
//! warm), each with the path's timeout. Answers go into HDR histograms per side
//! ([`hist::Windowed`]); failures and timeouts are counted apart, never as latencies.
//!
//! Probing is rate-limited (one pair in flight per path, missed ticks are not caught up) and
//! counts its own overhead: the time a probe spends in migtui beyond its two queries.

pub mod budget;
pub mod drain;
pub mod gates;
pub mod hist;
pub mod keys;
pub mod metrics;
pub mod rollback;
pub(crate) mod task;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::config::{Config, ReadPath, Side};
use crate::db::{Db, Params};
use hist::{LONG_WINDOW, Outcome, SHORT_WINDOW, SideStats, Tally, Windowed};
use keys::KeyPool;

/// What one path has measured so far, shared between its probe loop and whoever reports.
#[derive(Debug)]
pub struct PathState {
    pub old: Windowed,
    pub new: Windowed,
    /// Probe pairs run.
    pub pairs: u64,
    /// Time spent in migtui around the queries (key draw, order, timing, recording), in ns.
    pub overhead_ns: u128,
    /// The last error of each side, as the database said it (secrets already masked).
    pub last_error: BTreeMap<Side, String>,
    pub keys: usize,
    /// Why no probe runs (no keys, a database not connected), when none does.
    pub problem: Option<String>,
}

impl PathState {
    fn side_mut(&mut self, side: Side) -> &mut Windowed {
        match side {
            Side::Old => &mut self.old,
            Side::New => &mut self.new,
        }
    }
}

/// Lock a path's state; a poisoned lock (a panic while recording) still holds valid counts.
pub fn lock(state: &Mutex<PathState>) -> MutexGuard<'_, PathState> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// One side of one window, and the new/old ratios.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowLatency {
    /// `1m`, `10m` or `session`.
    pub window: String,
    pub old: SideStats,
    pub new: SideStats,
    pub ratio_p50: Option<f64>,
    pub ratio_p95: Option<f64>,
    pub ratio_p99: Option<f64>,
}

/// One read path as the cockpit and `migtui probe --json` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathLatency {
    pub path: String,
    pub keys: usize,
    pub problem: Option<String>,
    pub last_error_old: Option<String>,
    pub last_error_new: Option<String>,
    /// `1m`, `10m`, `session`, in that order.
    pub windows: Vec<WindowLatency>,
    pub pairs: u64,
    /// Mean time a probe spends in migtui beyond its query, in microseconds.
    pub overhead_us_per_probe: Option<f64>,
    /// The budget as text, and the verdict over the last minute.
    pub budget: String,
    pub verdict: String,
    pub breached: bool,
}

fn window(name: &str, old: &Tally, new: &Tally) -> WindowLatency {
    let (o, n) = (old.stats(), new.stats());
    WindowLatency {
        window: name.into(),
        ratio_p50: budget::ratio(n.p50_ms, o.p50_ms),
        ratio_p95: budget::ratio(n.p95_ms, o.p95_ms),
        ratio_p99: budget::ratio(n.p99_ms, o.p99_ms),
        old: o,
        new: n,
    }
}

/// The budget's verdict over a window, as text, and whether it is breached.
fn verdict(path: &ReadPath, w: &WindowLatency) -> (String, bool) {
    match budget::judge(path, &w.old, &w.new) {
        budget::Verdict::TooFew(m) => (format!("not judged: {m}"), false),
        budget::Verdict::Met(m) => (format!("within budget: {m}"), false),
        budget::Verdict::Breached(b) => (b.join("; "), true),
    }
}

impl PathLatency {
    /// A path's figures read back from `migtui_metrics`: what a read-only session (which
    /// probes nothing itself) shows of the driving session's probes.
    pub fn from_history(
        path: &ReadPath,
        short: (&Tally, &Tally),
        long: (&Tally, &Tally),
    ) -> PathLatency {
        let short = window("1m", short.0, short.1);
        let (verdict, breached) = verdict(path, &short);
        PathLatency {
            path: path.name.clone(),
            keys: 0,
            problem: Some("figures from migtui_metrics: the driving session probes".into()),
            last_error_old: None,
            last_error_new: None,
            windows: vec![short, window("10m", long.0, long.1)],
            pairs: 0,
            overhead_us_per_probe: None,
            budget: budget::threshold(&path.budget),
            verdict,
            breached,
        }
    }
}

impl PathState {
    /// The figures of this path now, judged against its budget over the last minute.
    pub fn report(&self, path: &ReadPath, now: Instant) -> PathLatency {
        let short = window(
            "1m",
            &self.old.window(now, SHORT_WINDOW),
            &self.new.window(now, SHORT_WINDOW),
        );
        let (verdict, breached) = verdict(path, &short);
        let probes = self.pairs * 2;
        PathLatency {
            path: path.name.clone(),
            keys: self.keys,
            problem: self.problem.clone(),
            last_error_old: self.last_error.get(&Side::Old).cloned(),
            last_error_new: self.last_error.get(&Side::New).cloned(),
            windows: vec![
                short,
                window(
                    "10m",
                    &self.old.window(now, LONG_WINDOW),
                    &self.new.window(now, LONG_WINDOW),
                ),
                window("session", self.old.session(), self.new.session()),
            ],
            pairs: self.pairs,
            overhead_us_per_probe: (probes > 0)
                .then(|| self.overhead_ns as f64 / probes as f64 / 1000.0),
            budget: budget::threshold(&path.budget),
            verdict,
            breached,
        }
    }
}

/// The probe of one read path.
pub struct PathProbe {
    pub path: ReadPath,
    old: Option<Db>,
    new: Option<Db>,
    keys: KeyPool,
    pub state: Arc<Mutex<PathState>>,
}

impl PathProbe {
    /// A probe of `path`: its old query on database `old`, its new query on `new`.
    pub fn new(path: &ReadPath, dbs: &BTreeMap<String, Db>, epoch: Instant) -> PathProbe {
        PathProbe {
            path: path.clone(),
            old: dbs.get("old").cloned(),
            new: dbs.get("new").cloned(),
            keys: KeyPool::new(path.keys.clone()),
            state: Arc::new(Mutex::new(PathState {
                old: Windowed::new(epoch),
                new: Windowed::new(epoch),
                pairs: 0,
                overhead_ns: 0,
                last_error: BTreeMap::new(),
                keys: 0,
                problem: None,
            })),
        }
    }

    /// One probe pair: a key, old and new in a random order. `false` when no probe could run
    /// (no keys, a database not connected); `state.problem` says why.
    pub async fn probe_once(&mut self, config: &Config, dbs: &BTreeMap<String, Db>) -> bool {
        self.keys.refresh(config, dbs).await;
        let (Some(old), Some(new)) = (self.old.clone(), self.new.clone()) else {
            lock(&self.state).problem = Some("database `old` or `new` is not connected".into());
            return false;
        };
        let start = Instant::now();
        let Some(key) = self.keys.draw() else {
            let mut s = lock(&self.state);
            s.problem = Some(format!(
                "no keys: {}",
                self.keys
                    .problem
                    .as_deref()
                    .unwrap_or("the key source is empty")
            ));
            return false;
        };
        let params = Params::new().bind("key", key);
        let timeout = Duration::from_millis(self.path.timeout_ms.max(1));
        let order = if fastrand::bool() {
            [Side::Old, Side::New]
        } else {
            [Side::New, Side::Old]
        };
        let mut results = Vec::with_capacity(2);
        for side in order {
            let (db, sql) = match side {
                Side::Old => (&old, self.path.old_sql.as_str()),
                Side::New => (&new, self.path.new_sql.as_str()),
            };
            let (outcome, error, took) = run_side(db, sql, &params, timeout).await;
            results.push((side, outcome, error, took));
        }
        let queries: Duration = results.iter().map(|r| r.3).sum();
        let at = Instant::now();
        let mut s = lock(&self.state);
        for (side, outcome, error, _) in results {
            s.side_mut(side).record(at, outcome);
            if let Some(e) = error {
                s.last_error.insert(side, e);
            }
        }
        s.pairs += 1;
        s.keys = self.keys.len();
        s.problem = None;
        s.overhead_ns += Instant::now()
            .saturating_duration_since(start)
            .saturating_sub(queries)
            .as_nanos();
        true
    }

    /// Probe at the path's rate until `cancel` turns true; `enabled` is asked before each pair
    /// (the session probes only while it drives and the phase needs it). Never more than one
    /// pair in flight, and a slow pair delays the next instead of queueing a burst.
    pub async fn run(
        mut self,
        config: Arc<Config>,
        dbs: BTreeMap<String, Db>,
        mut cancel: watch::Receiver<bool>,
        enabled: impl Fn() -> bool + Send,
    ) {
        let every = Duration::from_secs_f64(1.0 / self.path.per_second.max(0.001));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.wait_for(|c| *c) => return,
                _ = tick.tick() => {}
            }
            if !enabled() {
                continue;
            }
            let before = self.timeouts();
            tokio::select! {
                _ = cancel.wait_for(|c| *c) => return,
                _ = self.probe_once(&config, &dbs) => {}
            }
            // A timed-out query may still run on the server (the client only stopped waiting):
            // wait one more timeout before the next pair, so probes never stack up slow
            // queries on a struggling database.
            if self.timeouts() > before {
                let pause = Duration::from_millis(self.path.timeout_ms.max(1));
                tokio::select! {
                    _ = cancel.wait_for(|c| *c) => return,
                    _ = tokio::time::sleep(pause) => {}
                }
                tick.reset();
            }
        }
    }
}

impl PathProbe {
    fn timeouts(&self) -> u64 {
        let s = lock(&self.state);
        s.old.session().timeouts + s.new.session().timeouts
    }
}

/// Run one side's query with its timeout: its outcome, its error text, and how long it took.
async fn run_side(
    db: &Db,
    sql: &str,
    params: &Params,
    timeout: Duration,
) -> (Outcome, Option<String>, Duration) {
    let t = Instant::now();
    let r = tokio::time::timeout(timeout, db.query(sql, params)).await;
    let took = t.elapsed();
    match r {
        Ok(Ok(_)) => (Outcome::Ok(took), None, took),
        Ok(Err(e)) => (Outcome::Error, Some(e.to_string()), took),
        Err(_) => (
            Outcome::Timeout,
            Some(format!("no answer within {} ms", timeout.as_millis())),
            took,
        ),
    }
}

/// Every path of a migration, probed for `duration`, for `migtui probe`; the figures at the end.
pub async fn probe_for(
    config: Arc<Config>,
    dbs: &BTreeMap<String, Db>,
    duration: Duration,
) -> Vec<PathLatency> {
    let epoch = Instant::now();
    let (cancel, _) = watch::channel(false);
    let probes: Vec<PathProbe> = config
        .paths
        .iter()
        .map(|p| PathProbe::new(p, dbs, epoch))
        .collect();
    let states: Vec<_> = probes
        .iter()
        .map(|p| (p.path.clone(), p.state.clone()))
        .collect();
    let tasks: Vec<_> = probes
        .into_iter()
        .map(|p| tokio::spawn(p.run(config.clone(), dbs.clone(), cancel.subscribe(), || true)))
        .collect();
    tokio::time::sleep(duration).await;
    cancel.send_replace(true);
    for t in tasks {
        let _ = t.await;
    }
    let now = Instant::now();
    states
        .iter()
        .map(|(path, s)| lock(s).report(path, now))
        .collect()
}
