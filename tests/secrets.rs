//! Credentials never leak: every command runs against MariaDB (old) and PostgreSQL (new)
//! through users with a distinctive password, given inline in the file and through `${ENV}`,
//! and the password (raw and URL-encoded) must appear nowhere: stdout, stderr, the state
//! store's `migtui_*` tables, the report files, any file migtui writes, and every screen of the
//! cockpit in tmux. Error paths too: a wrong password, an unreachable host, a bad URL.
mod cli_support;
mod common;

use std::path::Path;

use cli_support::{Cli, Run};
use common::TestDb;
use common::tmux::Tmux;
use sqlx::{Connection, Executor};

/// The password: URL-special characters, so its encoded form differs from it.
const BIN: &str = env!("CARGO_BIN_EXE_migtui");
const PASSWORD: &str = "S3cr3t-p4ss-Zq9@x/y:w#%";
const ENCODED: &str = "S3cr3t-p4ss-Zq9%40x%2Fy%3Aw%23%25";
/// A piece of both forms, so a truncated or partly encoded leak is caught too.
const STEM: &str = "S3cr3t-p4ss";

/// The role/user with the password, dropped at the end.
struct Users {
    pg: String,
    my: String,
}

impl Users {
    async fn create(pg_db: &TestDb, my_db: &TestDb) -> Users {
        let name = common::unique_name("migtui_sec");
        let mut pg = sqlx::PgConnection::connect(common::PG_ADMIN_URL)
            .await
            .unwrap();
        pg.execute(format!("CREATE ROLE {name} LOGIN PASSWORD '{PASSWORD}'").as_str())
            .await
            .unwrap();
        // The owner of the test database may create tables in its public schema.
        pg.execute(format!("ALTER DATABASE \"{}\" OWNER TO {name}", pg_db.name).as_str())
            .await
            .unwrap();
        // Tables a fixture created as the admin stay usable by the role.
        pg_db
            .run_script(&format!(
                "GRANT ALL ON ALL TABLES IN SCHEMA public TO {name}; \
                 GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {name};"
            ))
            .await;
        let mut my = sqlx::MySqlConnection::connect(common::MYSQL_ADMIN_URL)
            .await
            .unwrap();
        for host in ["%", "localhost", "127.0.0.1"] {
            my.execute(
                format!("CREATE USER '{name}'@'{host}' IDENTIFIED BY '{PASSWORD}'").as_str(),
            )
            .await
            .unwrap();
            my.execute(format!("GRANT ALL ON `{}`.* TO '{name}'@'{host}'", my_db.name).as_str())
                .await
                .unwrap();
        }
        Users {
            pg: name.clone(),
            my: name,
        }
    }

    fn pg_url(&self, db: &TestDb) -> String {
        format!(
            "postgres://{}:{ENCODED}@127.0.0.1:5432/{}",
            self.pg, db.name
        )
    }

    fn my_url(&self, db: &TestDb) -> String {
        format!("mysql://{}:{ENCODED}@127.0.0.1:3306/{}", self.my, db.name)
    }
}

impl Drop for Users {
    fn drop(&mut self) {
        let (pg, my) = (self.pg.clone(), self.my.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::MySqlConnection::connect(common::MYSQL_ADMIN_URL).await {
                    for host in ["%", "localhost", "127.0.0.1"] {
                        let _ = c
                            .execute(format!("DROP USER IF EXISTS '{my}'@'{host}'").as_str())
                            .await;
                    }
                }
                let mut c = sqlx::PgConnection::connect(common::PG_ADMIN_URL)
                    .await
                    .ok()?;
                c.execute(format!("DROP ROLE IF EXISTS {pg}").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Fail naming `what` when `text` holds the password in any form.
fn assert_clean(what: &str, text: &str) {
    for needle in [PASSWORD, ENCODED, STEM] {
        assert!(
            !text.contains(needle),
            "{what} shows the password ({needle}):\n{text}"
        );
    }
}

fn check_run(args: &[&str], r: &Run) {
    assert_clean(&format!("`migtui {}` stdout", args.join(" ")), &r.stdout);
    assert_clean(&format!("`migtui {}` stderr", args.join(" ")), &r.stderr);
}

/// Every file under `dir` (at least `min` of them) except the migration file the test wrote
/// (which holds the inline URLs).
fn check_files(dir: &Path, min: usize) {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != "m.toml") {
                let bytes = std::fs::read(&p).unwrap();
                let mut text = String::from_utf8_lossy(&bytes).into_owned();
                if p.extension().is_some_and(|x| x == "gz") {
                    use std::io::Read;
                    let mut out = String::new();
                    let _ = flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut out);
                    text.push_str(&out);
                }
                assert_clean(&format!("file {}", p.display()), &text);
                seen += 1;
            }
        }
    }
    assert!(
        seen >= min,
        "{min} files expected under {}, {seen} found",
        dir.display()
    );
}

