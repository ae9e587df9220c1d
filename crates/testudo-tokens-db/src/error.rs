//! The crate's error type.

/// Errors of the database token backend and the email-token store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database failed (connection, query, constraint); its [`kind`] says how, the driver's
    /// error is its source.
    ///
    /// [`kind`]: testudo_db::Error::kind
    #[error(transparent)]
    Storage(#[from] testudo_db::Error),
    /// The operating system's random generator failed.
    #[error("random generator failed")]
    Random(#[source] testudo_core::BoxError),
    /// A token was refused.
    #[error(transparent)]
    Token(#[from] testudo_core::TokenError),
    /// Extra claims could not be stored as JSON.
    #[error("extra claims cannot be stored as JSON")]
    Claims(#[source] testudo_core::BoxError),
    /// [`DatabaseTokenBackend::listen_for_revocations`](crate::DatabaseTokenBackend) was called
    /// on a database that is not PostgreSQL.
    #[error("listening for revocations needs PostgreSQL")]
    NeedsPostgres,
    /// An API key was refused, or could not be created as asked.
    #[error(transparent)]
    ApiKey(#[from] crate::ApiKeyError),
    /// An event handler failed while errors propagate.
    #[error(transparent)]
    Event(#[from] testudo_core::EventError),
    /// The blocking API was called from inside an async runtime, where blocking would stall it.
    #[error("the blocking API cannot be used from inside an async runtime")]
    InsideRuntime,
    /// The blocking API could not start its runtime.
    #[error("cannot start the blocking API's runtime")]
    Runtime(#[source] std::io::Error),
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Storage(e.into())
    }
}

impl testudo_db::Retryable for Error {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Storage(e) if e.is_transient())
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Token(t) => Self::Token(t),
            Error::Storage(e) => e.into(),
            e @ (Error::Random(_) | Error::Claims(_)) => Self::internal(e),
            Error::ApiKey(e) => e.into(),
            Error::Event(e) => Self::Event(e),
            e @ (Error::NeedsPostgres | Error::InsideRuntime | Error::Runtime(_)) => {
                Self::configuration(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_failure_lands_in_its_core_variant() {
        let e = testudo_core::Error::from(Error::Random(std::io::Error::other("rng").into()));
        assert!(matches!(e, testudo_core::Error::Internal(_)), "{e:?}");
        let e = testudo_core::Error::from(Error::from(sea_orm::DbErr::Custom("x".into())));
        assert!(matches!(e, testudo_core::Error::Storage(_)), "{e:?}");
        let e = testudo_core::Error::from(Error::NeedsPostgres);
        assert!(matches!(e, testudo_core::Error::Configuration(_)), "{e:?}");
        let e = testudo_core::Error::from(Error::InsideRuntime);
        assert!(matches!(e, testudo_core::Error::Configuration(_)), "{e:?}");
    }
}
