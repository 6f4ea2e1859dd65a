//! Migration files for session tests: the smallest valid file, pointing at test databases.

use std::path::Path;

use migtui::config::Config;

/// A migration named `name` with `old` and `new` at the given URLs, the state store in `new`,
/// and a lease ttl of `ttl_secs`. Parsed by the real parser, so it stays a valid file.
pub fn migration(name: &str, old_url: &str, new_url: &str, ttl_secs: u64) -> Config {
    let text = format!(
        r#"
[migration]
name = "{name}"

[databases.old]
url = "{old_url}"

[databases.new]
url = "{new_url}"

[state]
database = "new"
lease_ttl_secs = {ttl_secs}
"#
    );
    migtui::config::parse_text(Path::new("session-test.toml"), &text, &|_| None)
        .unwrap_or_else(|e| panic!("test migration file:\n{e}"))
}
