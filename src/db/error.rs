//! Database errors that say which database, what was being done, and what to try.
//! Messages never contain credentials: targets are shown redacted and driver text is masked.

/// An error from one database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot connect to database `{db}` ({target}): {reason}\n  hint: {hint}")]
    Connect {
        db: String,
        target: String,
        reason: String,
        hint: String,
    },

    #[error("database `{db}`: {message}\n  statement: {sql}")]
    Query {
        db: String,
        sql: String,
        message: String,
        /// The engine's error code (SQLSTATE, MySQL error number) when there is one.
        code: Option<String>,
        /// Worth retrying: connection reset, deadlock, lock or statement timeout, serialization
        /// failure, server restart.
        transient: bool,
    },

    #[error("database `{db}`: cannot read column `{column}` of type {type_name}: {message}")]
    Decode {
        db: String,
        column: String,
        type_name: String,
        message: String,
    },

    #[error("placeholder :{name} has no value bound\n  statement: {sql}")]
    Unbound { name: String, sql: String },
}

impl DbError {
    /// True when retrying the same statement later may succeed.
    pub fn is_transient(&self) -> bool {
        match self {
            DbError::Query { transient, .. } => *transient,
            DbError::Connect { .. } => true,
            DbError::Decode { .. } | DbError::Unbound { .. } => false,
        }
    }

    /// The engine's error code, when the error came from the server.
    pub fn code(&self) -> Option<&str> {
        match self {
            DbError::Query { code, .. } => code.as_deref(),
            _ => None,
        }
    }
}
