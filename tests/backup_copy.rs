//! Backups on real databases: copy to a table and a file, verify, and catch a damaged copy.

mod backup_support;
mod common;

use backup_support::{backed_up, ctx, env, gunzip, gzip};
use common::TestDb;
use migtui::engine::backup;
use migtui::store::BackupStatus;

#[tokio::test]
async fn backup_to_table_and_file_verifies_on_every_engine() {
    for t in common::all_engines().await {
        let e = env(&t, "backups/incidents-status.csv.gz").await;
        let spec = &e.config.backups[0];
        let results = backup::run(spec, &ctx(&e)).await.unwrap();
        assert_eq!(results.len(), 2, "{:?}", t.kind);
        for r in &results {
            assert!(r.verified, "{:?} {}: {}", t.kind, r.location, r.detail);
            assert!(r.recorded.starts_with("200:"), "{}", r.recorded);
        }
        let records = e.store.backups().await.unwrap();
        assert!(records.iter().all(|r| r.status == BackupStatus::Verified));
        assert!(records.iter().all(|r| r.verified_us.is_some()));
        let file = records.iter().find(|r| r.destination == "1:file").unwrap();
        assert!(file.size_bytes > 100, "{}", file.size_bytes);
        assert!(file.restore_command.contains("migtui restore -c"));
        assert_eq!(file.columns[0].name, "status");
        let text = gunzip(&e.file);
        assert!(text.starts_with("id,status\n1,fixing\n"), "{}", &text[..40]);
        assert_eq!(text.lines().count(), 201);
        // No temporary file left beside it.
        let dir = e.file.parent().unwrap();
        assert_eq!(std::fs::read_dir(dir).unwrap().count(), 1);
        e.db.close().await;
    }
}

#[tokio::test]
async fn damaged_copies_fail_verification() {
    let Some(t) = TestDb::postgres().await else {
        return;
    };
    let e = env(&t, "b/incidents.csv.gz").await;
    let spec = &e.config.backups[0];
    backed_up(&e).await;
    let original = gunzip(&e.file);

    // One changed byte in a value.
    gzip(
        &e.file,
        &original.replacen("2,monitoring", "2,monitorinh", 1),
    );
    let r = backup::verify(spec, &ctx(&e)).await.unwrap();
    let file = r.iter().find(|r| r.destination == "1:file").unwrap();
    assert!(!file.verified);
    assert!(
        file.detail.contains("changed since it was made"),
        "{}",
        file.detail
    );
    assert!(
        r.iter()
            .find(|r| r.destination == "0:table")
            .unwrap()
            .verified
    );

    // One missing line.
    let mut lines: Vec<&str> = original.lines().collect();
    lines.remove(50);
    gzip(&e.file, &(lines.join("\n") + "\n"));
    let r = backup::verify(spec, &ctx(&e)).await.unwrap();
    let file = r.iter().find(|r| r.destination == "1:file").unwrap();
    assert!(
        !file.verified && file.copy.as_deref().unwrap().starts_with("199:"),
        "{file:?}"
    );

    // One changed byte in the compressed bytes themselves.
    gzip(&e.file, &original);
    let mut bytes = std::fs::read(&e.file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    std::fs::write(&e.file, bytes).unwrap();
    let r = backup::verify(spec, &ctx(&e)).await.unwrap();
    assert!(
        !r.iter()
            .find(|r| r.destination == "1:file")
            .unwrap()
            .verified
    );

    // A changed backup row.
    gzip(&e.file, &original);
    e.db.execute(
        "UPDATE migtui_backup_incidents_status SET status = 'tampered' WHERE id = 6",
        &Default::default(),
    )
    .await
    .unwrap();
    let r = backup::verify(spec, &ctx(&e)).await.unwrap();
    let table = r.iter().find(|r| r.destination == "0:table").unwrap();
    assert!(!table.verified, "{table:?}");
    assert!(
        r.iter()
            .find(|r| r.destination == "1:file")
            .unwrap()
            .verified
    );
    let rec = e
        .store
        .backup(&spec.name, "0:table")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, BackupStatus::Failed);

    // The source moving on after the copy also fails, for every copy.
    e.db.execute(
        "UPDATE migtui_backup_incidents_status SET status = 'monitoring' WHERE id = 6",
        &Default::default(),
    )
    .await
    .unwrap();
    assert!(
        backup::verify(spec, &ctx(&e))
            .await
            .unwrap()
            .iter()
            .all(|r| r.verified)
    );
    e.db.execute(
        "UPDATE incidents SET status = 'x' WHERE id = 9",
        &Default::default(),
    )
    .await
    .unwrap();
    let r = backup::verify(spec, &ctx(&e)).await.unwrap();
    assert!(
        r.iter()
            .all(|r| !r.verified && r.detail.contains("live source")),
        "{r:?}"
    );
    e.db.close().await;
}

#[tokio::test]
async fn an_interrupted_copy_never_counts_as_verified() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some(t) = TestDb::sqlite().await else {
        return;
    };
    let e = env(&t, "b/incidents.csv.gz").await;
    let spec = &e.config.backups[0];
    backed_up(&e).await;
    let before = std::fs::read(&e.file).unwrap();
    // Cancel after the first chunk of the second run.
    let calls = AtomicUsize::new(0);
    let cancelled = || calls.fetch_add(1, Ordering::SeqCst) >= 1;
    let bctx = migtui::engine::backup::BackupCtx {
        cancelled: &cancelled,
        ..ctx(&e)
    };
    let err = backup::run(spec, &bctx).await.unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    // The finished file from the first run is untouched and no temporary file is left.
    assert_eq!(std::fs::read(&e.file).unwrap(), before);
    assert_eq!(
        std::fs::read_dir(e.file.parent().unwrap()).unwrap().count(),
        1
    );
    let records = e.store.backups().await.unwrap();
    assert!(
        records.iter().all(|r| r.status == BackupStatus::Copying),
        "{records:?}"
    );
    let r = backup::verify(spec, &ctx(&e)).await.unwrap();
    assert!(r.iter().all(|r| !r.verified), "{r:?}");
    assert!(
        r.iter().any(|r| r.detail.contains("never finished")),
        "{r:?}"
    );
    // Running it again to the end makes both copies count again.
    backed_up(&e).await;
    e.db.close().await;
}
