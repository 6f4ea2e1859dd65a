//! Pages fetched from the state store off the render path: the app spawns `run` and hands the
//! result to `apply`. Every fetch is one bounded statement (a page, a count, an hour of metric
//! rows); a failure comes back as text for the screen to show, never as a panic.

use std::collections::BTreeMap;

use super::screens::{divergences, latency, log};
use super::state::AppState;
use crate::store::{AuditRecord, DivergenceRecord, DivergenceStatus, Store};

/// Rows per divergence page (one more is fetched to know whether a next page exists).
pub const DIVERGENCE_PAGE: usize = 50;
/// Audit rows fetched per step back in time on the Log screen.
pub const AUDIT_PAGE: usize = 200;
/// How far back the Latency screen's charts and histogram reach.
pub const METRICS_SPAN_US: i64 = 3_600_000_000;

/// What a screen asks the app to fetch.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// One page of `migtui_divergences` (filters and the keyset cursor in the query).
    Divergences(divergences::PageQuery),
    /// Divergences per status, over all checks.
    DivergenceCounts,
    /// Audit rows older than `before_id` (the newest when `None`), newest first.
    AuditPage { before_id: Option<i64> },
    /// Metric rows since `since_us`, merged per path and side.
    Metrics { since_us: i64 },
}

/// A fetched page.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    Divergences {
        query: divergences::PageQuery,
        rows: Result<Vec<DivergenceRecord>, String>,
    },
    DivergenceCounts(Result<Vec<(DivergenceStatus, u64)>, String>),
    AuditPage {
        before_id: Option<i64>,
        rows: Result<Vec<AuditRecord>, String>,
    },
    Metrics {
        since_us: i64,
        paths: Result<BTreeMap<String, latency::PathHistory>, String>,
    },
}

/// Fetch (bounded by the store's statement timeout).
pub async fn run(store: Store, req: Request) -> Loaded {
    let err = |e: crate::store::StoreError| e.to_string();
    match req {
        Request::Divergences(query) => {
            let after = query.after.as_ref().map(|(c, k)| (c.as_str(), k.as_str()));
            let rows = store
                .divergence_page_matching(
                    &query.filter(),
                    Some(query.text.as_str()),
                    after,
                    DIVERGENCE_PAGE + 1,
                )
                .await
                .map_err(err);
            Loaded::Divergences { query, rows }
        }
        Request::DivergenceCounts => {
            Loaded::DivergenceCounts(store.divergence_counts(None).await.map_err(err))
        }
        Request::AuditPage { before_id } => Loaded::AuditPage {
            before_id,
            rows: store.audit_page(before_id, AUDIT_PAGE).await.map_err(err),
        },
        Request::Metrics { since_us } => {
            let paths = match store.metrics_since(since_us).await {
                // Decoding an hour of histograms is CPU work: keep it off the async workers.
                Ok(rows) => tokio::task::spawn_blocking(move || latency::summarize(&rows))
                    .await
                    .map_err(|e| format!("summarizing the latency metrics failed: {e}")),
                Err(e) => Err(err(e)),
            };
            Loaded::Metrics { since_us, paths }
        }
    }
}

/// Fold a fetched page into the state.
pub fn apply(state: &mut AppState, loaded: Loaded) {
    match loaded {
        Loaded::Divergences { query, rows } => divergences::apply_page(state, query, rows),
        Loaded::DivergenceCounts(counts) => divergences::apply_counts(state, counts),
        Loaded::AuditPage { before_id, rows } => log::apply_audit(state, before_id, rows),
        Loaded::Metrics { since_us, paths } => latency::apply_metrics(state, since_us, paths),
    }
}

/// What the visible screen needs fetched now (called about once a second and on a screen
/// switch); empty when its pages are fresh.
pub fn due(state: &AppState) -> Vec<Request> {
    use super::screens::ScreenId;
    match state.screen {
        ScreenId::Divergences => divergences::due(state),
        ScreenId::Latency => latency::due(state),
        ScreenId::Log => log::due(state),
        ScreenId::Overview | ScreenId::Backfill => Vec::new(),
    }
}
