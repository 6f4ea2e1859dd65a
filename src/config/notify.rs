//! `[notify]`: a command run on each phase change, one-way door, automatic rollback and gate
//! override, with the event as JSON on its standard input.

use toml::de::DeValue;

use super::model::Location;
use super::read::{Section, as_str, wrong_type};
use super::source::{Cx, did_you_mean};

/// What a notifier is told about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyEvent {
    PhaseChange,
    OneWayDoor,
    AutoRollback,
    GateOverride,
}

impl NotifyEvent {
    pub const ALL: [NotifyEvent; 4] = [
        NotifyEvent::PhaseChange,
        NotifyEvent::OneWayDoor,
        NotifyEvent::AutoRollback,
        NotifyEvent::GateOverride,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotifyEvent::PhaseChange => "phase_change",
            NotifyEvent::OneWayDoor => "one_way_door",
            NotifyEvent::AutoRollback => "auto_rollback",
            NotifyEvent::GateOverride => "gate_override",
        }
    }

    fn parse(s: &str) -> Option<NotifyEvent> {
        NotifyEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

/// How the notifier is started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyCommand {
    /// A program and its arguments, run directly.
    Argv(Vec<String>),
    /// A command line run by `sh -c`.
    Shell(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct NotifyConfig {
    pub command: NotifyCommand,
    /// The notifier is killed after this many seconds (default 5).
    pub timeout_secs: u64,
    /// The events it is told about (default: all).
    pub on: Vec<NotifyEvent>,
    pub at: Location,
}

impl NotifyConfig {
    pub fn wants(&self, e: NotifyEvent) -> bool {
        self.on.contains(&e)
    }
}

const EXAMPLE: &str = "command = [\"/usr/local/bin/page-oncall\", \"--team\", \"db\"]";

pub(crate) fn notify(cx: &mut Cx<'_>, s: &Section<'_, '_>) -> Option<NotifyConfig> {
    let s = Section::new("[notify]", s.table, s.at);
    s.only(cx, &["command", "timeout_secs", "on"]);
    let command = match s.get("command") {
        None => {
            s.missing(cx, "command", EXAMPLE);
            None
        }
        Some(v) => match v.get_ref() {
            DeValue::String(_) => {
                let c = as_str(cx, v, "`command` in [notify]", EXAMPLE)?;
                if c.value.trim().is_empty() {
                    cx.problem(
                        c.at,
                        "`command` in [notify] is empty",
                        Some(format!("e.g. {EXAMPLE}")),
                    );
                    None
                } else {
                    Some(NotifyCommand::Shell(c.value))
                }
            }
            DeValue::Array(_) => {
                let argv = s.str_list(cx, "command", false)?;
                if argv.first().is_none_or(|a| a.value.trim().is_empty()) {
                    cx.problem(
                        v.span().start,
                        "`command` in [notify] names no program",
                        Some(format!("the first element is the program: {EXAMPLE}")),
                    );
                    None
                } else {
                    Some(NotifyCommand::Argv(
                        argv.into_iter().map(|a| a.value).collect(),
                    ))
                }
            }
            _ => {
                let expected =
                    "an array of strings (program and arguments) or a string (run by sh -c)";
                wrong_type(cx, v, "`command` in [notify]", expected, EXAMPLE);
                None
            }
        },
    };
    let timeout_secs = match s.uint(cx, "timeout_secs") {
        Some(0) => {
            cx.problem(
                s.key_at("timeout_secs"),
                "`timeout_secs` in [notify] must be at least 1",
                Some("a notifier gets a few seconds; the default is 5".to_string()),
            );
            5
        }
        Some(n) => n,
        None => 5,
    };
    let mut on = Vec::new();
    if s.has("on") {
        for e in s.str_list(cx, "on", true).unwrap_or_default() {
            match NotifyEvent::parse(&e.value) {
                Some(ev) if !on.contains(&ev) => on.push(ev),
                Some(_) => {}
                None => {
                    let names = NotifyEvent::ALL.map(NotifyEvent::as_str);
                    let hint = match did_you_mean(&e.value, names.iter().copied()) {
                        Some(n) => format!("did you mean `{n}`?"),
                        None => format!("events: {}", names.join(", ")),
                    };
                    cx.problem(
                        e.at,
                        format!("`on` in [notify]: unknown event `{}`", e.value),
                        Some(hint),
                    );
                }
            }
        }
    } else {
        on = NotifyEvent::ALL.to_vec();
    }
    Some(NotifyConfig {
        command: command?,
        timeout_secs,
        on,
        at: cx.loc(s.at),
    })
}
