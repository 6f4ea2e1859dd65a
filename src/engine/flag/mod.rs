//! The read flag the application reads: a boolean ("read the new model") or a percentage ramp
//! for applications that split reads. Three backends (a row in a table, an OpenFeature flagd
//! JSON file, an operator command); every write is read back and compared, so a write that did
//! not stick is an error, never a success.

mod command;
mod file;
mod sql;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{FlagBackend, FlagConfig};
use crate::db::{Db, DbError};
use crate::secret::Secrets;

/// A value of the read flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum FlagValue {
    /// `true`: the application reads the new model.
    Bool(bool),
    /// The share of reads, in percent, that go to the new model.
    Percent(u8),
}

impl FlagValue {
    /// True when some reads go to the new model.
    pub fn reads_new(self) -> bool {
        match self {
            FlagValue::Bool(b) => b,
            FlagValue::Percent(p) => p > 0,
        }
    }

    /// The text stored in a flag table or handed to a command: `true`/`false` or `0`–`100`.
    pub fn storage_text(self) -> String {
        match self {
            FlagValue::Bool(b) => b.to_string(),
            FlagValue::Percent(p) => p.to_string(),
        }
    }

    /// Parse a stored value; `percent` says whether this flag ramps.
    pub fn parse_stored(text: &str, percent: bool) -> Option<FlagValue> {
        let t = text.trim().to_ascii_lowercase();
        let b = match t.as_str() {
            "true" | "t" | "on" | "yes" | "new" => Some(true),
            "false" | "f" | "off" | "no" | "old" => Some(false),
            _ => None,
        };
        if percent {
            if let Some(b) = b {
                return Some(FlagValue::Percent(if b { 100 } else { 0 }));
            }
            let n: f64 = t.trim_end_matches('%').parse().ok()?;
            return (0.0..=100.0)
                .contains(&n)
                .then(|| FlagValue::Percent(n.round() as u8));
        }
        match (b, t.as_str()) {
            (Some(b), _) => Some(FlagValue::Bool(b)),
            (None, "1") => Some(FlagValue::Bool(true)),
            (None, "0") => Some(FlagValue::Bool(false)),
            _ => None,
        }
    }
}

impl FlagValue {
    /// Parse what an operator typed: `true`/`false` (also `on`/`off`, `new`/`old`) for a
    /// boolean flag; one of the ramp's percentages (or `true`/`false` for its ends) for a ramp.
    pub fn parse_input(input: &str, ramp: &[u8]) -> Result<FlagValue, FlagError> {
        let bad = |hint: String| FlagError::BadValue {
            input: input.to_string(),
            hint,
        };
        match FlagValue::parse_stored(input, !ramp.is_empty()) {
            Some(FlagValue::Percent(p)) if !ramp.contains(&p) && p != 0 && p != 100 => {
                Err(bad(format!("the ramp is {ramp:?}; pick one of its steps")))
            }
            Some(v) => Ok(v),
            None if !ramp.is_empty() => Err(bad(format!(
                "this flag ramps: a percentage of {ramp:?}, or true/false"
            ))),
            None => Err(bad("this flag is boolean: true or false".into())),
        }
    }
}

impl fmt::Display for FlagValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlagValue::Bool(true) => f.write_str("true (new)"),
            FlagValue::Bool(false) => f.write_str("false (old)"),
            FlagValue::Percent(p) => write!(f, "{p}% new"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FlagError {
    #[error(
        "the migration file has no [flag] section\n  hint: declare the read flag the application reads (see docs/migration-file.md)"
    )]
    NotConfigured,
    #[error(
        "[flag] database `{0}` is not connected\n  hint: run `migtui check` for the connection error"
    )]
    NotConnected(String),
    #[error("`{input}` is not a value of this flag\n  hint: {hint}")]
    BadValue { input: String, hint: String },
    #[error("reading the flag {key}: {message}\n  hint: {hint}")]
    Read {
        key: String,
        message: String,
        hint: String,
    },
    #[error("writing the flag {key}: {message}\n  hint: {hint}")]
    Write {
        key: String,
        message: String,
        hint: String,
    },
    #[error(
        "the flag {key} reads back as {found} right after writing {wrote}: the write did not stick\n  hint: something else writes this flag (another tool, a cache, a misconfigured `get`); look before flipping again"
    )]
    Mismatch {
        key: String,
        wrote: String,
        found: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a successful write did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagWrite {
    /// The value read before writing (`None`: absent or unreadable).
    pub before: Option<FlagValue>,
    pub value: FlagValue,
    /// False only for a `command` backend without `get`: nothing to read back with.
    pub verified: bool,
}

/// The read flag as the cockpit shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagStatus {
    pub key: String,
    /// Where it lives (secrets masked).
    pub location: String,
    /// The value last read or written; `None` when absent or unreadable.
    pub value: Option<FlagValue>,
    /// Why the last read failed, when it did.
    pub error: Option<String>,
    /// The value this session expects (the last one it wrote, or the first one it read).
    pub expected: Option<FlagValue>,
    /// Set when the flag holds a value migtui did not write.
    pub drift: Option<String>,
}

enum Backend {
    Sql(sql::SqlFlag),
    File(file::FileFlag),
    Command(command::CommandFlag),
}

