//! The simulated application: what the team's service does while the migration runs. It
//! creates incidents and changes their statuses at a steady rate, reads every incident it
//! touches through the model the read flag names (timing its own reads), writes only the old
//! model before `dual_write`, both from then on, and only the new one from `stop_old_writes`
//! (so it never touches the column the `drop` removes). It follows the phase the way a team
//! deploys one release per phase.
//!
//! Fault injection stands for a buggy dual write: a fraction of the dual writes lose their new
//! side, or land the status from before the update (an update racing the backfill). Faults
//! are injected only on keys the backfill has passed or will never reach, so each one is a
//! lasting divergence; every fault is recorded (key and kind) and the key is never written
//! again, so the verifier's findings can be compared with the list exactly.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::fixture::{FLAG_KEY, Incident, org_statuses};
use super::values::{convert, timestamp};
use crate::db::{Db, DbError, Params, Value};
use crate::engine::phase::PhaseId;
use crate::engine::session::Snapshot;

/// How the application behaves.
#[derive(Debug, Clone)]
pub struct AppOptions {
    /// Operations per second (a fifth create incidents, the rest change a status).
    pub ops_per_second: f64,
    /// The share of dual writes that go wrong (0 turns injection off).
    pub fault_rate: f64,
    pub seed: u64,
    pub orgs: u64,
}

/// What went wrong in an injected fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The old side was written, the new side's write was lost.
    LostNewWrite,
    /// The new side got the status from before the update (an update racing the backfill).
    BackfillRace,
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    pub key: i64,
    pub kind: FaultKind,
    pub phase: PhaseId,
}

/// Which models a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Writes {
    OldOnly,
    Both,
    NewOnly,
}

fn writes_in(phase: PhaseId) -> Writes {
    match phase {
        PhaseId::Plan | PhaseId::Expand => Writes::OldOnly,
        PhaseId::DualWrite | PhaseId::Backfill | PhaseId::Shadow | PhaseId::ReadNew => Writes::Both,
        PhaseId::StopOldWrites | PhaseId::Backup | PhaseId::Drop | PhaseId::Done => Writes::NewOnly,
    }
}

/// The application's own figures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppStats {
    pub creates: u64,
    pub updates: u64,
    pub writes_old: u64,
    pub writes_new: u64,
    pub reads_old: u64,
    pub reads_new: u64,
    pub read_p95_ms_old: Option<f64>,
    pub read_p95_ms_new: Option<f64>,
    pub faults: u64,
    pub errors: u64,
    pub last_error: Option<String>,
}

#[derive(Default)]
struct Counters {
    stats: AppStats,
    lat_old: Vec<f64>,
    lat_new: Vec<f64>,
}

/// Read latencies kept per side (the newest), for the percentiles.
const LATENCIES_KEPT: usize = 2000;

