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
/// Longest accepted `api_key_prefix`, in characters.
pub(crate) const MAX_API_KEY_PREFIX: usize = 16;
/// Smallest accepted signing or HMAC secret, in bytes.
pub(crate) const MIN_SECRET_BYTES: usize = 32;
/// Longest accepted `totp_issuer`, in characters.
pub(crate) const MAX_TOTP_ISSUER: usize = 64;
/// Largest accepted `totp_skew`, in steps.
pub(crate) const MAX_TOTP_SKEW: u8 = 2;
/// Largest accepted `recovery_code_count`.
pub(crate) const MAX_RECOVERY_CODES: u32 = 100;
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

/// *testudo*: the HMAC of TOTP codes (RFC 6238). SHA-1 is the default and the one every
/// authenticator app supports; some apps accept SHA-256 / SHA-512 in an `otpauth://` URI and
/// silently use SHA-1, so choose another only for apps known to honour it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[non_exhaustive]
pub enum TotpAlgorithm {
    /// HMAC-SHA1 (the default).
    #[default]
    SHA1,
    /// HMAC-SHA256.
    SHA256,
    /// HMAC-SHA512.
    SHA512,
}

impl TotpAlgorithm {
    /// The name used in an `otpauth://` URI and in configuration: `"SHA1"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::SHA1 => "SHA1",
            Self::SHA256 => "SHA256",
            Self::SHA512 => "SHA512",
        }
    }
}

impl fmt::Display for TotpAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TotpAlgorithm {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "SHA1" => Ok(Self::SHA1),
            "SHA256" => Ok(Self::SHA256),
            "SHA512" => Ok(Self::SHA512),
            _ => Err(Error::invalid(
                Setting::TotpAlgorithm,
                InvalidReason::UnknownTotpAlgorithm,
            )),
        }
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

/// How a rate limiter answers once `rate_limit_max_attempts` attempts were made in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum RateLimitMode {
    /// Each further attempt waits twice as long as the one before (one second first), never
    /// longer than `rate_limit_lockout` (the default): guessing slows down exponentially, yet
    /// whoever triggers the limit cannot lock the account's owner out for long.
    #[default]
    Escalating,
    /// The reference's fixed lockout: refused for `rate_limit_lockout` from the attempt that
    /// reached the limit.
    Lockout,
}

impl RateLimitMode {
    /// The name used in TOML and environment variables: `"escalating"` or `"lockout"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Escalating => "escalating",
            Self::Lockout => "lockout",
        }
    }
}

