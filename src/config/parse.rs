//! From the spanned TOML tree to [`Config`]: the top level, migration, databases, state and
//! phases. Expand, flag, backup and contract are in `sections.rs`; the steps (backfill,
//! verify, path) in `steps.rs`.
//! References between sections are collected in [`Refs`] and checked once everything is read.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::str::FromStr;

use toml::de::{DeTable, DeValue};

use super::read::{Section, Str, wrong_type};
use super::source::{Cx, did_you_mean};
use super::*;
use super::{path, sections, steps};
use crate::engine::phase::PhaseId;
use crate::secret::SecretUrl;

const SECTIONS: &[&str] = &[
    "migration",
    "databases",
    "state",
    "phases",
    "expand",
    "flag",
    "backfill",
    "verify",
    "path",
    "backup",
    "contract",
    "notify",
];

/// What a name in the file refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefKind {
    Database,
    Path,
    Verify,
}

/// Names used before (or without) being declared, checked when the whole file is read.
#[derive(Default)]
pub(crate) struct Refs {
    uses: Vec<(RefKind, Str, String)>,
    /// Database name → URL, for `pushdown` (both sides in one database).
    pub urls: BTreeMap<String, String>,
    /// Names that must be unique within their kind of section, in file order.
    declared: Vec<(&'static str, Str)>,
}

impl Refs {
    /// Remember that `name` (used in `what`) must name a declared `kind`.
    pub fn uses(&mut self, kind: RefKind, name: &Str, what: impl Into<String>) {
        self.uses.push((kind, name.clone(), what.into()));
    }

    /// Remember the name of a `[[section]]` that must be unique among its kind.
    pub fn declare(&mut self, section: &'static str, name: &Str) {
        self.declared.push((section, name.clone()));
    }

    fn check_unique(&self, cx: &mut Cx<'_>) {
        let mut seen: HashMap<(&str, &str), usize> = HashMap::new();
        for (section, n) in &self.declared {
            if let Some(first) = seen.get(&(*section, n.value.as_str())) {
                let line = cx.loc(*first).line;
                cx.problem(
                    n.at,
                    format!(
                        "duplicate {section} name `{}` (first used on line {line})",
                        n.value
                    ),
                    Some("names identify these in the state store and the cockpit: give each its own".to_string()),
                );
            } else {
                seen.insert((section, &n.value), n.at);
            }
        }
    }

    fn check(&self, cx: &mut Cx<'_>, kind: RefKind, declared: &[&str]) {
        for (k, name, what) in &self.uses {
            if *k != kind || declared.contains(&name.value.as_str()) {
                continue;
            }
            let (noun, section) = match kind {
                RefKind::Database => ("database", "[databases.NAME]"),
                RefKind::Path => ("read path", "[[path]]"),
                RefKind::Verify => ("verify check", "[[verify]]"),
            };
            let hint = match did_you_mean(&name.value, declared.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None if declared.is_empty() => format!("no {section} is declared"),
                None => format!("declared: {}", declared.join(", ")),
            };
            cx.problem(
                name.at,
                format!("{what} refers to unknown {noun} `{}`", name.value),
                Some(hint),
            );
        }
    }
}

/// Read the whole document. `None` only when problems were reported.
pub(crate) fn config(cx: &mut Cx<'_>, root: &DeTable<'_>, path: &Path) -> Option<Config> {
    let top = Section::new("the file", root, 0);
    for (k, _) in root.iter() {
        let key = k.get_ref().as_ref();
        if !SECTIONS.contains(&key) {
            let hint = match did_you_mean(key, SECTIONS.iter().copied()) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("sections: {}", SECTIONS.join(", ")),
            };
            cx.problem(
                k.span().start,
                format!("unknown section `{key}`"),
                Some(hint),
            );
        }
    }
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut refs = Refs::default();

