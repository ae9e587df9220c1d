//! The error type of this crate.

use std::fmt;

use crate::formats::HashFormat;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What hashing a password can fail with. [`PasswordHasher::verify`](crate::PasswordHasher::verify)
/// never fails (a stored hash that cannot be read simply does not verify);
/// [`PasswordHasher::try_verify`](crate::PasswordHasher::try_verify) says why with
/// [`Error::StoredHash`].
///
/// Converts into [`testudo_core::Error`] by the rule of its module docs:
/// [`Error::InvalidPassword`] stays a refused password, [`Error::Parameters`] is a
/// [`Configuration`](testudo_core::Error::Configuration) error (the settings are wrong), and
/// [`Error::Hashing`] and [`Error::Task`] are [`Internal`](testudo_core::Error::Internal)
/// (neither the input nor the settings are at fault), and [`Error::StoredHash`] is
/// [`InvalidCredentials`](testudo_core::AuthenticationError::InvalidCredentials), as a wrong
/// password.
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
    /// The stored hash was refused without verifying it (unusable, unknown, malformed or over
    /// the stored-cost budget): [`PasswordHasher::check_stored`](crate::PasswordHasher::check_stored)
    /// and [`PasswordHasher::try_verify`](crate::PasswordHasher::try_verify) say why.
    #[error(transparent)]
    StoredHash(#[from] StoredHashError),
}

/// Why a stored hash is refused before any hashing work. Reasons are data: match on them; the
/// `Display` is the message, and never contains the stored string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum StoredHashError {
    /// Empty or `!`-prefixed: the account has no usable password.
    #[error("the stored password is unusable")]
    Unusable,
    /// No format claims the string (or only a format that is turned off: the insecure
    /// digests without `allow_insecure_legacy_hashes`).
    #[error("the stored hash is in no known format")]
    UnknownFormat,
    /// The string starts like `format` but does not follow it.
    #[error("the stored {format} hash is malformed: bad {part}")]
    Malformed {
        /// The format the string claims.
        format: HashFormat,
        /// Which part is wrong.
        part: HashPart,
    },
    /// A cost parameter is beyond the stored-cost budget ([`CostBudget`](crate::CostBudget)).
    #[error("the stored {format} hash asks for more {cost} than the stored-cost budget allows")]
    OverBudget {
        /// The hash's format.
        format: HashFormat,
        /// Which measure is over its ceiling.
        cost: CostKind,
    },
}

/// The part of a stored hash that is malformed ([`StoredHashError::Malformed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashPart {
    /// The fields or their separators (a missing or extra `$`, an unknown variant).
    Layout,
    /// A cost or version parameter: not canonical decimal digits (a sign, a space, an
    /// overflowing number), zero, a repeated or unknown name, or out of the algorithm's range.
    Parameters,
    /// The salt: missing, undecodable, or of a length the format does not allow.
    Salt,
    /// The hash itself: undecodable, or of a length the format does not allow.
    Hash,
}

impl fmt::Display for HashPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Layout => "layout",
            Self::Parameters => "parameters",
            Self::Salt => "salt",
            Self::Hash => "hash",
        })
    }
}

/// The measure of cost that is over the budget ([`StoredHashError::OverBudget`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CostKind {
    /// Memory: Argon2's `m`, scrypt's `128 * r * (N + p)` bytes.
    Memory,
    /// Sequential time: Argon2's passes `t`, bcrypt's cost.
    Time,
    /// Argon2's lanes `p`.
    Parallelism,
    /// PBKDF2 iterations (times the output blocks).
    Iterations,
    /// Total work: Argon2's `m * t`, scrypt's `N * r * p`.
    Work,
}

impl fmt::Display for CostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Memory => "memory",
            Self::Time => "time",
            Self::Parallelism => "parallelism",
            Self::Iterations => "iterations",
            Self::Work => "work",
        })
    }
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
            // A login against a refused hash fails like a wrong password (the reason goes to
            // tracing, never to the caller).
            Error::StoredHash(_) => testudo_core::AuthenticationError::InvalidCredentials.into(),
        }
    }
}
