//! The cockpit's loop: terminal input, session events and snapshots, a 1 s tick and the
//! results of spawned work come in through one `select!`; `Command`s go out through spawned
//! tasks, so nothing on the input or render path awaits a database. The frame is redrawn only
//! when something changed, at most ~30 times a second; otherwise the loop sleeps.

use std::io::{self, Stdout};
use std::time::Duration;

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind, MouseEventKind};
use futures::StreamExt;
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;

use super::action::Effect;
use super::state::{AppState, Context, Level, LogEntry, LogKind};
use super::widgets::chrome;
use super::{dispatch, keymap, load, screens, theme};
use crate::engine::session::{Command, Event, Outcome, SessionHandle, Snapshot};

/// How the cockpit opens.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// A built-in theme's name or a theme file's path; `None`: the default (or the user's).
    pub theme: Option<String>,
}

/// The shortest time between two frames (~30 per second).
const FRAME: Duration = Duration::from_millis(33);
/// How often (in 1 s ticks) the cockpit asks the session to measure the gates again.
const GATE_REFRESH_TICKS: u64 = 10;
/// Lines a mouse wheel notch scrolls.
const WHEEL_LINES: i32 = 3;

/// What spawned work sends back to the loop.
enum Msg {
    /// A command's outcome (or why it could not be carried out), as a toast.
    Outcome {
        what: &'static str,
        result: Result<Outcome, String>,
    },
    Loaded(load::Request, load::Loaded),
    Toast(String, Level),
}

/// Run the cockpit on a started session until the operator quits.
pub async fn run(session: SessionHandle, options: Options) -> Result<(), io::Error> {
    let dir = keymap::config_dir();
    let user = keymap::load_user(dir.as_deref());
    let choice = options.theme.as_deref().or(user.theme.as_deref());
    let (theme, theme_problems) = theme::load(choice, dir.as_deref(), theme::no_color_requested());
    let mut state = AppState::new(session.snapshot(), user.keymap, now_us());
    state.context = Context::from_config(session.config());
    crate::tui::screens::divergences::set_checks(&mut state, &session.config().verify);
    seed_log(&mut state);
    for problem in user.problems.iter().chain(&theme_problems) {
        state.push_log(LogEntry {
            at_us: state.now_us,
            who: None,
            kind: LogKind::Event,
            level: Level::Warn,
            text: problem.clone(),
        });
        state.toast(problem.clone(), Level::Warn);
    }
    let (_guard, mut terminal) = enter()?;
    event_loop(&session, &mut state, &theme, &mut terminal).await
}

/// The audit lines the session started with, oldest first, so the log is not empty.
fn seed_log(state: &mut AppState) {
    let records: Vec<_> = state
        .snapshot
        .recent_actions
        .iter()
        .rev()
        .cloned()
        .collect();
    for r in records {
        state.push_log(LogEntry {
            at_us: r.at_us,
            who: Some(format!("{}@{}", r.user, r.host)),
            kind: LogKind::Audit,
            level: if r.outcome == "ok" {
                Level::Ok
            } else {
                Level::Warn
            },
            text: format!("{}: {}", r.action, r.outcome),
        });
    }
}

type Term = Terminal<CrosstermBackend<Stdout>>;

async fn event_loop(
    session: &SessionHandle,
    state: &mut AppState,
    theme: &theme::Theme,
    terminal: &mut Term,
) -> io::Result<()> {
    let mut input = EventStream::new();
    let mut events = Some(session.subscribe());
    let mut snapshots = Some(session.watch());
    let (tx, mut rx) = mpsc::channel::<Msg>(256);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut in_flight: Vec<load::Request> = Vec::new();
    let mut stops = stop_signals();
    let mut dirty = true;
    let mut last_draw: Option<Instant> = None;
    let mut ticks: u64 = 0;
    loop {
        let due = last_draw.map_or_else(Instant::now, |t| t + FRAME);
        if dirty && Instant::now() >= due {
            state.now_us = now_us();
            terminal.draw(|frame| {
                state.too_small = chrome::too_small(frame.area());
                chrome::draw(state, theme, frame);
            })?;
            dirty = false;
            last_draw = Some(Instant::now());
            continue;
        }
        let screen = state.screen;
        let mut pressed = false;
        tokio::select! {
            ev = input.next() => match ev {
                Some(Ok(ev)) => {
                    let effects = on_terminal_event(state, ev);
                    run_effects(effects, state, session, &tx, &mut in_flight);
                    dirty = true;
                    pressed = true;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            ev = next_event(&mut events) => {
                match ev {
                    Ok(ev) => on_session_event(state, &ev, session),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        state.snapshot = session.snapshot();
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        events = None;
                        state.session_error =
                            Some("the session stopped: nothing is measured or driven any more; quit and start again".into());
                    }
                }
                dirty = true;
            },
            changed = next_snapshot(&mut snapshots) => {
                match changed {
                    Some(snap) => on_snapshot(state, snap),
                    None => snapshots = None,
                }
                dirty = true;
            },
            Some(msg) = rx.recv() => {
                on_msg(state, msg, session, &mut in_flight);
                dirty = true;
            },
            _ = tick.tick() => {
                ticks += 1;
                // The session measures gates on a phase change and on request; keep the shown
                // values fresh (measured in the session, never here). A full queue just skips.
                if ticks.is_multiple_of(GATE_REFRESH_TICKS) {
                    let _ = session.send(Command::RefreshGates);
                }
                state.now_us = now_us();
                state.history.record(&state.snapshot, state.now_us);
                if state.toast.as_ref().is_some_and(|t| t.until_us <= state.now_us) {
                    state.toast = None;
                }
                let due = load::due(state).into_iter().map(Effect::Load).collect();
                run_effects(due, state, session, &tx, &mut in_flight);
                dirty = true;
            },
            _ = tokio::time::sleep_until(due), if dirty => {},
            _ = stop_signal(&mut stops) => state.quit = true,
        }
        if state.quit {
            return Ok(());
        }
        // A key that turned a page or changed a filter fetches now, not at the next tick
        // (up to a second of an empty page otherwise).
        if pressed || state.screen != screen {
            let due = load::due(state).into_iter().map(Effect::Load).collect();
            run_effects(due, state, session, &tx, &mut in_flight);
        }
    }
}

#[cfg(unix)]
type Stops = Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>;
#[cfg(not(unix))]
type Stops = Option<()>;

/// SIGTERM and SIGHUP (the terminal went away): leave as if the operator quit, so the terminal
/// is restored and the session shuts down and releases the lease.
fn stop_signals() -> Stops {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::terminate())
            .ok()
            .zip(signal(SignalKind::hangup()).ok())
    }
    #[cfg(not(unix))]
    None
}

