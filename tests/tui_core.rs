//! The cockpit's core without a terminal: frames drawn on a `TestBackend` (insta snapshots of
//! the Overview and the Help overlay at 80×24 and 160×48, from a fixed busy state), read-only
//! mode, the keymap (parsing, user overrides, conflicts), themes (built-in, user, bad file,
//! NO_COLOR) and the prompts that guard driving actions.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use migtui::engine::flag::FlagValue;
use migtui::engine::phase::{Gate, PhaseId};
use migtui::engine::session::Command;
use migtui::tui::action::{Action, Effect, Then};
use migtui::tui::dispatch;
use migtui::tui::fixture;
use migtui::tui::keymap::{self, Chord, Keymap};
use migtui::tui::screens::ScreenId;
use migtui::tui::state::AppState;
use migtui::tui::theme::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};

fn render(state: &AppState, theme: &Theme, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal
        .draw(|f| migtui::tui::app::draw(state, theme, f))
        .unwrap();
    terminal
}

fn text(terminal: &Terminal<TestBackend>) -> String {
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn screen(state: &AppState, w: u16, h: u16) -> String {
    text(&render(state, &Theme::dark(), w, h))
}

fn key(c: char) -> KeyEvent {
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), modifiers)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

/// Type a string into whatever has the keys (the open prompt).
fn type_text(state: &mut AppState, s: &str) -> Vec<Effect> {
    let mut out = Vec::new();
    for c in s.chars() {
        out.extend(dispatch::on_key(
            state,
            KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
        ));
    }
    out
}

/// Press a key and open the prompt it asks for (as the app does).
fn press(state: &mut AppState, k: KeyEvent) -> Vec<Effect> {
    let mut rest = Vec::new();
    for e in dispatch::on_key(state, k) {
        match e {
            Effect::Prompt(p) => state.prompt = Some(migtui::tui::prompt::Open::new(p)),
            other => rest.push(other),
        }
    }
    rest
}

// ── snapshots ──

#[test]
fn overview_80x24() {
    insta::assert_snapshot!(screen(&fixture::busy(), 80, 24));
}

#[test]
fn overview_160x48() {
    insta::assert_snapshot!(screen(&fixture::busy(), 160, 48));
}

#[test]
fn help_80x24() {
    let mut state = fixture::busy();
    state.help = true;
    insta::assert_snapshot!(screen(&state, 80, 24));
}

#[test]
fn help_160x48() {
    let mut state = fixture::busy();
    state.help = true;
    insta::assert_snapshot!(screen(&state, 160, 48));
}

#[test]
fn observer_overview_80x24() {
    insta::assert_snapshot!(screen(&fixture::observing(), 80, 24));
}

#[test]
fn advance_prompt_80x24() {
    let mut state = fixture::busy();
    press(&mut state, key('A'));
    insta::assert_snapshot!(screen(&state, 80, 24));
}

#[test]
fn too_small_asks_for_a_bigger_window() {
    let out = screen(&fixture::busy(), 60, 20);
    assert!(out.contains("make the window at least 80×24"), "{out}");
    assert!(out.contains("now 60×20"), "{out}");
}

#[test]
fn every_screen_draws_at_both_sizes() {
    for id in ScreenId::ALL {
        for (w, h) in [(80, 24), (160, 48)] {
            let mut state = fixture::busy();
            state.screen = id;
            let out = screen(&state, w, h);
            assert!(out.contains(id.title()), "{id:?} at {w}×{h}:\n{out}");
            assert!(
                out.contains("incident-statuses"),
                "{id:?} at {w}×{h}:\n{out}"
            );
        }
    }
}

#[test]
fn a_lost_database_shows_red_with_its_error() {
    let mut state = fixture::busy();
    state.snapshot.databases[1].connected = false;
    state.snapshot.databases[1].error = Some("connection refused (os error 111)".into());
    let theme = Theme::dark();
    let t = render(&state, &theme, 120, 30);
    let out = text(&t);
    let row = out
        .lines()
        .position(|l| l.contains("✗ database old") && l.contains("connection refused"))
        .unwrap_or_else(|| panic!("no database error line:\n{out}"));
    let cell = &t.backend().buffer()[(3, row as u16)];
    assert_eq!(cell.fg, theme.danger.fg.unwrap(), "the line is red");
}

// ── observer mode ──

