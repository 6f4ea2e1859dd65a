//! The input path, pure: a key becomes an `Action` (keymap), a global action becomes a prompt or
//! a session `Command` (as `Effect`s), anything else goes to the screen on show. Nothing here
//! awaits: the app carries the effects out.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, Effect, Prompt, Then};
use super::prompt::Reply;
use super::screens::{self, ScreenId};
use super::state::{AppState, Level};
use crate::engine::flag::FlagValue;
use crate::engine::session::{Command, LeaseState};

/// The most rows a chunk may hold when set from the cockpit (the engine's own cap).
const MAX_CHUNK_ROWS: u64 = 20_000;

/// Handle one key press.
pub fn on_key(state: &mut AppState, key: KeyEvent) -> Vec<Effect> {
    if key.kind == KeyEventKind::Release {
        return Vec::new();
    }
    if let Some(open) = state.prompt.as_mut() {
        return match open.on_key(key) {
            Reply::Open => Vec::new(),
            Reply::Cancelled => {
                state.prompt = None;
                state.toast("cancelled: nothing was changed", Level::Info);
                Vec::new()
            }
            Reply::Submitted(text) => match state.prompt.take() {
                Some(open) => on_submit(state, open.prompt.then, &text),
                None => Vec::new(),
            },
        };
    }
    // ctrl-c always quits, whatever the keymap says.
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        state.quit = true;
        return Vec::new();
    }
    if state.help && key.code == KeyCode::Esc {
        state.help = false;
        return Vec::new();
    }
    match state.keymap.lookup(&key, state.screen) {
        Some(action) => on_action(state, action),
        None => Vec::new(),
    }
}

/// True when `action` changes the migration (its binding is marked dangerous).
pub fn is_dangerous(state: &AppState, action: Action) -> bool {
    state
        .keymap
        .bindings
        .iter()
        .any(|b| b.action == action && b.dangerous)
}

/// Handle one action: global ones here, the rest on the current screen.
pub fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    if !state.driving() && is_dangerous(state, action) {
        let hint = state
            .keymap
            .key_for(Action::TakeOver, state.screen)
            .map(|k| format!("; press {k} to take over with a reason"))
            .unwrap_or_default();
        let why = state
            .snapshot
            .lease
            .read_only_reason()
            .unwrap_or_else(|| "read-only".into());
        state.toast(format!("{why}{hint}"), Level::Warn);
        return Vec::new();
    }
    let snap = &state.snapshot;
    match action {
        Action::Quit => state.quit = true,
        Action::Help => state.help = !state.help,
        Action::NextScreen => state.screen = state.screen.next(),
        Action::PrevScreen => state.screen = state.screen.prev(),
        Action::ShowOverview => state.screen = ScreenId::Overview,
        Action::ShowBackfill => state.screen = ScreenId::Backfill,
        Action::ShowDivergences => state.screen = ScreenId::Divergences,
        Action::ShowLatency => state.screen = ScreenId::Latency,
        Action::ShowLog => state.screen = ScreenId::Log,
        Action::Advance => return advance(state),
        Action::Rollback => {
            let Some(to) = previous(state) else {
                state.toast(
                    "nothing to roll back to: this is the first phase",
                    Level::Warn,
                );
                return Vec::new();
            };
            return vec![Effect::Prompt(Prompt {
                title: format!("Roll back to {}", to.as_str()),
                lines: vec![
                    format!("phase: {} → {}", snap.phase.as_str(), to.as_str()),
                    to.summary().to_string(),
                ],
                dangerous: true,
                one_way: false,
                input: Some("reason (audited, optional)".into()),
                must_equal: None,
                required: false,
                then: Then::Rollback,
            })];
        }
        Action::FlipFlag => return flip(state),
        Action::RefreshGates => {
            state.toast("measuring the gates…", Level::Info);
            return vec![Effect::Send(Command::RefreshGates)];
        }
        Action::TakeOver => {
            if state.driving() {
                state.toast("you already drive this migration", Level::Info);
                return Vec::new();
            }
            let lines = match &snap.lease {
                LeaseState::Expired { lease } => vec![
                    format!(
                        "The lease of {} expired: no heartbeat since {}.",
                        lease.holder,
                        crate::store::format_us(lease.heartbeat_us)
                    ),
                    "Taking over makes this cockpit the driver (audited as an expiry).".into(),
                ],
                LeaseState::Free => vec![
                    "Nobody drives this migration now.".into(),
                    "Taking over makes this cockpit the driver.".into(),
                ],
                _ => vec![
                    format!("{} drives this migration now.", snap.lease.holder()),
                    "Taking over makes this cockpit the driver; they become read-only.".into(),
                ],
            };
            return vec![Effect::Prompt(Prompt {
                title: "Take over the lease".into(),
                lines,
                dangerous: true,
                one_way: false,
                input: Some("reason (audited)".into()),
                must_equal: None,
                required: true,
                then: Then::TakeOver,
            })];
        }
        Action::StartBackfill => return vec![Effect::Send(Command::StartBackfill { step: None })],
        Action::PauseResumeBackfill => {
            if snap.backfill.paused.is_some() {
                return vec![Effect::Send(Command::ResumeBackfill)];
            }
            return vec![Effect::Prompt(Prompt {
                title: "Pause the backfill".into(),
                lines: vec![
                    "The chunk in flight finishes; the next one waits for a resume.".into(),
                ],
                dangerous: false,
                one_way: false,
                input: Some("reason (shown while it holds, audited)".into()),
                must_equal: None,
                required: true,
                then: Then::PauseBackfill,
            })];
        }
        Action::RateUp | Action::RateDown => return rate(state, action == Action::RateUp),
        Action::ChunkUp | Action::ChunkDown => return chunk(state, action == Action::ChunkUp),
        Action::ChunkAuto => return vec![Effect::Send(Command::SetChunkRows { rows: None })],
        Action::FullVerify => {
            return vec![Effect::Prompt(Prompt {
                title: "Full verification".into(),
                lines: vec![
                    "Compare every row of every check by chunk checksums.".into(),
                    "It reads both tables in full; progress shows on the Divergences screen."
                        .into(),
                ],
                dangerous: false,
                one_way: false,
                input: None,
                must_equal: None,
                required: false,
                then: Then::FullVerify,
            })];
        }
        Action::Backup => {
            if !state.context.has_backup {
                state.toast(
                    "the migration file has no [[backup]]: nothing to copy",
                    Level::Warn,
                );
                return Vec::new();
            }
            return vec![Effect::Prompt(Prompt {
                title: "Back up".into(),
                lines: vec![
                    "Copy every [[backup]] to its table and/or file, then verify count and checksum."
                        .into(),
                ],
                dangerous: false,
                one_way: false,
                input: None,
                must_equal: None,
                required: false,
                then: Then::Backup,
            })];
        }
        Action::Contract => return contract(state),
        Action::Export => return vec![Effect::Export],
        other => return screens::on_action(state, other),
    }
    Vec::new()
}

