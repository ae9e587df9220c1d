//! The error type of this crate.

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What hashing a password can fail with. Verifying never fails: a stored hash that cannot be
/// read simply does not verify.
///
/// Converts into [`testudo_core::Error`] by the rule of its module docs:
/// [`Error::InvalidPassword`] stays a refused password, [`Error::Parameters`] is a
/// [`Configuration`](testudo_core::Error::Configuration) error (the settings are wrong), and
/// [`Error::Hashing`] and [`Error::Task`] are [`Internal`](testudo_core::Error::Internal)
/// (neither the input nor the settings are at fault).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The password was refused before hashing (it is longer than `max_password_length`).
    #[error(transparent)]
    InvalidPassword(#[from] testudo_core::InvalidPassword),
    /// The configured hashing parameters are not accepted by the hash function; the hash
    /// function's error is the source.
    #[error("invalid password hashing parameters")]
    Parameters(#[source] BoxError),
    /// The hash function (with accepted parameters) or the operating system's random generator
    /// failed; their error is the source.
    #[error("password hashing failed")]
    Hashing(#[source] BoxError),
    /// The blocking task running the hash was cancelled or panicked; the runtime's error is the
    /// source.
    #[error("the password hashing task did not complete")]
    Task(#[source] BoxError),
    /// Every hashing slot stayed taken for the whole queue timeout (`hash_queue_timeout`):
    /// nothing was hashed.
    #[error("password hashing is saturated")]
    Busy,
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
            e @ Error::Parameters(_) => Self::configuration(e),
            e @ (Error::Hashing(_) | Error::Task(_)) => Self::internal(e),
            Error::Busy => Self::Busy,
        }
    }
}
