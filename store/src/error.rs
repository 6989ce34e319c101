//! The one reading of database errors: whether retrying may help, whether a
//! row was already there, or neither. The API turns a transient error into
//! `503`; the workers retry it and set aside a command that fails otherwise.

/// What a database error means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Postgres is unreachable, restarting, overloaded, or the transaction
    /// lost a deadlock or serialization race: the same work may succeed
    /// later.
    Transient,
    /// A unique or other integrity constraint refused the row: for a worker,
    /// usually "already applied".
    Conflict,
    /// Anything else: a bug or a schema mismatch; retrying will not mend it.
    Fatal,
}

/// Classifies `error` by its SQLSTATE class or its kind.
pub fn classify(error: &sqlx::Error) -> ErrorClass {
    match error {
        sqlx::Error::Database(db) => match db.code().as_deref().map(|c| c.get(..2)) {
            // Transaction rollback (deadlock, serialization), connection
            // exception, operator intervention (shutdown), insufficient
            // resources.
            Some(Some("40" | "08" | "57" | "53")) => ErrorClass::Transient,
            // Integrity constraint violation.
            Some(Some("23")) => ErrorClass::Conflict,
            _ => ErrorClass::Fatal,
        },
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => ErrorClass::Transient,
        _ => ErrorClass::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_or_exhausted_pool_is_transient() {
        assert_eq!(classify(&sqlx::Error::PoolTimedOut), ErrorClass::Transient);
        assert_eq!(classify(&sqlx::Error::PoolClosed), ErrorClass::Transient);
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert_eq!(classify(&sqlx::Error::Io(io)), ErrorClass::Transient);
    }

    #[test]
    fn a_missing_row_or_a_protocol_surprise_is_fatal() {
        assert_eq!(classify(&sqlx::Error::RowNotFound), ErrorClass::Fatal);
        assert_eq!(
            classify(&sqlx::Error::Protocol("odd".into())),
            ErrorClass::Fatal
        );
    }
}
