//! The configuration type, its defaults, builder and validation.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::error::{Error, InvalidReason, Result};
use crate::secret;
use crate::setting::Setting;
use crate::validators::PasswordValidatorConfig;

/// Smallest accepted `token_length`: 32 characters of a 62-letter alphabet is ~190 bits.
pub(crate) const MIN_TOKEN_LENGTH: usize = 32;
/// Largest accepted `token_length`.
pub(crate) const MAX_TOKEN_LENGTH: usize = 1024;
/// Smallest accepted signing or HMAC secret, in bytes.
pub(crate) const MIN_SECRET_BYTES: usize = 32;
/// The reason of counts that must not be zero.
const AT_LEAST_ONE: InvalidReason = InvalidReason::TooSmall { min: 1 };

/// The JWT signing algorithm. The algorithm is pinned: a token whose header names another one
/// is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[non_exhaustive]
pub enum JwtAlgorithm {
    /// HMAC-SHA256 with `jwt_secret` (the default, as in the reference).
    #[default]
    HS256,
    /// HMAC-SHA384 with `jwt_secret`.
    HS384,
    /// HMAC-SHA512 with `jwt_secret`.
    HS512,
    /// RSASSA-PKCS1-v1_5 with SHA-256 and PEM keys.
    RS256,
    /// ECDSA P-256 with SHA-256 and PEM keys.
    ES256,
    /// Ed25519 with PEM keys.
    EdDSA,
}

impl JwtAlgorithm {
    /// The name used in a JWT header, e.g. `"HS256"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::HS384 => "HS384",
            Self::HS512 => "HS512",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether the algorithm signs with a shared secret (HS*) rather than a key pair.
    #[must_use]
    pub const fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }

    /// For HMAC algorithms, the smallest secret RFC 7518 allows: the digest size in bytes.
    #[must_use]
    pub const fn min_secret_bytes(self) -> Option<usize> {
        match self {
            Self::HS256 => Some(32),
            Self::HS384 => Some(48),
            Self::HS512 => Some(64),
            Self::RS256 | Self::ES256 | Self::EdDSA => None,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwtAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Ok(match s {
            "HS256" => Self::HS256,
            "HS384" => Self::HS384,
            "HS512" => Self::HS512,
            "RS256" => Self::RS256,
            "ES256" => Self::ES256,
            "EdDSA" => Self::EdDSA,
            _ => {
                return Err(Error::invalid(
                    Setting::JwtAlgorithm,
                    InvalidReason::UnknownAlgorithm,
                ));
            }
        })
    }
}

/// Which token backend `AuthService` builds when it is not given one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TokenBackendKind {
    /// Opaque tokens stored as SHA-256 digests (the default, as the reference documents).
    #[default]
    Database,
    /// Stateless JWTs, with an optional revocation list.
    Jwt,
}

impl FromStr for TokenBackendKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "database" => Ok(Self::Database),
            "jwt" => Ok(Self::Jwt),
            _ => Err(Error::invalid(
                Setting::TokenBackend,
                InvalidReason::UnknownBackend,
            )),
        }
    }
}