fn p95(v: &[f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    Some(s[((s.len() as f64 * 0.95).ceil() as usize).clamp(1, s.len()) - 1])
}

struct Shared {
    counters: Mutex<Counters>,
    faults: Mutex<Vec<Fault>>,
    faulted: Mutex<HashSet<i64>>,
    faults_on: AtomicBool,
    next_id: AtomicI64,
}

/// The running application.
pub struct SimApp {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl SimApp {
    /// Start writing and reading on its own connections; `snapshot` tells it the phase.
    pub async fn start(
        old: Db,
        new: Db,
        snapshot: watch::Receiver<Snapshot>,
        opts: AppOptions,
    ) -> Result<SimApp, DbError> {
        let mut max = 0;
        for db in [&old, &new] {
            if db.table_info("incidents").await?.is_some() {
                let rows = db
                    .query("SELECT max(id) AS m FROM incidents", &Params::new())
                    .await?;
                if let Some(Value::Int(m)) = rows.scalar() {
                    max = max.max(*m);
                }
            }
        }
        let shared = Arc::new(Shared {
            counters: Mutex::new(Counters::default()),
            faults: Mutex::new(Vec::new()),
            faulted: Mutex::new(HashSet::new()),
            faults_on: AtomicBool::new(opts.fault_rate > 0.0),
            next_id: AtomicI64::new(max + 1),
        });
        let (stop, stop_rx) = watch::channel(false);
        let worker = Worker {
            old,
            new,
            snapshot,
            opts,
            shared: shared.clone(),
            rng: fastrand::Rng::new(),
            flag: (false, 0),
            flag_read: None,
        };
        let task = tokio::spawn(worker.run(stop_rx));
        Ok(SimApp { shared, stop, task })
    }

    /// Turn fault injection on or off (the auto run turns it off once the backfill is done:
    /// the dual-write bug is "fixed" before the divergences are repaired).
    pub fn set_faults(&self, on: bool) {
        self.shared.faults_on.store(on, Ordering::SeqCst);
    }

    /// Whether faults are being injected now.
    pub fn faults_enabled(&self) -> bool {
        self.shared.faults_on.load(Ordering::SeqCst)
    }

    /// Every fault injected so far.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared
            .faults
            .lock()
            .map(|f| f.clone())
            .unwrap_or_default()
    }

    /// The application's figures now.
    pub fn stats(&self) -> AppStats {
        let Ok(c) = self.shared.counters.lock() else {
            return AppStats::default();
        };
        let mut s = c.stats.clone();
        s.read_p95_ms_old = p95(&c.lat_old);
        s.read_p95_ms_new = p95(&c.lat_new);
        s
    }

    /// Stop after the operation in flight.
    pub async fn stop(self) {
        self.stop.send_replace(true);
        let _ = self.task.await;
    }
}

struct Worker {
    old: Db,
    new: Db,
    snapshot: watch::Receiver<Snapshot>,
    opts: AppOptions,
    shared: Arc<Shared>,
    rng: fastrand::Rng,
    /// The flag as last read: reads new, and the percentage when it is a ramp.
    flag: (bool, u8),
    flag_read: Option<Instant>,
}

/// How often the application reads the flag again (a real one caches it too).
const FLAG_TTL: Duration = Duration::from_secs(1);

const OLD_SELECT: &str = "SELECT id, organisation_id, status, title, severity, created_at, \
    updated_at, payload FROM incidents WHERE id = :id";
const NEW_SELECT: &str = "SELECT i.id, i.organisation_id, s.name AS status, i.title, \
    i.severity, i.created_at, i.updated_at, i.payload FROM incidents i \
    LEFT JOIN incident_statuses s ON s.id = i.incident_status_id WHERE i.id = :id";

impl Worker {
    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let every = Duration::from_secs_f64(1.0 / self.opts.ops_per_second.max(0.1));
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.one_op().await {
                self.count(|c| {
                    c.stats.errors += 1;
                    c.stats.last_error = Some(e.to_string());
                });
            }
        }
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        if let Ok(mut c) = self.shared.counters.lock() {
            f(&mut c);
        }
    }

    async fn one_op(&mut self) -> Result<(), DbError> {
        let (phase, settled) = {
            let s = self.snapshot.borrow();
            (s.phase, settled_fn(&s))
        };
        let writes = writes_in(phase);
        self.refresh_flag().await;
        if self.rng.u8(0..5) == 0 {
            return self.create(writes, &settled).await;
        }
        let next = self.shared.next_id.load(Ordering::SeqCst);
        let key = self.rng.i64(1..next.max(2));
        if self.is_faulted(key) {
            return Ok(());
        }
        let Some(row) = self.read(key, phase).await? else {
            return Ok(());
        };
        self.update(row, writes, &settled).await
    }

    fn is_faulted(&self, key: i64) -> bool {
        self.shared
            .faulted
            .lock()
            .map(|f| f.contains(&key))
            .unwrap_or(true)
    }

    /// Read the flag again when the cached value is older than `FLAG_TTL`.
    async fn refresh_flag(&mut self) {
        if self.flag_read.is_some_and(|t| t.elapsed() < FLAG_TTL) {
            return;
        }
        self.flag_read = Some(Instant::now());
        let sql = "SELECT value FROM feature_flags WHERE key = :k";
        if let Ok(rows) = self
            .new
            .query(sql, &Params::new().bind("k", FLAG_KEY))
            .await
        {
            let text = rows.scalar().map(Value::to_text).unwrap_or_default();
            self.flag = match text.trim() {
                "true" => (true, 100),
                "false" => (false, 0),
                n => n.parse::<u8>().map_or((false, 0), |p| (p > 0, p.min(100))),
            };
        }
    }

    /// Whether this read goes to the new model: the flag (or its ramp), and always after the
    /// old model stopped being written.
    fn read_new(&mut self, phase: PhaseId) -> bool {
        if writes_in(phase) == Writes::NewOnly {
            return true;
        }
        match self.flag {
            (false, _) => false,
            (true, p) => p >= 100 || self.rng.u8(0..100) < p,
        }
    }

    /// Load one incident through the path the flag names, timing the read.
    async fn read(&mut self, key: i64, phase: PhaseId) -> Result<Option<Incident>, DbError> {
        let on_new = self.read_new(phase);
        let (db, sql) = match on_new {
            true => (&self.new, NEW_SELECT),
            false => (&self.old, OLD_SELECT),
        };
        let started = Instant::now();
        let rows = db.query(sql, &Params::new().bind("id", key)).await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        self.count(|c| {
            let (n, lat) = match on_new {
                true => (&mut c.stats.reads_new, &mut c.lat_new),
                false => (&mut c.stats.reads_old, &mut c.lat_old),
            };
            *n += 1;
            if lat.len() >= LATENCIES_KEPT {
                lat.remove(0);
            }
            lat.push(ms);
        });
        Ok(rows.rows.first().and_then(|r| incident(r, key)))
    }

    async fn create(&mut self, writes: Writes, settled: &Settled) -> Result<(), DbError> {
        let id = self.shared.next_id.fetch_add(1, Ordering::SeqCst);
        let mut inc = Incident::generate(&mut self.rng, id, self.opts.orgs, self.opts.seed);
        inc.status = "investigating".into();
        inc.created_at = Utc::now();
        inc.updated_at = inc.created_at;
        if writes != Writes::NewOnly {
            let sql = format!(
                "INSERT INTO incidents ({}) VALUES :rows",
                super::fixture::OLD_COLUMNS
            );
            let row = inc.old_row(self.old.engine());
            self.old
                .execute(&sql, &Params::new().bind_tuples("rows", vec![row]))
                .await?;
            self.count(|c| c.stats.writes_old += 1);
        }
        self.count(|c| c.stats.creates += 1);
        if writes == Writes::OldOnly {
            return Ok(());
        }
        if writes == Writes::Both && self.inject(settled, id) {
            return self.record(id, FaultKind::LostNewWrite);
        }
        self.write_new(&inc).await
    }

    async fn update(
        &mut self,
        mut inc: Incident,
        writes: Writes,
        settled: &Settled,
    ) -> Result<(), DbError> {
        let statuses = org_statuses(self.opts.seed, inc.organisation_id);
        let choices: Vec<&str> = statuses.into_iter().filter(|s| *s != inc.status).collect();
        if choices.is_empty() {
            return Ok(());
        }
        let before = inc.status.clone();
        inc.status = choices[self.rng.usize(0..choices.len())].to_string();
        inc.updated_at = Utc::now();
        if writes != Writes::NewOnly {
            let sql = "UPDATE incidents SET status = :s, updated_at = :u WHERE id = :id";
            let p = Params::new()
                .bind("s", inc.status.as_str())
                .bind("u", timestamp(self.old.engine(), inc.updated_at))
                .bind("id", inc.id);
            self.old.execute(sql, &p).await?;
            self.count(|c| c.stats.writes_old += 1);
        }
        self.count(|c| c.stats.updates += 1);
        if writes == Writes::OldOnly {
            return Ok(());
        }
        if writes == Writes::Both && self.inject(settled, inc.id) {
            return match self.rng.bool() {
                true => self.record(inc.id, FaultKind::LostNewWrite),
                false => {
                    let mut stale = inc.clone();
                    stale.status = before;
                    self.write_new(&stale).await?;
                    self.record(inc.id, FaultKind::BackfillRace)
                }
            };
        }
        self.write_new(&inc).await
    }

    /// Whether to inject a fault on this dual write of `key`.
    fn inject(&mut self, settled: &Settled, key: i64) -> bool {
        self.shared.faults_on.load(Ordering::SeqCst)
            && self.opts.fault_rate > 0.0
            && self.rng.f64() < self.opts.fault_rate
            && settled(key)
    }

    fn record(&self, key: i64, kind: FaultKind) -> Result<(), DbError> {
        let phase = self.snapshot.borrow().phase;
        if let Ok(mut f) = self.shared.faulted.lock() {
            f.insert(key);
        }
        if let Ok(mut f) = self.shared.faults.lock() {
            f.push(Fault { key, kind, phase });
        }
        self.count(|c| c.stats.faults += 1);
        Ok(())
    }

    /// Write the incident into the new model: its status row if missing, then the incident
    /// (inserted whole when the backfill has not copied it yet).
    async fn write_new(&self, inc: &Incident) -> Result<(), DbError> {
        let e = self.new.engine();
        let mut tx = self.new.begin().await?;
        let status = Params::new()
            .bind("o", inc.organisation_id)
            .bind("s", inc.status.as_str());
        tx.execute(
            "INSERT INTO incident_statuses (organisation_id, name) VALUES (:o, :s) \
             ON CONFLICT (organisation_id, name) DO NOTHING",
            &status,
        )
        .await?;
        let p = status
            .bind("id", inc.id)
            .bind("t", inc.title.as_str())
            .bind("sev", inc.severity)
            .bind("c", timestamp(e, inc.created_at))
            .bind("u", timestamp(e, inc.updated_at))
            .bind("p", convert(Value::Json(inc.payload.clone()), e));
        tx.execute(
            "INSERT INTO incidents (id, organisation_id, incident_status_id, title, severity, \
             created_at, updated_at, payload) VALUES (:id, :o, (SELECT id FROM incident_statuses \
             WHERE organisation_id = :o AND name = :s), :t, :sev, :c, :u, :p) \
             ON CONFLICT (id) DO UPDATE SET incident_status_id = excluded.incident_status_id, \
             updated_at = excluded.updated_at",
            &p,
        )
        .await?;
        tx.commit().await?;
        self.count(|c| c.stats.writes_new += 1);
        Ok(())
    }
}

