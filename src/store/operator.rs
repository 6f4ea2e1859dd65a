//! Who is acting: the OS user, the host, the process, and a fresh id per `Operator::current()`.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::Operator;

static NEXT: AtomicU64 = AtomicU64::new(0);

impl Operator {
    /// This process as an operator: `whoami` user and host, pid, and an id unique to this call
    /// (time, pid and a counter), so two sessions in one process are still two operators.
    pub fn current() -> Operator {
        let user = whoami::fallible::username()
            .ok()
            .or_else(|| std::env::var("USER").ok())
            .unwrap_or_else(|| "unknown".into());
        let host = whoami::fallible::hostname().unwrap_or_else(|_| "unknown-host".into());
        let pid = std::process::id();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        Operator {
            id: format!("{nanos:x}-{pid:x}-{n}"),
            user,
            host,
            pid,
        }
    }
}

impl fmt::Display for Operator {
    /// `alice@laptop (pid 4242)`, for banners and messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{} (pid {})", self.user, self.host, self.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_call_is_a_new_operator_of_the_same_user() {
        let a = Operator::current();
        let b = Operator::current();
        assert_ne!(a.id, b.id);
        assert_eq!((a.user.as_str(), a.pid), (b.user.as_str(), b.pid));
        assert!(!a.user.is_empty() && !a.host.is_empty());
        assert!(a.to_string().contains(&format!("(pid {})", a.pid)));
    }
}
