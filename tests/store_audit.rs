//! The audit log: written with the OS user and host, read back in pages, newest first.
mod common;

use common::all_engines;
use migtui::store::{Operator, Store};
use serde_json::json;

#[tokio::test]
async fn audit_lines_are_paged_newest_first_without_overlap() {
    for tdb in all_engines().await {
        let kind = tdb.kind;
        let store = Store::open(tdb.connect().await, "m").await.unwrap();
        let op = Operator::current();
        let mut written = Vec::new();
        for i in 0..25 {
            let params = json!({ "i": i, "note": "quote ' and \\ backslash" });
            let r = store
                .audit("flag.set", params.clone(), "ok", &op)
                .await
                .unwrap();
            assert_eq!(
                (r.user.as_str(), r.host.as_str()),
                (op.user.as_str(), op.host.as_str())
            );
            assert_eq!(r.params, params);
            written.push(r);
        }
        let mut seen = Vec::new();
        let mut before = None;
        loop {
            let page = store.audit_page(before, 10).await.unwrap();
            if page.is_empty() {
                break;
            }
            assert!(page.len() <= 10);
            before = page.last().map(|r| r.id);
            seen.extend(page);
        }
        assert_eq!(seen.len(), 25, "{kind:?}");
        assert!(
            seen.windows(2)
                .all(|w| w[0].id > w[1].id && w[0].at_us >= w[1].at_us),
            "{kind:?}"
        );
        written.reverse();
        assert_eq!(seen, written, "{kind:?}: what was written is what is read");
        // The watcher's view: everything after an id, oldest first.
        let since = store.audit_since(written[5].id).await.unwrap();
        assert_eq!(since.len(), 5, "{kind:?}");
        assert!(since.windows(2).all(|w| w[0].id < w[1].id));
        // Another migration in the same database has its own log.
        let other = Store::open(tdb.connect().await, "other").await.unwrap();
        assert!(
            other.audit_page(None, 10).await.unwrap().is_empty(),
            "{kind:?}"
        );
    }
}
