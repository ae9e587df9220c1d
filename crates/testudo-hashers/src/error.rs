//! The error type of this crate.

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What hashing a password can fail with. Verifying never fails: a stored hash that cannot be
/// read simply does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The password was refused before hashing (it is longer than `max_password_length`).
    #[error(transparent)]
    InvalidPassword(#[from] testudo_core::InvalidPassword),
    /// The configured hashing parameters are not accepted by the hash function.
    #[error("invalid password hashing parameters")]
    Parameters(#[source] BoxError),
    /// The hash function or the operating system's random generator failed.
    #[error("password hashing failed")]
    Hashing(#[source] BoxError),
    /// The blocking task running the hash was cancelled or panicked.
    #[error("the password hashing task did not complete")]
    Task(#[source] BoxError),
}

impl Error {
    pub(crate) fn hashing(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Hashing(Box::new(e))
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidPassword(e) => Self::InvalidPassword(e),
            other => Self::configuration(other),
        }
    }
}
