//! The crate's error type.

use testudo_core::{BadSignature, SignatureError, SignatureExpired};

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything signing and unsigning can report.
///
/// Converts into [`testudo_core::Error`]: [`Error::Signature`] stays a refused signed value;
/// [`Error::InvalidSeparator`], [`Error::MissingSecret`] and [`Error::ShortSecret`] are
/// [`Configuration`](testudo_core::Error::Configuration) errors (the signer is set up wrong).
/// Signing itself cannot fail.
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
        reason: SeparatorReason,
    },
    /// The secret given is empty, or the configuration read (by [`Signer::from_config`](crate::Signer::from_config),
    /// or by the module functions when given an empty secret) has no `signing_secret`.
    #[error("no signing secret: pass one or set `signing_secret` in the configuration")]
    MissingSecret,
    /// A secret is shorter than [`MIN_SECRET_BYTES`](crate::MIN_SECRET_BYTES): too short to
    /// resist a brute-force search of the key (use
    /// [`Signer::new_unchecked`](crate::Signer::new_unchecked) only for tortoise-auth's own
    /// values).
    #[error("signing secret shorter than {min_bytes} bytes")]
    ShortSecret {
        /// The least accepted length, in bytes.
        min_bytes: usize,
    },
}

/// Why a separator was refused, as [`Error::InvalidSeparator`]'s `reason`. Its `Display` is the
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SeparatorReason {
    /// The separator is the empty string.
    #[error("the separator must not be empty")]
    Empty,
    /// The separator contains a character of the base64url alphabet, which could occur inside a
    /// signature.
    #[error("the separator must not contain base64url characters [A-Za-z0-9_-]")]
    Base64urlCharacter,
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
            other @ (Error::InvalidSeparator { .. }
            | Error::MissingSecret
            | Error::ShortSecret { .. }) => Self::configuration(other),
        }
    }
}