impl fmt::Display for RateLimitMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RateLimitMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "escalating" => Ok(Self::Escalating),
            "lockout" => Ok(Self::Lockout),
            _ => Err(Error::invalid(
                Setting::RateLimitMode,
                InvalidReason::UnknownRateLimitMode,
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
/// `AuthService`.
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
    /// without bound. Default 10 s. Zero is allowed and means "never queue": a call runs when
    /// a slot is free at once and fails with `Error::Busy` otherwise (load shedding).
    #[serde(deserialize_with = "secret::seconds")]
    pub hash_queue_timeout: Duration,
    /// *testudo*: the longest an `AuthService` call may wait on its storage (the database,
    /// the user store, the token backend) before it fails with a storage error of kind
    /// connection lost, so a server that stops answering (a network partition, a stalled
    /// host) cannot hang callers. A bound on the whole call, its hashing included. Default
    /// 30 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub storage_call_timeout: Duration,
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
    /// registered the address without owning it (pre-account takeover) loses access; a
    /// second factor enrolled before it is removed too. Default true.
    pub reset_account_on_first_verification: bool,
    /// *testudo*: lifetime of passwordless email tokens. Default 900 s (15 minutes).
    #[serde(deserialize_with = "secret::seconds")]
    pub email_token_lifetime: Duration,
    /// How long a password-reset token stays valid. Default 3600 s. A token also dies as soon
    /// as the account's password, credential version, last login or address changes.
    #[serde(deserialize_with = "secret::seconds")]
    pub password_reset_token_lifetime: Duration,
    /// How many wrong tries an emailed verification code survives. Default 5.
    pub onboarding_max_verification_attempts: u32,
    /// How long an emailed verification code stays valid. Default 600 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub onboarding_verification_code_ttl: Duration,
    /// How long an onboarding session (started by `start_onboarding`) can be resumed.
    /// Default 3600 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub onboarding_session_lifetime: Duration,
    /// Length of an onboarding session's token (letters and digits; stored only as a digest).
    /// Default 64, at least 32.
    pub onboarding_session_token_length: usize,
    /// Whether onboarding requires setting up TOTP before the account is created. Default
    /// false (the TOTP step can then be skipped).
    pub onboarding_require_totp: bool,
    /// Whether starting onboarding for an address ends that address's unfinished sessions.
    /// Default true.
    pub onboarding_invalidate_previous_sessions: bool,
    /// *testudo*: the backend `AuthService` builds when given none. Default database.
    pub token_backend: TokenBackendKind,
    /// *testudo*: also verify (and upgrade on login) Django's salted and unsalted SHA-1 / MD5
    /// hashes (`sha1$salt$hex`, `md5$salt$hex`, `sha1$$hex`, `md5$$hex`, bare 32-hex MD5).
    /// Default false: they are then refused as an unknown format. **Insecure**: these digests
    /// are cracked at billions of guesses per second, so turn this on only to migrate such a
    /// database, and off again once its users have logged in (or reset the rest).
    pub allow_insecure_legacy_hashes: bool,
    /// *testudo*: the pepper Devise appends to every password before bcrypt
    /// (`config.pepper`): when set, bare `$2a$` / `$2b$` / `$2x$` / `$2y$` bcrypt hashes are
    /// verified as bcrypt of `password + pepper` (first 72 bytes, as bcrypt-ruby). Django's
    /// `bcrypt$` / `bcrypt_sha256$` and every other format ignore it. Default unset.
    #[serde(deserialize_with = "secret::optional_secret")]
    pub bcrypt_pepper: Option<SecretString>,
    /// Login attempts allowed per identifier (and client address) within `rate_limit_window`
    /// before the rate limiter answers with a delay. Default 5.
    pub rate_limit_max_attempts: u32,
    /// The window in which `rate_limit_max_attempts` are counted. Default 300 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub rate_limit_window: Duration,
    /// How long a fixed lockout lasts (`rate_limit_mode = "lockout"`), and the longest delay of
    /// the escalating mode. Default 600 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub rate_limit_lockout: Duration,
    /// Password-reset requests allowed per address within
    /// `password_reset_rate_limit_window`. Default 3.
    pub password_reset_rate_limit_max_attempts: u32,
    /// The window of `password_reset_rate_limit_max_attempts`. Default 300 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub password_reset_rate_limit_window: Duration,
    /// *testudo*: what happens past the limit: an escalating delay (default) or the reference's
    /// fixed lockout.
    pub rate_limit_mode: RateLimitMode,
    /// Accept service-to-service tokens (`S2SService`). Default false, as the reference.
    pub s2s_enabled: bool,
    /// The environment variable holding the accepted service-to-service tokens, comma-separated
    /// (two tokens during a rotation). Default `"S2S_AUTH_TOKEN"`, as the reference; must not be
    /// empty when `s2s_enabled` is on.
    pub s2s_token_env_var: String,
    /// *testudo*: the prefix of API keys (`<prefix>_<random><checksum>`), so a leaked key is
    /// recognisable by secret scanners. 1 to 16 characters of `[a-z0-9]`. Default `"tdo"`.
    /// Keys made under another prefix are refused, so changing it retires every existing key.
    pub api_key_prefix: String,
    /// *testudo*: the issuer shown by authenticator apps for a TOTP factor (the `issuer` of
    /// its `otpauth://` URI). 1 to 64 characters, no `:`. Default `"testudo"`.
    pub totp_issuer: String,
    /// *testudo*: the HMAC of new TOTP factors (an enrolled factor keeps its own). Default
    /// SHA1.
    pub totp_algorithm: TotpAlgorithm,
    /// *testudo*: digits of the codes of new TOTP factors, 6 to 8. Default 6.
    pub totp_digits: u8,
    /// *testudo*: 30-second steps a TOTP code may be early or late and still be accepted
    /// (clock drift, typing time), 0 to 2. Default 1 (RFC 6238's recommendation).
    pub totp_skew: u8,
    /// *testudo*: single-use recovery codes made at enrolment and on regeneration, 1 to 100.
    /// Default 10.
    pub recovery_code_count: u32,
    /// *testudo*: how long the challenge a password login with a second factor answers stays
    /// usable for `complete_login`. Default 300 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub login_challenge_lifetime: Duration,
    /// *testudo*: how recent an authentication (`reauthenticate`) removing a second factor or
    /// regenerating recovery codes needs. Default 300 s.
    #[serde(deserialize_with = "secret::seconds")]
    pub step_up_window: Duration,
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
            storage_call_timeout: Duration::from_secs(30),
            signing_fallback_secrets: Vec::new(),
            jwt_fallback_secrets: Vec::new(),
            jwt_leeway: Duration::ZERO,
            refresh_reuse_detection: true,
            revoke_tokens_on_password_change: true,
            jwt_raw_signing_secret: false,
            require_verified_email: false,
            reset_account_on_first_verification: true,
            email_token_lifetime: Duration::from_secs(900),
            password_reset_token_lifetime: Duration::from_secs(3600),
            onboarding_max_verification_attempts: 5,
            onboarding_session_lifetime: Duration::from_secs(3600),
            onboarding_session_token_length: 64,
            onboarding_require_totp: false,
            onboarding_invalidate_previous_sessions: true,
            onboarding_verification_code_ttl: Duration::from_secs(600),
            token_backend: TokenBackendKind::Database,
            allow_insecure_legacy_hashes: false,
            bcrypt_pepper: None,
            rate_limit_max_attempts: 5,
            rate_limit_window: Duration::from_secs(300),
            rate_limit_lockout: Duration::from_secs(600),
            password_reset_rate_limit_max_attempts: 3,
            password_reset_rate_limit_window: Duration::from_secs(300),
            rate_limit_mode: RateLimitMode::Escalating,
            s2s_enabled: false,
            s2s_token_env_var: "S2S_AUTH_TOKEN".to_owned(),
            api_key_prefix: "tdo".to_owned(),
            totp_issuer: "testudo".to_owned(),
            totp_algorithm: TotpAlgorithm::SHA1,
            totp_digits: 6,
            totp_skew: 1,
            recovery_code_count: 10,
            login_challenge_lifetime: Duration::from_secs(300),
            step_up_window: Duration::from_secs(300),
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
    /// Refused: zero lifetimes, zero rate-limit counts or durations, a refresh lifetime shorter than the access lifetime, a JWT
    /// leeway not shorter than the access lifetime, `token_length` outside 32..=1024, Argon2 /
    /// bcrypt / PBKDF2 parameters the hashing crates do not accept, `max_password_length` of 0 or
    /// below the minimum-length validator, a similarity threshold outside 0.1..=1.0, a
    /// `hash_concurrency` of 0, secrets shorter than 32 bytes (HS384 / HS512: 48 / 64), and the
    /// JWT backend with an HMAC algorithm but no secret, `s2s_enabled` with an empty
    /// `s2s_token_env_var`, and an `api_key_prefix` that is not 1 to 16 characters of `[a-z0-9]`.
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
        positive(Setting::StorageCallTimeout, self.storage_call_timeout)?;
        positive(
            Setting::PasswordResetTokenLifetime,
            self.password_reset_token_lifetime,
        )?;
        positive(
            Setting::OnboardingSessionLifetime,
            self.onboarding_session_lifetime,
        )?;
        if self.onboarding_session_token_length < MIN_TOKEN_LENGTH {
            // Shorter tokens can be guessed.
            return Err(Error::invalid(
                Setting::OnboardingSessionTokenLength,
                InvalidReason::TooSmall {
                    min: MIN_TOKEN_LENGTH as u64,
                },
            ));
        }
        if self.onboarding_session_token_length > MAX_TOKEN_LENGTH {
            return Err(Error::invalid(
                Setting::OnboardingSessionTokenLength,
                InvalidReason::OutOfRange {
                    min: MIN_TOKEN_LENGTH as u64,
                    max: MAX_TOKEN_LENGTH as u64,
                },
            ));
        }
        positive(
            Setting::OnboardingVerificationCodeTtl,
            self.onboarding_verification_code_ttl,
        )?;
        if self.onboarding_max_verification_attempts == 0 {
            return Err(Error::invalid(
                Setting::OnboardingMaxVerificationAttempts,
                AT_LEAST_ONE,
            ));
        }
        self.validate_rate_limits()?;
        self.validate_second_factor()?;
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
        self.validate_secrets()?;
        self.validate_keys()
    }

    fn validate_keys(&self) -> Result<()> {
        if self.s2s_enabled && self.s2s_token_env_var.trim().is_empty() {
            return Err(Error::invalid(
                Setting::S2sTokenEnvVar,
                InvalidReason::EmptyWhenEnabled {
                    by: Setting::S2sEnabled,
                },
            ));
        }
        let prefix = &self.api_key_prefix;
        if prefix.is_empty()
            || prefix.len() > MAX_API_KEY_PREFIX
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(Error::invalid(
                Setting::ApiKeyPrefix,
                InvalidReason::BadKeyPrefix {
                    max: MAX_API_KEY_PREFIX,
                },
            ));
        }
        Ok(())
    }

    /// The reference's checks of its rate-limit settings: every count and duration positive.
    fn validate_rate_limits(&self) -> Result<()> {
        let at_least_one = |field: Setting, n: u32| {
            if n == 0 {
                Err(Error::invalid(field, AT_LEAST_ONE))
            } else {
                Ok(())
            }
        };
        let positive = |field: Setting, d: Duration| {
            if d.is_zero() {
                Err(Error::invalid(field, InvalidReason::ZeroDuration))
            } else {
                Ok(())
            }
        };
        at_least_one(Setting::RateLimitMaxAttempts, self.rate_limit_max_attempts)?;
        positive(Setting::RateLimitWindow, self.rate_limit_window)?;
        positive(Setting::RateLimitLockout, self.rate_limit_lockout)?;
        at_least_one(
            Setting::PasswordResetRateLimitMaxAttempts,
            self.password_reset_rate_limit_max_attempts,
        )?;
        positive(
            Setting::PasswordResetRateLimitWindow,
            self.password_reset_rate_limit_window,
        )
    }

    fn validate_second_factor(&self) -> Result<()> {
        let issuer = &self.totp_issuer;
        if issuer.trim().is_empty()
            || issuer.chars().count() > MAX_TOTP_ISSUER
            || issuer.contains(':')
            || issuer.chars().any(char::is_control)
        {
            return Err(Error::invalid(
                Setting::TotpIssuer,
                InvalidReason::BadTotpIssuer {
                    max: MAX_TOTP_ISSUER,
                },
            ));
        }
        if !(6..=8).contains(&self.totp_digits) {
            return Err(Error::invalid(
                Setting::TotpDigits,
                InvalidReason::OutOfRange { min: 6, max: 8 },
            ));
        }
        if self.totp_skew > MAX_TOTP_SKEW {
            return Err(Error::invalid(
                Setting::TotpSkew,
                InvalidReason::OutOfRange {
                    min: 0,
                    max: u64::from(MAX_TOTP_SKEW),
                },
            ));
        }
        if !(1..=MAX_RECOVERY_CODES).contains(&self.recovery_code_count) {
            return Err(Error::invalid(
                Setting::RecoveryCodeCount,
                InvalidReason::OutOfRange {
                    min: 1,
                    max: u64::from(MAX_RECOVERY_CODES),
                },
            ));
        }
        for (field, d) in [
            (
                Setting::LoginChallengeLifetime,
                self.login_challenge_lifetime,
            ),
            (Setting::StepUpWindow, self.step_up_window),
        ] {
            if d.is_zero() {
                return Err(Error::invalid(field, InvalidReason::ZeroDuration));
            }
        }
        Ok(())
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
        /// Sets [`AuthConfig::totp_algorithm`].
        totp_algorithm: TotpAlgorithm,
        /// Sets [`AuthConfig::totp_digits`].
        totp_digits: u8,
        /// Sets [`AuthConfig::totp_skew`].
        totp_skew: u8,
        /// Sets [`AuthConfig::recovery_code_count`].
        recovery_code_count: u32,
        /// Sets [`AuthConfig::login_challenge_lifetime`].
        login_challenge_lifetime: Duration,
        /// Sets [`AuthConfig::step_up_window`].
        step_up_window: Duration,
        /// Sets [`AuthConfig::storage_call_timeout`].
        storage_call_timeout: Duration,
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
        /// Sets [`AuthConfig::password_reset_token_lifetime`].
        password_reset_token_lifetime: Duration,
        /// Sets [`AuthConfig::onboarding_max_verification_attempts`].
        onboarding_max_verification_attempts: u32,
        /// Sets [`AuthConfig::onboarding_verification_code_ttl`].
        onboarding_verification_code_ttl: Duration,
        /// Sets [`AuthConfig::onboarding_session_lifetime`].
        onboarding_session_lifetime: Duration,
        /// Sets [`AuthConfig::onboarding_session_token_length`].
        onboarding_session_token_length: usize,
        /// Sets [`AuthConfig::onboarding_require_totp`].
        onboarding_require_totp: bool,
        /// Sets [`AuthConfig::onboarding_invalidate_previous_sessions`].
        onboarding_invalidate_previous_sessions: bool,
        /// Sets [`AuthConfig::token_backend`].
        token_backend: TokenBackendKind,
        /// Sets [`AuthConfig::rate_limit_max_attempts`].
        rate_limit_max_attempts: u32,
        /// Sets [`AuthConfig::rate_limit_window`].
        rate_limit_window: Duration,
        /// Sets [`AuthConfig::rate_limit_lockout`].
        rate_limit_lockout: Duration,
        /// Sets [`AuthConfig::password_reset_rate_limit_max_attempts`].
        password_reset_rate_limit_max_attempts: u32,
        /// Sets [`AuthConfig::password_reset_rate_limit_window`].
        password_reset_rate_limit_window: Duration,
        /// Sets [`AuthConfig::rate_limit_mode`].
        rate_limit_mode: RateLimitMode,
        /// Sets [`AuthConfig::allow_insecure_legacy_hashes`] (read its warning first).
        allow_insecure_legacy_hashes: bool,
        /// Sets [`AuthConfig::s2s_enabled`].
        s2s_enabled: bool,
    }

    /// Sets [`AuthConfig::s2s_token_env_var`].
    pub fn s2s_token_env_var(mut self, name: impl Into<String>) -> Self {
        self.config.s2s_token_env_var = name.into();
        self
    }

    /// Sets [`AuthConfig::api_key_prefix`].
    pub fn api_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.api_key_prefix = prefix.into();
        self
    }

    /// Sets [`AuthConfig::totp_issuer`].
    pub fn totp_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.config.totp_issuer = issuer.into();
        self
    }

    /// Sets [`AuthConfig::bcrypt_pepper`] (an empty string unsets it).
    pub fn bcrypt_pepper(mut self, pepper: impl Into<String>) -> Self {
        self.config.bcrypt_pepper = secret::non_empty_secret(pepper.into());
        self
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
