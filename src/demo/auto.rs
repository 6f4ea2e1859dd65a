//! The headless walk (`migtui demo --headless --auto`): from the current phase to `done`
//! through the session's `Command`s, exactly as an operator in the cockpit would: start the
//! backfill, wait for each gate to pass, flip the read flag, confirm the one-way doors with the
//! migration's name, back up, run the contract. It never overrides a gate.
//!
//! With faults injected, leaving `backfill` runs the documented repair: the dual-write bug is
//! "fixed" (injection stops), a full verify lists every divergent key, the list is compared
//! with the faults the application recorded, and each key is copied again from old
//! ([`super::repair`]) and rechecked, so `shadow` starts clean.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::DemoError;
use super::app::{Fault, SimApp};
use super::migration::{CONTRACT_TABLE, NAME};
use crate::config::Config;
use crate::db::Value;
use crate::engine::flag::FlagValue;
use crate::engine::phase::PhaseId;
use crate::engine::session::{Command, Event, Outcome, SessionError, SessionHandle};
use crate::engine::verify::Verifier;
use crate::store::{BackupStatus, DivergenceFilter, DivergenceStatus};

/// How the walk runs.
#[derive(Debug, Clone)]
pub struct AutoOptions {
    /// Where the report and the fault comparison are written.
    pub dir: PathBuf,
    /// The longest wait for one phase's gates before the walk gives up.
    pub phase_timeout: Duration,
}

/// How the walk ended.
#[derive(Debug, Clone, Default)]
pub struct AutoOutcome {
    /// Why the run does not count as a success (empty: it does).
    pub problems: Vec<String>,
    /// The faults the application injected, and the keys the full verify found.
    pub injected: Vec<Fault>,
    pub found: Vec<i64>,
}

/// The walk's view of the running demo.
pub struct Walk<'a> {
    pub session: &'a SessionHandle,
    pub app: &'a SimApp,
    pub config: &'a Config,
    pub opts: AutoOptions,
}

const POLL: Duration = Duration::from_secs(2);