/// The configured read flag, ready to read and write.
pub struct Flag {
    key: String,
    ramp: Vec<u8>,
    backend: Backend,
}

impl Flag {
    /// The flag of `config` over the connected databases.
    pub fn new(
        config: Option<&FlagConfig>,
        dbs: &BTreeMap<String, Db>,
        secrets: &Secrets,
    ) -> Result<Flag, FlagError> {
        let config = config.ok_or(FlagError::NotConfigured)?;
        let backend = match &config.backend {
            FlagBackend::Sql {
                database,
                table,
                key_column,
                value_column,
            } => {
                let db = dbs
                    .get(database)
                    .cloned()
                    .ok_or_else(|| FlagError::NotConnected(database.clone()))?;
                Backend::Sql(sql::SqlFlag::new(db, table, key_column, value_column))
            }
            FlagBackend::File { path } => Backend::File(file::FileFlag::new(path.clone())),
            FlagBackend::Command { set, get } => Backend::Command(command::CommandFlag::new(
                set.clone(),
                get.clone(),
                secrets.clone(),
            )),
        };
        Ok(Flag {
            key: config.key.clone(),
            ramp: config.ramp.clone(),
            backend,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// True when the flag is a percentage ramp rather than a boolean.
    pub fn is_ramp(&self) -> bool {
        !self.ramp.is_empty()
    }

    /// The value that sends every read back to the old model.
    pub fn off(&self) -> FlagValue {
        if self.is_ramp() {
            FlagValue::Percent(0)
        } else {
            FlagValue::Bool(false)
        }
    }

    /// Where the flag lives, for messages (secrets masked).
    pub fn describe(&self) -> String {
        match &self.backend {
            Backend::Sql(s) => s.describe(&self.key),
            Backend::File(f) => f.describe(&self.key),
            Backend::Command(c) => c.describe(&self.key),
        }
    }

    /// Parse what an operator typed (see [`FlagValue::parse_input`]).
    pub fn parse(&self, input: &str) -> Result<FlagValue, FlagError> {
        FlagValue::parse_input(input, &self.ramp)
    }

    /// The current value, or `None` when the flag is not set anywhere yet.
    pub async fn get(&self) -> Result<Option<FlagValue>, FlagError> {
        let raw = match &self.backend {
            Backend::Sql(s) => s.get(&self.key).await?,
            Backend::File(f) => f.get(&self.key, self.is_ramp())?,
            Backend::Command(c) => c.get(&self.key).await?,
        };
        let Some(raw) = raw else { return Ok(None) };
        match raw {
            Raw::Value(v) => Ok(Some(self.coerce(v))),
            Raw::Text(t) => FlagValue::parse_stored(&t, self.is_ramp())
                .map(|v| Some(self.coerce(v)))
                .ok_or_else(|| FlagError::Read {
                    key: self.key.clone(),
                    message: format!("`{}` is neither true/false nor a percentage", t.trim()),
                    hint: format!("{} holds something migtui cannot read", self.describe()),
                }),
        }
    }

    /// Write `value`, read it back, and compare: a mismatch is [`FlagError::Mismatch`].
    pub async fn set(&self, value: FlagValue) -> Result<FlagWrite, FlagError> {
        let value = self.coerce(value);
        let before = self.get().await.ok().flatten();
        match &self.backend {
            Backend::Sql(s) => s.set(&self.key, value).await?,
            Backend::File(f) => f.set(&self.key, value)?,
            Backend::Command(c) => c.set(&self.key, value).await?,
        }
        if let Backend::Command(c) = &self.backend
            && !c.can_read()
        {
            return Ok(FlagWrite {
                before,
                value,
                verified: false,
            });
        }
        let found = self.get().await?;
        if found != Some(value) {
            return Err(FlagError::Mismatch {
                key: self.key.clone(),
                wrote: value.to_string(),
                found: found.map_or_else(|| "absent".to_string(), |v| v.to_string()),
            });
        }
        Ok(FlagWrite {
            before,
            value,
            verified: true,
        })
    }

    /// A boolean on a ramp flag is its end; a percentage on a boolean flag is "any reads new".
    fn coerce(&self, v: FlagValue) -> FlagValue {
        match (self.is_ramp(), v) {
            (true, FlagValue::Bool(b)) => FlagValue::Percent(if b { 100 } else { 0 }),
            (false, FlagValue::Percent(p)) => FlagValue::Bool(p > 0),
            (_, v) => v,
        }
    }
}

/// What a backend read: a typed value (the flagd file), or text to parse.
pub(crate) enum Raw {
    Value(FlagValue),
    Text(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_parse_by_kind() {
        assert_eq!(
            FlagValue::parse_stored(" TRUE ", false),
            Some(FlagValue::Bool(true))
        );
        assert_eq!(
            FlagValue::parse_stored("0", false),
            Some(FlagValue::Bool(false))
        );
        assert_eq!(
            FlagValue::parse_stored("25", true),
            Some(FlagValue::Percent(25))
        );
        assert_eq!(
            FlagValue::parse_stored("true", true),
            Some(FlagValue::Percent(100))
        );
        assert_eq!(FlagValue::parse_stored("101", true), None);
        assert_eq!(FlagValue::parse_stored("maybe", false), None);
        assert!(FlagValue::Percent(1).reads_new());
        assert!(!FlagValue::Percent(0).reads_new());
    }
}