    let migration = migration(cx, &top);
    let (databases, declared_databases) = databases(cx, &top, &mut refs);
    let state = state(cx, &top, &mut refs);
    let phases = phases(cx, &top);
    let expand = top
        .table(cx, "expand")
        .map(|s| sections::expand(cx, &s, &mut refs));
    let flag = top
        .table(cx, "flag")
        .and_then(|s| sections::flag(cx, &s, &mut refs, &base));
    let backfill = array_of_tables(cx, &top, "backfill", "name")
        .iter()
        .filter_map(|s| steps::backfill(cx, s, &mut refs))
        .collect::<Vec<_>>();
    let verify = array_of_tables(cx, &top, "verify", "name")
        .iter()
        .filter_map(|s| steps::verify(cx, s, &mut refs, &databases))
        .collect::<Vec<_>>();
    let paths = array_of_tables(cx, &top, "path", "name")
        .iter()
        .filter_map(|s| path::read_path(cx, s, &mut refs))
        .collect::<Vec<_>>();
    let backups = array_of_tables(cx, &top, "backup", "table")
        .iter()
        .filter_map(|s| sections::backup(cx, s, &mut refs, &base))
        .collect::<Vec<_>>();
    let contract = top
        .table(cx, "contract")
        .and_then(|s| sections::contract(cx, &s, &mut refs));
    let notify = top
        .table(cx, "notify")
        .and_then(|s| super::notify::notify(cx, &s));

    refs.check_unique(cx);
    let db_names: Vec<&str> = declared_databases.iter().map(String::as_str).collect();
    refs.check(cx, RefKind::Database, &db_names);
    let path_names: Vec<&str> = paths.iter().map(|p| p.name.as_str()).collect();
    refs.check(cx, RefKind::Path, &path_names);
    let verify_names: Vec<&str> = verify.iter().map(|v| v.name.as_str()).collect();
    refs.check(cx, RefKind::Verify, &verify_names);
    auto_rollback_needs_flag(cx, &top, phases.as_ref());

    let migration = migration?;
    let secrets = cx.secrets.clone();
    if !cx.problems.is_empty() {
        return None;
    }
    Some(Config {
        path: path.to_path_buf(),
        migration,
        databases,
        state: state?,
        phases: phases?,
        expand: expand.flatten(),
        flag,
        backfill,
        verify,
        paths,
        backups,
        contract,
        notify,
        secrets: crate::secret::Secrets::new(secrets),
    })
}

/// The elements of `[[key]]`, each labelled by its `name_key` (or its position).
fn array_of_tables<'a, 'i>(
    cx: &mut Cx<'_>,
    top: &Section<'a, 'i>,
    key: &str,
    name_key: &str,
) -> Vec<Section<'a, 'i>> {
    let Some(v) = top.get(key) else {
        return Vec::new();
    };
    let example = format!("[[{key}]]");
    let DeValue::Array(items) = v.get_ref() else {
        wrong_type(cx, v, &format!("`{key}`"), "an array of tables", &example);
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let DeValue::Table(t) = item.get_ref() else {
            wrong_type(cx, item, &format!("`{key}`"), "a table", &example);
            continue;
        };
        let label = match t
            .iter()
            .find(|(k, _)| k.get_ref().as_ref() == name_key)
            .and_then(|(_, v)| v.get_ref().as_str())
        {
            Some(name) => format!("[[{key}]] \"{name}\""),
            None => format!("[[{key}]] #{}", i + 1),
        };
        out.push(Section::new(label, t, item.span().start));
    }
    out
}

fn migration(cx: &mut Cx<'_>, top: &Section<'_, '_>) -> Option<MigrationMeta> {
    let Some(s) = top.table(cx, "migration") else {
        if !top.has("migration") {
            cx.problem(
                0,
                "the file has no [migration] section",
                Some("start the file with `[migration]` and `name = \"…\"`".to_string()),
            );
        }
        return None;
    };
    let s = Section::new("[migration]", s.table, s.at);
    s.only(cx, &["name", "description"]);
    let name = s.req_str(cx, "name");
    let description = s.str(cx, "description").map(|d| d.value);
    Some(MigrationMeta {
        name: name?.value,
        description,
    })
}

const SCHEMES: &[&str] = &["postgres", "postgresql", "mysql", "sqlite"];

