//! `migtui status`: where the migration is, what blocks the next phase, who drives, what was
//! done last. Read-only: it watches through a session that never takes the lease.

use std::path::Path;

use super::output::{Style, time_us};
use super::{exit, load_config};
use crate::engine::session::{Command, LeaseState, Mode, Snapshot};

/// Version of the `--json` shape; bumped only on incompatible changes.
pub const STATUS_JSON_VERSION: u32 = 1;

pub async fn run(path: &Path, json: bool) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let secrets = config.secrets.clone();
    let session = match super::start_session(config, Mode::Observe).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    // Gates are measured on request: status shows them as they are now.
    if let Err(e) = session.request(Command::RefreshGates).await {
        eprintln!(
            "migtui: measuring the gates failed: {}",
            secrets.mask(&e.to_string())
        );
    }
    let snap = session.snapshot();
    session.shutdown().await;
    if json {
        let doc = serde_json::json!({ "schema_version": STATUS_JSON_VERSION, "status": snap });
        println!(
            "{}",
            secrets.mask(&serde_json::to_string_pretty(&doc).unwrap_or_default())
        );
    } else {
        print!("{}", secrets.mask(&render(&snap, Style::stdout())));
    }
    exit::OK
}

/// The human status page.
pub fn render(snap: &Snapshot, s: Style) -> String {
    let mut out = String::new();
    let position = snap
        .plan
        .iter()
        .position(|p| *p == snap.phase)
        .map_or(0, |i| i + 1);
    out += &format!(
        "{} — phase {position}/{}: {} (since {})\n",
        s.bold(&snap.migration),
        snap.plan.len(),
        s.bold(snap.phase.as_str()),
        time_us(snap.since_us)
    );
    out += &format!("  {}\n", snap.phase.summary());
    let stepper: Vec<String> = snap
        .plan
        .iter()
        .map(|p| {
            let name = if p.is_one_way_door() {
                format!("{p}⚠")
            } else {
                p.to_string()
            };
            if *p == snap.phase {
                format!("[{name}]")
            } else if *p < snap.phase {
                s.muted(&name)
            } else {
                name
            }
        })
        .collect();
    out += &format!("  {}\n", stepper.join(" → "));

    match snap.next {
        Some(next) => {
            let door = if next.is_one_way_door() {
                s.danger(" (one-way door: --confirm needed)")
            } else {
                String::new()
            };
            out += &format!("\nto advance to {next}{door}, gates of {}:\n", snap.phase);
            if snap.gates.is_empty() {
                out += "  (none)\n";
            }
            for g in &snap.gates {
                let measured = g.measured.as_deref().unwrap_or("not measured");
                out += &format!(
                    "  {} {}: {measured} (needs {})\n      {}\n",
                    s.pass(g.pass),
                    g.name,
                    g.threshold,
                    s.muted(&g.explanation)
                );
            }
        }
        None => out += "\nthe migration is complete\n",
    }

    out += "\nlease: ";
    out += &match &snap.lease {
        LeaseState::Driving { lease } | LeaseState::Observing { lease } => format!(
            "{}@{} (pid {}) drives since {}, last heartbeat {}\n",
            lease.holder.user,
            lease.holder.host,
            lease.holder.pid,
            time_us(lease.acquired_us),
            time_us(lease.heartbeat_us)
        ),
        LeaseState::Expired { lease } => format!(
            "nobody drives: the lease of {}@{} (pid {}) expired, last heartbeat {}\n",
            lease.holder.user,
            lease.holder.host,
            lease.holder.pid,
            time_us(lease.heartbeat_us)
        ),
        LeaseState::Free => "nobody drives this migration now\n".to_string(),
        LeaseState::Unknown { error } => format!("unknown ({error})\n"),
    };

    out += "\ndatabases:\n";
    for d in &snap.databases {
        let state = match &d.error {
            None => String::new(),
            Some(e) => format!(" — {e}"),
        };
        out += &format!(
            "  {} {:<6} {:<14} {}{state}\n",
            s.pass(d.connected),
            d.name,
            d.engine,
            d.target
        );
    }

    if !snap.backups.is_empty() {
        out += "\nbackups:\n";
        for b in &snap.backups {
            let verified = b.status == crate::store::BackupStatus::Verified;
            out += &format!(
                "  {} {} → {}: {}, {} rows, checksum {}{}\n      restore: {}\n",
                s.pass(verified),
                b.name,
                b.location,
                b.status.as_str(),
                b.rows,
                b.checksum,
                b.verified_us
                    .map(|t| format!(", verified {}", time_us(t)))
                    .unwrap_or_default(),
                b.restore_command
            );
        }
    }

    out += "\nlast actions:\n";
    if snap.recent_actions.is_empty() {
        out += "  (none yet)\n";
    }
    for a in snap.recent_actions.iter().take(10) {
        out += &format!(
            "  {}  {}@{}  {}  {}\n",
            time_us(a.at_us),
            a.user,
            a.host,
            a.action,
            a.outcome
        );
    }
    out
}