#[test]
fn observer_mode_hides_dangerous_actions_and_names_the_holder() {
    let state = fixture::observing();
    let out = screen(&state, 160, 48);
    assert!(
        out.contains(
            "READ-ONLY: bob@oncall-2 (pid 777) holds the lease since 2026-11-21 09:30:00 UTC"
        ),
        "{out}"
    );
    assert!(
        out.contains("T take over"),
        "footer offers the takeover:\n{out}"
    );
    let footer = out.lines().rev().find(|l| !l.is_empty()).unwrap();
    assert!(
        !footer.contains("advance") && !footer.contains("flip"),
        "{footer}"
    );

    let driving = screen(&fixture::busy(), 160, 48);
    let footer = driving.lines().rev().find(|l| !l.is_empty()).unwrap();
    assert!(
        footer.contains("A advance") && footer.contains("f flip flag"),
        "{footer}"
    );
    assert!(!footer.contains("take over"), "{footer}");

    let mut help = fixture::observing();
    help.help = true;
    let out = screen(&help, 160, 48);
    assert!(!out.contains("advance to the next phase"), "{out}");
    assert!(!out.contains("flip the read flag"), "{out}");
    assert!(out.contains("take over the lease"), "{out}");
    assert!(out.contains("driving action(s) hidden"), "{out}");
}

#[test]
fn observer_mode_refuses_dangerous_keys() {
    let mut state = fixture::observing();
    for c in ['A', 'f', 'p', 'X', 'R', 'B'] {
        let effects = press(&mut state, key(c));
        assert!(effects.is_empty(), "{c}: {effects:?}");
        assert!(
            state.prompt.is_none(),
            "{c} opened a prompt in read-only mode"
        );
        let toast = state.toast.as_ref().unwrap();
        assert!(toast.text.contains("bob@oncall-2"), "{}", toast.text);
        assert!(
            toast.text.contains("press T to take over"),
            "{}",
            toast.text
        );
    }
    // The takeover asks a reason, then sends it.
    press(&mut state, key('T'));
    assert!(state.prompt.is_some());
    assert!(
        dispatch::on_key(&mut state, code(KeyCode::Enter)).is_empty(),
        "blank reason"
    );
    assert!(state.prompt.as_ref().unwrap().error.is_some());
    let sent = {
        let mut e = type_text(&mut state, "alice went home, OPS-7");
        e.extend(dispatch::on_key(&mut state, code(KeyCode::Enter)));
        e
    };
    assert_eq!(
        sent,
        vec![Effect::Send(Command::TakeOver {
            reason: "alice went home, OPS-7".into()
        })]
    );
}

// ── prompts ──

