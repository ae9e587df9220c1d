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

/// Shows an optional key id, or `(no kid)`.
fn kid_text(kid: Option<&KeyId>) -> &str {
    kid.map_or("(no kid)", KeyId::as_str)
}

/// What is wrong with a JWK Set, in [`Error::Jwks`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwksReason {
    /// The JSON is not a JWK Set (an object with a `keys` array of JWKs).
    #[error("not a JSON JWK set")]
    NotJson,
    /// The configured algorithm is HS256 / HS384 / HS512, whose keys are secrets: they are
    /// never published in, nor read from, a JWK Set.
    #[error("HS* keys are secrets and never come from or go to a JWK set")]
    SymmetricAlgorithm,
    /// The set holds a symmetric (`kty: "oct"`) key.
    #[error("key {} is a symmetric key", kid_text(kid.as_ref()))]
    SymmetricKey {
        /// The key's `kid`.
        kid: Option<KeyId>,
    },
    /// A key is not for the configured algorithm (its `alg`, or its key type or curve).
    #[error("key {} is not for the configured algorithm", kid_text(kid.as_ref()))]
    AlgorithmMismatch {
        /// The key's `kid`.
        kid: Option<KeyId>,
    },
    /// A key is not for verifying signatures (its `use` is not `sig`, or its `key_ops` lack
    /// `verify`).
    #[error("key {} is not a signature verification key", kid_text(kid.as_ref()))]
    NotForVerification {
        /// The key's `kid`.
        kid: Option<KeyId>,
    },
    /// A key's parameters cannot be read (not base64url, of the wrong length, or an RSA
    /// modulus shorter than 2048 bits).
    #[error("key {} cannot be read", kid_text(kid.as_ref()))]
    InvalidKey {
        /// The key's `kid`.
        kid: Option<KeyId>,
    },
    /// Two keys of the set have the same `kid` (or both have none).
    #[error("key id {} is given twice", kid_text(kid.as_ref()))]
    DuplicateKeyId {
        /// The repeated `kid`.
        kid: Option<KeyId>,
    },
}

/// Why a [`crate::JwtBackend`] could not be built or could not sign a token.
///
/// Every variant but [`Error::Sign`] and [`Error::Random`] is a configuration problem and
/// converts to [`testudo_core::Error::Configuration`]; those two convert to
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
    /// An HS* fallback secret (`jwt_fallback_secrets`, or `signing_fallback_secrets` when the
    /// JWT key is made from `signing_secret`) is shorter than the digest size RFC 7518
    /// requires.
    #[error("{} needs fallback secrets of at least {min} bytes, got {len}", algorithm.as_str())]
    ShortFallbackSecret {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
        /// The smallest accepted length in bytes.
        min: usize,
        /// The length of the fallback secret in bytes.
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
    /// The [`crate::JwtKeys`] have no signing key, or the backend only verifies
    /// ([`crate::JwtBackend::from_jwks`]) and was asked to issue a token.
    #[error("no JWT signing key")]
    NoSigningKey,
    /// The [`crate::JwtKeys`] (or the JWK Set) have no verification key.
    #[error("no JWT verification key")]
    NoVerificationKey,
    /// A JWK Set cannot be used (see [`JwksReason`]).
    #[error("unusable JWK set: {reason}")]
    Jwks {
        /// What is wrong with it.
        reason: JwksReason,
        /// The JSON or JWT library's error, when it said one.
        #[source]
        source: Option<BoxError>,
    },
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
    /// The token would be longer than [`crate::MAX_TOKEN_LEN`] (too many or too large extra
    /// claims): it would be refused when presented.
    #[error("the token would be {len} bytes, over the limit")]
    TooLong {
        /// Its length, in bytes.
        len: usize,
    },
    /// The OS random number generator failed (making a token's `jti`).
    #[error("the OS random number generator failed")]
    Random(#[source] BoxError),
}

impl Error {
    /// [`Error::Jwks`] without a source.
    pub(crate) fn jwks(reason: JwksReason) -> Self {
        Self::Jwks {
            reason,
            source: None,
        }
    }
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            e @ (Error::Sign(_) | Error::Random(_) | Error::TooLong { .. }) => Self::internal(e),
            e => Self::configuration(e),
        }
    }
}
