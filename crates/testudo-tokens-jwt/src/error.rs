//! The crate's error type.

use std::fmt;

use testudo_config::JwtAlgorithm;

/// A boxed error source.
type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The key id (`kid`) a PEM key was registered under, named in [`Error::Pem`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId(String);

impl KeyId {
    pub(crate) fn new(kid: &str) -> Self {
        Self(kid.to_owned())
    }

    /// The key id.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a [`crate::JwtBackend`] could not be built or could not sign a token.
///
/// Every variant but [`Error::Sign`] is a configuration problem and converts to
/// [`testudo_core::Error::Configuration`]; [`Error::Sign`] converts to
/// [`testudo_core::Error::Internal`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An HS* algorithm is configured but neither `jwt_secret` nor `signing_secret` is set.
    #[error("{} needs a secret: set jwt_secret or signing_secret", algorithm.as_str())]
    MissingSecret {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// The HS* secret is shorter than the digest size RFC 7518 requires.
    #[error("{} needs a secret of at least {min} bytes, got {len}", algorithm.as_str())]
    ShortSecret {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
        /// The smallest accepted length in bytes.
        min: usize,
        /// The length of the configured secret in bytes.
        len: usize,
    },
    /// The configured algorithm is not one this backend implements.
    #[error("unsupported JWT algorithm {}", algorithm.as_str())]
    UnsupportedAlgorithm {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// PEM keys were given for an HS* algorithm, which signs with `jwt_secret` or
    /// `signing_secret`.
    #[error("{} signs with jwt_secret or signing_secret, not PEM keys", algorithm.as_str())]
    KeysWithHmac {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// An asymmetric algorithm is configured but no PEM keys were given: build the backend with
    /// [`crate::JwtBackend::with_keys`].
    #[error("{} needs PEM keys: build the backend with JwtBackend::with_keys", algorithm.as_str())]
    MissingKeys {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// The [`crate::JwtKeys`] have no signing key.
    #[error("JwtKeys has no signing key")]
    NoSigningKey,
    /// The [`crate::JwtKeys`] have no verification key.
    #[error("JwtKeys has no verification key")]
    NoVerificationKey,
    /// A PEM key could not be read for the configured algorithm.
    #[error(
        "invalid PEM key {} for {}",
        kid.as_ref().map_or("(no kid)", KeyId::as_str),
        algorithm.as_str()
    )]
    Pem {
        /// The algorithm the key was read for.
        algorithm: JwtAlgorithm,
        /// The key id the key was registered under.
        kid: Option<KeyId>,
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
    /// Signing a token failed with a key that was accepted when the backend was built.
    #[error("cannot sign the token")]
    Sign(#[source] BoxError),
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            e @ Error::Sign(_) => Self::internal(e),
            e => Self::configuration(e),
        }
    }
}