/// The databases that parsed, and the names of every one declared (a database whose URL has a
/// problem is still declared: references to it are not reported as unknown on top of that).
fn databases(
    cx: &mut Cx<'_>,
    top: &Section<'_, '_>,
    refs: &mut Refs,
) -> (BTreeMap<String, DatabaseConfig>, Vec<String>) {
    let mut out = BTreeMap::new();
    let Some(all) = top.table(cx, "databases") else {
        if !top.has("databases") {
            cx.problem(
                0,
                "the file has no [databases.old] and [databases.new]",
                Some(
                    "add `[databases.old]` and `[databases.new]`, each with `url = \"${…}\"`"
                        .to_string(),
                ),
            );
        }
        return (out, Vec::new());
    };
    for (k, v) in all.table.iter() {
        let name = k.get_ref().as_ref();
        let DeValue::Table(t) = v.get_ref() else {
            wrong_type(
                cx,
                v,
                &format!("`databases.{name}`"),
                "a table",
                &format!("[databases.{name}]"),
            );
            continue;
        };
        let s = Section::new(format!("[databases.{name}]"), t, v.span().start);
        s.only(cx, &["url", "max_connections", "statement_timeout_ms"]);
        let url = s.req_str(cx, "url").and_then(|u| database_url(cx, &s, u));
        let max_connections = s.uint(cx, "max_connections").unwrap_or(4);
        if max_connections == 0 || max_connections > u64::from(u32::MAX) {
            cx.problem(
                s.key_at("max_connections"),
                format!("`max_connections` in {} must be at least 1", s.label),
                None,
            );
        }
        let statement_timeout_ms = s.uint(cx, "statement_timeout_ms").unwrap_or(30_000);
        if let Some(url) = url {
            refs.urls.insert(name.to_string(), url.expose().to_string());
            out.insert(
                name.to_string(),
                DatabaseConfig {
                    name: name.to_string(),
                    url,
                    max_connections: u32::try_from(max_connections).unwrap_or(4),
                    statement_timeout_ms,
                    at: cx.loc(s.at),
                },
            );
        }
    }
    let declared: Vec<&str> = all
        .table
        .iter()
        .map(|(k, _)| k.get_ref().as_ref())
        .collect();
    for required in ["old", "new"] {
        if !all.has(required) {
            let hint = match did_you_mean(required, declared.iter().copied()) {
                Some(typo) => format!("rename `[databases.{typo}]` to `[databases.{required}]`?"),
                None => format!(
                    "every migration has an `old` and a `new` database: add `[databases.{required}]` with `url = \"${{…}}\"` (they may be the same URL)"
                ),
            };
            cx.problem(
                all.at,
                format!("[databases.{required}] is missing"),
                Some(hint),
            );
        }
    }
    let declared = declared.into_iter().map(str::to_string).collect();
    (out, declared)
}

/// Check a database URL's scheme and shape; errors show it with the password masked.
fn database_url(cx: &mut Cx<'_>, s: &Section<'_, '_>, url: Str) -> Option<SecretUrl> {
    let secret = SecretUrl::new(url.value.clone());
    // A password written in the file itself is masked too, whatever else is wrong.
    if let Some(password) = secret.password() {
        cx.secrets.push(password);
    }
    let scheme = secret.scheme();
    let hint = "use postgres://…, mysql://… (MySQL and MariaDB) or sqlite://FILE";
    if !url.value.contains(':') {
        cx.problem(
            url.at,
            format!(
                "`url` in {} is not a database URL: it has no scheme",
                s.label
            ),
            Some(hint.to_string()),
        );
        return None;
    }
    if !SCHEMES.contains(&scheme.as_str()) {
        let shown = secret.redacted();
        cx.problem(
            url.at,
            format!(
                "`url` in {}: unsupported database URL scheme `{scheme}` in {shown}",
                s.label
            ),
            Some(hint.to_string()),
        );
        return None;
    }
    if scheme != "sqlite"
        && let Err(e) = url::Url::parse(&url.value)
    {
        cx.problem(
            url.at,
            format!(
                "`url` in {}: not a valid URL ({e}): {}",
                s.label,
                secret.redacted()
            ),
            Some(
                "percent-encode special characters in the user and password (`@` is %40)"
                    .to_string(),
            ),
        );
        return None;
    }
    Some(secret)
}

/// A database name, defaulting to `default`, remembered for the reference check.
pub(crate) fn database_ref(
    cx: &mut Cx<'_>,
    s: &Section<'_, '_>,
    key: &str,
    default: &str,
    refs: &mut Refs,
) -> String {
    match s.str(cx, key) {
        Some(name) => {
            refs.uses(RefKind::Database, &name, format!("`{key}` in {}", s.label));
            name.value
        }
        None => default.to_string(),
    }
}

fn state(cx: &mut Cx<'_>, top: &Section<'_, '_>, refs: &mut Refs) -> Option<StateConfig> {
    let mut out = StateConfig {
        database: "new".to_string(),
        lease_ttl_secs: 30,
    };
    if let Some(s) = top.table(cx, "state") {
        let s = Section::new("[state]", s.table, s.at);
        s.only(cx, &["database", "lease_ttl_secs"]);
        out.database = database_ref(cx, &s, "database", "new", refs);
        out.lease_ttl_secs = positive(cx, &s, "lease_ttl_secs").unwrap_or(30);
    } else if top.has("state") {
        return None;
    }
    Some(out)
}