/// Every setting of testudo.
///
/// The fields and defaults of tortoise-auth's `AuthConfig` (its API reference) keep their names;
/// lifetimes are [`Duration`]s (whole seconds in TOML and environment variables). Fields marked
/// *testudo* are ours. Build one with [`AuthConfig::builder`] (validated), from
/// [`AuthConfig::default`] and field assignments followed by [`AuthConfig::validate`], or load it
/// with [`AuthConfig::from_toml_file`] / [`AuthConfig::from_env`].
///
/// tortoise-auth's `user_model` has no field here: the user model is the `UserStore` given to
/// `AuthService`. Its rate-limit, password-reset, onboarding and S2S settings belong to parts
/// testudo does not port.
///
/// `Debug` never shows a secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct AuthConfig {
    /// Argon2 time cost (passes). Default 3.
    pub argon2_time_cost: u32,
    /// Argon2 memory cost in KiB. Default 65536 (64 MiB).
    pub argon2_memory_cost: u32,
    /// Argon2 parallelism (lanes). Default 4.
    pub argon2_parallelism: u32,
    /// bcrypt cost (log2 rounds), used only to judge legacy hashes. Default 12.
    pub bcrypt_rounds: u32,
    /// PBKDF2-HMAC-SHA256 iterations, used only to judge legacy hashes. Default 600 000.
    pub pbkdf2_iterations: u32,
    /// The password validators, in the order they run. Default: minimum length (8), common
    /// password, numeric, user-attribute similarity (email, 0.7).
    pub password_validators: Vec<PasswordValidatorConfig>,
    /// Access-token lifetime. Default 900 s (15 minutes).
    #[serde(deserialize_with = "secret::seconds")]
    pub access_token_lifetime: Duration,
    /// Refresh-token lifetime. Default 604 800 s (7 days).
    #[serde(deserialize_with = "secret::seconds")]
    pub refresh_token_lifetime: Duration,
    /// *testudo*: the longest a session (one login and every pair rotation makes of it) lives:
    /// no token of it expires later than this after the login, however often it is refreshed.
    /// Default 2 592 000 s (30 days); 0 turns the limit off (the reference's behaviour: every
    /// rotation grants a fresh `refresh_token_lifetime`).
    #[serde(deserialize_with = "secret::seconds")]
    pub session_max_lifetime: Duration,
    /// Length of opaque database tokens, in characters of `[A-Za-z0-9]`. Default 64; at least 32.
    pub token_length: usize,
    /// Maximum active token pairs per user; beyond it the oldest pairs are revoked when a new one
    /// is issued. Default 100; 0 means no limit.
    pub max_tokens_per_user: u32,
    /// Longest accepted password, in characters; longer ones are refused before any hashing.
    /// Default 4096.
    pub max_password_length: usize,
    /// Secret key for signed values (and JWTs when `jwt_secret` is unset). Default unset.
    #[serde(deserialize_with = "secret::optional_secret")]
    pub signing_secret: Option<SecretString>,
    /// Default maximum age of signed tokens. Default 86 400 s (24 hours).
    #[serde(deserialize_with = "secret::seconds")]
    pub signing_token_lifetime: Duration,
    /// Secret key for HS* JWTs. Default unset: the JWT key is then *derived* from
    /// `signing_secret` (HMAC-SHA512 of a fixed label), never `signing_secret` itself, unless
    /// `jwt_raw_signing_secret` is on.
    #[serde(deserialize_with = "secret::optional_secret")]
    pub jwt_secret: Option<SecretString>,
    /// The pinned JWT algorithm. Default HS256.
    pub jwt_algorithm: JwtAlgorithm,
    /// The `iss` claim written and required; `None` writes none and checks none.
    #[serde(deserialize_with = "secret::optional_text")]
    pub jwt_issuer: Option<String>,
    /// The `aud` claim written and required; `None` writes none and checks none.
    #[serde(deserialize_with = "secret::optional_text")]
    pub jwt_audience: Option<String>,
    /// Record issued JWTs and refuse revoked ones (the revocation list). Default false.
    pub jwt_blacklist_enabled: bool,

    /// *testudo*: at most this many password hashes run at once (each Argon2 hash holds
    /// `argon2_memory_cost` KiB). Default: the number of CPUs.
    pub hash_concurrency: usize,
    /// *testudo*: how long a login (or any hashing call) waits for one of the
    /// `hash_concurrency` slots before it fails with `Error::Busy` instead of queueing
    /// without bound. Default 10 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub hash_queue_timeout: Duration,
    /// *testudo*: older signing secrets still accepted when verifying (key rotation); new
    /// signatures always use `signing_secret`. Default empty.
    #[serde(deserialize_with = "secret::secret_list")]
    pub signing_fallback_secrets: Vec<SecretString>,
    /// *testudo*: older `jwt_secret`s still accepted when verifying HS256 / HS384 / HS512 JWTs
    /// (key rotation); new tokens are always signed with the current key. Used as they are,
    /// like `jwt_secret`. With `jwt_secret` unset, the `signing_fallback_secrets` are JWT
    /// fallbacks too, each turned into a key the way `signing_secret` is. Default empty.
    #[serde(deserialize_with = "secret::secret_list")]
    pub jwt_fallback_secrets: Vec<SecretString>,
    /// *testudo*: clock skew tolerated when checking JWT `exp` / `iat`. Default 0, as the
    /// reference (note that `jsonwebtoken` alone would default to 60 s).
    #[serde(deserialize_with = "secret::seconds")]
    pub jwt_leeway: Duration,
    /// *testudo*: presenting an already rotated refresh token revokes its whole token family.
    /// Default true.
    pub refresh_reuse_detection: bool,
    /// *testudo*: revoke every token of a user when the password changes. Default true.
    pub revoke_tokens_on_password_change: bool,
    /// *testudo*: with `jwt_secret` unset, sign and verify HS* JWTs with `signing_secret`
    /// itself, as tortoise-auth does. Default false. Only to keep accepting tokens tortoise-auth
    /// issued that way: with it on, an unsalted `Signer::sign(v)` is exactly the HS256
    /// signature of `v`, so any endpoint that signs text a user chooses forges JWTs.
    pub jwt_raw_signing_secret: bool,
    /// *testudo*: password login refuses an account whose email address is not verified
    /// (`EmailNotVerified`, after the password check). Default false, as the reference.
    pub require_verified_email: bool,
    /// *testudo*: the first verification of an account's address by an emailed link ends the
    /// sessions it had and replaces a password set before it with an unusable one: whoever
    /// registered the address without owning it (pre-account takeover) loses access. Default
    /// true.
    pub reset_account_on_first_verification: bool,
    /// *testudo*: lifetime of passwordless email tokens. Default 900 s (15 minutes).
    #[serde(deserialize_with = "secret::seconds")]
    pub email_token_lifetime: Duration,
    /// *testudo*: the backend `AuthService` builds when given none. Default database.
    pub token_backend: TokenBackendKind,
}