async fn stop_signal(stops: &mut Stops) {
    match stops {
        #[cfg(unix)]
        Some((term, hup)) => {
            tokio::select! {
                _ = term.recv() => {},
                _ = hup.recv() => {},
            }
        }
        _ => std::future::pending().await,
    }
}

async fn next_event(
    rx: &mut Option<broadcast::Receiver<Event>>,
) -> Result<Event, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The newest snapshot once it changed; `None` when the session dropped its sender.
async fn next_snapshot(rx: &mut Option<watch::Receiver<Snapshot>>) -> Option<Snapshot> {
    match rx {
        Some(rx) => match rx.changed().await {
            Ok(()) => Some(rx.borrow_and_update().clone()),
            Err(_) => None,
        },
        None => std::future::pending().await,
    }
}

fn on_terminal_event(state: &mut AppState, ev: TermEvent) -> Vec<Effect> {
    match ev {
        TermEvent::Key(key) if key.kind != KeyEventKind::Release => dispatch::on_key(state, key),
        TermEvent::Mouse(m) if state.prompt.is_none() && !state.too_small => {
            match m.kind {
                MouseEventKind::ScrollDown => screens::on_scroll(state, WHEEL_LINES),
                MouseEventKind::ScrollUp => screens::on_scroll(state, -WHEEL_LINES),
                _ => {}
            }
            Vec::new()
        }
        TermEvent::Paste(text) => {
            if let Some(open) = state.prompt.as_mut() {
                for c in text.chars().filter(|c| !c.is_control()) {
                    open.input.handle(tui_input::InputRequest::InsertChar(c));
                }
            }
            Vec::new()
        }
        _ => Vec::new(),
    }
}

/// Take a new snapshot; say so when this cockpit starts or stops driving.
fn on_snapshot(state: &mut AppState, snap: Snapshot) {
    let (was, is) = (state.snapshot.lease.is_driving(), snap.lease.is_driving());
    let holder = snap.lease.holder();
    state.snapshot = snap;
    if was && !is {
        state.toast(
            format!("{holder} took over: this cockpit is read-only now"),
            Level::Warn,
        );
    } else if !was && is {
        state.toast("you drive this migration now", Level::Ok);
    }
}

fn on_session_event(state: &mut AppState, ev: &Event, session: &SessionHandle) {
    state.apply_event(ev);
    let mask = |s: &str| session.config().secrets.mask(s);
    match ev {
        Event::Error { context, message } => {
            state.toast(mask(&format!("{context}: {message}")), Level::Danger)
        }
        Event::AutoRollback { reason, .. } => state.toast(
            mask(&format!("automatic rollback: {reason}")),
            Level::Danger,
        ),
        _ => {}
    }
}

fn on_msg(
    state: &mut AppState,
    msg: Msg,
    session: &SessionHandle,
    in_flight: &mut Vec<load::Request>,
) {
    let mask = |s: &str| session.config().secrets.mask(s);
    match msg {
        Msg::Outcome { what, result } => match result {
            Ok(Outcome::Moved { record }) => state.toast(
                format!("{what}: {} → {}", record.from.as_str(), record.to.as_str()),
                Level::Ok,
            ),
            Ok(Outcome::Refused { why, .. }) => {
                state.toast(mask(&format!("{what} refused: {why}")), Level::Danger)
            }
            Ok(Outcome::Done) => state.toast(format!("{what}: done"), Level::Ok),
            Err(e) => state.toast(mask(&format!("{what} failed: {e}")), Level::Danger),
        },
        Msg::Loaded(req, loaded) => {
            in_flight.retain(|r| *r != req);
            load::apply(state, loaded);
        }
        Msg::Toast(text, level) => state.toast(mask(&text), level),
    }
}

