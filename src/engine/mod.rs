//! The domain, with no terminal code: the session, the phase machine, and the long-running
//! tasks (backfill, verify, probes, flag, backup, contract) as they arrive.

pub mod backfill;
pub mod backup;
pub mod contract;
pub mod flag;
pub mod gates;
pub mod notify;
pub mod phase;
pub mod preflight;
pub mod probe;
pub mod schema;
pub mod session;
pub mod signals;
pub mod verify;
