//! The migration record and its phase history. A transition is a compare-and-swap on the
//! record's `seq`, committed in one transaction with its history row and its audit line, and
//! only by the lease holder: two simultaneous advances never both succeed.

use serde_json::json;

use crate::db::{Params, Rows};
use crate::engine::phase::{Gate, PhaseId};

use super::row::{RowExt, now_sql};
use super::{MigrationState, Operator, PhaseRecord, Store, StoreError, TransitionKind, audit};

impl Store {
    /// The migration record: current phase, its `seq` and since when.
    pub async fn state(&self) -> Result<MigrationState, StoreError> {
        let sql = "SELECT name, phase, seq, since_us FROM migtui_migration WHERE name = :m";
        let rows = self
            .db
            .query(sql, &Params::new().bind("m", self.migration.as_str()))
            .await?;
        if rows.is_empty() {
            return Err(StoreError::Invalid(format!(
                "migration `{}` has no record in migtui_migration of database `{}`\n  \
                 hint: open the store again to recreate it at phase `plan`",
                self.migration,
                self.db.name()
            )));
        }
        Ok(MigrationState {
            name: rows.text(0, "name")?,
            phase: parse_phase(&rows.text(0, "phase")?)?,
            seq: rows.int(0, "seq")?,
            since_us: rows.int(0, "since_us")?,
        })
    }

    /// Create the migration record at `plan` unless it exists. Two processes may race here;
    /// the loser's insert fails on the primary key and it reads the winner's record.
    pub(crate) async fn ensure_record(&self) -> Result<MigrationState, StoreError> {
        let probe = "SELECT name FROM migtui_migration WHERE name = :m";
        let p = Params::new().bind("m", self.migration.as_str());
        if !self.db.query(probe, &p).await?.is_empty() {
            return self.state().await;
        }
        let now = now_sql(self.db.dialect());
        let sql = format!(
            "INSERT INTO migtui_migration (name, phase, seq, since_us, created_us) \
             VALUES (:m, :phase, 0, {now}, {now})"
        );
        let inserted = self
            .db
            .execute(&sql, &p.clone().bind("phase", PhaseId::Plan.as_str()))
            .await;
        match (inserted, self.state().await) {
            (_, Ok(s)) => Ok(s),
            (Err(e), Err(_)) => Err(e.into()),
            (Ok(_), Err(e)) => Err(e),
        }
    }