/// An incident from a row of `OLD_SELECT` or `NEW_SELECT`.
fn incident(r: &[Value], key: i64) -> Option<Incident> {
    let int = |v: &Value| match v {
        Value::Int(i) => Some(*i),
        Value::UInt(u) => i64::try_from(*u).ok(),
        _ => None,
    };
    let payload = match &r[7] {
        Value::Json(j) => j.clone(),
        Value::Text(t) => serde_json::from_str(t).ok()?,
        _ => return None,
    };
    Some(Incident {
        id: key,
        organisation_id: int(&r[1])?,
        status: match &r[2] {
            Value::Text(s) => s.clone(),
            _ => return None,
        },
        title: r[3].to_text(),
        severity: int(&r[4])?,
        created_at: super::values::instant(&r[5])?,
        updated_at: super::values::instant(&r[6])?,
        payload,
    })
}

/// Whether the backfill will never write a key again.
type Settled = Box<dyn Fn(i64) -> bool + Send + Sync>;

/// Whether the backfill will never write `key` again: it passed it, or it lies beyond the
/// high-water mark; after the backfill phase, every key.
fn settled_fn(s: &Snapshot) -> Settled {
    if s.phase > PhaseId::Backfill {
        return Box::new(|_| true);
    }
    let step = s.backfill.steps.iter().find(|p| p.step == "incidents");
    let parse = |t: Option<&String>| t.and_then(|t| key_value(t));
    let (Some(high), last) = (
        step.and_then(|p| parse(p.high_water.as_ref())),
        step.and_then(|p| parse(p.last_key.as_ref())),
    ) else {
        return Box::new(|_| false);
    };
    let last = last.unwrap_or(i64::MIN);
    Box::new(move |k| k > high || k <= last)
}

/// The integer of a backfill progress key text (`id = 12345`).
fn key_value(text: &str) -> Option<i64> {
    text.rsplit('=').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_keys_parse() {
        assert_eq!(key_value("id = 12345"), Some(12345));
        assert_eq!(key_value("7"), Some(7));
        assert_eq!(key_value("id = abc"), None);
    }

    #[test]
    fn writes_follow_the_phase() {
        assert_eq!(writes_in(PhaseId::Expand), Writes::OldOnly);
        assert_eq!(writes_in(PhaseId::DualWrite), Writes::Both);
        assert_eq!(writes_in(PhaseId::ReadNew), Writes::Both);
        assert_eq!(writes_in(PhaseId::StopOldWrites), Writes::NewOnly);
        assert_eq!(writes_in(PhaseId::Done), Writes::NewOnly);
    }

    #[test]
    fn p95_is_the_95th_value() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(&v), Some(95.0));
        assert_eq!(p95(&[]), None);
    }
}