/// Every row of every `migtui_*` table, as text.
async fn dump_state(url: &str) -> String {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    let tables: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name LIKE 'migtui%'",
    )
    .fetch_all(&mut c)
    .await
    .unwrap();
    assert!(tables.len() >= 5, "state tables: {tables:?}");
    let mut out = String::new();
    for (t,) in tables {
        let rows: Vec<(String,)> = sqlx::query_as(&format!("SELECT x::text FROM \"{t}\" x"))
            .fetch_all(&mut c)
            .await
            .unwrap();
        for (r,) in rows {
            out.push_str(&format!("{t}: {r}\n"));
        }
    }
    out
}

/// The commands, in an order that makes each one do real work.
const COMMANDS: &[&[&str]] = &[
    &["check"],
    &["check", "--json"],
    &["status"],
    &["status", "--json"],
    &["backfill", "--dry-run"],
    &["backfill"],
    &["advance", "--reason", "secrets test"],
    &["rollback", "--reason", "secrets test"],
    &["flag", "get"],
    &["flag", "set", "true", "--reason", "secrets test"],
    &["flag", "get", "--json"],
    &["probe", "--seconds", "1"],
    &["probe", "--seconds", "1", "--json"],
    &["verify", "--sample", "50"],
    &["verify", "--full"],
    &["verify", "--json", "--sample", "20"],
    &["backup"],
    &["backup", "--verify-only"],
    &["restore", "--backup", "incidents_status", "--dry-run"],
    &["report", "--format", "md", "-o", "report.md"],
    &["report", "--format", "json", "-o", "report.json"],
    &["report", "--format", "html", "-o", "report.html"],
    &["report", "--format", "md"],
    &["report", "--format", "json"],
];

