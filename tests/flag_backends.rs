//! The read flag's backends round-trip, notice a value changed behind their back, refuse a
//! write that does not read back, and never let a reader see half a flagd file.
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{Kind, all_engines};
use migtui::config::{FlagBackend, FlagConfig};
use migtui::engine::flag::{Flag, FlagError, FlagValue};
use migtui::secret::Secrets;

fn flag_config(backend: FlagBackend, ramp: Vec<u8>) -> FlagConfig {
    FlagConfig {
        backend,
        key: "incidents.read_from_new".into(),
        ramp,
        at: Default::default(),
    }
}

fn file_flag(path: &Path, ramp: Vec<u8>) -> Flag {
    let cfg = flag_config(
        FlagBackend::File {
            path: path.to_path_buf(),
        },
        ramp,
    );
    Flag::new(Some(&cfg), &BTreeMap::new(), &Secrets::default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_flag_round_trips_and_sees_a_value_changed_behind_its_back() {
    for tdb in all_engines().await {
        let key_type = if tdb.kind == Kind::MySql {
            "VARCHAR(191)"
        } else {
            "TEXT"
        };
        tdb.run_script(
            &format!(
                "CREATE TABLE feature_flags (\"key\" {key_type} PRIMARY KEY, value TEXT NOT NULL)"
            )
            .replace('"', if tdb.kind == Kind::MySql { "`" } else { "\"" }),
        )
        .await;
        let db = tdb.connect().await;
        let dbs = BTreeMap::from([("new".to_string(), db.clone())]);
        let cfg = flag_config(
            FlagBackend::Sql {
                database: "new".into(),
                table: "feature_flags".into(),
                key_column: "key".into(),
                value_column: "value".into(),
            },
            vec![],
        );
        let flag = Flag::new(Some(&cfg), &dbs, &Secrets::default()).unwrap();
        assert_eq!(
            flag.get().await.unwrap(),
            None,
            "{:?}: no row yet",
            tdb.kind
        );
        // The row is absent: the write inserts it, then reads it back.
        let w = flag.set(FlagValue::Bool(true)).await.unwrap();
        assert!(w.verified && w.before.is_none(), "{:?}: {w:?}", tdb.kind);
        assert_eq!(flag.get().await.unwrap(), Some(FlagValue::Bool(true)));
        let w = flag.set(FlagValue::Bool(false)).await.unwrap();
        assert_eq!(w.before, Some(FlagValue::Bool(true)));
        // Someone else flips it: migtui reads what is really there.
        tdb.run_script("UPDATE feature_flags SET value = 'true'")
            .await;
        assert_eq!(
            flag.get().await.unwrap(),
            Some(FlagValue::Bool(true)),
            "{:?}",
            tdb.kind
        );
        // A value migtui cannot read is an error that says what it found.
        tdb.run_script("UPDATE feature_flags SET value = 'banana'")
            .await;
        let err = flag.get().await.unwrap_err().to_string();
        assert!(err.contains("banana"), "{err}");
        db.close().await;
    }
}

#[test]
fn file_flag_is_flagd_json_keeps_other_flags_and_ramps() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    std::fs::write(
        &path,
        r#"{"flags": {"other.flag": {"state": "ENABLED", "variants": {"a": "x"}, "defaultVariant": "a"}}}"#,
    )
    .unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let flag = file_flag(&path, vec![]);
        assert_eq!(flag.get().await.unwrap(), None);
        flag.set(FlagValue::Bool(true)).await.unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let f = &doc["flags"]["incidents.read_from_new"];
        assert_eq!(f["defaultVariant"], "on");
        assert_eq!(f["variants"]["on"], true);
        assert_eq!(doc["flags"]["other.flag"]["defaultVariant"], "a", "{doc}");
        assert_eq!(flag.get().await.unwrap(), Some(FlagValue::Bool(true)));

        // Behind its back: an editor sets the default variant to off.
        let edited = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"defaultVariant\": \"on\"", "\"defaultVariant\": \"off\"");
        std::fs::write(&path, edited).unwrap();
        assert_eq!(flag.get().await.unwrap(), Some(FlagValue::Bool(false)));

        let ramp = file_flag(&path, vec![0, 1, 5, 25, 50, 100]);
        ramp.set(FlagValue::Percent(25)).await.unwrap();
        assert_eq!(ramp.get().await.unwrap(), Some(FlagValue::Percent(25)));
        assert!(matches!(ramp.parse("30"), Err(FlagError::BadValue { .. })));
        assert_eq!(ramp.parse("true").unwrap(), FlagValue::Percent(100));

        // A broken file is never overwritten.
        std::fs::write(&path, "{ not json").unwrap();
        let err = flag
            .set(FlagValue::Bool(false))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("not valid JSON"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ not json");
    });
}

