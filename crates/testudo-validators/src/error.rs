//! The error type of this crate.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What building or running the password validators can fail with.
///
/// Converts into [`testudo_core::Error`]: [`Error::InvalidPassword`] stays a refused password,
/// the others are [`Configuration`](testudo_core::Error::Configuration) errors (the validator
/// settings are wrong).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The password was refused; carries every message, in validator order.
    #[error(transparent)]
    InvalidPassword(#[from] testudo_core::InvalidPassword),
    /// A common-password list file could not be read (missing, unreadable, bad gzip or not UTF-8).
    #[error("cannot read the common-password list {}", path.display())]
    PasswordList {
        /// The file that was named in the configuration.
        path: PathBuf,
        /// Why reading it failed.
        #[source]
        source: std::io::Error,
    },
    /// A kind of [`PasswordValidatorConfig`](testudo_config::PasswordValidatorConfig) entry
    /// this version does not know how to build. It cannot happen with the `testudo-config`
    /// this crate is released with (each version pins the other); the enum is
    /// `#[non_exhaustive]`, so the case must be answered.
    #[error("unsupported password validator configuration")]
    Unsupported,
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidPassword(e) => Self::InvalidPassword(e),
            e @ (Error::PasswordList { .. } | Error::Unsupported) => Self::configuration(e),
        }
    }
}
