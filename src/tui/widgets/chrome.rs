//! Everything around a screen's body: the header (migration, phase, lease, databases, tabs),
//! the read-only and connection banners, the toast, the footer, and the overlays (help,
//! prompt). `draw` is the whole frame, a pure function of the state.

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::units;
use crate::engine::session::LeaseState;
use crate::tui::action::Action;
use crate::tui::keymap::Binding;
use crate::tui::screens::{self, ScreenId};
use crate::tui::state::AppState;
use crate::tui::theme::Theme;

/// Below this the cockpit shows a message instead of the screens.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// True when `area` is too small to draw the cockpit.
pub fn too_small(area: Rect) -> bool {
    area.width < MIN_WIDTH || area.height < MIN_HEIGHT
}

/// Draw the whole cockpit.
pub fn draw(state: &AppState, theme: &Theme, frame: &mut Frame) {
    let area = frame.area();
    frame.render_widget(Paragraph::new("").style(theme.fg), area);
    if too_small(area) {
        let msg = vec![
            Line::styled("migtui", theme.title),
            Line::styled(
                format!("make the window at least {MIN_WIDTH}×{MIN_HEIGHT}"),
                theme.warn,
            ),
            Line::styled(format!("(now {}×{})", area.width, area.height), theme.muted),
        ];
        let [_, mid, _] = Layout::vertical([
            Constraint::Fill(1),
            Constraint::Length(3),
            Constraint::Fill(1),
        ])
        .areas(area);
        frame.render_widget(
            Paragraph::new(msg)
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            mid,
        );
        return;
    }
    let banners = banners(state, theme, area.width as usize);
    let [head, tabs, banner_area, body, toast_area, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Length(banners.len() as u16),
        Constraint::Fill(1),
        Constraint::Length(u16::from(state.toast.is_some())),
        Constraint::Length(1),
    ])
    .areas(area);
    frame.render_widget(header(state, theme, head.width as usize), head);
    frame.render_widget(tab_line(state, theme), tabs);
    frame.render_widget(Paragraph::new(banners), banner_area);
    screens::render(state, theme, frame, body);
    if let Some(t) = &state.toast {
        frame.render_widget(
            Paragraph::new(Line::styled(
                units::clip(
                    &format!(" {}", first_line(&t.text)),
                    toast_area.width as usize,
                ),
                theme.level(t.level).add_modifier(Modifier::BOLD),
            )),
            toast_area,
        );
    }
    frame.render_widget(footer(state, theme), foot);
    if state.help {
        let r = inset(body, 2, 1);
        frame.render_widget(Clear, r);
        screens::help::render(state, theme, frame, r);
    }
    if let Some(open) = &state.prompt {
        crate::tui::prompt::render(open, theme, frame, area);
    }
}

fn inset(r: Rect, dx: u16, dy: u16) -> Rect {
    Rect {
        x: r.x + dx.min(r.width / 2),
        y: r.y + dy.min(r.height / 2),
        width: r.width.saturating_sub(2 * dx),
        height: r.height.saturating_sub(2 * dy),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("")
}

/// `migtui · incident-statuses · phase backfill (3/9) for 1h 20m` … `old ✓ sqlite  new ✓ sqlite`.
fn header<'a>(state: &'a AppState, theme: &Theme, width: usize) -> Line<'a> {
    let s = &state.snapshot;
    let pos = s.plan.iter().position(|p| *p == s.phase).unwrap_or(0);
    let since = (state.now_us - s.since_us) as f64 / 1e6;
    let mut left = vec![
        Span::styled(" migtui ", theme.title.add_modifier(Modifier::REVERSED)),
        Span::styled(format!(" {} ", s.migration), theme.title),
        Span::styled("· phase ", theme.muted),
        Span::styled(s.phase.as_str(), theme.accent.add_modifier(Modifier::BOLD)),
        Span::styled(
            format!(
                " ({}/{}) for {} ",
                pos,
                s.plan.len().saturating_sub(1),
                units::secs(since)
            ),
            theme.muted,
        ),
    ];
    left.push(match &s.lease {
        LeaseState::Driving { .. } => Span::styled("● driving", theme.ok),
        LeaseState::Observing { .. } | LeaseState::Expired { .. } | LeaseState::Free => {
            Span::styled("◌ read-only", theme.warn.add_modifier(Modifier::BOLD))
        }
        LeaseState::Unknown { .. } => Span::styled("? lease unknown", theme.danger),
    });
    let used_left: usize = left.iter().map(Span::width).sum();
    // Databases on the right, with their engines when there is room.
    for with_engine in [true, false] {
        let mut right: Vec<Span> = Vec::new();
        for db in &s.databases {
            let (mark, style) = if db.connected {
                ("✓", theme.ok)
            } else {
                ("✗", theme.danger.add_modifier(Modifier::BOLD))
            };
            right.push(Span::styled(format!(" {} ", db.name), theme.fg));
            right.push(Span::styled(mark, style));
            if with_engine {
                right.push(Span::styled(format!(" {}", db.engine), theme.muted));
            }
        }
        right.push(Span::raw(" "));
        let used = used_left + right.iter().map(Span::width).sum::<usize>();
        if used < width {
            left.push(Span::raw(" ".repeat(width - used)));
            left.extend(right);
            break;
        }
    }
    Line::from(left)
}

