//! The crate's error.

/// What making or checking a TOTP factor, a sealed secret or a recovery code can fail with.
///
/// Messages never contain a secret, a code or an account name.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The parameters are outside what RFC 4226 / 6238 allow (6 to 8 digits, a secret of at
    /// least 128 bits).
    #[error("invalid TOTP parameters")]
    InvalidParameters,
    /// The account name or issuer cannot go into an `otpauth://` label (a `:` in it).
    #[error("the account name or issuer cannot be put in an otpauth:// URI")]
    InvalidLabel,
    /// A time before 1970 was given: no TOTP step exists for it.
    #[error("time before the unix epoch")]
    TimeBeforeEpoch,
    /// The `otpauth://` URI is too long for a QR code.
    #[error("the otpauth:// URI does not fit in a QR code")]
    QrTooLong,
    /// A sealed secret could not be opened: tampered, sealed for another user, under a key
    /// that is neither the current one nor a fallback, or not a sealed value at all.
    #[error("sealed secret cannot be opened")]
    Unseal,
    /// `signing_secret` is not configured: the keys of this crate are derived from it.
    #[error("TOTP needs signing_secret: its keys are derived from it")]
    NoSigningSecret,
    /// The operating system's random generator failed.
    #[error("the operating system's random generator failed")]
    Random(#[source] getrandom::Error),
    /// Sealing failed (the AEAD refused a plaintext; cannot happen with the sizes used).
    #[error("sealing failed")]
    Seal,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::NoSigningSecret | Error::InvalidParameters | Error::InvalidLabel => {
                Self::configuration(e)
            }
            Error::TimeBeforeEpoch
            | Error::QrTooLong
            | Error::Unseal
            | Error::Random(_)
            | Error::Seal => Self::internal(e),
        }
    }
}