    /// Move from `from` (at `expected_seq`) to `to`, as `operator`, who must hold the lease.
    ///
    /// In one transaction: the lease is checked (and touched, which locks it against a takeover
    /// until commit), the record is swapped only if it is still at `from`/`expected_seq`, and
    /// the history row and the audit line are written. Errors: [`StoreError::Conflict`] when
    /// the phase moved underneath, [`StoreError::LeaseHeld`] / [`StoreError::NoLease`] when
    /// `operator` does not hold the lease. Nothing is written on error.
    #[allow(clippy::too_many_arguments)]
    pub async fn transition(
        &self,
        from: PhaseId,
        expected_seq: i64,
        to: PhaseId,
        kind: TransitionKind,
        reason: Option<&str>,
        gates: &[Gate],
        operator: &Operator,
    ) -> Result<PhaseRecord, StoreError> {
        if from == to {
            return Err(StoreError::Invalid(format!(
                "a transition must change the phase (`{from}` to `{to}`)"
            )));
        }
        let d = self.db.dialect();
        let now = now_sql(d);
        let m = self.migration.as_str();
        let mut tx = self.db.begin().await?;

        let touch = format!(
            "UPDATE migtui_lease SET heartbeat_us = \
             CASE WHEN {now} > heartbeat_us THEN {now} ELSE heartbeat_us + 1 END \
             WHERE migration = :m AND holder_id = :op"
        );
        let p = Params::new().bind("m", m).bind("op", operator.id.as_str());
        if tx.execute(&touch, &p).await? != 1 {
            tx.rollback().await?;
            return Err(self.not_holder().await);
        }

        let swap = format!(
            "UPDATE migtui_migration SET phase = :to, seq = seq + 1, since_us = {now} \
             WHERE name = :m AND phase = :from AND seq = :seq"
        );
        let p = Params::new()
            .bind("m", m)
            .bind("to", to.as_str())
            .bind("from", from.as_str())
            .bind("seq", expected_seq);
        if tx.execute(&swap, &p).await? != 1 {
            tx.rollback().await?;
            let now = self.state().await?.phase;
            return Err(StoreError::Conflict { now });
        }
        let sql = "SELECT seq, since_us FROM migtui_migration WHERE name = :m";
        let rows = tx.query(sql, &Params::new().bind("m", m)).await?;
        let (seq, at_us) = (rows.int(0, "seq")?, rows.int(0, "since_us")?);

        let gates_json = serde_json::to_string(gates)
            .map_err(|e| StoreError::Invalid(format!("cannot encode the gates: {e}")))?;
        let sql = "INSERT INTO migtui_phase_history \
                   (migration, seq, from_phase, to_phase, kind, reason, gates, \
                    operator_id, operator_user, operator_host, operator_pid, at_us) \
                   VALUES (:m, :seq, :from, :to, :kind, :reason, :gates, \
                    :op, :user, :host, :pid, :at)";
        let p = Params::new()
            .bind("m", m)
            .bind("seq", seq)
            .bind("from", from.as_str())
            .bind("to", to.as_str())
            .bind("kind", kind.as_str())
            .bind("reason", reason)
            .bind("gates", gates_json)
            .bind("op", operator.id.as_str())
            .bind("user", operator.user.as_str())
            .bind("host", operator.host.as_str())
            .bind("pid", i64::from(operator.pid))
            .bind("at", at_us);
        tx.execute(sql, &p).await?;

        let failing: Vec<&str> = gates
            .iter()
            .filter(|g| !g.pass)
            .map(|g| g.name.as_str())
            .collect();
        let params = json!({
            "from": from, "to": to, "kind": kind, "reason": reason,
            "seq": seq, "failing_gates": failing,
        });
        let action = kind.action();
        audit::insert(&mut *tx, d, m, operator, action, params, "ok", Some(at_us)).await?;
        tx.commit().await?;

        Ok(PhaseRecord {
            from,
            to,
            kind,
            reason: reason.map(str::to_string),
            gates: gates.to_vec(),
            operator: operator.clone(),
            at_us,
        })
    }

    /// The last `limit` phase changes, newest first.
    pub async fn history(&self, limit: usize) -> Result<Vec<PhaseRecord>, StoreError> {
        let sql = "SELECT from_phase, to_phase, kind, reason, gates, operator_id, operator_user, \
                   operator_host, operator_pid, at_us FROM migtui_phase_history \
                   WHERE migration = :m ORDER BY id DESC LIMIT :limit";
        let p = Params::new()
            .bind("m", self.migration.as_str())
            .bind("limit", limit.clamp(1, audit::MAX_PAGE) as i64);
        let rows = self.db.query(sql, &p).await?;
        (0..rows.len()).map(|i| history_row(&rows, i)).collect()
    }
}

fn history_row(rows: &Rows, i: usize) -> Result<PhaseRecord, StoreError> {
    let gates: Vec<Gate> = serde_json::from_value(rows.json(i, "gates")?)
        .map_err(|e| StoreError::Invalid(format!("phase history: unreadable gates: {e}")))?;
    Ok(PhaseRecord {
        from: parse_phase(&rows.text(i, "from_phase")?)?,
        to: parse_phase(&rows.text(i, "to_phase")?)?,
        kind: rows.text(i, "kind")?.parse().map_err(StoreError::Invalid)?,
        reason: rows.opt_text(i, "reason")?,
        gates,
        operator: Operator {
            id: rows.text(i, "operator_id")?,
            user: rows.text(i, "operator_user")?,
            host: rows.text(i, "operator_host")?,
            pid: u32::try_from(rows.int(i, "operator_pid")?).unwrap_or_default(),
        },
        at_us: rows.int(i, "at_us")?,
    })
}

fn parse_phase(s: &str) -> Result<PhaseId, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Invalid(format!("state table: {e}")))
}
