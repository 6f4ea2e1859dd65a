//! Open risks at the time of the report, judged from what was recorded: open divergences, a
//! divergence bound or a latency budget not met, gates that failed (overridden or refused),
//! backups not verified, backfill steps not complete.

use crate::config::Config;
use crate::engine::phase::PhaseId;

use super::gather::open_divergences;
use super::model::{Report, Risk};

fn risk(kind: &str, detail: String) -> Risk {
    Risk {
        kind: kind.to_string(),
        detail,
    }
}

/// Every open risk, most serious first.
pub fn risks(r: &Report, config: &Config) -> Vec<Risk> {
    let mut out = Vec::new();
    let open = open_divergences(&r.divergences.by_status);
    if open > 0 {
        out.push(risk(
            "open_divergences",
            format!(
                "{open} divergent key(s) still open (confirmed by a recheck, not acknowledged)"
            ),
        ));
    }
    let max_bound = config.phases.shadow_max_divergence_bound;
    for c in &r.verification {
        let (bound, divergent, compared, unit) = c.gating_bound();
        if compared > 0 && bound > max_bound {
            out.push(risk(
                "failing_gate",
                format!(
                    "check `{}`: 95% upper bound {} above the shadow gate's {} ({divergent} of {compared} {unit} divergent)",
                    c.check,
                    percent(bound),
                    percent(max_bound),
                ),
            ));
        }
    }
    for p in &r.latency {
        for b in &p.breaches {
            out.push(risk(
                "latency_over_budget",
                format!("{b} over the report's span"),
            ));
        }
    }
    // The newest advance refused for failing gates after the last phase change still stands.
    let last_change = r.timeline.last().map(|t| t.at);
    if let Some(refused) = r.audit.iter().rev().find(|a| {
        a.action == "advance"
            && a.outcome.starts_with("refused")
            && a.params["failing_gates"].is_array()
            && last_change.is_none_or(|t| a.at > t)
    }) {
        let names: Vec<&str> = refused.params["failing_gates"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str())
            .collect();
        if !names.is_empty() {
            out.push(risk(
                "failing_gate",
                format!(
                    "the last advance ({}) was refused: `{}` failing",
                    refused.at.human(),
                    names.join("`, `")
                ),
            ));
        }
    }
    for t in r.timeline.iter().filter(|t| t.kind == "override") {
        out.push(risk(
            "gate_overridden",
            format!(
                "`{}` → `{}` at {} by {} through failing gate(s) {}: \"{}\"",
                t.from,
                t.to,
                t.at.human(),
                t.operator,
                t.failing_gates
                    .iter()
                    .map(|g| format!("`{g}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                t.reason.as_deref().unwrap_or("")
            ),
        ));
    }
    for b in r.backups.iter().filter(|b| b.status != "verified") {
        out.push(risk(
            "unverified_backup",
            format!(
                "backup `{}` (`{}`) is {}{}",
                b.name,
                b.location,
                b.status,
                b.detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ),
        ));
    }
    let backed_up = |name: &str| r.backups.iter().any(|b| b.name == name);
    if r.migration.phase >= PhaseId::Backup {
        for spec in config.backups.iter().filter(|s| !backed_up(&s.name)) {
            out.push(risk(
                "unverified_backup",
                format!("backup `{}` was never recorded", spec.name),
            ));
        }
    }
    if r.migration.phase > PhaseId::Backfill {
        for s in r.backfill.iter().filter(|s| s.status != "complete") {
            out.push(risk(
                "backfill_incomplete",
                format!(
                    "step `{}` is {} in phase `{}`",
                    s.step, s.status, r.migration.phase
                ),
            ));
        }
    }
    out
}

/// A rate as a percentage with enough digits to tell small bounds apart.
pub fn percent(rate: f64) -> String {
    let p = rate * 100.0;
    if p == 0.0 {
        "0%".into()
    } else if p >= 1.0 {
        format!("{p:.2}%")
    } else {
        format!("{p:.4}%")
    }
}
