//! Where a pushdown or streamed-COPY chunk ends: one index-only query on the source, found
//! ahead for the next chunk while this one is written, so the target does not wait for it.

use super::chunk::AbortOnDrop;
use super::*;

/// The key that ends a chunk and the chunk's row count.
type Bound = Option<(Vec<Value>, u64)>;

/// The next chunk's bound, being found while the current chunk is written.
pub(super) struct BoundAhead {
    after: Vec<Value>,
    n: u64,
    handle: AbortOnDrop<Result<Bound, DbError>>,
}

/// The key that ends the chunk of `n` rows after the range's start (`:migtui_lo…`, when
/// `after`) and its row count; `None` when nothing is left up to the high-water mark.
async fn find(
    source: &Db,
    bound_sql: &str,
    count_sql: &str,
    params: &Params,
    high_water: &[Value],
    n: u64,
) -> Result<Bound, DbError> {
    let bound = params.clone().bind(
        "migtui_skip",
        i64::try_from(n.saturating_sub(1)).unwrap_or(i64::MAX),
    );
    let found = source.query(bound_sql, &bound).await?;
    if let Some(k) = found.rows.into_iter().next() {
        return Ok(Some((k, n)));
    }
    let counted = source.query(count_sql, params).await?;
    let rows = match counted.scalar() {
        Some(Value::Int(c)) => (*c).max(0) as u64,
        Some(Value::UInt(c)) => *c,
        _ => 0,
    };
    Ok((rows > 0).then(|| (high_water.to_vec(), rows)))
}

impl StepRun<'_> {
    /// Pushdown and COPY: the bound of the chunk of `n` rows after `after`. One found ahead
    /// is taken when it starts at `after` and is no larger than `n` (a smaller chunk is still
    /// a whole key range; a larger one would overrun the throttle's tokens). Only a key found
    /// ahead is used: "nothing left" is always asked now.
    pub(super) async fn bound(
        &mut self,
        plan: &StepPlan,
        source: &Db,
        params: &Params,
        after: Option<&[Value]>,
        high_water: &[Value],
        n: u64,
    ) -> Result<Bound, DbError> {
        if let Some(ahead) = self.bound_ahead.take()
            && Some(ahead.after.as_slice()) == after
            && ahead.n <= n
            && let Ok(Ok(Some(found))) = ahead.handle.await
        {
            return Ok(Some(found));
        }
        find(
            source,
            &plan.bound_sql(after.is_some()),
            &plan.count_sql(after.is_some()),
            params,
            high_water,
            n,
        )
        .await
    }

    /// Start finding the bound of the chunk after `last_key` (same size `n`), to overlap with
    /// this chunk's write.
    pub(super) fn bound_ahead(
        &mut self,
        plan: &StepPlan,
        source: &Db,
        high_water: &[Value],
        last_key: &[Value],
        n: u64,
    ) {
        self.bound_ahead = None;
        if last_key == high_water {
            return;
        }
        let params = bind_key(Params::new(), "migtui_hi", high_water);
        let params = bind_key(params, "migtui_lo", last_key);
        let (bound_sql, count_sql) = (plan.bound_sql(true), plan.count_sql(true));
        let (source, high_water) = (source.clone(), high_water.to_vec());
        let handle = tokio::spawn(async move {
            find(&source, &bound_sql, &count_sql, &params, &high_water, n).await
        });
        self.bound_ahead = Some(BoundAhead {
            after: last_key.to_vec(),
            n,
            handle: AbortOnDrop(handle),
        });
    }
}