/// Carry out what the input path asked for, without awaiting anything here.
fn run_effects(
    effects: Vec<Effect>,
    state: &mut AppState,
    session: &SessionHandle,
    tx: &mpsc::Sender<Msg>,
    in_flight: &mut Vec<load::Request>,
) {
    for effect in effects {
        match effect {
            Effect::Send(cmd) => {
                let what = describe(&cmd);
                let (session, tx) = (session.clone(), tx.clone());
                tokio::spawn(async move {
                    let result = session.request(cmd).await.map_err(|e| e.to_string());
                    let _ = tx.send(Msg::Outcome { what, result }).await;
                });
            }
            Effect::Load(req) => start_load(req, session, tx, in_flight),
            Effect::Prompt(p) => state.prompt = Some(super::prompt::Open::new(p)),
            Effect::Copy(text) => {
                let copy = crossterm::clipboard::CopyToClipboard::to_clipboard_from(text);
                match crossterm::execute!(io::stdout(), copy) {
                    Ok(()) => state.toast("copied to the clipboard (OSC 52)", Level::Ok),
                    Err(e) => state.toast(format!("copy failed: {e}"), Level::Warn),
                }
            }
            Effect::Toast(text) => state.toast(text, Level::Info),
            Effect::Export => {
                state.toast("writing the session report…", Level::Info);
                let (store, config, tx) = (
                    session.store().clone(),
                    session.config().clone(),
                    tx.clone(),
                );
                tokio::spawn(async move {
                    let msg = export(store, config).await;
                    let _ = tx.send(msg).await;
                });
            }
        }
    }
}

/// Fetch a page off the render path, unless the same request is already in flight.
fn start_load(
    req: load::Request,
    session: &SessionHandle,
    tx: &mpsc::Sender<Msg>,
    in_flight: &mut Vec<load::Request>,
) {
    if in_flight.contains(&req) {
        return;
    }
    in_flight.push(req.clone());
    let (store, tx) = (session.store().clone(), tx.clone());
    tokio::spawn(async move {
        let loaded = load::run(store, req.clone()).await;
        let _ = tx.send(Msg::Loaded(req, loaded)).await;
    });
}

/// Build the HTML report and write it in the working directory.
async fn export(store: crate::store::Store, config: crate::config::Config) -> Msg {
    let options = crate::report::Options {
        format: crate::report::Format::Html,
        ..Default::default()
    };
    match crate::report::build(&store, &config, &options).await {
        Ok(html) => {
            let name = format!(
                "{}-report-{}.html",
                config.migration.name,
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            );
            match tokio::fs::write(&name, html).await {
                Ok(()) => Msg::Toast(format!("report written to {name}"), Level::Ok),
                Err(e) => Msg::Toast(format!("export: writing {name}: {e}"), Level::Danger),
            }
        }
        Err(e) => Msg::Toast(format!("export failed: {e}"), Level::Danger),
    }
}

/// A command's name for its toast.
fn describe(cmd: &Command) -> &'static str {
    match cmd {
        Command::Advance { .. } => "advance",
        Command::Rollback { .. } => "rollback",
        Command::TakeOver { .. } => "take over",
        Command::RefreshGates => "gates",
        Command::Shutdown => "shutdown",
        Command::SetFlag { .. } => "flag",
        Command::RunBackup { .. } => "backup",
        Command::Contract { .. } => "contract",
        Command::Restore { .. } => "restore",
        Command::RunFullVerify { .. } => "full verification",
        Command::RecheckDivergence { .. } => "recheck",
        Command::AcknowledgeDivergence { .. } => "acknowledge",
        Command::StartBackfill { .. } => "backfill start",
        Command::PauseBackfill { .. } => "backfill pause",
        Command::ResumeBackfill => "backfill resume",
        Command::SetBackfillRate { .. } => "backfill rate",
        Command::SetChunkRows { .. } => "chunk size",
    }
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Restores the terminal when dropped: on return, on error and while a panic unwinds.
struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Raw mode, alternate screen, mouse capture; and a panic hook that restores the terminal
/// before the panic message prints (so it is readable, and the shell is usable).
fn enter() -> io::Result<(Guard, Term)> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
    crossterm::terminal::enable_raw_mode()?;
    let guard = Guard;
    crossterm::execute!(
        io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::event::EnableMouseCapture,
        crossterm::event::EnableBracketedPaste
    )?;
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((guard, terminal))
}

fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    let _ = crossterm::execute!(
        io::stdout(),
        crossterm::event::DisableBracketedPaste,
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
}

/// Draw the whole cockpit into `frame` (for tests and benchmarks: the same as the app draws).
pub fn draw(state: &AppState, theme: &theme::Theme, frame: &mut ratatui::Frame) {
    chrome::draw(state, theme, frame);
}
