//! The phase plan and its gates. Pure logic: what comes next, what may be undone, and whether
//! the gates let the operator through. Persisting transitions is the store's job.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The phases of the expand → contract playbook, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseId {
    Plan,
    Expand,
    DualWrite,
    Backfill,
    Shadow,
    ReadNew,
    StopOldWrites,
    Backup,
    Drop,
    Done,
}

impl PhaseId {
    pub const ALL: [PhaseId; 10] = [
        PhaseId::Plan,
        PhaseId::Expand,
        PhaseId::DualWrite,
        PhaseId::Backfill,
        PhaseId::Shadow,
        PhaseId::ReadNew,
        PhaseId::StopOldWrites,
        PhaseId::Backup,
        PhaseId::Drop,
        PhaseId::Done,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PhaseId::Plan => "plan",
            PhaseId::Expand => "expand",
            PhaseId::DualWrite => "dual_write",
            PhaseId::Backfill => "backfill",
            PhaseId::Shadow => "shadow",
            PhaseId::ReadNew => "read_new",
            PhaseId::StopOldWrites => "stop_old_writes",
            PhaseId::Backup => "backup",
            PhaseId::Drop => "drop",
            PhaseId::Done => "done",
        }
    }

    /// Position in the default plan (0 = plan).
    pub fn number(self) -> usize {
        self as usize
    }

    /// Entering this phase cannot be undone: leaving the phase before it is a one-way door.
    pub fn is_one_way_door(self) -> bool {
        matches!(self, PhaseId::StopOldWrites | PhaseId::Drop)
    }

    /// What migtui does in this phase, in a sentence, for screens and `status`.
    pub fn summary(self) -> &'static str {
        match self {
            PhaseId::Plan => "validate the config, connect, check both schemas",
            PhaseId::Expand => "create the new model (optional expand DDL) and check it exists",
            PhaseId::DualWrite => {
                "the application writes both models; compare recently changed rows"
            }
            PhaseId::Backfill => "copy existing rows into the new model, step by step",
            PhaseId::Shadow => "sample and compare rows; probe latency per read path",
            PhaseId::ReadNew => "reads go to the new model behind the flag",
            PhaseId::StopOldWrites => "the application stops writing the old model",
            PhaseId::Backup => "back up what will be dropped and verify it",
            PhaseId::Drop => "run the contract DDL that drops the old model",
            PhaseId::Done => "the migration is complete",
        }
    }
}

impl fmt::Display for PhaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PhaseId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhaseId::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = PhaseId::ALL.iter().map(|p| p.as_str()).collect();
                format!("unknown phase `{s}` (phases: {})", names.join(", "))
            })
    }
}

/// One gate: a measured value against a threshold, with a sentence a person can act on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gate {
    pub name: String,
    /// What was measured, rendered (`"1,204 rows"`, `"0.08%"`), or `None` if not measured yet.
    pub measured: Option<String>,
    /// The bar to meet, rendered (`"≤ 0.10%"`).
    pub threshold: String,
    pub pass: bool,
    /// Why it passes or fails, and what to do about a failure.
    pub explanation: String,
}

impl Gate {
    pub fn pass(
        name: &str,
        measured: impl Into<String>,
        threshold: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Gate {
            name: name.into(),
            measured: Some(measured.into()),
            threshold: threshold.into(),
            pass: true,
            explanation: why.into(),
        }
    }

    pub fn fail(
        name: &str,
        measured: Option<String>,
        threshold: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Gate {
            name: name.into(),
            measured,
            threshold: threshold.into(),
            pass: false,
            explanation: why.into(),
        }
    }
}

/// The phases this migration runs, in order (the default plan minus the skipped ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    phases: Vec<PhaseId>,
}

impl Plan {
    /// The default plan without `skip`. `plan` and `done` are always kept.
    pub fn new(skip: &[PhaseId]) -> Self {
        let phases = PhaseId::ALL
            .into_iter()
            .filter(|p| matches!(p, PhaseId::Plan | PhaseId::Done) || !skip.contains(p))
            .collect();
        Plan { phases }
    }

    pub fn phases(&self) -> &[PhaseId] {
        &self.phases
    }

    pub fn contains(&self, p: PhaseId) -> bool {
        self.phases.contains(&p)
    }

