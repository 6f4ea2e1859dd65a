//! The loop that runs the steps: for each chunk, wait while a pause condition holds, take
//! tokens from the bucket, read (or bound) the chunk by key, write it with its checkpoint,
//! retry transient errors with backoff, and adapt the chunk size to the target chunk time.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::config::{BackfillStep, Config, PauseCondition};
use crate::db::backfill::ChunkColumn;
use crate::db::{Db, DbError, Params, Value};
use crate::engine::signals::Signals;

use super::checkpoint::{self, Checkpoint};
use super::plan::{CopyPlan, StepPlan, bind_key, plan_step};
use super::progress::{BackfillProgress, RateMeter, StepProgress, StepState};
use super::throttle::TokenBucket;
use super::{BackfillError, BackfillEvent};

// Where pushdown and COPY chunks end.
mod bound;
// Pauses, retries and the chunk itself.
mod chunk;

/// What the operator has set live. `None` leaves a setting to the migration file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controls {
    /// Paused by the operator (or the automatic rollback), with the reason shown.
    pub paused: Option<String>,
    /// Rows-per-second ceiling: `Some(None)` removes it.
    pub rows_per_second: Option<Option<f64>>,
    /// Rows per chunk: `Some(None)` goes back to sizing by the target chunk time.
    pub chunk_rows: Option<Option<u64>>,
}

/// Everything a run needs; the session builds one, the CLI and the tests through it.
pub struct RunContext {
    pub config: Arc<Config>,
    pub dbs: BTreeMap<String, Db>,
    /// The database holding `migtui_checkpoints`.
    pub store_db: Db,
    pub controls: watch::Receiver<Controls>,
    pub signals: watch::Sender<Signals>,
    pub cancel: watch::Receiver<bool>,
    pub progress: watch::Sender<BackfillProgress>,
    pub events: Arc<dyn Fn(BackfillEvent) + Send + Sync>,
}

const MIN_CHUNK: u64 = 10;
const MAX_CHUNK: u64 = 100_000;
const FIRST_CHUNK: u64 = 5_000;
/// The largest chunk whose rows travel through migtui as values (pushdown and streamed COPY
/// chunks never do): two are held at once, one written while the next is read.
const MAX_CHUNK_THROUGH_MIGTUI: u64 = 10_000;
const MAX_ATTEMPTS: u32 = 30;
const PREPARE_ATTEMPTS: u32 = 4;
/// Exact counts up to this estimate; above it the estimate is shown as one.
const EXACT_COUNT_BELOW: u64 = 200_000;

/// Run the steps in order (or only `only`), each to completion before the next.
pub async fn run(ctx: &RunContext, only: Option<&str>) -> Result<(), BackfillError> {
    let steps: Vec<&BackfillStep> = match only {
        Some(name) => {
            let s = ctx
                .config
                .backfill
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| {
                    BackfillError::UnknownStep(
                        name.to_string(),
                        ctx.config
                            .backfill
                            .iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                    )
                })?;
            vec![s]
        }
        None => ctx.config.backfill.iter().collect(),
    };
    ctx.progress.send_modify(|p| {
        p.running = true;
        p.steps = ctx
            .config
            .backfill
            .iter()
            .map(|s| StepProgress {
                step: s.name.clone(),
                ..Default::default()
            })
            .collect();
    });
    let mut result = Ok(());
    for step in steps {
        if let Err(e) = StepRun::new(ctx, step).run().await {
            result = Err(e);
            break;
        }
    }
    ctx.progress.send_modify(|p| p.running = false);
    result
}

fn key_text(key: &[String], values: &[Value]) -> String {
    let names = key.join(", ");
    let vals = values
        .iter()
        .map(Value::display)
        .collect::<Vec<_>>()
        .join(", ");
    if key.len() == 1 {
        format!("{names} = {vals}")
    } else {
        format!("({names}) = ({vals})")
    }
}

/// The chunk's key range for error messages: `(id > 1200, up to id = 5000)`.
fn range_text(plan: &StepPlan, after: Option<&[Value]>, up_to: &[Value]) -> String {
    match after {
        Some(a) => format!(
            "after {} up to {}",
            key_text(&plan.key, a),
            key_text(&plan.key, up_to)
        ),
        None => format!("from the start up to {}", key_text(&plan.key, up_to)),
    }
}

/// A database's server-side id for the statement in flight, so a cancel reaches the server.
type InFlight = Arc<Mutex<Option<(Db, i64)>>>;

