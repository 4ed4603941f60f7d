//! The database layer's own error: what a read or a checkout can come to,
//! in the terms of the database, not of HTTP. The HTTP layer maps it to a
//! status once (`http::error`).

use diesel::result::Error as DieselError;

use crate::db::pool::{is_connection_lost, is_statement_timeout};

/// Why a read did not return rows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DbError {
    /// No connection could be had in time, the database is known to be
    /// unreachable, every attempt lost its connection, or the statement ran
    /// past its timeout: the caller may try again shortly.
    #[error("the database is unavailable")]
    Unavailable,
    /// The statement found no row where it expected one.
    #[error("no such row")]
    NotFound,
    /// Anything else; the text is for the log, never for a client.
    #[error("{0}")]
    Failed(String),
}

impl From<DieselError> for DbError {
    fn from(error: DieselError) -> Self {
        match error {
            DieselError::NotFound => DbError::NotFound,
            lost if is_connection_lost(&lost) => DbError::Unavailable,
            // Logged where it happened (`pool`); the client may try again.
            slow if is_statement_timeout(&slow) => DbError::Unavailable,
            other => DbError::Failed(other.to_string()),
        }
    }
}
