//! The HTML report's interruptions section: the counts, then the sessions that vanished.

use std::fmt::Write;

use super::super::fmt::{count, duration};
use super::super::model::Report;
use super::super::svg::esc;
use super::{empty, table};

/// What interrupted the work, from the store's evidence (see `report/interruptions.rs`).
pub(super) fn interruptions(o: &mut String, r: &Report) {
    o.push_str("<section><h2>Interruptions</h2>\n<dl class=\"facts\">");
    let i = &r.interruptions;
    for (k, v) in i.facts() {
        let _ = write!(o, "<dt>{}</dt><dd>{}</dd>", esc(k), esc(&count(v)));
    }
    o.push_str("</dl>\n");
    if i.expired_leases.is_empty() {
        empty(o, "No session ended without releasing its lease.");
    } else {
        let rows: Vec<Vec<String>> = i
            .expired_leases
            .iter()
            .map(|e| {
                vec![
                    esc(&e.at.human()),
                    esc(&e.holder),
                    e.pid.map_or("–".into(), |p| p.to_string()),
                    e.idle_ms
                        .map_or("–".into(), |ms| esc(&duration(ms as f64 / 1000.0))),
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
    o.push_str("</section>\n");
}
