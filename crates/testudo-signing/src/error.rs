//! The crate's error type.

use testudo_core::{BadSignature, SignatureError, SignatureExpired};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything signing and unsigning can report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The signed value was refused: bad signature or expired.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The separator cannot be used (empty, or made of base64url characters).
    #[error("invalid separator: {reason}")]
    InvalidSeparator {
        /// Why the separator was refused.
        reason: &'static str,
    },
    /// No secret was given and the configuration has no `signing_secret`.
    #[error("no signing secret: pass one or set `signing_secret` in the configuration")]
    MissingSecret,
}

impl Error {
    /// The [`BadSignature`] reason, if this is a bad signature.
    #[must_use]
    pub fn bad_signature(&self) -> Option<BadSignature> {
        match self {
            Self::Signature(SignatureError::Bad(b)) => Some(*b),
            _ => None,
        }
    }

    /// The [`SignatureExpired`] reason, if the signature was valid but expired.
    #[must_use]
    pub fn expired(&self) -> Option<SignatureExpired> {
        match self {
            Self::Signature(SignatureError::Expired(e)) => Some(*e),
            _ => None,
        }
    }
}

impl From<BadSignature> for Error {
    fn from(e: BadSignature) -> Self {
        Self::Signature(e.into())
    }
}

impl From<SignatureExpired> for Error {
    fn from(e: SignatureExpired) -> Self {
        Self::Signature(e.into())
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Signature(s) => Self::Signature(s),
            other @ (Error::InvalidSeparator { .. } | Error::MissingSecret) => {
                Self::configuration(other)
            }
        }
    }
}