impl Walk<'_> {
    /// Walk to `done`, print one line per phase, write the report; the outcome says whether
    /// the migration ended with zero divergences and a verified backup.
    pub async fn run(&self) -> Result<AutoOutcome, DemoError> {
        let mut outcome = AutoOutcome::default();
        let errors = self.print_errors();
        let walk_started = Instant::now();
        loop {
            let snap = self.session.snapshot();
            let phase = snap.phase;
            let Some(next) = snap.next else { break };
            let started = Instant::now();
            let detail = self.work(phase, &mut outcome).await?;
            let gates = self.wait_gates(phase).await?;
            let detail = match detail {
                Some(d) => d,
                None => gates,
            };
            self.advance(next).await?;
            println!(
                "{:>2} {:<16} {:>6.1}s  {detail}",
                phase.number(),
                phase.as_str(),
                started.elapsed().as_secs_f64()
            );
        }
        errors.abort();
        println!(
            "{:>2} {:<16} {:>6.1}s  migration complete in {:.0} s",
            PhaseId::Done.number(),
            PhaseId::Done.as_str(),
            0.0,
            walk_started.elapsed().as_secs_f64()
        );
        self.write_reports().await?;
        self.verdict(&mut outcome).await?;
        Ok(outcome)
    }

    /// Errors the session reports while the walk runs, on stderr.
    fn print_errors(&self) -> tokio::task::JoinHandle<()> {
        let mut events = self.session.subscribe();
        let secrets = self.config.secrets.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                if let Event::Error { context, message } = e {
                    eprintln!("   ! {context}: {}", secrets.mask(&message));
                }
            }
        })
    }

    /// What a phase needs before its gates can pass; `Some` replaces the gates' summary.
    async fn work(
        &self,
        phase: PhaseId,
        outcome: &mut AutoOutcome,
    ) -> Result<Option<String>, DemoError> {
        match phase {
            PhaseId::Backfill => {
                if !self.session.snapshot().backfill.running {
                    expect_done(
                        self.session
                            .request(Command::StartBackfill { step: None })
                            .await?,
                        "start the backfill",
                    )?;
                }
                self.wait_gates(phase).await?;
                let rows: u64 = self
                    .session
                    .snapshot()
                    .backfill
                    .steps
                    .iter()
                    .map(|s| s.rows_done)
                    .sum();
                let mut line = format!("backfilled {rows} rows");
                if self.app.faults_enabled() {
                    line.push_str(&format!("; {}", self.repair_faults(outcome).await?));
                }
                self.wait_clean_minute().await?;
                Ok(Some(line))
            }
            PhaseId::ReadNew => {
                let reason = "demo: shadow gates passed, reads move to the new model".into();
                let cmd = Command::SetFlag {
                    value: FlagValue::Bool(true),
                    reason,
                };
                expect_done(self.session.request(cmd).await?, "flip the read flag")?;
                Ok(None)
            }
            PhaseId::Backup => {
                // The application's last write to old (in flight at the phase change) lands
                // before the copy, so the live source the copy is checked against holds still.
                tokio::time::sleep(Duration::from_secs(1)).await;
                let cmd = Command::RunBackup { verify_only: false };
                expect_done(self.session.request(cmd).await?, "run the backup")?;
                Ok(None)
            }
            PhaseId::Drop => {
                let cmd = Command::Contract {
                    confirm: Some(CONTRACT_TABLE.into()),
                    override_reason: None,
                };
                expect_done(self.session.request(cmd).await?, "run the contract")?;
                Ok(Some(format!(
                    "contract ran: {}",
                    self.config
                        .contract
                        .as_ref()
                        .map_or(String::new(), |c| c.sql.join("; "))
                )))
            }
            _ => Ok(None),
        }
    }

    /// Measure the gates until they all pass; a summary of them, or an error after the
    /// phase timeout with the failing gates' explanations.
    async fn wait_gates(&self, phase: PhaseId) -> Result<String, DemoError> {
        let started = Instant::now();
        let mut said = Instant::now();
        loop {
            self.session.request(Command::RefreshGates).await?;
            let snap = self.session.snapshot();
            if snap.phase != phase {
                return Err(DemoError::Failed(format!(
                    "the phase moved from {} to {} behind the walk's back (another operator?)",
                    phase.as_str(),
                    snap.phase.as_str()
                )));
            }
            let failing: Vec<String> = snap
                .gates
                .iter()
                .filter(|g| !g.pass)
                .map(|g| {
                    format!(
                        "{}: {} ({})",
                        g.name,
                        g.measured.as_deref().unwrap_or("not measured"),
                        g.explanation
                    )
                })
                .collect();
            if failing.is_empty() {
                let summary: Vec<String> = snap
                    .gates
                    .iter()
                    .map(|g| format!("{} {}", g.name, g.measured.as_deref().unwrap_or("")))
                    .collect();
                return Ok(match summary.is_empty() {
                    true => "no gate".into(),
                    false => summary.join("; "),
                });
            }
            if started.elapsed() > self.opts.phase_timeout {
                return Err(DemoError::Failed(format!(
                    "`{}` gates still failing after {} s: {}",
                    phase.as_str(),
                    self.opts.phase_timeout.as_secs(),
                    failing.join("; ")
                )));
            }
            if said.elapsed() > Duration::from_secs(20) {
                eprintln!("   … {} waiting: {}", phase.as_str(), failing.join("; "));
                said = Instant::now();
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn advance(&self, next: PhaseId) -> Result<(), DemoError> {
        let confirm = next.is_one_way_door().then(|| NAME.to_string());
        let cmd = Command::Advance {
            override_reason: None,
            confirm,
        };
        match self.session.request(cmd).await? {
            Outcome::Moved { .. } | Outcome::Done => Ok(()),
            Outcome::Refused { why, .. } => Err(DemoError::Failed(format!(
                "advancing to `{}` was refused: {why}",
                next.as_str()
            ))),
        }
    }

    /// The documented repair: stop injecting, find every divergent key with a full verify,
    /// compare them with the application's record, copy them again from old, recheck.
    async fn repair_faults(&self, outcome: &mut AutoOutcome) -> Result<String, DemoError> {
        self.app.set_faults(false);
        tokio::time::sleep(Duration::from_millis(500)).await;
        let check = self
            .config
            .verify
            .first()
            .ok_or_else(|| DemoError::Failed("the demo file has no [[verify]] check".into()))?;
        self.full_verify(&check.name).await?;
        let store = self.session.store();
        let mut open = Vec::new();
        let filter = DivergenceFilter {
            check: Some(check.name.clone()),
            status: Some(DivergenceStatus::Open),
        };
        let mut after: Option<(String, String)> = None;
        loop {
            let page = store
                .divergence_page(
                    &filter,
                    after.as_ref().map(|(c, k)| (c.as_str(), k.as_str())),
                    500,
                )
                .await?;
            let Some(last) = page.last() else { break };
            after = Some((last.check.clone(), last.key_text.clone()));
            open.extend(page);
        }
        // Which still differ now (no recording): the rest were races, healed by a recheck.
        let dbs = self.session.databases();
        let (Some(old), Some(new)) = (dbs.get("old"), dbs.get("new")) else {
            return Err(DemoError::Failed(
                "the session has no old or new database".into(),
            ));
        };
        let verifier = Verifier::new(check.clone(), old.clone(), new.clone(), None);
        let keys: Vec<Vec<Value>> = open
            .iter()
            .filter_map(|d| d.key_text.parse::<i64>().ok())
            .map(|k| vec![Value::Int(k)])
            .collect();
        let mut differing = BTreeSet::new();
        for chunk in keys.chunks(500) {
            let batch = verifier
                .compare_keys(chunk)
                .await
                .map_err(|e| DemoError::Failed(e.to_string()))?;
            for d in batch.differences {
                if let Some(Value::Int(k)) = d.key.first() {
                    differing.insert(*k);
                }
            }
        }
        let found: BTreeSet<i64> = open
            .iter()
            .filter(|d| d.source == "full")
            .filter_map(|d| d.key_text.parse::<i64>().ok())
            .filter(|k| differing.contains(k))
            .collect();
        let injected = self.app.faults();
        let expected: BTreeSet<i64> = injected.iter().map(|f| f.key).collect();
        let transient = open.len() - differing.len();
        let comparison = self.compare(&expected, &found, outcome);
        outcome.injected = injected.clone();
        outcome.found = found.iter().copied().collect();
        self.write_faults(&injected, &found);
        let repaired: Vec<i64> = differing.iter().copied().collect();
        let operator = self.session.operator().clone();
        let rows = super::repair::recopy(old, new, store, &operator, &repaired).await?;
        let keys: Vec<String> = open.iter().map(|d| d.key_text.clone()).collect();
        self.recheck_all(&check.name, &keys).await?;
        self.wait_no_open().await?;
        Ok(format!(
            "{comparison}; re-copied {rows} rows from old (audited as demo.repair), \
             {} rechecked ({transient} had healed: writes in flight, or rows the backfill \
             copied since they were seen)",
            open.len()
        ))
    }

    /// Recheck `keys` a window at a time: each recheck answers with a `Divergence` event for
    /// its key, and the verifier's queue never overflows.
    async fn recheck_all(&self, check: &str, keys: &[String]) -> Result<(), DemoError> {
        const WINDOW: usize = 16;
        let mut events = self.session.subscribe();
        for window in keys.chunks(WINDOW) {
            let mut waiting: BTreeSet<&str> = window.iter().map(String::as_str).collect();
            for k in window {
                self.recheck(check, k.clone()).await?;
            }
            let answered = async {
                while !waiting.is_empty() {
                    match events.recv().await {
                        Ok(Event::Divergence { check: c, key, .. }) if c == check => {
                            waiting.remove(key.as_str());
                        }
                        Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                        Err(_) => return,
                    }
                }
            };
            // A lost event only costs the wait; `wait_no_open` checks the outcome itself.
            let _ = tokio::time::timeout(Duration::from_secs(30), answered).await;
        }
        Ok(())
    }

    /// Ask the verifier to recheck one key, waiting while its queue is full.
    async fn recheck(&self, check: &str, key: String) -> Result<(), DemoError> {
        let started = Instant::now();
        loop {
            let cmd = Command::RecheckDivergence {
                check: check.to_string(),
                key: key.clone(),
            };
            match self.session.request(cmd).await {
                Err(SessionError::Busy) if started.elapsed() < self.opts.phase_timeout => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                other => return other.map(|_| ()).map_err(Into::into),
            }
        }
    }

    fn compare(
        &self,
        expected: &BTreeSet<i64>,
        found: &BTreeSet<i64>,
        outcome: &mut AutoOutcome,
    ) -> String {
        if expected == found {
            return format!(
                "the full verify found {} divergent keys, exactly the {} the application injected",
                found.len(),
                expected.len()
            );
        }
        let missed: Vec<&i64> = expected.difference(found).take(10).collect();
        let extra: Vec<&i64> = found.difference(expected).take(10).collect();
        let text = format!(
            "the full verify found {} divergent keys, the application injected {}: \
             not found {missed:?}, not injected {extra:?}",
            found.len(),
            expected.len()
        );
        outcome.problems.push(text.clone());
        text
    }

    /// `faults.json` in the demo directory: what was injected and what was found.
    fn write_faults(&self, injected: &[Fault], found: &BTreeSet<i64>) {
        let path = self.opts.dir.join("faults.json");
        let body = serde_json::json!({ "injected": injected, "found": found });
        let text = serde_json::to_string_pretty(&body).unwrap_or_default();
        if let Err(e) = std::fs::write(&path, text) {
            eprintln!("migtui: warning: cannot write {}: {e}", path.display());
        }
    }

    /// Run the full diff of `check` in the session's verifier and wait for its end.
    async fn full_verify(&self, check: &str) -> Result<(), DemoError> {
        let mut events = self.session.subscribe();
        let cmd = Command::RunFullVerify {
            check: Some(check.to_string()),
        };
        expect_done(self.session.request(cmd).await?, "run the full verify")?;
        let wait = async {
            loop {
                match events.recv().await {
                    Ok(Event::FullVerifyDone { check: c, .. }) if c == check => return Ok(()),
                    Ok(Event::Error { context, message }) if context.contains("full verify") => {
                        return Err(DemoError::Failed(format!("{context}: {message}")));
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return Err(DemoError::Failed("the session closed".into())),
                }
            }
        };
        tokio::time::timeout(self.opts.phase_timeout, wait)
            .await
            .map_err(|_| DemoError::Failed("the full verify did not finish in time".into()))?
    }

    /// Wait until the rechecks have healed every open divergence.
    async fn wait_no_open(&self) -> Result<(), DemoError> {
        let started = Instant::now();
        loop {
            let counts = self.session.store().divergence_counts(None).await?;
            let open: u64 = counts
                .iter()
                .filter(|(s, _)| *s == DivergenceStatus::Open)
                .map(|(_, n)| n)
                .sum();
            if open == 0 {
                return Ok(());
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(DemoError::Failed(format!(
                    "{open} divergences still open after the repair and the rechecks"
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// The verify gates count whole minutes from the phase's start: when the current minute
    /// holds a divergence (found before the repair), `shadow` starts in the next one.
    async fn wait_clean_minute(&self) -> Result<(), DemoError> {
        const MINUTE_US: i64 = 60_000_000;
        let store = self.session.store();
        let now = store.now_us().await?;
        let minute = now - now.rem_euclid(MINUTE_US);
        let mut dirty = false;
        for c in &self.config.verify {
            dirty |= store.verify_counts(&c.name, Some(minute)).await?.divergent > 0;
        }
        if dirty {
            let wait = (minute + MINUTE_US - now) as u64 + 1_000_000;
            eprintln!(
                "   … waiting {:.0} s so that `shadow` starts in a minute without divergences",
                wait as f64 / 1e6
            );
            tokio::time::sleep(Duration::from_micros(wait)).await;
        }
        Ok(())
    }

    /// The session report as HTML and Markdown in the demo directory; the walk fails without it.
    async fn write_reports(&self) -> Result<(), DemoError> {
        use crate::report::{Format, Options, build};
        for (format, file) in [(Format::Html, "report.html"), (Format::Md, "report.md")] {
            let opts = Options {
                format,
                ..Options::default()
            };
            let text = build(self.session.store(), self.config, &opts)
                .await
                .map_err(|e| DemoError::Failed(format!("building the {file} report: {e}")))?;
            let path = self.opts.dir.join(file);
            std::fs::write(&path, text)
                .map_err(|e| DemoError::Io(format!("writing {}: {e}", path.display())))?;
            println!("   report: {}", path.display());
        }
        Ok(())
    }

    /// Zero open divergences and every backup verified, or the problems.
    async fn verdict(&self, outcome: &mut AutoOutcome) -> Result<(), DemoError> {
        let store = self.session.store();
        let snap = self.session.snapshot();
        if snap.phase != PhaseId::Done {
            outcome
                .problems
                .push(format!("ended at `{}`, not `done`", snap.phase.as_str()));
        }
        for (status, n) in store.divergence_counts(None).await? {
            if matches!(status, DivergenceStatus::Open | DivergenceStatus::InFlight) && n > 0 {
                outcome
                    .problems
                    .push(format!("{n} divergences {}", status.as_str()));
            }
        }
        let backups = store.backups().await?;
        for b in &self.config.backups {
            let verified = backups
                .iter()
                .any(|r| r.name == b.name && r.status == BackupStatus::Verified);
            if !verified {
                outcome
                    .problems
                    .push(format!("backup `{}` is not verified", b.name));
            }
        }
        Ok(())
    }
}

fn expect_done(outcome: Outcome, what: &str) -> Result<(), DemoError> {
    match outcome {
        Outcome::Refused { why, .. } => Err(DemoError::Failed(format!("could not {what}: {why}"))),
        Outcome::Moved { .. } | Outcome::Done => Ok(()),
    }
}
