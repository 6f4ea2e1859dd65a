//! The `file` backend: an OpenFeature flagd flag-definition file
//! (<https://flagd.dev/reference/flag-definitions/>). Other flags in the file are kept as they
//! are. Writes are atomic: a temporary file beside it, fsync, rename, fsync of the directory,
//! so an application watching the file never reads half of it.
//!
//! A boolean flag is `variants {on: true, off: false}` with `defaultVariant`; a ramp adds
//! `targeting: {"fractional": [["on", P], ["off", 100 - P]]}`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value as Json, json};

use super::{FlagError, FlagValue, Raw};

const SCHEMA: &str = "https://flagd.dev/schema/v0/flags.json";

pub(super) struct FileFlag {
    path: PathBuf,
}

static TEMP_SEQ: AtomicU64 = AtomicU64::new(0);

impl FileFlag {
    pub fn new(path: PathBuf) -> FileFlag {
        FileFlag { path }
    }

    pub fn describe(&self, key: &str) -> String {
        format!("flag `{key}` in flagd file {}", self.path.display())
    }

    fn read_err(&self, key: &str, message: String) -> FlagError {
        FlagError::Read {
            key: key.to_string(),
            message,
            hint: format!(
                "{} must be a flagd flag-definition JSON file",
                self.path.display()
            ),
        }
    }

    /// The whole document, or `None` when the file does not exist.
    fn document(&self, key: &str) -> Result<Option<Map<String, Json>>, FlagError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.read_err(key, e.to_string())),
        };
        match serde_json::from_str::<Json>(&text) {
            Ok(Json::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(self.read_err(key, "the top level is not an object".into())),
            Err(e) => Err(self.read_err(key, format!("not valid JSON: {e}"))),
        }
    }

    pub fn get(&self, key: &str, _ramp: bool) -> Result<Option<Raw>, FlagError> {
        let Some(doc) = self.document(key)? else {
            return Ok(None);
        };
        let Some(flag) = doc.get("flags").and_then(|f| f.get(key)) else {
            return Ok(None);
        };
        decode(flag)
            .map(|v| Some(Raw::Value(v)))
            .map_err(|m| self.read_err(key, m))
    }

    pub fn set(&self, key: &str, value: FlagValue) -> Result<(), FlagError> {
        let mut doc = self.document(key)?.unwrap_or_default();
        doc.entry("$schema").or_insert_with(|| json!(SCHEMA));
        let flags = doc
            .entry("flags")
            .or_insert_with(|| Json::Object(Map::new()));
        let Json::Object(flags) = flags else {
            return Err(self.read_err(key, "`flags` is not an object".into()));
        };
        flags.insert(key.to_string(), encode(value));
        let text =
            serde_json::to_string_pretty(&Json::Object(doc)).map_err(|e| FlagError::Write {
                key: key.to_string(),
                message: e.to_string(),
                hint: "report this: the flag document could not be serialized".into(),
            })?;
        write_atomically(&self.path, text.as_bytes()).map_err(|e| FlagError::Write {
            key: key.to_string(),
            message: format!("{}: {e}", self.path.display()),
            hint: "check that the directory exists and is writable".into(),
        })
    }
}

fn encode(value: FlagValue) -> Json {
    let mut flag = json!({
        "state": "ENABLED",
        "variants": { "on": true, "off": false },
        "defaultVariant": if value.reads_new() { "on" } else { "off" },
    });
    if let FlagValue::Percent(p) = value {
        flag["defaultVariant"] = json!("off");
        flag["targeting"] = json!({ "fractional": [["on", p], ["off", 100 - p]] });
    }
    flag
}

/// The value a flagd flag definition gives, for a boolean flag or a fractional split.
fn decode(flag: &Json) -> Result<FlagValue, String> {
    let variants = flag
        .get("variants")
        .and_then(Json::as_object)
        .ok_or("the flag has no `variants`")?;
    let variant_value = |name: &str| -> Result<bool, String> {
        variants
            .get(name)
            .and_then(Json::as_bool)
            .ok_or_else(|| format!("variant `{name}` is not a boolean"))
    };
    if flag.get("state").and_then(Json::as_str) == Some("DISABLED") {
        return Err("the flag is DISABLED: the application falls back to its own default".into());
    }
    if let Some(parts) = flag
        .get("targeting")
        .and_then(|t| t.get("fractional"))
        .and_then(Json::as_array)
    {
        let (mut on, mut total) = (0.0, 0.0);
        for part in parts {
            let pair = part
                .as_array()
                .ok_or("a `fractional` entry is not an array")?;
            let name = pair.first().and_then(Json::as_str);
            let weight = pair.get(1).and_then(Json::as_f64).unwrap_or(1.0);
            let Some(name) = name else { continue }; // a bucketing expression, not a variant
            total += weight;
            if variant_value(name)? {
                on += weight;
            }
        }
        if total <= 0.0 {
            return Err("`fractional` has no weight".into());
        }
        return Ok(FlagValue::Percent((on * 100.0 / total).round() as u8));
    }
    let default = flag
        .get("defaultVariant")
        .and_then(Json::as_str)
        .ok_or("the flag has no `defaultVariant`")?;
    Ok(FlagValue::Bool(variant_value(default)?))
}

/// Temp file in the same directory, fsync, rename over the target, fsync the directory.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "flags.json".into());
    let tmp = dir.join(format!(
        ".{name}.migtui-{}-{}.tmp",
        std::process::id(),
        TEMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename itself is durable once the directory is synced (not possible everywhere).
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_values_decode_to_themselves() {
        for v in [
            FlagValue::Bool(true),
            FlagValue::Bool(false),
            FlagValue::Percent(0),
            FlagValue::Percent(25),
            FlagValue::Percent(100),
        ] {
            assert_eq!(decode(&encode(v)), Ok(v));
        }
        let disabled =
            json!({"state": "DISABLED", "variants": {"on": true}, "defaultVariant": "on"});
        assert!(decode(&disabled).is_err());
    }
}