fn default_hash_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            argon2_time_cost: 3,
            argon2_memory_cost: 65_536,
            argon2_parallelism: 4,
            bcrypt_rounds: 12,
            pbkdf2_iterations: 600_000,
            password_validators: PasswordValidatorConfig::defaults(),
            access_token_lifetime: Duration::from_secs(900),
            refresh_token_lifetime: Duration::from_secs(604_800),
            session_max_lifetime: Duration::from_secs(2_592_000),
            token_length: 64,
            max_tokens_per_user: 100,
            max_password_length: 4096,
            signing_secret: None,
            signing_token_lifetime: Duration::from_secs(86_400),
            jwt_secret: None,
            jwt_algorithm: JwtAlgorithm::HS256,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_blacklist_enabled: false,
            hash_concurrency: default_hash_concurrency(),
            hash_queue_timeout: Duration::from_secs(10),
            signing_fallback_secrets: Vec::new(),
            jwt_fallback_secrets: Vec::new(),
            jwt_leeway: Duration::ZERO,
            refresh_reuse_detection: true,
            revoke_tokens_on_password_change: true,
            jwt_raw_signing_secret: false,
            require_verified_email: false,
            reset_account_on_first_verification: true,
            email_token_lifetime: Duration::from_secs(900),
            token_backend: TokenBackendKind::Database,
        }
    }
}

impl AuthConfig {
    /// A builder starting from the defaults; [`AuthConfigBuilder::build`] validates.
    pub fn builder() -> AuthConfigBuilder {
        AuthConfigBuilder {
            config: Self::default(),
        }
    }

