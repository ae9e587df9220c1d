//! The crate's error type.

/// Errors of the database token backend and the email-token store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (connection, query, constraint); the driver error is the source.
    #[error("database error")]
    Storage(#[source] testudo_core::BoxError),
    /// The operating system's random generator failed.
    #[error("random generator failed: {0}")]
    Random(String),
    /// A token was refused.
    #[error(transparent)]
    Token(#[from] testudo_core::TokenError),
    /// Extra claims could not be stored or read.
    #[error("extra claims are not valid JSON")]
    Claims(#[source] serde_json::Error),
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Storage(Box::new(e))
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<sea_orm::TransactionError<E>> for Error
where
    Error: From<E>,
{
    fn from(e: sea_orm::TransactionError<E>) -> Self {
        match e {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(e) => e.into(),
        }
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Token(t) => Self::Token(t),
            other @ (Error::Storage(_) | Error::Random(_) | Error::Claims(_)) => {
                Self::storage(other)
            }
        }
    }
}
