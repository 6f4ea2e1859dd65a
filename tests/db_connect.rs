//! Connection errors: fast, clear, with a hint, and never showing a password.
mod common;

use std::time::{Duration, Instant};

use common::{MYSQL_ADMIN_URL, PG_ADMIN_URL, TestDb, unique_name};
use migtui::config::DatabaseConfig;
use migtui::db::{self, DbError};
use migtui::secret::{SecretUrl, Secrets};
use sqlx::{Connection, Executor};

fn cfg(url: &str) -> DatabaseConfig {
    DatabaseConfig {
        name: "old".into(),
        url: SecretUrl::new(url),
        max_connections: 2,
        statement_timeout_ms: 5_000,
        at: Default::default(),
    }
}

/// Connect and expect a `Connect` error; its text must not contain `password`.
async fn connect_err(url: &str, password: Option<&str>) -> String {
    let started = Instant::now();
    let err = match db::connect(&cfg(url), &Secrets::default()).await {
        Ok(_) => panic!("connecting to {url} should fail"),
        Err(e) => e,
    };
    assert!(started.elapsed() < Duration::from_secs(8), "fails fast");
    assert!(matches!(err, DbError::Connect { .. }), "{err:?}");
    let text = format!("{err} {err:?}");
    if let Some(pw) = password {
        assert!(!text.contains(pw), "password leaked: {text}");
    }
    assert!(text.contains("hint:"), "{text}");
    text
}

#[tokio::test]
async fn postgres_rejected_login_never_shows_the_password() {
    let Ok(mut admin) = sqlx::PgConnection::connect(PG_ADMIN_URL).await else {
        return assert!(TestDb::postgres().await.is_none());
    };
    // The test server trusts every local connection, so it never checks a password; a role
    // that may not log in is the rejection this server can give. The URL still carries a
    // password, which must not appear anywhere in the error.
    let role = unique_name("migtui_role");
    let pw = format!("Pw-{role}-s3cret");
    admin
        .execute(format!("CREATE ROLE {role} NOLOGIN PASSWORD '{pw}'").as_str())
        .await
        .unwrap();
    let text = connect_err(
        &format!("postgres://{role}:{pw}@127.0.0.1:5432/postgres"),
        Some(&pw),
    )
    .await;
    admin
        .execute(format!("DROP ROLE {role}").as_str())
        .await
        .unwrap();
    assert!(text.contains("not permitted to log in"), "{text}");
    assert!(
        text.contains("postgres://") && text.contains("***"),
        "{text}"
    );
}

#[tokio::test]
async fn mariadb_wrong_password_is_named_and_masked() {
    let Ok(mut admin) = sqlx::MySqlConnection::connect(MYSQL_ADMIN_URL).await else {
        return assert!(TestDb::mysql().await.is_none());
    };
    let user = unique_name("mt_user");
    let pw = format!("Right-{user}-pw");
    admin
        .execute(format!("CREATE USER '{user}'@'%' IDENTIFIED BY '{pw}'").as_str())
        .await
        .unwrap();
    let wrong = format!("Wrong-{user}-pw");
    let text = connect_err(
        &format!("mysql://{user}:{wrong}@127.0.0.1:3306/test"),
        Some(&wrong),
    )
    .await;
    // The right password connects.
    let ok = db::connect(
        &cfg(&format!("mysql://{user}:{pw}@127.0.0.1:3306/")),
        &Secrets::default(),
    )
    .await;
    admin
        .execute(format!("DROP USER '{user}'@'%'").as_str())
        .await
        .unwrap();
    assert!(text.contains("1045") && text.contains("password"), "{text}");
    assert!(!text.contains(&pw));
    ok.unwrap();
}

#[tokio::test]
async fn unreachable_port_is_refused_quickly() {
    for url in [
        "postgres://postgres:hunter22@127.0.0.1:1/x",
        "mysql://root:hunter22@127.0.0.1:1/x",
    ] {
        let text = connect_err(url, Some("hunter22")).await;
        assert!(text.contains("refused"), "{text}");
        assert!(text.contains("127.0.0.1:1"), "{text}");
    }
}

#[tokio::test]
async fn unknown_database_says_so() {
    if TestDb::postgres().await.is_some() {
        let text = connect_err("postgres://postgres@127.0.0.1:5432/migtui_no_such_db", None).await;
        assert!(
            text.contains("does not exist") && text.contains("3D000"),
            "{text}"
        );
    }
    if TestDb::mysql().await.is_some() {
        let text = connect_err("mysql://root@127.0.0.1:3306/migtui_no_such_db", None).await;
        assert!(text.contains("1049"), "{text}");
        assert!(text.contains("does not exist"), "{text}");
    }
}

#[tokio::test]
async fn missing_sqlite_file_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let text = connect_err(&format!("sqlite://{}", path.display()), None).await;
    assert!(text.contains("file not found"), "{text}");
    assert!(text.contains("mode=rwc"), "{text}");
    assert!(!path.exists(), "the file must not be created");
    // With ?mode=rwc it is.
    db::connect(
        &cfg(&format!("sqlite://{}?mode=rwc", path.display())),
        &Secrets::default(),
    )
    .await
    .unwrap();
    assert!(path.exists());
}

#[tokio::test]
async fn bad_urls_and_schemes() {
    let text = connect_err(
        "postgres://u:hunter22@127.0.0.1:notaport/db",
        Some("hunter22"),
    )
    .await;
    assert!(text.contains("not valid"), "{text}");
    let text = connect_err("oracle://u:hunter22@h/db", Some("hunter22")).await;
    assert!(text.contains("unknown URL scheme"), "{text}");
}
