//! Everything a view draws, in one place. The app feeds it (snapshots, events, loaded pages,
//! the clock); views only read it; screen handlers change only their own view state.

use std::collections::VecDeque;

use super::keymap::Keymap;
use super::screens::{self, ScreenId};
use crate::engine::session::{Event, Snapshot};

/// How many log lines the cockpit keeps in memory (older ones are in the audit table).
pub const LOG_CAPACITY: usize = 2_000;
/// Points kept per sparkline series (one per second: ten minutes).
pub const SERIES_CAPACITY: usize = 600;

pub struct AppState {
    pub snapshot: Snapshot,
    /// The clock as the app last read it (µs since the epoch); views never read the clock.
    pub now_us: i64,
    pub screen: ScreenId,
    pub help: bool,
    pub keymap: Keymap,
    /// Engine events and audit records, newest last, at most `LOG_CAPACITY`.
    pub log: VecDeque<LogEntry>,
    pub toast: Option<Toast>,
    /// The open prompt, if any: it takes every key until submitted or cancelled.
    pub prompt: Option<super::prompt::Open>,
    /// Rolling series recorded from snapshots, for sparklines and charts.
    pub history: History,
    /// Terminal too small to draw: the views are replaced by a message.
    pub too_small: bool,
    pub backfill: screens::backfill::View,
    pub divergences: screens::divergences::View,
    pub latency: screens::latency::View,
    pub log_view: screens::log::View,
    /// What the migration file says that views need (names, budgets), fixed for the run.
    pub context: Context,
    /// Set by the quit action; the app leaves its loop.
    pub quit: bool,
    /// The session stopped or cannot be reached: shown as a red state in the header.
    pub session_error: Option<String>,
}

/// What the views need from the migration file, copied once at start (views never see the
/// config itself, which holds secrets).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    pub description: Option<String>,
    /// Per read path: the p95 budget in ms, if it has one.
    pub p95_budget_ms: std::collections::BTreeMap<String, f64>,
    /// What the contract's confirmation must name (the dropped tables); `None`: no contract.
    pub contract_confirm: Option<String>,
    /// The statements the contract runs, shown before the drop.
    pub contract_sql: Vec<String>,
    /// A `[flag]` is configured.
    pub has_flag: bool,
    /// A `[[backup]]` is configured.
    pub has_backup: bool,
}

impl Context {
    /// Copy what the views need from the migration file.
    pub fn from_config(config: &crate::config::Config) -> Context {
        let statements: Vec<_> = config
            .contract
            .iter()
            .flat_map(|c| c.sql.iter())
            .map(|s| crate::engine::contract::parse(s))
            .collect();
        let mut tables: Vec<String> = Vec::new();
        for d in statements.iter().flat_map(|s| &s.drops) {
            if !tables.iter().any(|t| t.eq_ignore_ascii_case(d.table())) {
                tables.push(d.table().to_string());
            }
        }
        Context {
            description: config.migration.description.clone(),
            p95_budget_ms: config
                .paths
                .iter()
                .filter_map(|p| p.budget.p95_ms.map(|b| (p.name.clone(), b)))
                .collect(),
            contract_confirm: config.contract.as_ref().map(|_| {
                if tables.is_empty() {
                    config.migration.name.clone()
                } else {
                    tables.join(", ")
                }
            }),
            contract_sql: config
                .contract
                .iter()
                .flat_map(|c| c.sql.iter().cloned())
                .collect(),
            has_flag: config.flag.is_some(),
            has_backup: !config.backups.is_empty(),
        }
    }
}

/// One line of the Log screen (and the Overview's latest events).
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    pub at_us: i64,
    /// `alice@laptop` for audited actions; `None` for engine events.
    pub who: Option<String>,
    pub kind: LogKind,
    pub level: Level,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogKind {
    Audit,
    Event,
}

/// How a line or a value is styled: the theme maps each level to a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Ok,
    Warn,
    Danger,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Toast {
    pub text: String,
    pub level: Level,
    /// When it disappears (µs since the epoch).
    pub until_us: i64,
}

/// A bounded series of (µs, value) points, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub points: VecDeque<(i64, f64)>,
}

impl Series {
    pub fn push(&mut self, at_us: i64, value: f64) {
        if self.points.len() == SERIES_CAPACITY {
            self.points.pop_front();
        }
        self.points.push_back((at_us, value));
    }
}

/// Series keyed by name: `backfill:<step>` rows/s and `p95:<path>:old|new` ms, recorded once
/// a second from the snapshot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub series: std::collections::BTreeMap<String, Series>,
    pub last_at_us: i64,
}

impl History {
    pub fn get(&self, name: &str) -> Option<&Series> {
        self.series.get(name)
    }

    /// Record the snapshot's live numbers, at most once a second.
    pub fn record(&mut self, snap: &Snapshot, now_us: i64) {
        if now_us - self.last_at_us < 1_000_000 {
            return;
        }
        self.last_at_us = now_us;
        for step in &snap.backfill.steps {
            self.push(
                format!("backfill:{}", step.step),
                now_us,
                step.rows_per_second,
            );
        }
        for path in &snap.latency {
            if let Some(w) = path.windows.first() {
                if let Some(ms) = w.old.p95_ms {
                    self.push(format!("p95:{}:old", path.path), now_us, ms);
                }
                if let Some(ms) = w.new.p95_ms {
                    self.push(format!("p95:{}:new", path.path), now_us, ms);
                }
            }
        }
    }

    fn push(&mut self, name: String, at_us: i64, value: f64) {
        self.series.entry(name).or_default().push(at_us, value);
    }
}

impl AppState {
    pub fn new(snapshot: Snapshot, keymap: Keymap, now_us: i64) -> AppState {
        AppState {
            snapshot,
            now_us,
            screen: ScreenId::Overview,
            help: false,
            keymap,
            log: VecDeque::new(),
            toast: None,
            prompt: None,
            history: History::default(),
            too_small: false,
            backfill: Default::default(),
            divergences: Default::default(),
            latency: Default::default(),
            log_view: Default::default(),
            context: Context::default(),
            quit: false,
            session_error: None,
        }
    }

    /// True when this cockpit may drive (holds the lease); otherwise dangerous actions are
    /// hidden and refused.
    pub fn driving(&self) -> bool {
        self.snapshot.lease.is_driving()
    }

    pub fn push_log(&mut self, entry: LogEntry) {
        if self.log.len() == LOG_CAPACITY {
            self.log.pop_front();
        }
        self.log.push_back(entry);
    }

    /// Fold one session event into the log (the snapshot carries the rest).
    pub fn apply_event(&mut self, event: &Event) {
        if let Some(entry) = screens::log::entry_for(event, self.now_us) {
            self.push_log(entry);
        }
    }

    pub fn toast(&mut self, text: impl Into<String>, level: Level) {
        self.toast = Some(Toast {
            text: text.into(),
            level,
            until_us: self.now_us + 5_000_000,
        });
    }
}