#[test]
fn a_concurrent_reader_never_sees_half_a_flag_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flags.json");
    // A big document, so a non-atomic write would be caught mid-way.
    let mut flags = serde_json::Map::new();
    for i in 0..300 {
        flags.insert(
            format!("padding.{i}"),
            serde_json::json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}),
        );
    }
    std::fs::write(&path, serde_json::json!({ "flags": flags }).to_string()).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, stop) = (path.clone(), stop.clone());
        std::thread::spawn(move || {
            let (mut reads, mut bad) = (0u64, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).unwrap();
                match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(doc) if doc["flags"].as_object().is_some_and(|f| f.len() >= 300) => {}
                    _ => bad.push(text.len()),
                }
                reads += 1;
            }
            (reads, bad)
        })
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let flag = file_flag(&path, vec![]);
        for i in 0..60 {
            flag.set(FlagValue::Bool(i % 2 == 0)).await.unwrap();
        }
    });
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (reads, bad) = reader.join().unwrap();
    assert!(reads > 20, "the reader only managed {reads} reads");
    assert!(
        bad.is_empty(),
        "{} torn reads of {reads}; first sizes {:?}",
        bad.len(),
        &bad[..bad.len().min(5)]
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[tokio::test]
async fn command_flag_round_trips_refuses_a_write_that_does_not_stick_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("value");
    let d = dir.path().display();
    let cfg =
        |set: String, get: Option<String>| flag_config(FlagBackend::Command { set, get }, vec![]);
    let get = Some(format!("cat {d}/value"));
    let good = cfg(
        format!("printf %s \"$MIGTUI_FLAG_VALUE\" > {d}/value"),
        get.clone(),
    );
    let flag = Flag::new(Some(&good), &BTreeMap::new(), &Secrets::default()).unwrap();
    let w = flag.set(FlagValue::Bool(true)).await.unwrap();
    assert!(w.verified);
    assert_eq!(std::fs::read_to_string(&store).unwrap(), "true");
    assert_eq!(flag.get().await.unwrap(), Some(FlagValue::Bool(true)));
    // Changed behind its back.
    std::fs::write(&store, "false\n").unwrap();
    assert_eq!(flag.get().await.unwrap(), Some(FlagValue::Bool(false)));

    // A `set` that "succeeds" but writes something else is an error, not a success.
    let liar = cfg(format!("printf false > {d}/value"), get);
    let flag = Flag::new(Some(&liar), &BTreeMap::new(), &Secrets::default()).unwrap();
    let err = flag.set(FlagValue::Bool(true)).await.unwrap_err();
    assert!(matches!(err, FlagError::Mismatch { .. }), "{err}");

    // Without `get`, a write is done but reported unverified.
    let blind = cfg(
        format!("printf %s \"$MIGTUI_FLAG_VALUE\" > {d}/value"),
        None,
    );
    let flag = Flag::new(Some(&blind), &BTreeMap::new(), &Secrets::default()).unwrap();
    let w = flag.set(FlagValue::Bool(true)).await.unwrap();
    assert!(!w.verified);

    // A failing command's message never shows the secret it was given.
    let secret = "tok-Sup3r-Secret-PW".to_string();
    let failing = cfg(format!("echo denied for {secret} >&2; exit 3"), None);
    let secrets = Secrets::new(vec![secret.clone()]);
    let flag = Flag::new(Some(&failing), &BTreeMap::new(), &secrets).unwrap();
    assert!(!flag.describe().contains(&secret));
    let err = flag
        .set(FlagValue::Bool(true))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("exit") && err.contains("denied"), "{err}");
    assert!(!err.contains(&secret), "{err}");
}

#[tokio::test]
async fn check_refuses_a_flag_file_that_is_not_flagd_json() {
    let dir = tempfile::tempdir().unwrap();
    let flags = dir.path().join("flags.json");
    let text = format!(
        r#"
[migration]
name = "m"
[databases.old]
url = "sqlite://{d}/old.db"
[databases.new]
url = "sqlite://{d}/new.db"
[flag]
backend = "file"
path = "{f}"
key = "incidents.read_from_new"
"#,
        d = dir.path().display(),
        f = flags.display()
    );
    let config = migtui::config::parse_text(Path::new("m.toml"), &text, &|_| None).unwrap();
    let flag_check = |checks: Vec<migtui::engine::preflight::Check>| {
        checks.into_iter().find(|c| c.subject == "[flag]").unwrap()
    };
    let none = BTreeMap::new();
    let c = flag_check(migtui::engine::preflight::schema_checks(&config, &none).await);
    assert_eq!(c.status, migtui::engine::preflight::Status::Ok, "{c:?}");
    std::fs::write(&flags, "flags: yaml?").unwrap();
    let c = flag_check(migtui::engine::preflight::schema_checks(&config, &none).await);
    assert_eq!(c.status, migtui::engine::preflight::Status::Fail, "{c:?}");
    assert!(c.detail.contains("not valid JSON"), "{c:?}");
}
