//! What a read does when its connection turns out to be dead: the one retry
//! policy of both paths to the database (the dispatcher's threads and the
//! naive path), so they cannot drift apart.
//!
//! Everything a request runs only reads, so after a database restart a read
//! is run again on another connection rather than failed. The dead
//! connection is not reused: it marked itself broken when its query failed
//! (see `pool`), and the pool discards it on return. A database that keeps
//! dropping connections cannot hold a request forever: after
//! [`MAX_READ_ATTEMPTS`] the answer is 503, as it is when no connection can
//! be had at all.

use diesel::QueryResult;

use crate::db::error::DbError;
use crate::db::pool::is_connection_lost;

/// A bound on the attempts at one read, far above any pool size in use.
pub const MAX_READ_ATTEMPTS: u32 = 256;

/// What became of one attempt at a read.
#[derive(Debug)]
pub enum Attempt<T> {
    /// The read is over: its value, or an error that retrying cannot fix.
    Done(Result<T, DbError>),
    /// The connection was lost: run the read again on another one.
    Retry,
}

/// Classifies the outcome of one attempt at a read.
pub fn classify<T>(outcome: QueryResult<T>) -> Attempt<T> {
    match outcome {
        Err(error) if is_connection_lost(&error) => Attempt::Retry,
        done => Attempt::Done(done.map_err(DbError::from)),
    }
}

/// The attempts a read may make, numbered from 1.
pub fn attempts() -> std::ops::RangeInclusive<u32> {
    1..=MAX_READ_ATTEMPTS
}

/// The answer once every attempt lost its connection: the database is
/// there for no time at all, so it is unavailable.
pub fn exhausted<T>() -> Result<T, DbError> {
    Err(DbError::Unavailable)
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    use super::*;

    fn database_error(kind: DatabaseErrorKind) -> DieselError {
        DieselError::DatabaseError(kind, Box::new("gone".to_string()))
    }

    #[test]
    fn only_a_lost_connection_is_retried() {
        for kind in [
            DatabaseErrorKind::ClosedConnection,
            DatabaseErrorKind::UnableToSendCommand,
        ] {
            assert!(matches!(
                classify::<()>(Err(database_error(kind))),
                Attempt::Retry
            ));
        }
        assert!(matches!(classify(Ok(7)), Attempt::Done(Ok(7))));
        assert!(matches!(
            classify::<()>(Err(DieselError::NotFound)),
            Attempt::Done(Err(DbError::NotFound))
        ));
        assert!(matches!(
            classify::<()>(Err(database_error(DatabaseErrorKind::UniqueViolation))),
            Attempt::Done(Err(DbError::Failed(_)))
        ));
    }

    #[test]
    fn the_attempts_are_bounded() {
        assert_eq!(attempts().count(), MAX_READ_ATTEMPTS as usize);
        assert!(matches!(exhausted::<()>(), Err(DbError::Unavailable)));
    }
}
