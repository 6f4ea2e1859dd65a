//! The demo's migration file, written next to its databases: every section a real migration
//! has (databases, state, phases, expand, flag, backfill, verify, read paths, backup,
//! contract), with gates short enough that a headless run finishes in minutes.

use std::path::{Path, PathBuf};

use super::DemoError;
use crate::secret::SecretUrl;

/// One side's database as the file names it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    /// The variable the file reads the URL from when it holds a password (never written to
    /// the file); `None`: the URL is written as is.
    pub env: Option<&'static str>,
}

impl Endpoint {
    /// A URL, kept out of the file behind `var` when it carries a password.
    pub fn new(url: String, var: &'static str) -> Endpoint {
        let secret = SecretUrl::new(url.clone()).password().is_some();
        Endpoint {
            url,
            env: secret.then_some(var),
        }
    }

    fn in_file(&self) -> String {
        match self.env {
            Some(var) => format!("${{{var}}}"),
            None => self.url.clone(),
        }
    }

    /// The URL with its password masked, for messages.
    pub fn shown(&self) -> String {
        SecretUrl::new(self.url.clone()).redacted()
    }
}

/// The variable holding the old side's URL when it has a password.
pub const OLD_URL_VAR: &str = "MIGTUI_DEMO_OLD_URL";
/// The variable holding the new side's URL when it has a password.
pub const NEW_URL_VAR: &str = "MIGTUI_DEMO_NEW_URL";
/// The migration's name (typed to pass the one-way doors).
pub const NAME: &str = "incident-statuses";
/// The table the contract drops a column from (typed to confirm the drop).
pub const CONTRACT_TABLE: &str = "incidents";

/// Write `migration.toml` in `dir` and return its path.
pub fn write(dir: &Path, old: &Endpoint, new: &Endpoint) -> Result<PathBuf, DemoError> {
    let path = dir.join("migration.toml");
    let text = render(old, new);
    std::fs::write(&path, text)
        .map_err(|e| DemoError::Io(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

/// The file's text.
pub fn render(old: &Endpoint, new: &Endpoint) -> String {
    let quote = |s: String| toml_string(&s);
    format!(
        r#"# The demo migration (written by `migtui demo`): hard-coded incident status strings ->
# per-organisation incident_statuses. Reference of every field: docs/migration-file.md
# Reopen the cockpit on it: migtui -c migration.toml

[migration]
name = "{NAME}"
description = "hard-coded status strings -> per-organisation incident_statuses (demo)"

[databases.old]                     # the model the application reads today
url = {old_url}
[databases.new]                     # the model it reads after the switch
url = {new_url}

[state]
database = "new"                    # phase, checkpoints, divergences, audit log: migtui_* tables

[phases]                            # gates short enough for a demo; a real shift waits longer
dual_write_min_agreement = 0.99     # recently changed rows that agree while both are written
shadow_max_divergence_bound = 0.001 # 95% upper bound of the divergence rate in shadow
shadow_min_samples = 3000           # rows compared in shadow at least
shadow_min_minutes = 1
read_new_stable_minutes = 1

[expand]
database = "new"
expect = ["incident_statuses", "incidents.incident_status_id", "feature_flags"]

[flag]                              # the flag the simulated application reads on every read
backend = "sql"
database = "new"
table = "feature_flags"
key = "incidents.read_from_new"

[[backfill]]                        # statuses first: incidents point at them
name = "incident_statuses"
from = {{ database = "old", query = "SELECT DISTINCT organisation_id, status FROM incidents" }}
to = {{ database = "new", table = "incident_statuses", key = ["organisation_id", "name"], map = {{ name = ":status" }} }}

[[backfill]]
name = "incidents"
from = {{ database = "old", table = "incidents", key = "id", columns = ["id", "organisation_id", "status", "title", "severity", "created_at", "updated_at", "payload"] }}
to = {{ database = "new", table = "incidents", key = ["id"], version_column = "updated_at", map = {{ incident_status_id = "(SELECT id FROM incident_statuses WHERE organisation_id = :organisation_id AND name = :status)" }} }}
chunk_rows = 2000
max_rows_per_second = 50000         # tunable live from the cockpit
pause_when = {{ path = "incident-by-id", side = "old", p95_ms_above = 50 }}

[[verify]]                          # the same rows read through both models
name = "status"
key = "id"
sample = {{ from = "old", table = "incidents", per_second = 60, recent_column = "updated_at" }}
old = "SELECT id, status FROM incidents WHERE id IN (:keys)"
new = """SELECT i.id, s.name AS status FROM incidents i
         JOIN incident_statuses s ON s.id = i.incident_status_id WHERE i.id IN (:keys)"""
normalize = {{ status = "lowercase" }}
recheck_after_ms = 1000             # a write in flight between the two reads is not a divergence
full = {{ new_table = "incidents_with_status", columns = ["id", "status"] }}   # the full diff: status by name on both sides

[[path]]                            # latency of the application's main read, old vs new
name = "incident-by-id"
old = "SELECT status FROM incidents WHERE id = :key"
new = "SELECT s.name FROM incidents i JOIN incident_statuses s ON s.id = i.incident_status_id WHERE i.id = :key"
keys = "verify:status"
per_second = 20
budget = {{ p95_ms = 50, new_over_old_at_most = 2.0 }}

[[backup]]                          # what the contract drops, copied and verified first
database = "old"
table = "incidents"
columns = ["status"]
to = ["table:migtui_backup_incidents_status", "file:backups/incidents-status.csv.gz"]

[contract]                          # the one-way door
database = "old"
sql = ["ALTER TABLE incidents DROP COLUMN status"]
"#,
        old_url = quote(old.in_file()),
        new_url = quote(new.in_file()),
    )
}

/// A TOML basic string.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_names_every_section() {
        let dir = std::env::temp_dir().join(format!("migtui-demo-mig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let old = Endpoint::new(format!("sqlite://{}/old.db", dir.display()), OLD_URL_VAR);
        let new = Endpoint::new(
            "postgres://demo:s3cret-pw@127.0.0.1/demo".into(),
            NEW_URL_VAR,
        );
        let path = write(&dir, &old, &new).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cret-pw"), "a password reached the file");
        let env = |name: &str| (name == NEW_URL_VAR).then(|| new.url.clone());
        let config = crate::config::load_with_env(&path, &env).unwrap();
        assert_eq!(config.migration.name, NAME);
        assert_eq!(config.backfill.len(), 2);
        assert_eq!(config.verify.len(), 1);
        assert_eq!(config.backups.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
