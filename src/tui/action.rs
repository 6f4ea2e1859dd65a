//! What a key asks for (`Action`), and what handling it asks the app to do (`Effect`).
//! Keymap rows name actions in snake_case (`flip_flag`), so the help overlay, the footer and
//! read-only mode all come from the same data.

use serde::{Deserialize, Serialize};

use crate::engine::flag::FlagValue;
use crate::engine::session::Command;

/// Everything a binding can do. Global actions are handled by the app; the rest go to the
/// screen on show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    // ── global ──
    Quit,
    Help,
    NextScreen,
    PrevScreen,
    ShowOverview,
    ShowBackfill,
    ShowDivergences,
    ShowLatency,
    ShowLog,
    // ── driving the migration (each ends in a session `Command`) ──
    Advance,
    Rollback,
    FlipFlag,
    RefreshGates,
    TakeOver,
    StartBackfill,
    PauseResumeBackfill,
    RateUp,
    RateDown,
    ChunkUp,
    ChunkDown,
    ChunkAuto,
    FullVerify,
    Backup,
    Contract,
    Export,
    // ── lists and tables ──
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    CycleStatus,
    CycleCheck,
    // ── divergences ──
    Recheck,
    Acknowledge,
    CopyKey,
    ShowSql,
}

/// A confirmation or a typed answer the app asks for before acting.
#[derive(Debug, Clone, PartialEq)]
pub struct Prompt {
    pub title: String,
    /// What will happen, one line each (gates with ✓/✗, `current → new`, what is dropped).
    pub lines: Vec<String>,
    /// Styled as dangerous (red border, "DANGEROUS" in the title).
    pub dangerous: bool,
    /// A one-way door: says so, in words, above the input.
    pub one_way: bool,
    /// The input's label (`reason`, `type "incidents" to confirm`); `None`: a yes/no prompt.
    pub input: Option<String>,
    /// The typed text must equal this (a table or migration name) before Enter is accepted.
    pub must_equal: Option<String>,
    /// Enter is refused while the input is empty (reasons are never blank).
    pub required: bool,
    pub then: Then,
}

/// What a submitted prompt turns into; see `Then::command`.
#[derive(Debug, Clone, PartialEq)]
pub enum Then {
    /// Advance; `text` is the override reason when `with_override`, the confirmation when
    /// `one_way` (a failing one-way door asks twice: confirmation first, then the reason).
    Advance {
        with_override: bool,
        confirm: Option<String>,
    },
    Rollback,
    SetFlag {
        to: FlagValue,
    },
    TakeOver,
    PauseBackfill,
    FullVerify,
    Backup,
    Contract {
        override_reason: Option<String>,
    },
    Acknowledge {
        check: String,
        key: String,
    },
    /// The divergence table's text filter (no command: the screen applies it).
    FilterDivergences,
    /// The Log screen's text filter (no command: the screen applies it).
    FilterLog,
    /// The name typed at a one-way door; when gates fail (`failing`) a reason prompt follows
    /// (`Then::Advance { with_override: true, confirm: Some(name) }`).
    ConfirmDoor {
        failing: bool,
    },
}

impl Then {
    /// The session command for a submitted prompt, or `None` when the answer stays in the UI
    /// (or another prompt follows).
    pub fn command(&self, text: &str) -> Option<Command> {
        let text = text.trim().to_string();
        let opt = |s: String| if s.is_empty() { None } else { Some(s) };
        Some(match self {
            Then::Advance {
                with_override,
                confirm,
            } => Command::Advance {
                override_reason: if *with_override { opt(text) } else { None },
                confirm: confirm.clone(),
            },
            Then::Rollback => Command::Rollback { reason: opt(text) },
            Then::SetFlag { to } => Command::SetFlag {
                value: *to,
                reason: text,
            },
            Then::TakeOver => Command::TakeOver { reason: text },
            Then::PauseBackfill => Command::PauseBackfill { reason: text },
            Then::FullVerify => Command::RunFullVerify { check: None },
            Then::Backup => Command::RunBackup { verify_only: false },
            Then::Contract { override_reason } => Command::Contract {
                confirm: Some(text),
                override_reason: override_reason.clone(),
            },
            Then::Acknowledge { check, key } => Command::AcknowledgeDivergence {
                check: check.clone(),
                key: key.clone(),
                note: text,
            },
            Then::FilterDivergences | Then::FilterLog => return None,
            Then::ConfirmDoor { failing: true } => return None,
            Then::ConfirmDoor { failing: false } => Command::Advance {
                override_reason: None,
                confirm: Some(text),
            },
        })
    }
}

/// What handling an action asks the app to do. Screens return effects; only the app sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send to the session off the input path; the outcome comes back as a toast and events.
    Send(Command),
    /// Fetch from the state store off the render path; the result comes back to `load::apply`.
    Load(crate::tui::load::Request),
    /// Open a prompt.
    Prompt(Prompt),
    /// Put text on the clipboard (OSC 52: works over ssh and in tmux).
    Copy(String),
    /// A short message at the bottom of the screen.
    Toast(String),
    /// Build the session report (HTML) off the input path and write it beside the cockpit.
    Export,
}
