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
            let sql = db.dialect().backfill();
            if sql.replica_lag_sql().is_empty() {
                continue;
            }
            let mut lag = None;
            for q in sql.replica_lag_sql() {
                if let Ok(rows) = db.query(q, &Params::new()).await {
                    lag = sql.replica_lag(&rows);
                    break;
                }
            }
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

    /// The next chunk's rows: the ones read ahead while the last chunk was written when they
    /// start at `after`, else read now.
    async fn read_rows(
        &mut self,
        plan: &StepPlan,
        source: &Db,
        params: Params,
        after: Option<&[Value]>,
        n: u64,
    ) -> Result<Vec<Vec<Value>>, DbError> {
        if let Some(ahead) = self.read_ahead.take()
            && ahead.after.as_deref() == after
            && ahead.n <= n
            && let Ok(read) = ahead.handle.await
        {
            return read;
        }
        let read = params.bind("migtui_n", i64::try_from(n).unwrap_or(i64::MAX));
        Ok(source
            .query(&plan.read_sql(after.is_some()), &read)
            .await?
            .rows)
    }

    /// Start reading the chunk after `last_key`, to overlap with this chunk's write (one chunk
    /// ahead at most: two chunks in memory).
    fn read_ahead(
        &mut self,
        plan: &StepPlan,
        source: &Db,
        high_water: &[Value],
        last_key: &[Value],
        n: u64,
    ) {
        if last_key == high_water {
            return;
        }
        let params = bind_key(Params::new(), "migtui_hi", high_water);
        let params = bind_key(params, "migtui_lo", last_key)
            .bind("migtui_n", i64::try_from(n).unwrap_or(i64::MAX));
        let sql = plan.read_sql(true);
        let source = source.clone();
        let handle = tokio::spawn(async move { source.query(&sql, &params).await.map(|r| r.rows) });
        self.read_ahead = Some(ReadAhead {
            after: Some(last_key.to_vec()),
            n,
            handle: AbortOnDrop(handle),
        });
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
        let binary = plan.copy.as_ref().filter(|c| c.binary);
        let mut write = if plan.pushdown || binary.is_some() {
            let Some((last, rows)) = self
                .bound(plan, &source, &params, after, high_water, n)
                .await?
            else {
                return Ok(ChunkOutcome::Done);
            };
            // The next chunk's bound is found while this one is written.
            self.bound_ahead(plan, &source, high_water, &last, n);
            match binary {
                Some(copy) => Write::CopyStream {
                    out_sql: plan.copy_out_sql(after, &last),
                    direct: copy.direct_sql.clone().filter(|_| self.fast_path),
                    copy: copy.clone(),
                    last_key: last,
                },
                None => {
                    let range = bind_key(params, "migtui_hi", &last);
                    Write::Statement {
                        sql: plan.pushdown_sql(after.is_some(), self.fast_path),
                        params: range,
                        rows,
                        last_key: last,
                    }
                }
            }
        } else {
            let rows = self.read_rows(plan, &source, params, after, n).await?;
            let Some(last) = rows.last() else {
                return Ok(ChunkOutcome::Done);
            };
            let last_key: Vec<Value> = plan.key_index.iter().map(|&i| last[i].clone()).collect();
            self.read_ahead(plan, &source, high_water, &last_key, n);
            match &plan.copy {
                Some(copy) => {
                    let mut data = Vec::with_capacity(rows.len() * 256);
                    crate::db::postgres::backfill::copy_text(&rows, &mut data);
                    Write::CopyText {
                        data,
                        rows: rows.len() as u64,
                        copy: copy.clone(),
                        last_key,
                    }
                }
                None => {
                    let count = rows.len() as u64;
                    let cols = self.chunk_columns(plan, &rows);
                    let (sql, p) = plan.write_sql(&cols, rows, self.fast_path);
                    Write::Statement {
                        sql,
                        params: p,
                        rows: count,
                        last_key,
                    }
                }
            }
        };
        let mut tx = target.begin().await?;
        self.track(&target, &mut tx).await?;
        let written = write.run(&source, &mut tx).await;
        self.untrack();
        let fast = match &write {
            Write::CopyStream { direct, .. } => direct.is_some(),
            Write::Statement { .. } => self.fast_path && plan.plain_write.is_some(),
            Write::CopyText { .. } => false,
        };
        if let Err(e) = &written
            && fast
            && e.code() == Some("23505")
        {
            // A row of this chunk exists already (a dual write, a replayed chunk): roll back
            // and write as the step says (upsert, ON CONFLICT), for this chunk and the rest.
            drop(tx);
            self.fast_path = false;
            return Box::pin(self.chunk(plan, after, high_water, n)).await;
        }
        let rows = written?;
        let last_key = write.last_key();
        let done = self.progress.rows_done + rows;
        let (cp_sql, cp_params) = checkpoint::advance(
            self.ctx.store_db.dialect(),
            &self.ctx.config.migration.name,
            &plan.name,
            &last_key,
            done,
        );
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

/// A read of the next chunk running while this one is written.
pub(super) struct ReadAhead {
    after: Option<Vec<Value>>,
    n: u64,
    handle: AbortOnDrop<Result<Vec<Vec<Value>>, DbError>>,
}

/// A task that stops when its handle is dropped (a retry, a cancel, the step's end).
pub(super) struct AbortOnDrop<T>(pub(super) tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> std::future::Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::pin::Pin::new(&mut self.0).poll(cx)
    }
}