/// An integer that must be at least 1.
pub(crate) fn positive(cx: &mut Cx<'_>, s: &Section<'_, '_>, key: &str) -> Option<u64> {
    let n = s.uint(cx, key)?;
    if n == 0 {
        cx.problem(
            s.key_at(key),
            format!("`{key}` in {} must be at least 1", s.label),
            None,
        );
        return None;
    }
    Some(n)
}

/// A fraction between 0 and 1.
fn fraction(cx: &mut Cx<'_>, s: &Section<'_, '_>, key: &str) -> Option<f64> {
    let n = s.float(cx, key)?;
    if n > 1.0 {
        cx.problem(
            s.key_at(key),
            format!("`{key}` in {} is a fraction between 0 and 1", s.label),
            Some(format!("0.999 means 99.9%; found {n}")),
        );
        return None;
    }
    Some(n)
}

/// The automatic rollback flips the read flag back: without a `[flag]` it could do nothing, and
/// an operator relying on it at night must hear that now, not after a breach.
fn auto_rollback_needs_flag(cx: &mut Cx<'_>, top: &Section<'_, '_>, p: Option<&PhasesConfig>) {
    if !p.is_some_and(|p| p.auto_rollback) || top.has("flag") {
        return;
    }
    if let Some(s) = top.table(cx, "phases") {
        let s = Section::new("[phases]", s.table, s.at);
        cx.problem(
            s.key_at("auto_rollback"),
            "`auto_rollback` in [phases] needs a [flag] to flip back".to_string(),
            Some(
                "declare the read flag the application reads ([flag]), or remove auto_rollback"
                    .into(),
            ),
        );
    }
}

fn phases(cx: &mut Cx<'_>, top: &Section<'_, '_>) -> Option<PhasesConfig> {
    let mut p = PhasesConfig {
        skip: Vec::new(),
        dual_write_min_agreement: 0.999,
        shadow_max_divergence_bound: 0.001,
        shadow_min_samples: 10_000,
        shadow_min_minutes: 10,
        read_new_stable_minutes: 30,
        auto_rollback: false,
        auto_rollback_after_secs: 120,
    };
    let Some(s) = top.table(cx, "phases") else {
        return (!top.has("phases")).then_some(p);
    };
    let s = Section::new("[phases]", s.table, s.at);
    s.only(
        cx,
        &[
            "skip",
            "dual_write_min_agreement",
            "shadow_max_divergence_bound",
            "shadow_min_samples",
            "shadow_min_minutes",
            "read_new_stable_minutes",
            "auto_rollback",
            "auto_rollback_after_secs",
        ],
    );
    let names: Vec<&str> = PhaseId::ALL.iter().map(|p| p.as_str()).collect();
    for name in s.str_list(cx, "skip", false).unwrap_or_default() {
        match PhaseId::from_str(&name.value) {
            Ok(PhaseId::Plan | PhaseId::Done) => cx.problem(
                name.at,
                format!("phase `{}` cannot be skipped", name.value),
                Some("`plan` and `done` are always part of the plan".to_string()),
            ),
            Ok(id) => p.skip.push(id),
            Err(_) => {
                let hint = match did_you_mean(&name.value, names.iter().copied()) {
                    Some(m) => format!("did you mean `{m}`?"),
                    None => format!("phases: {}", names.join(", ")),
                };
                cx.problem(
                    name.at,
                    format!("unknown phase `{}` in `skip` of [phases]", name.value),
                    Some(hint),
                );
            }
        }
    }
    if let Some(v) = fraction(cx, &s, "dual_write_min_agreement") {
        p.dual_write_min_agreement = v;
    }
    if let Some(v) = fraction(cx, &s, "shadow_max_divergence_bound") {
        p.shadow_max_divergence_bound = v;
    }
    if let Some(v) = s.uint(cx, "shadow_min_samples") {
        p.shadow_min_samples = v;
    }
    if let Some(v) = s.uint(cx, "shadow_min_minutes") {
        p.shadow_min_minutes = v;
    }
    if let Some(v) = s.uint(cx, "read_new_stable_minutes") {
        p.read_new_stable_minutes = v;
    }
    if let Some(v) = s.bool(cx, "auto_rollback") {
        p.auto_rollback = v;
    }
    if let Some(v) = positive(cx, &s, "auto_rollback_after_secs") {
        p.auto_rollback_after_secs = v;
    }
    Some(p)
}
