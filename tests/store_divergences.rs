//! Divergences recorded in batches: one row per key whatever the batch holds, seen counts
//! that add up, and an acknowledged row kept acknowledged.
mod common;

use common::all_engines;
use migtui::store::{DivergenceFilter, DivergenceRecord, DivergenceStatus, Operator, Store};
use serde_json::json;

fn rec(key: &str, status: DivergenceStatus) -> DivergenceRecord {
    DivergenceRecord {
        check: "incidents".into(),
        key_text: key.into(),
        key: json!([key]),
        kind: "mismatch".into(),
        columns: vec!["title".into()],
        old_raw: Some(json!({ "title": "it's \\ old" })),
        new_raw: Some(json!({ "title": "new" })),
        old_norm: None,
        new_norm: None,
        source: "full".into(),
        status,
        note: None,
        first_seen_us: 0,
        last_seen_us: 0,
        times_seen: 1,
    }
}

#[tokio::test]
async fn a_batch_records_each_key_once_and_keeps_acknowledgements() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        store
            .record_divergence(&rec("7", DivergenceStatus::Open))
            .await
            .unwrap();
        let op = Operator::current();
        assert!(
            store
                .acknowledge_divergence("incidents", "7", "known", &op)
                .await
                .unwrap()
        );
        let mut batch: Vec<_> = (0..1200)
            .map(|i| rec(&format!("{i:05}"), DivergenceStatus::Open))
            .collect();
        // The same key twice in one batch, and the acknowledged key seen open again.
        batch.push(rec("00003", DivergenceStatus::Healed));
        batch.push(rec("7", DivergenceStatus::Open));
        store.record_divergences(&batch).await.unwrap();
        store.record_divergences(&[]).await.unwrap();

        let mut counts = store.divergence_counts(Some("incidents")).await.unwrap();
        counts.sort_by_key(|(s, _)| s.as_str());
        assert_eq!(
            counts,
            vec![
                (DivergenceStatus::Acknowledged, 1),
                (DivergenceStatus::Healed, 1),
                (DivergenceStatus::Open, 1199),
            ],
            "{kind:?}"
        );
        let page = store
            .divergence_page(&DivergenceFilter::default(), None, 10)
            .await
            .unwrap();
        let three = page.iter().find(|r| r.key_text == "00003").unwrap();
        assert_eq!(
            (three.times_seen, three.status),
            (2, DivergenceStatus::Healed),
            "{kind:?}"
        );
        assert_eq!(three.old_raw, Some(json!({ "title": "it's \\ old" })));
    }
}

/// Two writers recording the same new keys at once (the sampler and the full diff can): both
/// find them absent, one insert wins, the other batch falls back to row by row. Nothing fails,
/// nothing is doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_writers_recording_the_same_new_keys_both_succeed() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let a = Store::open(tdb.connect().await, "m").await.unwrap();
        let b = Store::open(tdb.connect().await, "m").await.unwrap();
        let batch: Vec<_> = (0..300)
            .map(|i| rec(&format!("{i:05}"), DivergenceStatus::Open))
            .collect();
        for _ in 0..3 {
            let (x, y) = tokio::join!(a.record_divergences(&batch), b.record_divergences(&batch));
            x.unwrap();
            y.unwrap();
        }
        let counts = a.divergence_counts(Some("incidents")).await.unwrap();
        assert_eq!(counts, vec![(DivergenceStatus::Open, 300)], "{kind:?}");
        let page = a
            .divergence_page(&DivergenceFilter::default(), None, 300)
            .await
            .unwrap();
        assert!(page.iter().all(|r| r.times_seen == 6), "{kind:?}");
    }
}