    /// The secret used to sign values: `signing_secret`, if set.
    #[must_use]
    pub fn effective_signing_secret(&self) -> Option<&SecretString> {
        self.signing_secret.as_ref()
    }

    /// The secret HS* JWT keys are made from: `jwt_secret`, or `signing_secret` when that is
    /// unset (from which the JWT backend derives its key, unless `jwt_raw_signing_secret`).
    #[must_use]
    pub fn effective_jwt_secret(&self) -> Option<&SecretString> {
        self.jwt_secret.as_ref().or(self.signing_secret.as_ref())
    }

    /// Checks that the settings are consistent and safe.
    ///
    /// Refused: zero lifetimes, a refresh lifetime shorter than the access lifetime, a JWT
    /// leeway not shorter than the access lifetime, `token_length` outside 32..=1024, Argon2 /
    /// bcrypt / PBKDF2 parameters the hashing crates do not accept, `max_password_length` of 0 or
    /// below the minimum-length validator, a similarity threshold outside 0.1..=1.0, a
    /// `hash_concurrency` of 0, secrets shorter than 32 bytes (HS384 / HS512: 48 / 64), and the
    /// JWT backend with an HMAC algorithm but no secret.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the first field at fault.
    pub fn validate(&self) -> Result<()> {
        let positive = |field: Setting, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid(field, InvalidReason::ZeroDuration))
            } else {
                Ok(())
            }
        };
        positive(Setting::AccessTokenLifetime, self.access_token_lifetime)?;
        positive(Setting::RefreshTokenLifetime, self.refresh_token_lifetime)?;
        positive(Setting::SigningTokenLifetime, self.signing_token_lifetime)?;
        positive(Setting::EmailTokenLifetime, self.email_token_lifetime)?;
        if self.refresh_token_lifetime < self.access_token_lifetime {
            return Err(Error::invalid(
                Setting::RefreshTokenLifetime,
                InvalidReason::ShorterThan {
                    than: Setting::AccessTokenLifetime,
                },
            ));
        }
        if self.jwt_leeway >= self.access_token_lifetime {
            return Err(Error::invalid(
                Setting::JwtLeeway,
                InvalidReason::NotShorterThan {
                    than: Setting::AccessTokenLifetime,
                },
            ));
        }
        if !(MIN_TOKEN_LENGTH..=MAX_TOKEN_LENGTH).contains(&self.token_length) {
            // Shorter tokens can be guessed.
            return Err(Error::invalid(
                Setting::TokenLength,
                InvalidReason::OutOfRange {
                    min: MIN_TOKEN_LENGTH as u64,
                    max: MAX_TOKEN_LENGTH as u64,
                },
            ));
        }
        self.validate_hashers()?;
        self.validate_passwords()?;
        if self.hash_concurrency == 0 {
            return Err(Error::invalid(Setting::HashConcurrency, AT_LEAST_ONE));
        }
        self.validate_secrets()
    }

    fn validate_hashers(&self) -> Result<()> {
        // Ranges accepted by the `argon2` crate (RFC 9106).
        if self.argon2_time_cost == 0 {
            return Err(Error::invalid(Setting::Argon2TimeCost, AT_LEAST_ONE));
        }
        if !(1..=0x00FF_FFFF).contains(&self.argon2_parallelism) {
            return Err(Error::invalid(
                Setting::Argon2Parallelism,
                InvalidReason::OutOfRange {
                    min: 1,
                    max: 0x00FF_FFFF,
                },
            ));
        }
        if u64::from(self.argon2_memory_cost) < 8 * u64::from(self.argon2_parallelism) {
            return Err(Error::invalid(
                Setting::Argon2MemoryCost,
                InvalidReason::MemoryPerLane { kib_per_lane: 8 },
            ));
        }
        if !(4..=31).contains(&self.bcrypt_rounds) {
            return Err(Error::invalid(
                Setting::BcryptRounds,
                InvalidReason::OutOfRange { min: 4, max: 31 },
            ));
        }
        if self.pbkdf2_iterations == 0 {
            return Err(Error::invalid(Setting::Pbkdf2Iterations, AT_LEAST_ONE));
        }
        Ok(())
    }

    fn validate_passwords(&self) -> Result<()> {
        if self.max_password_length == 0 {
            return Err(Error::invalid(Setting::MaxPasswordLength, AT_LEAST_ONE));
        }
        for v in &self.password_validators {
            match v {
                PasswordValidatorConfig::MinimumLength { min_length }
                    if *min_length > self.max_password_length =>
                {
                    return Err(Error::invalid(
                        Setting::PasswordValidators,
                        InvalidReason::MinLengthAboveMax,
                    ));
                }
                PasswordValidatorConfig::UserAttributeSimilarity { max_similarity, .. }
                    if !(0.1..=1.0).contains(max_similarity) =>
                {
                    return Err(Error::invalid(
                        Setting::PasswordValidators,
                        InvalidReason::MaxSimilarityOutOfRange,
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn validate_secrets(&self) -> Result<()> {
        let long_enough = |field: Setting, s: &SecretString, min_bytes: usize| {
            if s.expose_secret().len() < min_bytes {
                Err(Error::invalid(
                    field,
                    InvalidReason::SecretTooShort { min_bytes },
                ))
            } else {
                Ok(())
            }
        };
        if let Some(s) = &self.signing_secret {
            long_enough(Setting::SigningSecret, s, MIN_SECRET_BYTES)?;
        }
        for s in &self.signing_fallback_secrets {
            long_enough(Setting::SigningFallbackSecrets, s, MIN_SECRET_BYTES)?;
        }
        if let Some(min) = self.jwt_algorithm.min_secret_bytes() {
            if let Some(s) = &self.jwt_secret {
                long_enough(Setting::JwtSecret, s, min)?;
            }
            for s in &self.jwt_fallback_secrets {
                long_enough(Setting::JwtFallbackSecrets, s, min)?;
            }
            if self.token_backend == TokenBackendKind::Jwt {
                match (&self.jwt_secret, &self.signing_secret) {
                    (None, None) => {
                        return Err(Error::invalid(
                            Setting::JwtSecret,
                            InvalidReason::MissingSecret {
                                algorithm: self.jwt_algorithm,
                            },
                        ));
                    }
                    (None, Some(s)) => {
                        long_enough(Setting::SigningSecret, s, min)?;
                        // The JWT fallback keys are made from these too.
                        for s in &self.signing_fallback_secrets {
                            long_enough(Setting::SigningFallbackSecrets, s, min)?;
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }
}

/// Builds a validated [`AuthConfig`]; start with [`AuthConfig::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthConfigBuilder {
    config: AuthConfig,
}

macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident : $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, value: $ty) -> Self {
                self.config.$field = value;
                self
            }
        )*
    };
}

impl AuthConfigBuilder {
    setters! {
        /// Sets [`AuthConfig::argon2_time_cost`].
        argon2_time_cost: u32,
        /// Sets [`AuthConfig::argon2_memory_cost`] (KiB).
        argon2_memory_cost: u32,
        /// Sets [`AuthConfig::argon2_parallelism`].
        argon2_parallelism: u32,
        /// Sets [`AuthConfig::bcrypt_rounds`].
        bcrypt_rounds: u32,
        /// Sets [`AuthConfig::pbkdf2_iterations`].
        pbkdf2_iterations: u32,
        /// Replaces [`AuthConfig::password_validators`].
        password_validators: Vec<PasswordValidatorConfig>,
        /// Sets [`AuthConfig::access_token_lifetime`].
        access_token_lifetime: Duration,
        /// Sets [`AuthConfig::refresh_token_lifetime`].
        refresh_token_lifetime: Duration,
        /// Sets [`AuthConfig::session_max_lifetime`].
        session_max_lifetime: Duration,
        /// Sets [`AuthConfig::token_length`].
        token_length: usize,
        /// Sets [`AuthConfig::max_tokens_per_user`] (0: no limit).
        max_tokens_per_user: u32,
        /// Sets [`AuthConfig::max_password_length`].
        max_password_length: usize,
        /// Sets [`AuthConfig::signing_token_lifetime`].
        signing_token_lifetime: Duration,
        /// Sets [`AuthConfig::jwt_algorithm`].
        jwt_algorithm: JwtAlgorithm,
        /// Sets [`AuthConfig::jwt_blacklist_enabled`].
        jwt_blacklist_enabled: bool,
        /// Sets [`AuthConfig::hash_concurrency`].
        hash_concurrency: usize,
        /// Sets [`AuthConfig::hash_queue_timeout`].
        hash_queue_timeout: Duration,
        /// Sets [`AuthConfig::jwt_leeway`].
        jwt_leeway: Duration,
        /// Sets [`AuthConfig::refresh_reuse_detection`].
        refresh_reuse_detection: bool,
        /// Sets [`AuthConfig::jwt_raw_signing_secret`].
        jwt_raw_signing_secret: bool,
        /// Sets [`AuthConfig::require_verified_email`].
        require_verified_email: bool,
        /// Sets [`AuthConfig::reset_account_on_first_verification`].
        reset_account_on_first_verification: bool,
        /// Sets [`AuthConfig::revoke_tokens_on_password_change`].
        revoke_tokens_on_password_change: bool,
        /// Sets [`AuthConfig::email_token_lifetime`].
        email_token_lifetime: Duration,
        /// Sets [`AuthConfig::token_backend`].
        token_backend: TokenBackendKind,
    }

    /// Sets [`AuthConfig::signing_secret`] (an empty string unsets it).
    pub fn signing_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.signing_secret = secret::non_empty_secret(secret.into());
        self
    }

    /// Sets [`AuthConfig::jwt_secret`] (an empty string unsets it).
    pub fn jwt_secret(mut self, secret: impl Into<String>) -> Self {
        self.config.jwt_secret = secret::non_empty_secret(secret.into());
        self
    }

    /// Adds an entry to [`AuthConfig::signing_fallback_secrets`].
    pub fn signing_fallback_secret(mut self, secret: impl Into<String>) -> Self {
        self.config
            .signing_fallback_secrets
            .extend(secret::non_empty_secret(secret.into()));
        self
    }

    /// Adds an entry to [`AuthConfig::jwt_fallback_secrets`] (an empty string adds none).
    pub fn jwt_fallback_secret(mut self, secret: impl Into<String>) -> Self {
        self.config
            .jwt_fallback_secrets
            .extend(secret::non_empty_secret(secret.into()));
        self
    }

    /// Sets [`AuthConfig::jwt_issuer`] (an empty string unsets it).
    pub fn jwt_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.jwt_issuer = Some(issuer.into()).filter(|s| !s.is_empty());
        self
    }

    /// Sets [`AuthConfig::jwt_audience`] (an empty string unsets it).
    pub fn jwt_audience(mut self, audience: impl Into<String>) -> Self {
        self.config.jwt_audience = Some(audience.into()).filter(|s| !s.is_empty());
        self
    }

    /// Appends a validator to [`AuthConfig::password_validators`].
    pub fn add_password_validator(mut self, validator: PasswordValidatorConfig) -> Self {
        self.config.password_validators.push(validator);
        self
    }

    /// Validates and returns the configuration.
    ///
    /// # Errors
    ///
    /// As [`AuthConfig::validate`].
    pub fn build(self) -> Result<AuthConfig> {
        self.config.validate()?;
        Ok(self.config)
    }

    /// Returns the configuration without validating it (for tests that need odd values).
    #[must_use]
    pub fn build_unchecked(self) -> AuthConfig {
        self.config
    }
}
