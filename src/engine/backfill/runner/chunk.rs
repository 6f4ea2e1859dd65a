//! One chunk, its retries, and the pauses between chunks.

use std::time::{Duration, Instant};

use super::*;

impl StepRun<'_> {
    /// Why the step must wait now: the operator's pause and every `pause_when` that holds.
    fn pause_reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(reason) = &self.ctx.controls.borrow().paused {
            out.push(format!("operator: {reason}"));
        }
        let signals = self.ctx.signals.borrow();
        for c in &self.step.pause_when {
            match c {
                PauseCondition::PathLatency {
                    path,
                    side,
                    p95_ms_above,
                } => {
                    if let Some(p95) = signals.path_p95(path, *side).filter(|v| v > p95_ms_above) {
                        out.push(format!(
                            "read path {path} ({}) p95 {p95:.0} ms > {p95_ms_above} ms",
                            side.as_str()
                        ));
                    }
                }
                PauseCondition::ReplicaLag {
                    database,
                    seconds_above,
                } => {
                    if let Some(lag) = signals
                        .replica_lag_secs
                        .get(database)
                        .copied()
                        .filter(|v| v > seconds_above)
                    {
                        out.push(format!(
                            "replica lag on {database} {lag:.1} s > {seconds_above} s"
                        ));
                    }
                }
            }
        }
        out
    }

    /// Measure replica lag (at most every 2 s) on the databases a `pause_when` names, and
    /// publish it in the signals; no replica means no entry, never zero.
    async fn sample_replica_lag(&mut self) {
        if self
            .last_lag_sample
            .is_some_and(|t| t.elapsed() < Duration::from_secs(2))
        {
            return;
        }
        self.last_lag_sample = Some(Instant::now());
        for c in &self.step.pause_when {
            let PauseCondition::ReplicaLag { database, .. } = c else {
                continue;
            };
            let Some(db) = self.ctx.dbs.get(database) else {
                continue;
            };
            let Some(sql) = db.dialect().backfill().replica_lag_sql() else {
                continue;
            };
            let lag = match db.query(sql, &Params::new()).await {
                Ok(rows) => match rows.scalar() {
                    Some(Value::Float(f)) => Some(*f),
                    Some(Value::Int(i)) => Some(*i as f64),
                    Some(Value::Decimal(d)) => d.to_string().parse().ok(),
                    _ => None,
                },
                Err(_) => None,
            };
            self.ctx.signals.send_modify(|s| match lag {
                Some(l) => {
                    s.replica_lag_secs.insert(database.clone(), l);
                }
                None => {
                    s.replica_lag_secs.remove(database);
                }
            });
        }
    }

    /// Block while any pause reason holds, showing each by name; returns on cancel too.
    pub(super) async fn wait_while_paused(&mut self, plan: &StepPlan) {
        let mut announced = false;
        let mut controls = self.ctx.controls.clone();
        let mut signals = self.ctx.signals.subscribe();
        let mut cancel = self.ctx.cancel.clone();
        loop {
            self.sample_replica_lag().await;
            let reasons = self.pause_reasons();
            if reasons.is_empty() || self.cancelled() {
                break;
            }
            if self.progress.paused_by != reasons {
                self.progress.paused_by = reasons.clone();
                self.progress.state = StepState::Paused;
                self.publish();
                self.emit(BackfillEvent::Paused {
                    step: plan.name.clone(),
                    by: reasons,
                });
                announced = true;
            }
            tokio::select! {
                _ = controls.changed() => {}
                _ = signals.changed() => {}
                _ = cancel.wait_for(|c| *c) => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
        if announced || !self.progress.paused_by.is_empty() {
            self.progress.paused_by.clear();
            self.progress.state = StepState::Running;
            self.publish();
            self.emit(BackfillEvent::Resumed {
                step: plan.name.clone(),
            });
        }
    }

    /// One chunk, tried again after transient errors with exponential backoff; the whole
    /// chunk is re-read each time, from the checkpoint.
    pub(super) async fn with_retries(
        &mut self,
        plan: &StepPlan,
        after: Option<&[Value]>,
        high_water: &[Value],
        n: u64,
    ) -> Result<ChunkOutcome, BackfillError> {
        let mut attempt = 0u32;
        loop {
            let mut cancel = self.ctx.cancel.clone();
            let result = tokio::select! {
                r = self.chunk(plan, after, high_water, n) => Some(r),
                _ = cancel.wait_for(|c| *c) => None,
            };
            let Some(result) = result else {
                self.cancel_on_server().await;
                return Err(BackfillError::Cancelled(plan.name.clone()));
            };
            match result {
                Ok(o) => return Ok(o),
                Err(e) if e.is_transient() && attempt + 1 < MAX_ATTEMPTS => {
                    attempt += 1;
                    self.progress.retries += 1;
                    self.publish();
                    self.emit(BackfillEvent::Retry {
                        step: plan.name.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                    let backoff =
                        Duration::from_millis(100u64 << attempt.min(6)).min(Duration::from_secs(5));
                    self.sleep(backoff).await;
                    if self.cancelled() {
                        return Err(BackfillError::Cancelled(plan.name.clone()));
                    }
                }
                Err(e) => {
                    return Err(BackfillError::Chunk {
                        step: plan.name.clone(),
                        range: range_text(plan, after, high_water),
                        error: e.to_string(),
                    });
                }
            }
        }
    }

    /// Ask the server to stop the statement in flight (`pg_cancel_backend`, `KILL QUERY`).
    async fn cancel_on_server(&self) {
        let in_flight = self.in_flight.lock().map(|g| g.clone()).unwrap_or(None);
        if let Some((db, id)) = in_flight
            && let Some(sql) = db.dialect().backfill().cancel_sql()
        {
            let _ = db.execute(sql, &Params::new().bind("id", id)).await;
        }
    }

    /// Remember the connection's server-side id while a statement runs on it.
    async fn track(
        &self,
        db: &Db,
        tx: &mut Box<dyn crate::db::Transaction>,
    ) -> Result<(), DbError> {
        if let Some(sql) = db.dialect().backfill().backend_id_sql() {
            let rows = tx.query(sql, &Params::new()).await?;
            if let Some(Value::Int(id)) = rows.scalar()
                && let Ok(mut g) = self.in_flight.lock()
            {
                *g = Some((db.clone(), *id));
            }
        }
        Ok(())
    }

    fn untrack(&self) {
        if let Ok(mut g) = self.in_flight.lock() {
            *g = None;
        }
    }

    /// The chunk's columns with the types the target reads them as.
    fn chunk_columns(&mut self, plan: &StepPlan, rows: &[Vec<Value>]) -> Vec<ChunkColumn> {
        let tsql = plan.target_engine.dialect().backfill();
        plan.columns
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let sql_type = match plan.fixed_types.get(c) {
                    Some(t) => t.clone(),
                    None => {
                        if let Some(v) = rows.iter().map(|r| &r[i]).find(|v| !v.is_null()) {
                            self.sticky_types
                                .insert(c.clone(), tsql.type_for(v).to_string());
                        }
                        self.sticky_types.get(c).cloned().unwrap_or_default()
                    }
                };
                ChunkColumn {
                    name: super::super::statement::src_column(c),
                    sql_type,
                }
            })
            .collect()
    }

    async fn chunk(
        &mut self,
        plan: &StepPlan,
        after: Option<&[Value]>,
        high_water: &[Value],
        n: u64,
    ) -> Result<ChunkOutcome, DbError> {
        let target = self.ctx.dbs[&plan.target_db].clone();
        let source = self.ctx.dbs[&plan.source_db].clone();
        let mut params = bind_key(Params::new(), "migtui_hi", high_water);
        if let Some(a) = after {
            params = bind_key(params, "migtui_lo", a);
        }
        let (write_sql, write_params, rows, last_key) = if plan.pushdown {
            let bound = params.clone().bind(
                "migtui_skip",
                i64::try_from(n.saturating_sub(1)).unwrap_or(i64::MAX),
            );
            let found = source
                .query(&plan.bound_sql(after.is_some()), &bound)
                .await?;
            let (last, rows) = match found.rows.into_iter().next() {
                Some(k) => (k, n),
                None => {
                    let counted = source
                        .query(&plan.count_sql(after.is_some()), &params)
                        .await?;
                    let rows = match counted.scalar() {
                        Some(Value::Int(c)) => (*c).max(0) as u64,
                        Some(Value::UInt(c)) => *c,
                        _ => 0,
                    };
                    (high_water.to_vec(), rows)
                }
            };
            if rows == 0 {
                return Ok(ChunkOutcome::Done);
            }
            let range = bind_key(params, "migtui_hi", &last);
            (plan.pushdown_sql(after.is_some()), range, rows, last)
        } else {
            let read = params.bind("migtui_n", i64::try_from(n).unwrap_or(i64::MAX));
            let chunk = source.query(&plan.read_sql(after.is_some()), &read).await?;
            let Some(last) = chunk.rows.last() else {
                return Ok(ChunkOutcome::Done);
            };
            let last_key: Vec<Value> = plan.key_index.iter().map(|&i| last[i].clone()).collect();
            let rows = chunk.rows.len() as u64;
            let cols = self.chunk_columns(plan, &chunk.rows);
            let (sql, p) = plan.write_sql(&cols, chunk.rows);
            (sql, p, rows, last_key)
        };
        let done = self.progress.rows_done + rows;
        let (cp_sql, cp_params) = checkpoint::advance(
            self.ctx.store_db.dialect(),
            &self.ctx.config.migration.name,
            &plan.name,
            &last_key,
            done,
        );
        let mut tx = target.begin().await?;
        self.track(&target, &mut tx).await?;
        let written = tx.execute(&write_sql, &write_params).await;
        self.untrack();
        written?;
        if plan.checkpoint_in_tx {
            tx.execute(&cp_sql, &cp_params).await?;
            tx.commit().await?;
        } else {
            tx.commit().await?;
            // The write is idempotent (upsert by key), so a crash here replays the chunk and
            // changes nothing.
            self.ctx.store_db.execute(&cp_sql, &cp_params).await?;
        }
        Ok(ChunkOutcome::Wrote { rows, last_key })
    }
}
