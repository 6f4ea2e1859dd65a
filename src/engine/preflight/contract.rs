//! What the contract will touch, from the first phase on: what its statements drop, whether a
//! `[[backup]]` covers each, and what still depends on them (the impact check). Warnings, not
//! failures: the drop is far off, but the team should know early.

use std::collections::BTreeMap;

use super::Check;
use crate::config::Config;
use crate::db::Db;
use crate::engine::contract::{self, Dropped};

pub(super) async fn contract_checks(config: &Config, dbs: &BTreeMap<String, Db>) -> Vec<Check> {
    let Some(c) = &config.contract else {
        return Vec::new();
    };
    let mut checks = Vec::new();
    let statements: Vec<contract::Statement> = c.sql.iter().map(|s| contract::parse(s)).collect();
    for s in &statements {
        if let Some(why) = &s.not_understood {
            checks.push(Check::warn(
                "[contract] statement",
                format!("cannot tell everything `{}` drops: {why}", s.sql),
                format!(
                    "the drop will need an override with a reason; split it into ALTER TABLE … \
                     DROP COLUMN / DROP TABLE statements if you can ({})",
                    c.at
                ),
            ));
        }
    }
    let dropped: Vec<Dropped> = statements.iter().flat_map(|s| s.drops.clone()).collect();
    for d in &dropped {
        let covered = config.backups.iter().any(|b| {
            b.database == c.database
                && contract::same_table(&b.table, d.table())
                && match d {
                    Dropped::Column { column, .. } => {
                        b.columns.iter().any(|x| x.eq_ignore_ascii_case(column))
                    }
                    Dropped::Table { .. } => true,
                }
        });
        checks.push(if covered {
            Check::ok(
                "[contract] drops",
                format!("{d}, backed up by a [[backup]]"),
            )
        } else {
            Check::warn(
                "[contract] drops",
                format!("{d} has no [[backup]]"),
                "add a [[backup]] for it: the drop is refused without a verified backup",
            )
        });
    }
    let Some(db) = dbs.get(&c.database) else {
        return checks; // the connection check above says why
    };
    match contract::impact(db, &dropped).await {
        Err(e) => checks.push(Check::warn(
            "[contract] impact",
            format!("could not list what depends on the dropped objects: {e}"),
            "check that migtui may read the catalog (information_schema, pg_depend)",
        )),
        Ok(deps) => {
            for dep in deps {
                let detail = format!(
                    "{} `{}` depends on {}: {}",
                    dep.kind, dep.name, dep.on, dep.detail
                );
                checks.push(if dep.blocking {
                    Check::warn(
                        "[contract] impact",
                        detail,
                        "it blocks the drop: change or drop it first, or override with a reason",
                    )
                } else {
                    Check::ok("[contract] impact", detail)
                });
            }
        }
    }
    checks
}