struct StepRun<'a> {
    ctx: &'a RunContext,
    step: &'a BackfillStep,
    idx: usize,
    progress: StepProgress,
    meter: RateMeter,
    bucket: TokenBucket,
    chunk: u64,
    sticky_types: BTreeMap<String, String>,
    in_flight: InFlight,
    last_lag_sample: Option<Instant>,
    /// When the last rate sample was written, and the counters then (`migtui_backfill_samples`).
    sampled: (Instant, u64, u64, u64),
    read_ahead: Option<chunk::ReadAhead>,
    bound_ahead: Option<bound::BoundAhead>,
    /// Chunks still take the fast form that fails on an existing row — COPY straight into
    /// the target table, or the insert without its ON CONFLICT clause — until one meets a row.
    fast_path: bool,
}

/// How often a step writes a rate sample for the report.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

enum ChunkOutcome {
    /// Nothing left up to the high-water mark.
    Done,
    Wrote {
        rows: u64,
        last_key: Vec<Value>,
    },
}

impl<'a> StepRun<'a> {
    fn new(ctx: &'a RunContext, step: &'a BackfillStep) -> Self {
        let idx = ctx
            .config
            .backfill
            .iter()
            .position(|s| s.name == step.name)
            .unwrap_or(0);
        StepRun {
            ctx,
            step,
            idx,
            progress: StepProgress {
                step: step.name.clone(),
                ..Default::default()
            },
            meter: RateMeter::default(),
            bucket: TokenBucket::new(step.max_rows_per_second),
            chunk: step
                .chunk_rows
                .unwrap_or(FIRST_CHUNK)
                .clamp(MIN_CHUNK, MAX_CHUNK),
            sticky_types: BTreeMap::new(),
            in_flight: Arc::new(Mutex::new(None)),
            last_lag_sample: None,
            sampled: (Instant::now(), 0, 0, 0),
            read_ahead: None,
            bound_ahead: None,
            fast_path: true,
        }
    }

    fn emit(&self, e: BackfillEvent) {
        (self.ctx.events)(e);
    }

    fn publish(&self) {
        let sp = self.progress.clone();
        let idx = self.idx;
        self.ctx.progress.send_modify(|p| {
            if let Some(slot) = p.steps.get_mut(idx) {
                *slot = sp;
            }
        });
    }

    /// Record rows, retries and throttled time since the last sample, every [`SAMPLE_EVERY`]
    /// (or now, when `force`, or when there were retries, so a later kill cannot lose them from
    /// the report). A failure to write one is not an error of the step: its counts go into the
    /// next sample instead.
    async fn sample(&mut self, force: bool) {
        let (at, rows, retries, throttled) = self.sampled;
        let elapsed = at.elapsed();
        let p = &self.progress;
        let retried = p.retries != retries;
        if (!force && !retried && elapsed < SAMPLE_EVERY) || (p.rows_done == rows && !retried) {
            return;
        }
        let delta =
            |now: u64, then: u64| i64::try_from(now.saturating_sub(then)).unwrap_or(i64::MAX);
        let sample = crate::store::BackfillSample {
            step: self.step.name.clone(),
            at_us: 0,
            interval_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            rows: delta(p.rows_done, rows),
            retries: delta(p.retries, retries),
            throttled_ms: delta(p.throttled_ms, throttled),
        };
        let now = (Instant::now(), p.rows_done, p.retries, p.throttled_ms);
        if crate::store::record_backfill_sample(&self.ctx.store_db, self.migration(), &sample)
            .await
            .is_ok()
        {
            self.sampled = now;
        }
    }

    fn cancelled(&self) -> bool {
        *self.ctx.cancel.borrow()
    }

    fn migration(&self) -> &str {
        &self.ctx.config.migration.name
    }

    /// Plan the step and find (or start) its checkpoint.
    async fn prepare(&self) -> Result<(StepPlan, Checkpoint), BackfillError> {
        let state_db = self.ctx.config.state.database.clone();
        let urls = super::plan::database_urls(&self.ctx.config);
        let plan = plan_step(self.step, &self.ctx.dbs, &state_db, &urls).await?;
        let source = self.ctx.dbs[&plan.source_db].clone();
        let store = self.ctx.store_db.clone();
        let cp = match checkpoint::load(&store, self.migration(), &plan.name).await? {
            Some(cp) => cp,
            None => {
                let hw = source
                    .query(&plan.high_water_sql(), &Params::new())
                    .await
                    .map_err(|e| BackfillError::Chunk {
                        step: plan.name.clone(),
                        range: "reading the high-water mark".into(),
                        error: e.to_string(),
                    })?
                    .rows
                    .into_iter()
                    .next();
                checkpoint::start(&store, self.migration(), &plan.name, &hw).await?
            }
        };
        if !cp.is_complete() && cp.status != "running" {
            checkpoint::finish(&store, self.migration(), &plan.name, "running", None).await?;
        }
        if !cp.is_complete() {
            let run = crate::store::BackfillRun {
                step: plan.name.clone(),
                at_us: 0,
                pid: i64::from(std::process::id()),
                resumed_after: cp.last_key.as_ref().map(|k| key_text(&plan.key, k)),
                rows_before: i64::try_from(cp.rows_done).unwrap_or(i64::MAX),
            };
            crate::store::record_backfill_run(&store, self.migration(), &run)
                .await
                .map_err(|e| BackfillError::State(e.to_string()))?;
        }
        Ok((plan, cp))
    }