/// What a submitted prompt turns into.
pub fn on_submit(state: &mut AppState, then: Then, text: &str) -> Vec<Effect> {
    match then {
        Then::FilterDivergences => screens::divergences::set_filter(state, text),
        Then::FilterLog => {
            screens::log::set_filter(state, text);
            Vec::new()
        }
        Then::ConfirmDoor { failing: true } => vec![Effect::Prompt(Prompt {
            title: "Override failing gates".into(),
            lines: gate_lines(state, true),
            dangerous: true,
            one_way: true,
            input: Some("reason to override (audited)".into()),
            must_equal: None,
            required: true,
            then: Then::Advance {
                with_override: true,
                confirm: Some(text.trim().to_string()),
            },
        })],
        then => then.command(text).map(Effect::Send).into_iter().collect(),
    }
}

fn previous(state: &AppState) -> Option<crate::engine::phase::PhaseId> {
    let plan = &state.snapshot.plan;
    let i = plan.iter().position(|p| *p == state.snapshot.phase)?;
    i.checked_sub(1).map(|j| plan[j])
}

/// `✓ name  measured (threshold)` per gate; `only_failing` keeps the ✗ ones.
fn gate_lines(state: &AppState, only_failing: bool) -> Vec<String> {
    state
        .snapshot
        .gates
        .iter()
        .filter(|g| !only_failing || !g.pass)
        .map(|g| {
            format!(
                "{} {}: {} (bar {})",
                if g.pass { "✓" } else { "✗" },
                g.name,
                g.measured.as_deref().unwrap_or("not measured"),
                g.threshold
            )
        })
        .collect()
}

