//! The `command` backend, for any other flag service: `set` runs with the key and the new value
//! in its environment (`MIGTUI_FLAG_KEY`, `MIGTUI_FLAG_VALUE`), never on its command line;
//! `get` prints the current value on stdout. Commands run through `sh -c`; anything migtui
//! prints about them has the migration's secrets masked.

use std::process::Stdio;
use std::time::Duration;

use super::{FlagError, FlagValue, Raw};
use crate::secret::Secrets;

/// The most a flag command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

pub(super) struct CommandFlag {
    set: String,
    get: Option<String>,
    secrets: Secrets,
}

impl CommandFlag {
    pub fn new(set: String, get: Option<String>, secrets: Secrets) -> CommandFlag {
        CommandFlag { set, get, secrets }
    }

    pub fn can_read(&self) -> bool {
        self.get.is_some()
    }

    pub fn describe(&self, key: &str) -> String {
        format!(
            "flag `{key}` via command `{}`",
            self.secrets.mask(&self.set)
        )
    }

    pub async fn get(&self, key: &str) -> Result<Option<Raw>, FlagError> {
        let Some(get) = &self.get else {
            return Err(FlagError::Read {
                key: key.to_string(),
                message: "no `get` command is configured".into(),
                hint: "add `get = \"…\"` to [flag] so migtui can read the flag back".into(),
            });
        };
        let out = self
            .run(get, key, None)
            .await
            .map_err(|m| FlagError::Read {
                key: key.to_string(),
                message: m,
                hint: "run the `get` command by hand with MIGTUI_FLAG_KEY set".into(),
            })?;
        let text = out.trim();
        Ok((!text.is_empty()).then(|| Raw::Text(text.to_string())))
    }

    pub async fn set(&self, key: &str, value: FlagValue) -> Result<(), FlagError> {
        self.run(&self.set, key, Some(value))
            .await
            .map(|_| ())
            .map_err(|m| FlagError::Write {
                key: key.to_string(),
                message: m,
                hint:
                    "run the `set` command by hand with MIGTUI_FLAG_KEY and MIGTUI_FLAG_VALUE set"
                        .into(),
            })
    }

    /// Run one command; its stdout on success, a masked message on failure.
    async fn run(&self, cmd: &str, key: &str, value: Option<FlagValue>) -> Result<String, String> {
        let mut c = tokio::process::Command::new("sh");
        c.arg("-c")
            .arg(cmd)
            .env("MIGTUI_FLAG_KEY", key)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        if let Some(v) = value {
            c.env("MIGTUI_FLAG_VALUE", v.storage_text());
        }
        let shown = self.secrets.mask(cmd);
        let child = c
            .spawn()
            .map_err(|e| format!("cannot start `{shown}`: {e}"))?;
        let out = match tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => return Err(format!("`{shown}` failed: {e}")),
            Err(_) => {
                return Err(format!(
                    "`{shown}` did not finish within {} s (killed)",
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(self.secrets.mask(&format!(
                "`{shown}` exited with {}: {}",
                out.status,
                stderr.trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