    /// The phase after `current`, or `None` at `done`.
    pub fn next(&self, current: PhaseId) -> Option<PhaseId> {
        self.phases.iter().copied().find(|p| *p > current)
    }

    /// The phase before `current`, or `None` at `plan`.
    pub fn previous(&self, current: PhaseId) -> Option<PhaseId> {
        self.phases.iter().rev().copied().find(|p| *p < current)
    }

    /// Where a rollback from `current` would go, or why it cannot. Going back across a one-way
    /// door is refused: once old writes stopped or columns were dropped, the old model is stale.
    pub fn rollback_target(&self, current: PhaseId) -> Result<PhaseId, String> {
        if current.is_one_way_door()
            || current > PhaseId::StopOldWrites && self.contains(PhaseId::StopOldWrites)
        {
            return Err(format!(
                "cannot roll back from `{current}`: the migration has passed a one-way door \
                 (the application no longer writes the old model); fix forward instead"
            ));
        }
        if current >= PhaseId::Drop {
            return Err(format!(
                "cannot roll back from `{current}`: the contract DDL has run; use `migtui restore`"
            ));
        }
        self.previous(current)
            .ok_or_else(|| "already at `plan`, the first phase".to_string())
    }
}

/// The outcome of asking to advance: allowed, allowed by override, or refused with the gates.
#[derive(Debug, Clone, PartialEq)]
pub enum AdvanceDecision {
    Allowed,
    /// Gates failed, but the operator typed a reason; the reason goes to the audit log.
    Overridden {
        reason: String,
        failing: Vec<Gate>,
    },
    Refused {
        failing: Vec<Gate>,
    },
}

/// Decide whether the gates of the current phase let the operator advance.
pub fn decide(gates: &[Gate], override_reason: Option<&str>) -> AdvanceDecision {
    let failing: Vec<Gate> = gates.iter().filter(|g| !g.pass).cloned().collect();
    if failing.is_empty() {
        return AdvanceDecision::Allowed;
    }
    match override_reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => AdvanceDecision::Overridden {
            reason: reason.to_string(),
            failing,
        },
        None => AdvanceDecision::Refused { failing },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skipped_phases_are_stepped_over_both_ways() {
        let plan = Plan::new(&[PhaseId::Expand, PhaseId::Plan]);
        assert_eq!(plan.next(PhaseId::Plan), Some(PhaseId::DualWrite));
        assert_eq!(plan.previous(PhaseId::DualWrite), Some(PhaseId::Plan));
        assert!(plan.contains(PhaseId::Plan), "plan cannot be skipped");
        assert_eq!(plan.next(PhaseId::Done), None);
    }

    #[test]
    fn rollback_stops_at_one_way_doors() {
        let plan = Plan::new(&[]);
        assert_eq!(plan.rollback_target(PhaseId::ReadNew), Ok(PhaseId::Shadow));
        assert!(plan.rollback_target(PhaseId::StopOldWrites).is_err());
        assert!(plan.rollback_target(PhaseId::Backup).is_err());
        assert!(plan.rollback_target(PhaseId::Done).is_err());
        assert!(plan.rollback_target(PhaseId::Plan).is_err());
    }

    #[test]
    fn failing_gate_needs_a_non_blank_reason() {
        let gates = vec![
            Gate::pass("a", "1", "≥ 1", "ok"),
            Gate::fail("b", None, "≥ 1", "not measured yet"),
        ];
        assert!(
            matches!(decide(&gates, None), AdvanceDecision::Refused { failing } if failing.len() == 1)
        );
        assert!(matches!(
            decide(&gates, Some("   ")),
            AdvanceDecision::Refused { .. }
        ));
        assert!(matches!(
            decide(&gates, Some("approved by DBA")),
            AdvanceDecision::Overridden { .. }
        ));
        assert_eq!(decide(&gates[..1], None), AdvanceDecision::Allowed);
    }

    #[test]
    fn phase_names_round_trip() {
        for p in PhaseId::ALL {
            assert_eq!(p.as_str().parse::<PhaseId>(), Ok(p));
        }
        assert!(
            "dualwrite"
                .parse::<PhaseId>()
                .unwrap_err()
                .contains("dual_write")
        );
    }
}
