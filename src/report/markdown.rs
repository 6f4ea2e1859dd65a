//! The report as Markdown that renders cleanly on a code host: headings, tables and code
//! blocks, no raw HTML (every `<`, `|` and emphasis character in data is escaped).

use std::fmt::Write;

use super::fmt::{bound_cell, bytes, count, duration, gate, json, ms, percent, rate};
use super::model::*;

/// Escape text for a table cell or a paragraph: no HTML, no table breaks, no emphasis.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' | '|' | '<' | '>' | '*' | '_' | '`' | '[' | ']' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Text whose `name` spans (as the engine's messages write them) stay code spans.
fn rich(s: &str) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    let mut out = String::with_capacity(s.len());
    for (i, part) in parts.iter().enumerate() {
        let unmatched = i == parts.len() - 1 && parts.len().is_multiple_of(2);
        if i % 2 == 1 && !unmatched {
            out.push_str(&code(part));
        } else {
            if unmatched {
                out.push_str("\\`");
            }
            out.push_str(&esc(part));
        }
    }
    out
}

/// An identifier as a code span (pipes still escaped: tables split on them even there).
fn code(s: &str) -> String {
    format!(
        "`{}`",
        s.replace('`', "'").replace('|', "\\|").replace('\n', " ")
    )
}

fn table(out: &mut String, head: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(head.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or("–".into(), esc)
}

fn fence(out: &mut String, lang: &str, body: &str) {
    let ticks = if body.contains("```") { "~~~~" } else { "```" };
    let _ = writeln!(out, "{ticks}{lang}\n{}\n{ticks}\n", body.trim_end());
}

/// The whole report.
pub fn render(r: &Report) -> String {
    let mut o = String::new();
    let m = &r.migration;
    let _ = writeln!(o, "# Migration report: {}\n", esc(&m.name));
    if let Some(d) = &m.description {
        let _ = writeln!(o, "{}\n", esc(d));
    }
    let span = match r.since {
        Some(t) => format!("since {}", t.human()),
        None => "the whole migration".into(),
    };
    let plan: Vec<String> = m.plan.iter().map(|p| p.to_string()).collect();
    let values = if r.include_values {
        "shown (redacted columns masked)"
    } else {
        "hidden (keys, kinds and columns only)"
    };
    let phase = format!("{} since {}", code(m.phase.as_str()), m.phase_since.human());
    let facts = [
        ("Phase", phase),
        ("Plan", code(&plan.join(" → "))),
        ("Generated", r.generated_at.human()),
        ("Span", span),
        ("State store", code(&m.state_database)),
        ("Divergent values", values.to_string()),
    ];
    for (k, v) in facts {
        let _ = writeln!(o, "- **{k}**: {v}");
    }
    o.push('\n');

    o += "## Databases\n\n";
    let rows: Vec<Vec<String>> = m
        .databases
        .iter()
        .map(|d| vec![code(&d.name), esc(&d.engine), code(&d.target)])
        .collect();
    table(&mut o, &["name", "engine", "target"], &rows);

    o += "## Open risks\n\n";
    if r.risks.is_empty() {
        o += "None recorded.\n\n";
    } else {
        for k in &r.risks {
            let _ = writeln!(o, "- {}: {}", code(&k.kind), rich(&k.detail));
        }
        o.push('\n');
    }

    timeline(&mut o, r);
    backfill(&mut o, r);
    interruptions(&mut o, r);
    verification(&mut o, r);
    divergences(&mut o, r);
    latency(&mut o, r);
    flags_backups_contract(&mut o, r);
    audit(&mut o, r);
    o
}

fn timeline(o: &mut String, r: &Report) {
    *o += "## Phase timeline\n\n";
    if r.timeline.is_empty() {
        *o += "No phase change recorded.\n\n";
        return;
    }
    let rows: Vec<Vec<String>> = r
        .timeline
        .iter()
        .map(|t| {
            let kind = match t.kind.as_str() {
                "override" => "**OVERRIDE**".to_string(),
                k => esc(k),
            };
            let door = if t.one_way_door {
                " (one-way door)"
            } else {
                ""
            };
            let gates: Vec<String> = t.gates.iter().map(|g| esc(&gate(g))).collect();
            vec![
                t.at.human(),
                format!("{} → {}{door}", code(t.from.as_str()), code(t.to.as_str())),
                kind,
                esc(&t.operator),
                opt(&t.reason),
                if gates.is_empty() {
                    "–".into()
                } else {
                    gates.join("; ")
                },
            ]
        })
        .collect();
    table(
        o,
        &[
            "time",
            "change",
            "kind",
            "by",
            "reason",
            "gates at that moment",
        ],
        &rows,
    );
}

fn backfill(o: &mut String, r: &Report) {
    *o += "## Backfill\n\n";
    if r.backfill.is_empty() {
        *o += "No backfill step.\n\n";
        return;
    }
    let rows: Vec<Vec<String>> = r
        .backfill
        .iter()
        .map(|s| {
            vec![
                code(&s.step),
                esc(&s.status),
                count(s.rows),
                count(s.chunks),
                s.duration_secs.map_or("–".into(), duration),
                rate(s.rows_per_second),
                count(s.retries),
                duration(s.throttled_secs),
                opt(&s.error),
            ]
        })
        .collect();
    let head = [
        "step",
        "status",
        "rows",
        "chunks",
        "duration",
        "rate",
        "retries",
        "throttled",
        "error",
    ];
    table(o, &head, &rows);
}

/// What interrupted the work, from the store's evidence (see `report/interruptions.rs`).
fn interruptions(o: &mut String, r: &Report) {
    *o += "## Interruptions\n\n";
    let i = &r.interruptions;
    let facts = i.facts();
    for (k, v) in facts {
        let _ = writeln!(o, "- **{k}**: {}", count(v));
    }
    o.push('\n');
    if i.expired_leases.is_empty() {
        return;
    }
    let rows: Vec<Vec<String>> = i
        .expired_leases
        .iter()
        .map(|e| {
            vec![
                e.at.human(),
                esc(&e.holder),
                e.pid.map_or("–".into(), |p| p.to_string()),
                e.idle_ms
                    .map_or("–".into(), |ms| duration(ms as f64 / 1000.0)),
                esc(&e.taken_by),
            ]
        })
        .collect();
    table(
        o,
        &["taken over", "holder", "pid", "silent for", "by"],
        &rows,
    );
}

fn verification(o: &mut String, r: &Report) {
    *o += "## Verification\n\n";
    if r.verification.is_empty() {
        *o += "No verification check.\n\n";
        return;
    }
    let rows: Vec<Vec<String>> = r
        .verification
        .iter()
        .map(|c| {
            let full = c.full_diff.as_ref().map_or("not run".into(), |f| {
                format!(
                    "{} rows, {} divergent{}",
                    count(f.rows_compared),
                    count(f.divergent),
                    if f.finished { "" } else { " (unfinished)" }
                )
            });
            vec![
                code(&c.check),
                count(c.compared),
                count(c.divergent),
                count(c.healed),
                count(c.in_flight),
                percent(c.rate),
                bound_cell(c),
                full,
            ]
        })
        .collect();
    let head = [
        "check",
        "compared",
        "divergent",
        "healed",
        "in flight",
        "rate",
        "95% bound",
        "full diff",
    ];
    table(o, &head, &rows);
    for c in r.verification.iter().filter(|c| !c.over_time.is_empty()) {
        let _ = writeln!(o, "### {} over time (per minute)\n", code(&c.check));
        let rows: Vec<Vec<String>> = c
            .over_time
            .iter()
            .map(|p| {
                vec![
                    p.at.human(),
                    count(p.compared),
                    count(p.divergent),
                    percent(p.cumulative_rate),
                    percent(p.cumulative_upper_bound_95),
                ]
            })
            .collect();
        let head = [
            "minute",
            "compared",
            "divergent",
            "rate so far",
            "95% bound so far",
        ];
        table(o, &head, &rows);
    }
}

fn divergences(o: &mut String, r: &Report) {
    *o += "## Divergences\n\n";
    let d = &r.divergences;
    if d.by_status.is_empty() {
        *o += "No divergent row recorded.\n\n";
        return;
    }
    let counts: Vec<String> = d
        .by_status
        .iter()
        .map(|(s, n)| format!("{} {}", count(*n), esc(s)))
        .collect();
    let _ = writeln!(o, "By status: {}.\n", counts.join(", "));
    let mut head = vec![
        "check", "key", "kind", "columns", "status", "seen", "first", "last",
    ];
    if r.include_values {
        head.extend(["old", "new"]);
    }
    let values = |v: &Option<std::collections::BTreeMap<String, String>>| {
        v.as_ref().map_or("–".into(), |m| {
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            esc(&parts.join(", "))
        })
    };
    let rows: Vec<Vec<String>> = d
        .items
        .iter()
        .map(|x| {
            let mut row = vec![
                code(&x.check),
                code(&x.key),
                esc(&x.kind),
                x.columns
                    .iter()
                    .map(|c| code(c))
                    .collect::<Vec<_>>()
                    .join(", "),
                esc(&x.status),
                count(x.times_seen.max(0) as u64),
                x.first_seen.human(),
                x.last_seen.human(),
            ];
            if r.include_values {
                row.push(values(&x.old));
                row.push(values(&x.new));
            }
            row
        })
        .collect();
    table(o, &head, &rows);
    if d.truncated {
        let _ = writeln!(
            o,
            "Only the first {} are listed; the counts above are complete.\n",
            d.items.len()
        );
    }
}

fn latency(o: &mut String, r: &Report) {
    *o += "## Latency per read path\n\n";
    if r.latency.is_empty() {
        *o += "No read path.\n\n";
        return;
    }
    let mut rows = Vec::new();
    for p in &r.latency {
        for (name, s) in [("old", &p.old), ("new", &p.new)] {
            rows.push(vec![
                code(&p.path),
                name.into(),
                count(s.count),
                count(s.errors + s.timeouts),
                ms(s.p50_ms),
                ms(s.p95_ms),
                ms(s.p99_ms),
                ms(s.max_ms),
            ]);
        }
    }
    let head = [
        "path", "side", "probes", "errors", "p50", "p95", "p99", "max",
    ];
    table(o, &head, &rows);
    let rows: Vec<Vec<String>> = r
        .latency
        .iter()
        .map(|p| {
            let verdict = match p.verdict.as_str() {
                "breached" => format!("**breached**: {}", rich(&p.breaches.join("; "))),
                "too_few" => "too few probes to judge".into(),
                v => esc(v),
            };
            let ratio = p
                .new_over_old_p95
                .map_or("–".into(), |x| format!("{x:.2}×"));
            vec![code(&p.path), esc(&p.budget.text), ratio, verdict]
        })
        .collect();
    table(o, &["path", "budget", "new/old p95", "verdict"], &rows);
    for p in r.latency.iter().filter(|p| !p.over_time.is_empty()) {
        let _ = writeln!(o, "### {} over time\n", code(&p.path));
        let rows: Vec<Vec<String>> = p
            .over_time
            .iter()
            .map(|x| {
                let trio = |a, b, c| format!("{} / {} / {}", ms(a), ms(b), ms(c));
                vec![
                    x.at.human(),
                    trio(x.old_p50_ms, x.old_p95_ms, x.old_p99_ms),
                    trio(x.new_p50_ms, x.new_p95_ms, x.new_p99_ms),
                ]
            })
            .collect();
        table(
            o,
            &["interval end", "old p50 / p95 / p99", "new p50 / p95 / p99"],
            &rows,
        );
    }
}

fn flags_backups_contract(o: &mut String, r: &Report) {
    *o += "## Flag flips\n\n";
    if r.flag_flips.is_empty() {
        *o += "The read flag was not written.\n\n";
    } else {
        let rows: Vec<Vec<String>> = r
            .flag_flips
            .iter()
            .map(|f| {
                vec![
                    f.at.human(),
                    format!("{} → {}", opt(&f.from), esc(&f.to)),
                    if f.automatic {
                        "automatic rollback".into()
                    } else {
                        esc(&f.operator)
                    },
                    opt(&f.reason),
                    esc(&f.outcome),
                ]
            })
            .collect();
        table(o, &["time", "flag", "by", "reason", "outcome"], &rows);
    }

    *o += "## Backups\n\n";
    if r.backups.is_empty() {
        *o += "No backup recorded.\n\n";
    } else {
        let rows: Vec<Vec<String>> = r
            .backups
            .iter()
            .map(|b| {
                vec![
                    code(&b.name),
                    code(&b.location),
                    format!("{}.{}", esc(&b.source_table), esc(&b.columns.join(","))),
                    count(b.rows),
                    bytes(b.size_bytes),
                    code(&b.checksum),
                    esc(&b.status),
                    b.verified.map_or("–".into(), |t| t.human()),
                ]
            })
            .collect();
        let head = [
            "backup", "location", "columns", "rows", "size", "checksum", "status", "verified",
        ];
        table(o, &head, &rows);
        *o += "Restore commands:\n\n";
        let cmds: Vec<String> = r
            .backups
            .iter()
            .map(|b| format!("# {} ({})\n{}", b.name, b.location, b.restore_command))
            .collect();
        fence(o, "sh", &cmds.join("\n"));
    }

    *o += "## Contract statements\n\n";
    if r.contract.is_empty() {
        *o += "No contract statement was run.\n\n";
    } else {
        let rows: Vec<Vec<String>> = r
            .contract
            .iter()
            .map(|c| {
                vec![
                    c.at.human(),
                    code(&c.sql),
                    c.attempt.map_or("–".into(), |a| a.to_string()),
                    c.elapsed_ms.map_or("–".into(), |e| format!("{e:.0} ms")),
                    esc(&c.operator),
                    esc(&c.outcome),
                ]
            })
            .collect();
        table(
            o,
            &["time", "statement", "attempt", "took", "by", "outcome"],
            &rows,
        );
    }
}

fn audit(o: &mut String, r: &Report) {
    *o += "## Audit log\n\n";
    if r.audit.is_empty() {
        *o += "No action recorded.\n\n";
        return;
    }
    let rows: Vec<Vec<String>> = r
        .audit
        .iter()
        .map(|a| {
            vec![
                a.id.to_string(),
                a.at.human(),
                esc(&format!("{}@{}", a.user, a.host)),
                code(&a.action),
                code(&json(&a.params)),
                esc(&a.outcome),
            ]
        })
        .collect();
    table(
        o,
        &["#", "time", "who", "action", "parameters", "outcome"],
        &rows,
    );
}