#[test]
fn a_failing_gate_needs_a_reason() {
    let mut state = fixture::busy();
    press(&mut state, key('A'));
    let open = state.prompt.as_ref().expect("advance opens a prompt");
    assert!(open.prompt.dangerous);
    assert!(
        open.prompt
            .lines
            .iter()
            .any(|l| l
                .starts_with("✗ backfill complete: incidents: 63,412 / 100,000 (bar all rows)")),
        "{:?}",
        open.prompt.lines
    );
    assert!(
        open.prompt
            .lines
            .iter()
            .any(|l| l.starts_with("✓ recent-row agreement"))
    );
    assert!(dispatch::on_key(&mut state, code(KeyCode::Enter)).is_empty());
    assert!(
        state
            .prompt
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("reason is required")
    );
    type_text(&mut state, "  ");
    assert!(
        dispatch::on_key(&mut state, code(KeyCode::Enter)).is_empty(),
        "blank is no reason"
    );
    type_text(&mut state, "DBA approved, OPS-42");
    let sent = dispatch::on_key(&mut state, code(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![Effect::Send(Command::Advance {
            override_reason: Some("DBA approved, OPS-42".into()),
            confirm: None
        })]
    );
    assert!(state.prompt.is_none());
}

#[test]
fn passing_gates_need_only_a_yes() {
    let mut state = fixture::busy();
    for g in &mut state.snapshot.gates {
        g.pass = true;
    }
    press(&mut state, key('A'));
    assert!(!state.prompt.as_ref().unwrap().prompt.dangerous);
    let sent = dispatch::on_key(&mut state, key('y'));
    assert_eq!(
        sent,
        vec![Effect::Send(Command::Advance {
            override_reason: None,
            confirm: None
        })]
    );
}

#[test]
fn a_one_way_door_needs_the_migration_name() {
    let mut state = fixture::busy();
    state.snapshot.phase = PhaseId::ReadNew;
    state.snapshot.next = Some(PhaseId::StopOldWrites);
    state.snapshot.gates = vec![Gate::pass("stable", "20 min", "≥ 15 min", "ok")];
    press(&mut state, key('A'));
    let open = state.prompt.as_ref().unwrap();
    assert!(open.prompt.one_way && open.prompt.dangerous);
    let drawn = screen(&state, 80, 24);
    assert!(drawn.contains("ONE-WAY DOOR"), "{drawn}");
    assert!(drawn.contains("DANGEROUS"), "{drawn}");
    type_text(&mut state, "incident-status");
    assert!(dispatch::on_key(&mut state, code(KeyCode::Enter)).is_empty());
    assert!(
        state
            .prompt
            .as_ref()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("incident-statuses")
    );
    type_text(&mut state, "es");
    let sent = dispatch::on_key(&mut state, code(KeyCode::Enter));
    assert_eq!(
        sent,
        vec![Effect::Send(Command::Advance {
            override_reason: None,
            confirm: Some("incident-statuses".into())
        })]
    );
}

#[test]
fn a_failing_one_way_door_asks_the_name_then_a_reason() {
    let mut state = fixture::busy();
    state.snapshot.phase = PhaseId::Backup;
    state.snapshot.next = Some(PhaseId::Drop);
    state.snapshot.gates = vec![Gate::fail("backup verified", None, "verified", "run B")];
    press(&mut state, key('A'));
    type_text(&mut state, "incident-statuses");
    let effects = dispatch::on_key(&mut state, code(KeyCode::Enter));
    let Some(Effect::Prompt(p)) = effects.first() else {
        panic!("expected the reason prompt, got {effects:?}");
    };
    assert!(p.required);
    assert_eq!(
        p.then,
        Then::Advance {
            with_override: true,
            confirm: Some("incident-statuses".into())
        }
    );
}

#[test]
fn flipping_the_flag_shows_current_to_new_and_needs_a_reason() {
    let mut state = fixture::busy();
    press(&mut state, key('f'));
    let lines = state.prompt.as_ref().unwrap().prompt.lines.clone();
    assert_eq!(
        lines[0],
        "incidents.read_from_new: false (old) → true (new)"
    );
    dispatch::on_key(&mut state, code(KeyCode::Enter));
    assert!(state.prompt.as_ref().unwrap().error.is_some());
    type_text(&mut state, "shadow green");
    assert_eq!(
        dispatch::on_key(&mut state, code(KeyCode::Enter)),
        vec![Effect::Send(Command::SetFlag {
            value: FlagValue::Bool(true),
            reason: "shadow green".into()
        })]
    );
}

#[test]
fn contract_needs_the_table_name_and_esc_cancels() {
    let mut state = fixture::busy();
    press(&mut state, key('X'));
    assert!(state.prompt.as_ref().unwrap().prompt.one_way);
    type_text(&mut state, "incident");
    assert!(dispatch::on_key(&mut state, code(KeyCode::Enter)).is_empty());
    dispatch::on_key(&mut state, code(KeyCode::Esc));
    assert!(state.prompt.is_none());
    press(&mut state, key('X'));
    type_text(&mut state, "INCIDENTS");
    assert_eq!(
        dispatch::on_key(&mut state, code(KeyCode::Enter)),
        vec![Effect::Send(Command::Contract {
            confirm: Some("INCIDENTS".into()),
            override_reason: None
        })]
    );
}

#[test]
fn pause_asks_a_reason_and_live_controls_send_commands() {
    let mut state = fixture::busy();
    press(&mut state, key('p'));
    type_text(&mut state, "peak traffic");
    assert_eq!(
        dispatch::on_key(&mut state, code(KeyCode::Enter)),
        vec![Effect::Send(Command::PauseBackfill {
            reason: "peak traffic".into()
        })]
    );
    state.snapshot.backfill.paused = Some("peak traffic".into());
    assert_eq!(
        press(&mut state, key('p')),
        vec![Effect::Send(Command::ResumeBackfill)]
    );
    assert_eq!(
        press(&mut state, key('+')),
        vec![Effect::Send(Command::SetBackfillRate {
            rows_per_second: Some(2500.0)
        })]
    );
    assert_eq!(
        press(&mut state, key(']')),
        vec![Effect::Send(Command::SetChunkRows { rows: Some(1000) })]
    );
    assert_eq!(
        press(&mut state, key('=')),
        vec![Effect::Send(Command::SetChunkRows { rows: None })]
    );
}

#[test]
fn screens_switch_with_numbers_and_tab_and_q_quits() {
    let mut state = fixture::busy();
    press(&mut state, key('3'));
    assert_eq!(state.screen, ScreenId::Divergences);
    press(&mut state, code(KeyCode::Tab));
    assert_eq!(state.screen, ScreenId::Latency);
    press(
        &mut state,
        KeyEvent::new(KeyCode::BackTab, KeyModifiers::SHIFT),
    );
    assert_eq!(state.screen, ScreenId::Divergences);
    press(&mut state, key('?'));
    assert!(state.help);
    press(&mut state, code(KeyCode::Esc));
    assert!(!state.help);
    press(&mut state, key('q'));
    assert!(state.quit);
}

// ── keymap ──

#[test]
fn defaults_parse_without_conflicts() {
    let map = Keymap::parse_defaults(keymap::DEFAULT_KEYMAP).unwrap();
    assert!(map.conflicts().is_empty());
    assert_eq!(
        map.lookup(&key('A'), ScreenId::Overview),
        Some(Action::Advance)
    );
    assert_eq!(
        map.lookup(
            &KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
            ScreenId::Log
        ),
        Some(Action::Quit)
    );
    assert_eq!(
        map.lookup(&key('a'), ScreenId::Divergences),
        Some(Action::Acknowledge)
    );
    assert_eq!(map.lookup(&key('a'), ScreenId::Overview), None);
    assert_eq!(map.lookup(&key('j'), ScreenId::Log), Some(Action::Down));
    assert!(
        map.bindings
            .iter()
            .filter(|b| b.action == Action::Contract)
            .all(|b| b.dangerous)
    );
    assert_eq!(Keymap::defaults(), map);
}

#[test]
fn key_names_parse() {
    let c = |s: &str| Chord::parse(s).unwrap();
    assert_eq!(
        c("ctrl-c"),
        Chord {
            code: KeyCode::Char('c'),
            modifiers: KeyModifiers::CONTROL
        }
    );
    assert_eq!(c("shift-a"), c("A"));
    assert_eq!(
        c("-"),
        Chord {
            code: KeyCode::Char('-'),
            modifiers: KeyModifiers::NONE
        }
    );
    assert_eq!(
        c("ctrl--"),
        Chord {
            code: KeyCode::Char('-'),
            modifiers: KeyModifiers::CONTROL
        }
    );
    assert_eq!(c("shift-tab"), c("backtab"));
    assert_eq!(c("f5").code, KeyCode::F(5));
    assert!(Chord::parse("hyper-x").is_err());
    assert!(Chord::parse("pgupp").is_err());
}

fn config_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

#[test]
fn user_overrides_replace_keys() {
    let dir = config_dir(&[(
        "config.toml",
        "theme = \"light\"\n[keys]\nadvance = [\"ctrl-a\", \"F2\"]\n[keys.divergences]\nacknowledge = \"K\"\n",
    )]);
    let user = keymap::load_user(Some(dir.path()));
    assert!(user.problems.is_empty(), "{:?}", user.problems);
    assert_eq!(user.theme.as_deref(), Some("light"));
    let m = &user.keymap;
    let ctrl_a = KeyEvent::new(KeyCode::Char('a'), KeyModifiers::CONTROL);
    assert_eq!(m.lookup(&ctrl_a, ScreenId::Backfill), Some(Action::Advance));
    assert_eq!(
        m.lookup(&code(KeyCode::F(2)), ScreenId::Overview),
        Some(Action::Advance)
    );
    assert_eq!(
        m.lookup(&key('A'), ScreenId::Overview),
        None,
        "the old key is gone"
    );
    assert_eq!(
        m.lookup(&key('K'), ScreenId::Divergences),
        Some(Action::Acknowledge)
    );
    assert!(
        m.bindings
            .iter()
            .filter(|b| b.action == Action::Advance)
            .all(|b| b.dangerous)
    );
    // The help overlay shows the user's keys.
    let mut state = fixture::busy();
    state.keymap = m.clone();
    state.help = true;
    let out = screen(&state, 160, 48);
    assert!(
        out.contains("ctrl-a, F2 ! advance to the next phase"),
        "{out}"
    );
}

#[test]
fn conflicts_and_bad_files_are_reported_and_defaults_used() {
    for (text, expect) in [
        ("[keys]\nadvance = \"f\"\n", "key `f` is bound to both"),
        (
            "[keys.divergences]\nrecheck = \"q\"\n",
            "key `q` is bound to both",
        ),
        ("[keys]\nlaunch = \"l\"\n", "launch: no such action"),
        ("[keys]\nadvance = \"hyper-x\"\n", "unknown key `hyper-x`"),
        (
            "[keys.nowhere]\nup = \"w\"\n",
            "[keys.nowhere]: no such screen",
        ),
        ("theme = 3\n", "config.toml"),
    ] {
        let dir = config_dir(&[("config.toml", text)]);
        let user = keymap::load_user(Some(dir.path()));
        let all = user.problems.join("\n");
        assert!(all.contains(expect), "{text}: {all}");
        assert_eq!(user.keymap, Keymap::defaults(), "{text}: defaults used");
    }
    // No file at all is no problem.
    let empty = tempfile::tempdir().unwrap();
    assert!(keymap::load_user(Some(empty.path())).problems.is_empty());
}

// ── themes ──

#[test]
fn built_in_themes_load_and_differ() {
    let names = ["dark", "light", "high-contrast", "colour-blind"];
    let themes: Vec<Theme> = names.iter().map(|n| Theme::built_in(n).unwrap()).collect();
    for (n, t) in names.iter().zip(&themes) {
        assert_eq!(t.name, *n);
        assert!(t.danger.fg.is_some() && t.ok.fg.is_some());
        assert_ne!(t.ok, t.danger, "{n}");
    }
    assert_ne!(themes[0], themes[1]);
    assert_eq!(themes[0].danger.fg, Some(Color::Rgb(0xff, 0x5f, 0x5f)));
    assert!(themes[2].danger.add_modifier.contains(Modifier::BOLD));
    assert_eq!(Theme::built_in("color-blind"), Some(themes[3].clone()));
    let (t, problems) = theme::load(Some("light"), None, false);
    assert!(problems.is_empty());
    assert_eq!(t, themes[1]);
}

#[test]
fn user_themes_override_field_by_field() {
    let dir = config_dir(&[
        ("themes/dark.toml", "[colors]\ndanger = \"#ff0000\"\n"),
        (
            "themes/mine.toml",
            "base = \"light\"\n[colors]\naccent = \"blue\"\n",
        ),
    ]);
    let (t, problems) = theme::load(Some("dark"), Some(dir.path()), false);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(t.danger.fg, Some(Color::Rgb(255, 0, 0)));
    assert_eq!(
        t.ok,
        Theme::dark().ok,
        "untouched tokens keep the built-in value"
    );
    let (t, _) = theme::load(Some("mine"), Some(dir.path()), false);
    assert_eq!(t.accent.fg, Some(Color::Blue));
    assert_eq!(t.ok, Theme::built_in("light").unwrap().ok);
    // A path works too.
    let path = dir.path().join("themes/mine.toml");
    let (t, problems) = theme::load(Some(path.to_str().unwrap()), None, false);
    assert!(problems.is_empty());
    assert_eq!(t.accent.fg, Some(Color::Blue));
}

#[test]
fn a_bad_theme_is_reported_and_the_default_used() {
    let dir = config_dir(&[
        ("themes/typo.toml", "[colors]\ndangr = \"red\"\n"),
        ("themes/badcolor.toml", "[colors]\nok = \"greenish\"\n"),
        ("themes/broken.toml", "[colors\n"),
    ]);
    for (name, expect) in [
        ("typo", "unknown token `dangr`"),
        ("badcolor", "`greenish` is not a colour"),
        ("broken", "broken.toml"),
        ("nosuch", "no theme named `nosuch`"),
    ] {
        let (t, problems) = theme::load(Some(name), Some(dir.path()), false);
        assert_eq!(t, Theme::dark(), "{name}");
        assert!(
            problems.iter().any(|p| p.contains(expect)),
            "{name}: {problems:?}"
        );
    }
}

#[test]
fn no_color_removes_colours_and_keeps_modifiers() {
    let (t, _) = theme::load(Some("high-contrast"), None, true);
    for s in [
        t.fg,
        t.ok,
        t.warn,
        t.danger,
        t.accent,
        t.selection,
        t.old_path,
        t.new_path,
    ] {
        assert_eq!((s.fg, s.bg), (None, None), "{s:?}");
    }
    assert!(t.danger.add_modifier.contains(Modifier::BOLD));
    assert!(t.selection.add_modifier.contains(Modifier::REVERSED));
    // A frame drawn with it has no colour anywhere.
    let term = render(&fixture::busy(), &t, 80, 24);
    let buf = term.backend().buffer();
    assert!(
        buf.content
            .iter()
            .all(|c| c.fg == Color::Reset && c.bg == Color::Reset)
    );
}
