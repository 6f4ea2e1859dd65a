//! The read flag as a session command: `SetFlag` (the operator's flip, and the automatic
//! rollback's). Every flip is audited with its reason, including the ones that fail.

use serde_json::json;

use super::commands::{read_only, refuse, refuse_read_only};
use super::{Event, Outcome, SessionError, Shared};
use crate::engine::flag::{Flag, FlagStatus, FlagValue};

pub(super) async fn set_flag(
    shared: &Shared,
    value: FlagValue,
    reason: String,
) -> Result<Outcome, SessionError> {
    let reason = reason.trim().to_string();
    let params = json!({ "to": value, "reason": reason });
    if let Some(err) = read_only(shared).await {
        return refuse_read_only(shared, "flag.set", params, err).await;
    }
    if reason.is_empty() {
        let why = "a flag flip needs a reason; it goes into the audit log".to_string();
        return refuse(shared, "flag.set", params, why, Vec::new()).await;
    }
    flip(shared, value, &reason, false).await
}

/// Write the flag, read it back, audit and announce the flip. A failed or mismatched write is
/// audited as failed and answered as a refusal that says what happened.
pub(crate) async fn flip(
    shared: &Shared,
    value: FlagValue,
    reason: &str,
    automatic: bool,
) -> Result<Outcome, SessionError> {
    let flag = match Flag::new(
        shared.config.flag.as_ref(),
        &shared.dbs,
        &shared.config.secrets,
    ) {
        Ok(f) => f,
        Err(e) => {
            let params = json!({ "to": value, "reason": reason, "automatic": automatic });
            return refuse(shared, "flag.set", params, e.to_string(), Vec::new()).await;
        }
    };
    // A command backend may take up to its own 30 s limit.
    let limit = shared.timeout.max(std::time::Duration::from_secs(35));
    let written = tokio::time::timeout(limit, flag.set(value))
        .await
        .unwrap_or_else(|_| {
            Err(crate::engine::flag::FlagError::Write {
                key: flag.key().to_string(),
                message: "no answer within the statement timeout".into(),
                hint: "the flag's store is slow or unreachable; read it before trying again".into(),
            })
        });
    let mut params = json!({
        "flag": flag.describe(),
        "to": value,
        "reason": reason,
        "automatic": automatic,
    });
    let outcome = match &written {
        Ok(w) if w.verified => "ok".to_string(),
        Ok(_) => "ok (unverified: the command backend has no `get`)".to_string(),
        Err(e) => format!("failed: {}", shared.config.secrets.mask(&e.to_string())),
    };
    if let Ok(w) = &written {
        params["from"] = json!(w.before);
    }
    let audited = shared
        .bounded(
            "auditing the flag flip",
            shared
                .store
                .audit("flag.set", params, &outcome, &shared.operator),
        )
        .await;
    if let Err(e) = audited {
        shared.emit(Event::Error {
            context: "auditing the flag flip".into(),
            message: e.to_string(),
        });
    }
    match written {
        Ok(w) => {
            let status = FlagStatus {
                key: flag.key().to_string(),
                location: flag.describe(),
                value: Some(w.value),
                error: None,
                expected: Some(w.value),
                drift: None,
            };
            shared.snapshot.send_modify(|s| s.flag = Some(status));
            shared.emit(Event::FlagChanged {
                from: w.before,
                to: w.value,
                reason: reason.to_string(),
                automatic,
            });
            Ok(Outcome::Done)
        }
        Err(e) => {
            let why = shared.config.secrets.mask(&e.to_string());
            shared.emit(Event::Error {
                context: "writing the read flag".into(),
                message: why.clone(),
            });
            Ok(Outcome::Refused {
                why,
                gates: Vec::new(),
            })
        }
    }
}
