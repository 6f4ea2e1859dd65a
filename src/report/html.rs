//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script, no
//! font, no network reference. It reads without JavaScript and prints well (`@media print`).

use std::fmt::Write;

use super::fmt::{bound_cell, bytes, count, duration, gate, json, ms, percent, rate};
use super::model::*;
use super::svg::{Limit, Series, esc, line_chart, phase_timeline, rich};

// What interrupted the work.
mod interruptions;

const STYLE: &str = include_str!("report.css");

pub(super) fn table(o: &mut String, head: &[&str], rows: &[Vec<String>]) {
    marked_table(o, head, rows, &[]);
}

/// A table whose rows flagged in `marked` carry the `override` class.
fn marked_table(o: &mut String, head: &[&str], rows: &[Vec<String>], marked: &[bool]) {
    o.push_str("<div class=\"scroll\"><table><thead><tr>");
    for h in head {
        let _ = write!(o, "<th>{}</th>", esc(h));
    }
    o.push_str("</tr></thead><tbody>\n");
    for (i, r) in rows.iter().enumerate() {
        if marked.get(i).copied().unwrap_or(false) {
            o.push_str("<tr class=\"override\">");
        } else {
            o.push_str("<tr>");
        }
        for c in r {
            let _ = write!(o, "<td>{c}</td>");
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody></table></div>\n");
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", esc(s))
}

fn opt(s: &Option<String>) -> String {
    s.as_deref().map_or("–".into(), esc)
}

pub(super) fn empty(o: &mut String, text: &str) {
    let _ = writeln!(o, "<p class=\"muted\">{}</p>", esc(text));
}

/// The whole page.
pub fn render(r: &Report) -> String {
    let m = &r.migration;
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Migration report: {}</title><style>{STYLE}</style></head><body>\n",
        esc(&m.name)
    );
    let _ = writeln!(o, "<header><h1>Migration report: {}</h1>", esc(&m.name));
    if let Some(d) = &m.description {
        let _ = writeln!(o, "<p>{}</p>", esc(d));
    }
    let span = match r.since {
        Some(t) => format!("since {}", t.human()),
        None => "the whole migration".into(),
    };
    let _ = writeln!(
        o,
        "<dl class=\"facts\"><dt>Phase</dt><dd>{} since {}</dd><dt>Generated</dt><dd>{}</dd>\
         <dt>Span</dt><dd>{}</dd><dt>State store</dt><dd>{}</dd><dt>Divergent values</dt><dd>{}</dd></dl>",
        code(m.phase.as_str()),
        esc(&m.phase_since.human()),
        esc(&r.generated_at.human()),
        esc(&span),
        code(&m.state_database),
        if r.include_values {
            "shown (redacted columns masked)"
        } else {
            "hidden (keys, kinds and columns only)"
        }
    );
    let rows: Vec<Vec<String>> = m
        .databases
        .iter()
        .map(|d| vec![code(&d.name), esc(&d.engine), code(&d.target)])
        .collect();
    table(&mut o, &["database", "engine", "target"], &rows);
    o.push_str("</header>\n");

    o.push_str("<section><h2>Open risks</h2>\n");
    if r.risks.is_empty() {
        empty(&mut o, "None recorded.");
    } else {
        o.push_str("<ul class=\"risks\">");
        for k in &r.risks {
            let _ = write!(
                o,
                "<li><strong>{}</strong>: {}</li>",
                esc(&k.kind),
                rich(&k.detail)
            );
        }
        o.push_str("</ul>\n");
    }
    o.push_str("</section>\n");

    timeline(&mut o, r);
    backfill(&mut o, r);
    interruptions::interruptions(&mut o, r);
    verification(&mut o, r);
    divergences(&mut o, r);
    latency(&mut o, r);
    flags_backups_contract(&mut o, r);
    audit(&mut o, r);
    o.push_str("</body></html>\n");
    o
}

fn timeline(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Phase timeline</h2>\n");
    if r.timeline.is_empty() {
        empty(o, "No phase change recorded.");
        o.push_str("</section>\n");
        return;
    }
    let start = r
        .audit
        .first()
        .map(|a| a.at)
        .into_iter()
        .chain(r.timeline.first().map(|t| t.at))
        .min();
    let mut spans: Vec<(Time, &str, &str)> = Vec::new();
    if let (Some(s), Some(first)) = (start, r.timeline.first()) {
        spans.push((s, first.from.as_str(), "p0"));
    }
    for (i, t) in r.timeline.iter().enumerate() {
        let class = ["p1", "p2", "p3", "p0"][i % 4];
        spans.push((t.at, t.to.as_str(), class));
    }
    let marks: Vec<(Time, &str)> = r
        .timeline
        .iter()
        .filter_map(|t| match t.kind.as_str() {
            "override" => Some((t.at, "override")),
            "rollback" => Some((t.at, "rollback")),
            _ if t.one_way_door => Some((t.at, "one-way door")),
            _ => None,
        })
        .collect();
    let end = r
        .generated_at
        .max(r.timeline.last().map_or(r.generated_at, |t| t.at));
    if let Some(svg) = phase_timeline(&spans, end, &marks) {
        o.push_str(&svg);
    }
    let rows: Vec<Vec<String>> = r
        .timeline
        .iter()
        .map(|t| {
            let kind = match t.kind.as_str() {
                "override" => "<strong class=\"bad\">OVERRIDE</strong>".to_string(),
                k => esc(k),
            };
            let door = if t.one_way_door {
                " <em>(one-way door)</em>"
            } else {
                ""
            };
            let gates: Vec<String> = t
                .gates
                .iter()
                .map(|g| {
                    let class = if g.pass { "ok" } else { "bad" };
                    format!("<span class=\"{class}\">{}</span>", esc(&gate(g)))
                })
                .collect();
            vec![
                esc(&t.at.human()),
                format!("{} → {}{door}", code(t.from.as_str()), code(t.to.as_str())),
                kind,
                esc(&t.operator),
                opt(&t.reason),
                if gates.is_empty() {
                    "–".into()
                } else {
                    gates.join("<br>")
                },
            ]
        })
        .collect();
    // Overrides stand out: their rows are marked.
    let marked: Vec<bool> = r.timeline.iter().map(|t| t.kind == "override").collect();
    let head = [
        "time",
        "change",
        "kind",
        "by",
        "reason",
        "gates at that moment",
    ];
    marked_table(o, &head, &rows, &marked);
    o.push_str("</section>\n");
}

fn backfill(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Backfill</h2>\n");
    if r.backfill.is_empty() {
        empty(o, "No backfill step.");
        o.push_str("</section>\n");
        return;
    }
    let classes = ["s1", "s2", "s3", "s4"];
    let series: Vec<Series> = r
        .backfill
        .iter()
        .enumerate()
        .map(|(i, s)| Series {
            label: &s.step,
            class: classes[i % classes.len()],
            dashed: i % 2 == 1,
            points: s
                .rate_over_time
                .iter()
                .map(|p| (p.at.0, p.rows_per_second))
                .collect(),
        })
        .collect();
    if let Some(svg) = line_chart("Backfill rate over time", "rows/s", &series, &[]) {
        o.push_str(&svg);
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
    o.push_str("</section>\n");
}

fn verification(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Verification</h2>\n");
    if r.verification.is_empty() {
        empty(o, "No verification check.");
        o.push_str("</section>\n");
        return;
    }
    for c in r.verification.iter().filter(|c| !c.over_time.is_empty()) {
        let pct = |v: f64| v * 100.0;
        let series = [
            Series {
                label: "divergence rate so far",
                class: "s1",
                dashed: false,
                points: c
                    .over_time
                    .iter()
                    .map(|p| (p.at.0, pct(p.cumulative_rate)))
                    .collect(),
            },
            Series {
                label: "95% upper bound so far",
                class: "s2",
                dashed: true,
                points: c
                    .over_time
                    .iter()
                    .map(|p| (p.at.0, pct(p.cumulative_upper_bound_95)))
                    .collect(),
            },
        ];
        let title = format!("Check {}: divergence rate and its 95% bound", c.check);
        if let Some(svg) = line_chart(&title, "%", &series, &[]) {
            o.push_str(&svg);
        }
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
                esc(&full),
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
    o.push_str("</section>\n");
}

fn divergences(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Divergences</h2>\n");
    let d = &r.divergences;
    if d.by_status.is_empty() {
        empty(o, "No divergent row recorded.");
        o.push_str("</section>\n");
        return;
    }
    let counts: Vec<String> = d
        .by_status
        .iter()
        .map(|(s, n)| format!("{} {}", count(*n), esc(s)))
        .collect();
    let _ = writeln!(o, "<p>By status: {}.</p>", counts.join(", "));
    let mut head = vec![
        "check", "key", "kind", "columns", "status", "seen", "first", "last",
    ];
    if r.include_values {
        head.extend(["old", "new"]);
    }
    let values = |v: &Option<std::collections::BTreeMap<String, String>>| {
        v.as_ref().map_or("–".into(), |m| {
            let parts: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{}={}", esc(k), code(v)))
                .collect();
            parts.join("<br>")
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
                esc(&x.columns.join(", ")),
                esc(&x.status),
                count(x.times_seen.max(0) as u64),
                esc(&x.first_seen.human()),
                esc(&x.last_seen.human()),
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
        let text = format!(
            "Only the first {} are listed; the counts above are complete.",
            d.items.len()
        );
        empty(o, &text);
    }
    o.push_str("</section>\n");
}

fn latency(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Latency per read path</h2>\n");
    if r.latency.is_empty() {
        empty(o, "No read path.");
        o.push_str("</section>\n");
        return;
    }
    for p in r.latency.iter().filter(|p| !p.over_time.is_empty()) {
        let pts = |f: fn(&LatencyPoint) -> Option<f64>| -> Vec<(i64, f64)> {
            p.over_time
                .iter()
                .filter_map(|x| f(x).map(|v| (x.at.0, v)))
                .collect()
        };
        let series = [
            Series {
                label: "old p95",
                class: "old",
                dashed: true,
                points: pts(|x| x.old_p95_ms),
            },
            Series {
                label: "new p95",
                class: "new",
                dashed: false,
                points: pts(|x| x.new_p95_ms),
            },
            Series {
                label: "new p99",
                class: "new-faint",
                dashed: true,
                points: pts(|x| x.new_p99_ms),
            },
        ];
        let label = p.budget.p95_ms.map(|b| format!("budget p95 {b} ms"));
        let limits: Vec<Limit> = label
            .as_deref()
            .zip(p.budget.p95_ms)
            .map(|(l, v)| Limit { label: l, value: v })
            .into_iter()
            .collect();
        let title = format!("Path {}: latency over time, old vs new", p.path);
        if let Some(svg) = line_chart(&title, "ms", &series, &limits) {
            o.push_str(&svg);
        }
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
    table(
        o,
        &[
            "path", "side", "probes", "errors", "p50", "p95", "p99", "max",
        ],
        &rows,
    );
    let rows: Vec<Vec<String>> = r
        .latency
        .iter()
        .map(|p| {
            let verdict = match p.verdict.as_str() {
                "breached" => format!(
                    "<strong class=\"bad\">breached</strong>: {}",
                    rich(&p.breaches.join("; "))
                ),
                "too_few" => "too few probes to judge".into(),
                v => format!("<span class=\"ok\">{}</span>", esc(v)),
            };
            let ratio = p
                .new_over_old_p95
                .map_or("–".into(), |x| format!("{x:.2}×"));
            vec![code(&p.path), esc(&p.budget.text), ratio, verdict]
        })
        .collect();
    table(o, &["path", "budget", "new/old p95", "verdict"], &rows);
    o.push_str("</section>\n");
}

fn flags_backups_contract(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Flag flips</h2>\n");
    if r.flag_flips.is_empty() {
        empty(o, "The read flag was not written.");
    } else {
        let rows: Vec<Vec<String>> = r
            .flag_flips
            .iter()
            .map(|f| {
                vec![
                    esc(&f.at.human()),
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
    o.push_str("</section>\n<section><h2>Backups</h2>\n");
    if r.backups.is_empty() {
        empty(o, "No backup recorded.");
    } else {
        let rows: Vec<Vec<String>> = r
            .backups
            .iter()
            .map(|b| {
                vec![
                    code(&b.name),
                    code(&b.location),
                    esc(&format!("{}.{}", b.source_table, b.columns.join(","))),
                    count(b.rows),
                    bytes(b.size_bytes),
                    code(&b.checksum),
                    esc(&b.status),
                    b.verified.map_or("–".into(), |t| esc(&t.human())),
                    code(&b.restore_command),
                ]
            })
            .collect();
        let head = [
            "backup", "location", "columns", "rows", "size", "checksum", "status", "verified",
            "restore",
        ];
        table(o, &head, &rows);
    }
    o.push_str("</section>\n<section><h2>Contract statements</h2>\n");
    if r.contract.is_empty() {
        empty(o, "No contract statement was run.");
    } else {
        let rows: Vec<Vec<String>> = r
            .contract
            .iter()
            .map(|c| {
                vec![
                    esc(&c.at.human()),
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
    o.push_str("</section>\n");
}

fn audit(o: &mut String, r: &Report) {
    o.push_str("<section class=\"audit\"><h2>Audit log</h2>\n");
    if r.audit.is_empty() {
        empty(o, "No action recorded.");
    } else {
        let rows: Vec<Vec<String>> = r
            .audit
            .iter()
            .map(|a| {
                vec![
                    a.id.to_string(),
                    esc(&a.at.human()),
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
    o.push_str("</section>\n");
}
