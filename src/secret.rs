//! Credentials never reach a screen, a log, a report or an error.
//!
//! [`SecretUrl`] keeps a database URL whose `Debug`/`Display` hide the password, and
//! [`Secrets`] masks every value that came from `${ENV}` interpolation or a URL password in any
//! text migtui is about to print or write.

use std::fmt;
use std::sync::Arc;

const MASK: &str = "***";

/// A database URL. Formatting shows it with the password replaced by `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into())
    }

    /// The real URL, for the driver only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The scheme (`postgres`, `mysql`, `sqlite`), lowercased.
    pub fn scheme(&self) -> String {
        self.0
            .split(':')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    }

    /// The password embedded in the URL, if any (percent-decoded).
    pub fn password(&self) -> Option<String> {
        let parsed = url::Url::parse(&self.0).ok()?;
        let raw = parsed.password()?;
        Some(
            percent_encoding::percent_decode_str(raw)
                .decode_utf8_lossy()
                .into_owned(),
        )
    }

    /// The URL with the password (and any `password=` query parameter) masked.
    pub fn redacted(&self) -> String {
        let Ok(mut parsed) = url::Url::parse(&self.0) else {
            // Not a URL we understand: show only the scheme so nothing leaks.
            return format!("{}://{MASK}", self.scheme());
        };
        if parsed.password().is_some() {
            let _ = parsed.set_password(Some(MASK));
        }
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(k, v)| {
                let secret = matches!(k.to_ascii_lowercase().as_str(), "password" | "sslpassword");
                (
                    k.into_owned(),
                    if secret {
                        MASK.to_string()
                    } else {
                        v.into_owned()
                    },
                )
            })
            .collect();
        if !pairs.is_empty() {
            parsed.query_pairs_mut().clear().extend_pairs(pairs);
        }
        parsed.to_string()
    }

    /// `host:port/database` (or the SQLite file), for headers and reports.
    pub fn display_target(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(u) if u.scheme() == "sqlite" => {
                let rest = self.0.split_once(':').map(|x| x.1).unwrap_or_default();
                rest.trim_start_matches("//")
                    .split('?')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }
            Ok(u) => {
                let host = u.host_str().unwrap_or("localhost");
                let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
                format!("{host}{port}{}", u.path())
            }
            Err(_) => format!("{}://{MASK}", self.scheme()),
        }
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({})", self.redacted())
    }
}

/// The set of secret strings of one migration; `mask` replaces each occurrence with `***`.
#[derive(Clone, Default)]
pub struct Secrets(Arc<Vec<String>>);

impl Secrets {
    /// Values shorter than 4 characters are not masked: masking "1" or "on" everywhere would
    /// garble output while protecting nothing.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut v: Vec<String> = values
            .into_iter()
            .filter(|s| s.chars().count() >= 4)
            .collect();
        // Longest first, so a secret containing another is masked whole.
        v.sort_by_key(|s| std::cmp::Reverse(s.len()));
        v.dedup();
        Self(Arc::new(v))
    }

    pub fn mask(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.0.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secrets({} masked)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_password_is_masked_everywhere_it_formats() {
        let u = SecretUrl::new("postgres://app:s3cr%40t@db.example:5432/prod?sslmode=require");
        assert_eq!(u.password().as_deref(), Some("s3cr@t"));
        for shown in [
            u.to_string(),
            format!("{u:?}"),
            u.redacted(),
            u.display_target(),
        ] {
            assert!(!shown.contains("s3cr"), "{shown}");
        }
        assert_eq!(u.display_target(), "db.example:5432/prod");
    }

    #[test]
    fn query_password_is_masked() {
        let u = SecretUrl::new("mysql://root@localhost/test?password=hunter22");
        assert!(!u.redacted().contains("hunter22"));
    }

    #[test]
    fn secrets_mask_longest_first() {
        let s = Secrets::new(["abcd".to_string(), "abcdef".to_string(), "x".to_string()]);
        assert_eq!(s.mask("pw=abcdef; x"), "pw=***; x");
    }
}
