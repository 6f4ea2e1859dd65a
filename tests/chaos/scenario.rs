//! The migration the chaos run drives: `accounts` moved from an old database to a new one in
//! the chaos cluster, copied by a version-guarded upsert, compared column by column, its
//! `status` column backed up and then dropped from the old model. Sizes scale with the run.

use std::path::{Path, PathBuf};

use sqlx::{Connection, PgConnection};

use super::app::{STATUSES, Truth};
use super::cluster::Cluster;
use super::faults::FILL_FUNCTION;

/// How big a seed's run is.
#[derive(Debug, Clone, Copy)]
pub struct Size {
    /// Rows in the old model before anything starts.
    pub rows: i64,
    /// The backfill's rows per chunk and rows-per-second ceiling: slow enough that faults land
    /// mid-step.
    pub chunk_rows: u64,
    pub rows_per_second: u64,
}

pub const MIGRATION: &str = "chaos-accounts";
/// The table the contract drops from, typed to confirm it.
pub const CONTRACT_TABLE: &str = "accounts";

const OLD_DDL: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, \
    status TEXT NOT NULL, ver BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now())";
const NEW_DDL: &str = "CREATE TABLE accounts (id BIGINT PRIMARY KEY, org BIGINT NOT NULL, \
    status TEXT NOT NULL, ver BIGINT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now()); \
    CREATE TABLE feature_flags (key TEXT PRIMARY KEY, value TEXT NOT NULL); \
    CREATE FUNCTION chaos_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
      IF current_setting('application_name') = 'migtui' THEN PERFORM pg_sleep(0.04); END IF; \
      RETURN NULL; END $$; \
    CREATE TRIGGER chaos_slow AFTER INSERT OR UPDATE ON accounts \
      FOR EACH STATEMENT EXECUTE FUNCTION chaos_slow()";

/// The rows the old model starts with, from the seed.
pub fn initial_rows(seed: u64, n: i64) -> Truth {
    let mut rng = fastrand::Rng::with_seed(seed);
    (1..=n)
        .map(|id| {
            let status = STATUSES[rng.usize(..STATUSES.len())].to_string();
            (id, (rng.i64(1..=20), status, 1))
        })
        .collect()
}

async fn exec(url: &str, sql: &str) -> Result<(), String> {
    let mut c = PgConnection::connect(url)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    sqlx::raw_sql(sql)
        .execute(&mut c)
        .await
        .map_err(|e| format!("{sql}: {e}"))?;
    let _ = c.close().await;
    Ok(())
}

/// Create the old and new databases with their tables, the old rows, and the lock-table
/// helper; the expand (the new model) is done, as a team would before starting. Each backfill
/// write takes 40 ms more on the server (a statement trigger that sleeps for migtui only), so
/// a terminate or a cancel finds a statement in flight more often than by chance.
pub async fn prepare(cluster: &Cluster, rows: &Truth) -> Result<(), String> {
    exec(&cluster.url("postgres"), FILL_FUNCTION).await?;
    exec(&cluster.url("postgres"), "CREATE DATABASE chaos_old").await?;
    exec(&cluster.url("postgres"), "CREATE DATABASE chaos_new").await?;
    exec(&cluster.url("chaos_old"), OLD_DDL).await?;
    exec(&cluster.url("chaos_new"), NEW_DDL).await?;
    let mut c = PgConnection::connect(&cluster.url("chaos_old"))
        .await
        .map_err(|e| e.to_string())?;
    let ids: Vec<i64> = rows.keys().copied().collect();
    let orgs: Vec<i64> = rows.values().map(|r| r.0).collect();
    let statuses: Vec<String> = rows.values().map(|r| r.1.clone()).collect();
    let vers: Vec<i64> = rows.values().map(|r| r.2).collect();
    sqlx::query(
        "INSERT INTO accounts (id, org, status, ver) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[])",
    )
    .bind(ids)
    .bind(orgs)
    .bind(statuses)
    .bind(vers)
    .execute(&mut c)
    .await
    .map_err(|e| format!("seeding accounts: {e}"))?;
    let _ = c.close().await;
    Ok(())
}

/// Write the migration file into `dir`; URLs come from the environment (`CHAOS_OLD_URL`,
/// `CHAOS_NEW_URL`), as an operator's would.
pub fn migration_file(dir: &Path, size: Size) -> Result<PathBuf, String> {
    let text = format!(
        r#"[migration]
name = "{MIGRATION}"
description = "accounts moved to a new database while faults are injected"

[databases.old]
url = "${{CHAOS_OLD_URL}}"
max_connections = 3
statement_timeout_ms = 15000
[databases.new]
url = "${{CHAOS_NEW_URL}}"
max_connections = 3
statement_timeout_ms = 15000

[state]
database = "new"
lease_ttl_secs = 2

[phases]
dual_write_min_agreement = 0.99
shadow_max_divergence_bound = 0.05
shadow_min_samples = 100
shadow_min_minutes = 0
read_new_stable_minutes = 0

[expand]
database = "new"
expect = ["accounts", "accounts.ver", "feature_flags"]

[flag]
backend = "sql"
database = "new"
table = "feature_flags"
key = "accounts.read_from_new"

[[backfill]]
name = "accounts"
from = {{ database = "old", table = "accounts", key = "id", columns = ["id", "org", "status", "ver"] }}
to = {{ database = "new", table = "accounts", key = "id", version_column = "ver" }}
chunk_rows = {chunk}
max_rows_per_second = {rate}

[[verify]]
name = "accounts"
key = "id"
sample = {{ from = "old", table = "accounts", per_second = 50, recent_column = "updated_at" }}
old = "SELECT id, org, status, ver FROM accounts WHERE id IN (:keys)"
new = "SELECT id, org, status, ver FROM accounts WHERE id IN (:keys)"
recheck_after_ms = 1500
full = {{ columns = ["id", "org", "status", "ver"], chunk_rows = 500 }}

[[backup]]
database = "old"
table = "accounts"
columns = ["status"]
to = ["table:migtui_backup_accounts_status"]
chunk_rows = 500

[contract]
database = "old"
sql = ["ALTER TABLE accounts DROP COLUMN status"]
lock_timeout_ms = 2000
retries = 5
"#,
        chunk = size.chunk_rows,
        rate = size.rows_per_second,
    );
    let path = dir.join("chaos.toml");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