/// A chunk's write, ready to run in the target transaction.
enum Write {
    /// One statement with its bound rows (or a pushdown range).
    Statement {
        sql: String,
        params: Params,
        rows: u64,
        last_key: Vec<Value>,
    },
    /// PostgreSQL to PostgreSQL: the source's binary COPY streamed into the staging table.
    CopyStream {
        out_sql: String,
        /// Straight into the target table (`CopyPlan::direct_sql`).
        direct: Option<String>,
        copy: CopyPlan,
        last_key: Vec<Value>,
    },
    /// Rows read as values, sent as COPY text into the staging table.
    CopyText {
        data: Vec<u8>,
        rows: u64,
        copy: CopyPlan,
        last_key: Vec<Value>,
    },
}

impl Write {
    fn last_key(&mut self) -> Vec<Value> {
        match self {
            Write::Statement { last_key, .. }
            | Write::CopyStream { last_key, .. }
            | Write::CopyText { last_key, .. } => std::mem::take(last_key),
        }
    }

    /// Run the write; returns the source rows it carried.
    async fn run(
        &self,
        source: &Db,
        tx: &mut Box<dyn crate::db::Transaction>,
    ) -> Result<u64, DbError> {
        use crate::db::postgres::backfill::{copy_between, copy_in};
        match self {
            Write::Statement {
                sql, params, rows, ..
            } => {
                tx.execute(sql, params).await?;
                Ok(*rows)
            }
            Write::CopyStream {
                out_sql,
                direct: Some(direct),
                ..
            } => copy_between(source, out_sql, tx.as_mut(), direct).await,
            Write::CopyStream { out_sql, copy, .. } => {
                tx.execute(&copy.create_sql, &Params::new()).await?;
                let rows = copy_between(source, out_sql, tx.as_mut(), &copy.copy_in_sql).await?;
                tx.execute(&copy.write_sql, &Params::new()).await?;
                Ok(rows)
            }
            Write::CopyText {
                data, rows, copy, ..
            } => {
                tx.execute(&copy.create_sql, &Params::new()).await?;
                copy_in(tx.as_mut(), &copy.copy_in_sql, data).await?;
                tx.execute(&copy.write_sql, &Params::new()).await?;
                Ok(*rows)
            }
        }
    }
}