fn advance(state: &mut AppState) -> Vec<Effect> {
    let snap = &state.snapshot;
    let Some(next) = snap.next else {
        state.toast("the migration is done: no phase follows", Level::Info);
        return Vec::new();
    };
    let failing = snap.gates.iter().any(|g| !g.pass);
    let mut lines = vec![format!(
        "phase: {} → {}",
        snap.phase.as_str(),
        next.as_str()
    )];
    lines.push(next.summary().to_string());
    if snap.gates.is_empty() {
        lines.push("no gate guards this step".into());
    }
    lines.extend(gate_lines(state, false));
    let prompt = if next.is_one_way_door() {
        Prompt {
            title: format!("Advance to {} (one-way)", next.as_str()),
            lines,
            dangerous: true,
            one_way: true,
            input: Some(format!("type \"{}\" to confirm", snap.migration)),
            must_equal: Some(snap.migration.clone()),
            required: true,
            then: Then::ConfirmDoor { failing },
        }
    } else if failing {
        Prompt {
            title: format!("Advance to {}: gates fail", next.as_str()),
            lines,
            dangerous: true,
            one_way: false,
            input: Some("reason to override the failing gates (audited)".into()),
            must_equal: None,
            required: true,
            then: Then::Advance {
                with_override: true,
                confirm: None,
            },
        }
    } else {
        Prompt {
            title: format!("Advance to {}", next.as_str()),
            lines,
            dangerous: false,
            one_way: false,
            input: None,
            must_equal: None,
            required: false,
            then: Then::Advance {
                with_override: false,
                confirm: None,
            },
        }
    };
    vec![Effect::Prompt(prompt)]
}

fn flip(state: &mut AppState) -> Vec<Effect> {
    if !state.context.has_flag {
        state.toast(
            "the migration file has no [flag]: nothing to flip",
            Level::Warn,
        );
        return Vec::new();
    }
    let flag = state.snapshot.flag.as_ref();
    let current = flag.and_then(|f| f.value);
    let to = match current {
        Some(FlagValue::Bool(b)) => FlagValue::Bool(!b),
        Some(FlagValue::Percent(p)) if p > 0 => FlagValue::Percent(0),
        Some(FlagValue::Percent(_)) => FlagValue::Percent(100),
        None => FlagValue::Bool(true),
    };
    let current_text = current.map_or_else(|| "unknown".to_string(), |v| v.to_string());
    let key = flag.map_or("the read flag", |f| f.key.as_str());
    let reads = if to.reads_new() {
        "the application reads the NEW model"
    } else {
        "the application reads the OLD model"
    };
    vec![Effect::Prompt(Prompt {
        title: "Flip the read flag".into(),
        lines: vec![
            format!("{key}: {current_text} → {to}"),
            format!("after this, {reads}"),
        ],
        dangerous: true,
        one_way: false,
        input: Some("reason (audited)".into()),
        must_equal: None,
        required: true,
        then: Then::SetFlag { to },
    })]
}

/// The step the live controls talk about: the running one, else the first unfinished one.
fn live_step(state: &AppState) -> Option<&crate::engine::backfill::progress::StepProgress> {
    use crate::engine::backfill::progress::StepState;
    let steps = &state.snapshot.backfill.steps;
    steps
        .iter()
        .find(|s| s.state == StepState::Running)
        .or_else(|| steps.iter().find(|s| s.state != StepState::Complete))
}

fn rate(state: &mut AppState, up: bool) -> Vec<Effect> {
    let Some(step) = live_step(state) else {
        state.toast("no backfill step to tune", Level::Warn);
        return Vec::new();
    };
    let base = match (step.max_rows_per_second, up) {
        (Some(max), _) => max,
        (None, false) if step.rows_per_second > 0.0 => step.rows_per_second,
        (None, _) => {
            state.toast(
                "no ceiling: the backfill runs as fast as it can (- sets one below the current rate)",
                Level::Info,
            );
            return Vec::new();
        }
    };
    let to = (base * if up { 1.25 } else { 0.75 }).round().max(1.0);
    state.toast(format!("backfill ceiling → {to:.0} rows/s"), Level::Info);
    vec![Effect::Send(Command::SetBackfillRate {
        rows_per_second: Some(to),
    })]
}

fn chunk(state: &mut AppState, up: bool) -> Vec<Effect> {
    let Some(step) = live_step(state) else {
        state.toast("no backfill step to tune", Level::Warn);
        return Vec::new();
    };
    let now = step.chunk_rows.max(1);
    let to = if up { now.saturating_mul(2) } else { now / 2 }.clamp(1, MAX_CHUNK_ROWS);
    state.toast(format!("chunk size → {to} rows"), Level::Info);
    vec![Effect::Send(Command::SetChunkRows { rows: Some(to) })]
}

fn contract(state: &mut AppState) -> Vec<Effect> {
    let Some(confirm) = state.context.contract_confirm.clone() else {
        state.toast(
            "the migration file has no [contract]: nothing to drop",
            Level::Warn,
        );
        return Vec::new();
    };
    let mut lines =
        vec!["These statements run and DROP data (a verified backup is required):".into()];
    lines.extend(state.context.contract_sql.iter().map(|s| format!("  {s}")));
    vec![Effect::Prompt(Prompt {
        title: "Contract".into(),
        lines,
        dangerous: true,
        one_way: true,
        input: Some(format!("type \"{confirm}\" to confirm")),
        must_equal: Some(confirm),
        required: true,
        then: Then::Contract {
            override_reason: None,
        },
    })]
}
