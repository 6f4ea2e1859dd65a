//! The documented repair for divergent keys: copy each one again from the old model (the
//! source of truth until reads move), as an operator would after fixing the dual write, and
//! record it in the audit log. Each key is then rechecked through the session so the cockpit
//! shows it healed.

use super::DemoError;
use super::values::convert;
use crate::db::{Db, Params, Value};
use crate::store::{Operator, Store};

const OLD_ROW: &str = "SELECT id, organisation_id, status, title, severity, created_at, \
    updated_at, payload FROM incidents WHERE id = :id";

/// Copy `keys` from the old model into the new one (a key gone from old is deleted from new),
/// then audit `demo.repair` with the keys. Returns the rows written.
pub async fn recopy(
    old: &Db,
    new: &Db,
    store: &Store,
    operator: &Operator,
    keys: &[i64],
) -> Result<u64, DemoError> {
    let e = new.engine();
    let mut written = 0;
    let mut tx = new.begin().await?;
    for &key in keys {
        let rows = old.query(OLD_ROW, &Params::new().bind("id", key)).await?;
        let Some(r) = rows.rows.into_iter().next() else {
            tx.execute(
                "DELETE FROM incidents WHERE id = :id",
                &Params::new().bind("id", key),
            )
            .await?;
            written += 1;
            continue;
        };
        let mut r = r.into_iter();
        let mut next = || r.next().unwrap_or(Value::Null);
        let (id, org, status) = (next(), next(), next());
        let p = Params::new()
            .bind("id", id)
            .bind("o", org)
            .bind("s", status)
            .bind("t", next())
            .bind("sev", next())
            .bind("c", convert(next(), e))
            .bind("u", convert(next(), e))
            .bind("p", convert(next(), e));
        tx.execute(
            "INSERT INTO incident_statuses (organisation_id, name) VALUES (:o, :s) \
             ON CONFLICT (organisation_id, name) DO NOTHING",
            &p,
        )
        .await?;
        written += tx
            .execute(
                "INSERT INTO incidents (id, organisation_id, incident_status_id, title, \
                 severity, created_at, updated_at, payload) VALUES (:id, :o, (SELECT id FROM \
                 incident_statuses WHERE organisation_id = :o AND name = :s), :t, :sev, :c, \
                 :u, :p) ON CONFLICT (id) DO UPDATE SET organisation_id = excluded.organisation_id, \
                 incident_status_id = excluded.incident_status_id, title = excluded.title, \
                 severity = excluded.severity, created_at = excluded.created_at, \
                 updated_at = excluded.updated_at, payload = excluded.payload",
                &p,
            )
            .await?;
    }
    tx.commit().await?;
    let params = serde_json::json!({
        "step": "re-copy divergent keys from old",
        "table": "incidents",
        "keys": keys,
    });
    store
        .audit(
            "demo.repair",
            params,
            &format!("ok: {written} rows"),
            operator,
        )
        .await?;
    Ok(written)
}