fn tab_line<'a>(state: &AppState, theme: &Theme) -> Line<'a> {
    let mut spans = vec![Span::raw(" ")];
    for (i, id) in ScreenId::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, id.title());
        if *id == state.screen {
            spans.push(Span::styled(
                label,
                theme
                    .accent
                    .add_modifier(Modifier::BOLD | Modifier::REVERSED),
            ));
        } else {
            spans.push(Span::styled(label, theme.muted));
        }
        spans.push(Span::raw(" "));
    }
    if let Some(d) = &state.context.description {
        spans.push(Span::styled(format!("  {d}"), theme.muted));
    }
    Line::from(spans)
}

/// The red and yellow lines under the header: read-only mode, databases that are down, a
/// session that stopped.
pub fn banners<'a>(state: &AppState, theme: &Theme, width: usize) -> Vec<Line<'a>> {
    let mut out = Vec::new();
    let take_over = state
        .keymap
        .key_for(Action::TakeOver, state.screen)
        .map(|k| format!(" · {k}: take over (asks a reason)"))
        .unwrap_or_default();
    let banner = match &state.snapshot.lease {
        LeaseState::Driving { .. } => None,
        LeaseState::Observing { lease } => Some(format!(
            " READ-ONLY: {} holds the lease since {}{take_over}",
            lease.holder,
            crate::store::format_us(lease.acquired_us)
        )),
        LeaseState::Expired { lease } => Some(format!(
            " READ-ONLY: the lease of {} expired (no heartbeat since {}){take_over}",
            lease.holder,
            crate::store::format_us(lease.heartbeat_us)
        )),
        LeaseState::Free => Some(format!(" READ-ONLY: nobody holds the lease{take_over}")),
        LeaseState::Unknown { error } => Some(format!(
            " READ-ONLY: the lease cannot be read ({})",
            first_line(error)
        )),
    };
    if let Some(b) = banner {
        out.push(Line::styled(
            units::clip(&format!("{b:width$}"), width),
            theme.warn.add_modifier(Modifier::REVERSED | Modifier::BOLD),
        ));
    }
    for db in state.snapshot.databases.iter().filter(|d| !d.connected) {
        let error = db.error.as_deref().map_or("not connected", first_line);
        out.push(Line::styled(
            units::clip(
                &format!(
                    " ✗ database {} ({}, {}): {error}",
                    db.name, db.engine, db.target
                ),
                width,
            ),
            theme.danger.add_modifier(Modifier::BOLD),
        ));
    }
    if let Some(e) = &state.session_error {
        out.push(Line::styled(
            units::clip(&format!(" ✗ session: {}", first_line(e)), width),
            theme
                .danger
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        ));
    }
    out
}

/// A short name for the footer.
pub fn short_label(b: &Binding) -> String {
    match b.action {
        Action::Advance => "advance".into(),
        Action::FlipFlag => "flip flag".into(),
        Action::PauseResumeBackfill => "pause/resume".into(),
        Action::TakeOver => "take over".into(),
        Action::Help => "help".into(),
        Action::Acknowledge => "acknowledge".into(),
        Action::Filter => "filter".into(),
        Action::Open => "open".into(),
        Action::Recheck => "recheck".into(),
        _ => b
            .description
            .split([' ', ':'])
            .next()
            .unwrap_or_default()
            .to_string(),
    }
}

/// The few keys that matter on this screen (dangerous ones only for the driver).
fn footer<'a>(state: &'a AppState, theme: &Theme) -> Line<'a> {
    let driving = state.driving();
    let mut seen: Vec<Action> = Vec::new();
    let mut spans = vec![Span::raw(" ")];
    for b in state.keymap.for_screen(state.screen) {
        if !b.footer || !b.offered(driving) || seen.contains(&b.action) {
            continue;
        }
        seen.push(b.action);
        let key_style = if b.dangerous {
            theme.danger.add_modifier(Modifier::BOLD)
        } else {
            theme.accent.add_modifier(Modifier::BOLD)
        };
        spans.push(Span::styled(b.key.as_str(), key_style));
        spans.push(Span::styled(format!(" {}  ", short_label(b)), theme.muted));
    }
    spans.push(Span::styled(
        "1-5 tab",
        theme.accent.add_modifier(Modifier::BOLD),
    ));
    spans.push(Span::styled(" screens", theme.muted));
    Line::from(spans).style(Style::default())
}