    async fn run(mut self) -> Result<(), BackfillError> {
        // Planning reads schemas and the state store: a dropped connection or a server
        // restart here is retried like a chunk's (a few times; a wrong file fails after them).
        let mut attempt = 0;
        let (plan, mut cp) = loop {
            match self.prepare().await {
                Ok(x) => break x,
                Err(e) if attempt < PREPARE_ATTEMPTS && !self.cancelled() => {
                    attempt += 1;
                    self.progress.retries += 1;
                    self.emit(BackfillEvent::Retry {
                        step: self.step.name.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                    self.sleep(Duration::from_millis(300 * u64::from(attempt)))
                        .await;
                }
                Err(e) => return Err(self.fail(e).await),
            }
        };
        let source = self.ctx.dbs[&plan.source_db].clone();
        self.progress.rows_done = cp.rows_done;
        self.sampled.1 = cp.rows_done;
        self.progress.chunks = cp.chunks;
        self.progress.high_water = cp.high_water.as_ref().map(|k| key_text(&plan.key, k));
        self.progress.last_key = cp.last_key.as_ref().map(|k| key_text(&plan.key, k));
        if cp.is_complete() {
            self.progress.state = StepState::Complete;
            self.progress.total_rows = cp.rows_done;
            self.progress.total_exact = true;
            self.publish();
            return Ok(());
        }
        self.total(&plan, &source, &cp).await;
        self.progress.state = StepState::Running;
        self.publish();
        self.emit(BackfillEvent::StepStarted {
            step: plan.name.clone(),
            total_rows: self.progress.total_rows,
            total_exact: self.progress.total_exact,
            resumed_after: self.progress.last_key.clone(),
        });
        let Some(high_water) = cp.high_water.clone() else {
            return self.complete(&plan).await;
        };
        loop {
            if self.cancelled() {
                return Err(self.cancel(&plan).await);
            }
            self.wait_while_paused(&plan).await;
            if self.cancelled() {
                return Err(self.cancel(&plan).await);
            }
            let n = self.chunk_size(&plan);
            self.progress.chunk_rows = n;
            let started = Instant::now();
            let wait = self.bucket.take(n, started);
            if !wait.is_zero() {
                self.sleep(wait).await;
                self.progress.throttled_ms += wait.as_millis() as u64;
            }
            let t0 = Instant::now();
            let outcome = self
                .with_retries(&plan, cp.last_key.as_deref(), &high_water, n)
                .await;
            let outcome = match outcome {
                Ok(o) => o,
                Err(e) => return Err(self.fail(e).await),
            };
            match outcome {
                ChunkOutcome::Done => break,
                ChunkOutcome::Wrote { rows, last_key } => {
                    let chunk_secs = t0.elapsed().as_secs_f64();
                    self.meter.record(rows, started.elapsed().as_secs_f64());
                    self.progress.add_rows(rows);
                    self.progress.chunks += 1;
                    self.progress.last_chunk_ms = chunk_secs * 1000.0;
                    self.progress.rows_per_second = self.meter.rate();
                    self.progress.eta_secs = self.meter.eta(
                        self.progress
                            .total_rows
                            .saturating_sub(self.progress.rows_done),
                    );
                    self.progress.last_key = Some(key_text(&plan.key, &last_key));
                    self.adapt(rows, n, chunk_secs);
                    cp.rows_done = self.progress.rows_done;
                    cp.last_key = Some(last_key);
                    self.publish();
                    self.sample(false).await;
                    self.emit(BackfillEvent::Chunk {
                        step: plan.name.clone(),
                        rows,
                        rows_done: self.progress.rows_done,
                        chunk_ms: self.progress.last_chunk_ms,
                    });
                    if cp.last_key.as_ref() == Some(&high_water) {
                        break;
                    }
                }
            }
        }
        self.complete(&plan).await
    }

    async fn complete(&mut self, plan: &StepPlan) -> Result<(), BackfillError> {
        self.sample(true).await;
        checkpoint::finish(
            &self.ctx.store_db,
            self.migration(),
            &plan.name,
            "complete",
            None,
        )
        .await?;
        self.progress.state = StepState::Complete;
        self.progress.total_rows = self.progress.rows_done;
        self.progress.total_exact = true;
        self.progress.eta_secs = Some((0.0, 0.0));
        self.progress.paused_by.clear();
        self.publish();
        self.emit(BackfillEvent::StepComplete {
            step: plan.name.clone(),
            rows_done: self.progress.rows_done,
        });
        Ok(())
    }

    async fn fail(&mut self, e: BackfillError) -> BackfillError {
        self.sample(true).await;
        let text = self.ctx.config.secrets.mask(&e.to_string());
        let _ = checkpoint::finish(
            &self.ctx.store_db,
            self.migration(),
            &self.step.name,
            "failed",
            Some(&text),
        )
        .await;
        self.progress.state = StepState::Failed;
        self.progress.error = Some(text.clone());
        self.publish();
        self.emit(BackfillEvent::StepFailed {
            step: self.step.name.clone(),
            error: text,
        });
        e
    }

    async fn cancel(&mut self, plan: &StepPlan) -> BackfillError {
        self.sample(true).await;
        self.progress.state = StepState::Cancelled;
        self.publish();
        self.emit(BackfillEvent::Cancelled {
            step: plan.name.clone(),
        });
        BackfillError::Cancelled(plan.name.clone())
    }

    /// The total: exact when cheap (a small table, or a query) or asked for (`exact_count`),
    /// else the engine's estimate.
    async fn total(&mut self, plan: &StepPlan, source: &Db, cp: &Checkpoint) {
        let counted = match &plan.source_table {
            Some(t) => match source.row_count(t, false).await {
                Ok(c) if !c.exact && (self.step.exact_count || c.rows < EXACT_COUNT_BELOW) => {
                    source.row_count(t, true).await
                }
                other => other,
            },
            None => match source
                .query(
                    &format!("SELECT count(*) FROM {}", plan.source_from),
                    &Params::new(),
                )
                .await
            {
                Ok(rows) => Ok(crate::db::RowCount {
                    rows: match rows.scalar() {
                        Some(Value::Int(n)) => (*n).max(0) as u64,
                        Some(Value::UInt(n)) => *n,
                        _ => 0,
                    },
                    exact: true,
                }),
                Err(e) => Err(e),
            },
        };
        if let Ok(c) = counted {
            self.progress.total_rows = c.rows.max(cp.rows_done);
            self.progress.total_exact = c.exact;
        }
    }

    fn chunk_size(&mut self, plan: &StepPlan) -> u64 {
        let controls = self.ctx.controls.borrow().clone();
        let rate = match controls.rows_per_second {
            Some(r) => r,
            None => self.step.max_rows_per_second,
        };
        if rate != self.bucket.rate() {
            self.bucket.set_rate(rate, Instant::now());
        }
        self.progress.max_rows_per_second = self.bucket.rate();
        let fixed = match controls.chunk_rows {
            Some(c) => c,
            None => self.step.chunk_rows,
        };
        let mut n = fixed.unwrap_or(self.chunk);
        if let Some(r) = self.bucket.rate() {
            n = n.min(r.ceil().max(1.0) as u64);
        }
        if !plan.pushdown && !plan.copy.as_ref().is_some_and(|c| c.binary) {
            // Rows held in memory (streamed COPY chunks never are): keep a chunk's worth well under the 100 MB budget.
            n = n.min(MAX_CHUNK_THROUGH_MIGTUI);
        }
        let per_row = plan.columns.len().max(1);
        let cap = plan.target_engine.dialect().backfill().max_bound_values() / per_row;
        n.clamp(1, (cap as u64).clamp(1, MAX_CHUNK))
    }

    /// Size the next chunk to take about `target_chunk_ms`: growing by up to 4× at a time (a
    /// fast table reaches its size in a few chunks), shrinking by up to 2×.
    fn adapt(&mut self, rows: u64, asked: u64, secs: f64) {
        if rows < asked || secs <= 0.0 {
            return;
        }
        let target = self.step.target_chunk_ms.max(1) as f64 / 1000.0;
        let ideal = asked as f64 * target / secs;
        let next = ideal.clamp(asked as f64 / 2.0, asked as f64 * 4.0);
        self.chunk = (next as u64).clamp(MIN_CHUNK, MAX_CHUNK);
    }

    async fn sleep(&self, d: Duration) {
        let mut cancel = self.ctx.cancel.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => {}
            _ = cancel.wait_for(|c| *c) => {}
        }
    }
}
