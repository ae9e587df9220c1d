//! The error type of this crate.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What building or running the password validators can fail with.
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
    /// A validator setting this version does not know how to build.
    #[error("unsupported password validator configuration: {0}")]
    Unsupported(String),
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidPassword(e) => Self::InvalidPassword(e),
            other => Self::configuration(other),
        }
    }
}