async fn every_command(inline: bool) {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::postgres().await) else {
        return;
    };
    old.run_fixture("incidents-old-mariadb.sql").await;
    new.run_fixture("incidents-new-pg.sql").await;
    let users = Users::create(&new, &old).await;
    let (old_url, new_url) = (users.my_url(&old), users.pg_url(&new));
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/mariadb-to-postgres.toml"),
    )
    .unwrap();
    let (toml, env) = if inline {
        let t = sample
            .replace("${OLD_DATABASE_URL}", &old_url)
            .replace("${NEW_DATABASE_URL}", &new_url);
        (t, vec![])
    } else {
        (
            sample,
            vec![
                ("OLD_DATABASE_URL", old_url.as_str()),
                ("NEW_DATABASE_URL", new_url.as_str()),
            ],
        )
    };
    let cli = Cli::new(&toml, &env);
    for args in COMMANDS {
        let r = cli.run(args);
        check_run(args, &r);
        // Each command worked (verify may find divergences: 3; probe may breach: 1).
        assert!(
            matches!(r.code, Some(0 | 1 | 3)),
            "`migtui {}` failed ({:?}):\n{}",
            args.join(" "),
            r.code,
            r.all()
        );
    }
    let r = cli.run(&["status"]);
    assert!(r.stdout.contains("incident-statuses"), "{}", r.all());

    // The state store, as the admin reads it: no table holds the password.
    let admin_new = format!("postgres://postgres@127.0.0.1:5432/{}", new.name);
    assert_clean("the state store", &dump_state(&admin_new).await);
    check_files(cli.dir.path(), 4);

    // The cockpit, every screen and its help, and a quit.
    if let Some(tmux) = Tmux::start(cli.dir.path()) {
        let config = cli.config().display().to_string();
        let t = tmux.open("cockpit", &cli.env_pairs(), BIN, &["-c", &config]);
        t.wait_for("1-5 tab screens");
        for (key, name) in [
            ("1", "Overview"),
            ("2", "Backfill"),
            ("3", "Divergences"),
            ("4", "Latency"),
            ("5", "Log"),
        ] {
            t.keys(&[key]);
            std::thread::sleep(std::time::Duration::from_millis(300));
            assert_clean(&format!("cockpit screen {key}"), &t.screen());
            t.keys(&["?"]);
            let help = t.wait_for(&format!("Keys · {name}"));
            assert_clean(&format!("help on screen {key}"), &help);
            t.keys(&["Escape"]);
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        t.keys(&["q"]);
    }
    drop(users);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_shows_a_password_given_through_the_environment() {
    every_command(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_command_shows_a_password_written_in_the_file() {
    every_command(true).await;
}

/// Connection failures echo nothing of the URL's password: a wrong password (MariaDB checks
/// it; the local PostgreSQL trusts), an unreachable host, a malformed URL, on every command
/// that connects, and in the cockpit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_errors_do_not_echo_the_password() {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::postgres().await) else {
        return;
    };
    let users = Users::create(&new, &old).await;
    let wrong_mysql = format!(
        "mysql://{}:{ENCODED}x@127.0.0.1:3306/{}",
        users.my, old.name
    );
    let unreachable = format!("postgres://{}:{ENCODED}@127.0.0.1:1/{}", users.pg, new.name);
    let bad_port = format!(
        "postgres://{}:{ENCODED}@127.0.0.1:99999/{}",
        users.pg, new.name
    );
    let bad_host = format!("mysql://{}:{ENCODED}@[::1/{}", users.my, old.name);
    let nowhere = format!(
        "postgres://{}:{ENCODED}@no-such-host.invalid/{}",
        users.pg, new.name
    );
    let good_new = users.pg_url(&new);
    let good_old = users.my_url(&old);
    let sample = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-config/mariadb-to-postgres.toml"),
    )
    .unwrap();
    for (o, n) in [
        (&wrong_mysql, &good_new),
        (&good_old, &unreachable),
        (&good_old, &bad_port),
        (&bad_host, &good_new),
        (&good_old, &nowhere),
    ] {
        let cli = Cli::new(&sample, &[("OLD_DATABASE_URL", o), ("NEW_DATABASE_URL", n)]);
        for args in [
            &["check"][..],
            &["status"],
            &["verify"],
            &["backfill"],
            &["probe", "--seconds", "1"],
            &["report"],
            &["flag", "get"],
        ] {
            let r = cli.run(args);
            check_run(args, &r);
            // Commands that need both databases fail; `status` reports the one it cannot
            // reach; `report` and `flag` need only the state store.
            let ok = match args[0] {
                "check" | "verify" | "backfill" => r.code != Some(0),
                "status" => r.stdout.contains('✗') || r.code != Some(0),
                _ => true,
            };
            assert!(ok, "`migtui {args:?}` with {o} / {n}:\n{}", r.all());
        }
        // The same URL inline in the file.
        let inline = Cli::new(
            &sample
                .replace("${OLD_DATABASE_URL}", o)
                .replace("${NEW_DATABASE_URL}", n),
            &[],
        );
        for args in [&["check"][..], &["status"]] {
            check_run(args, &inline.run(args));
        }
        let demo = inline.raw(&[
            "demo",
            "--auto",
            "--rows",
            "50",
            "--orgs",
            "2",
            "--mysql",
            o,
            "--postgres",
            n,
        ]);
        check_run(&["demo"], &demo);
        assert_ne!(demo.code, Some(0), "{}", demo.all());
        if let Some(tmux) = Tmux::start(cli.dir.path()) {
            let config = cli.config().display().to_string();
            // The pane stays (remain-on-exit) with the last screen after the cockpit gives up.
            let t = tmux.open("cockpit", &cli.env_pairs(), BIN, &["-c", &config]);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            while t.exited().is_none() && std::time::Instant::now() < deadline {
                assert_clean("the cockpit", &t.screen());
                std::thread::sleep(std::time::Duration::from_millis(200));
            }
            assert_clean("the cockpit", &t.screen());
        }
    }
    drop(users);
}

/// `migtui demo` with both URLs carrying the password, stopped with Ctrl-C once it runs:
/// its output, the files it writes and the state store hold none of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_keeps_passwords_out_of_its_files_and_output() {
    demo(&["--headless"]).await;
}

/// The whole `demo --auto` walk (about 3 minutes), report included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: about 3 minutes; cargo test --test secrets -- --ignored"]
async fn the_demo_walk_keeps_passwords_out_of_its_report() {
    demo(&["--headless", "--auto"]).await;
}

async fn demo(mode: &[&str]) {
    let (Some(old), Some(new)) = (TestDb::mysql().await, TestDb::postgres().await) else {
        return;
    };
    let users = Users::create(&new, &old).await;
    let cli = Cli::new("", &[]);
    let dir = cli.dir.path().join("demo");
    let (o, n) = (users.my_url(&old), users.pg_url(&new));
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_migtui"))
        .arg("demo")
        .args(mode)
        .args([
            "--rows",
            "300",
            "--orgs",
            "5",
            "--faults",
            "0",
            "--mysql",
            &o,
            "--postgres",
            &n,
        ])
        .arg("--dir")
        .arg(&dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if !mode.contains(&"--auto") {
        // Let it build and start the session, then Ctrl-C it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !dir.join("migration.toml").exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        std::thread::sleep(std::time::Duration::from_secs(8));
        let killed = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    check_run(&["demo"], &r);
    assert!(
        r.stdout.contains("building the demo") && r.stdout.contains(":***@"),
        "{}",
        r.all()
    );
    check_files(&dir, 1);
    let admin_new = format!("postgres://postgres@127.0.0.1:5432/{}", new.name);
    assert_clean("the demo's state store", &dump_state(&admin_new).await);
    drop(users);
}
