//! The crate's error type.

/// A boxed error source.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a [`crate::JwtBackend`] could not be built or could not sign a token.
///
/// Every variant is a configuration problem; it converts to
/// [`testudo_core::Error::Configuration`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An HS* algorithm is configured but neither `jwt_secret` nor `signing_secret` is set.
    #[error("{algorithm} needs a secret: set jwt_secret or signing_secret")]
    MissingSecret {
        /// The configured algorithm.
        algorithm: &'static str,
    },
    /// The HS* secret is shorter than the digest size RFC 7518 requires.
    #[error("{algorithm} needs a secret of at least {min} bytes, got {len}")]
    ShortSecret {
        /// The configured algorithm.
        algorithm: &'static str,
        /// The smallest accepted length in bytes.
        min: usize,
        /// The length of the configured secret in bytes.
        len: usize,
    },
    /// An asymmetric algorithm is configured but no PEM keys were given
    /// (use [`crate::JwtBackend::with_keys`]), or PEM keys were given for an HS* algorithm.
    #[error("{0}")]
    Keys(&'static str),
    /// A PEM key could not be read for the configured algorithm.
    #[error("invalid PEM key {kid:?} for {algorithm}")]
    Pem {
        /// The algorithm the key was read for.
        algorithm: &'static str,
        /// The key id the key was registered under.
        kid: Option<String>,
        /// What the JWT library said.
        #[source]
        source: BoxError,
    },
    /// `jwt_blacklist_enabled` is set but the backend was given no database
    /// ([`crate::JwtBackend::with_revocation_list`]): every call fails rather than run without
    /// the revocation the configuration asks for.
    #[error(
        "jwt_blacklist_enabled is set but this JwtBackend has no revocation-list database; \
         give it one with JwtBackend::with_revocation_list"
    )]
    RevocationListUnavailable,
    /// Signing a token failed (for example a key that does not fit the algorithm).
    #[error("cannot sign the token")]
    Sign(#[source] BoxError),
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        Self::configuration(e)
    }
}
