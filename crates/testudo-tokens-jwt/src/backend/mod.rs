//! The JWT backend, stateless or with the database revocation list.
//!
//! This module holds the type, its settings and the [`TokenBackend`] impl; the rest is in
//! `build` (algorithm, secret and keys), `sign`, `verify`, `rotate` and `revoke`.

use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use testudo_config::AuthConfig;
use testudo_core::{
    Claims, Clock, TokenBackend, TokenError, TokenPair, TokenPayload, TokenType, async_trait,
    saturating_chrono,
};
use testudo_db::Database;

use crate::error::{Error, Result};
use crate::keys::JwtKeys;
use crate::revocation;

mod build;
mod revoke;
mod rotate;
mod sign;
mod verify;

pub use testudo_core::DEFAULT_ROTATION_GRACE;

/// Issues and verifies JWT access / refresh pairs, stateless or with the database revocation
/// list ([`JwtBackend::with_revocation_list`]).
///
/// See the [crate documentation](crate) for the claim layout, the verification rules, the
/// revocation list and what running without it means for logout and refresh.
pub struct JwtBackend {
    config: Arc<AuthConfig>,
    list: Option<Database>,
    rotation_grace: std::time::Duration,
    clock: Arc<dyn Clock>,
    algorithm: Algorithm,
    hmac: bool,
    signing_kid: Option<String>,
    signing: EncodingKey,
    verification: Vec<(Option<String>, DecodingKey)>,
    validation: Validation,
    /// `validation` without `iss` / `aud` checks, for `revoke_token`.
    revoke_validation: Validation,
    leeway_ms: i128,
    access_lifetime: i64,
    refresh_lifetime: i64,
    /// `session_max_lifetime` in seconds (0: no limit).
    session_max_lifetime: i64,
}

impl JwtBackend {
    /// A backend for an HS256 / HS384 / HS512 configuration, signing with
    /// [`AuthConfig::effective_jwt_secret`].
    ///
    /// # Errors
    ///
    /// [`Error::MissingSecret`] without a secret, [`Error::ShortSecret`] when it is shorter than
    /// 32 / 48 / 64 bytes, [`Error::MissingKeys`] when the configured algorithm is asymmetric
    /// (use [`JwtBackend::with_keys`]), [`Error::UnsupportedAlgorithm`].
    pub fn new(config: Arc<AuthConfig>) -> Result<Self> {
        Self::build(config, None, true)
    }

    /// A backend for an RS256 / ES256 / EdDSA configuration, with PEM keys.
    ///
    /// # Errors
    ///
    /// [`Error::KeysWithHmac`] when the configured algorithm is HS*, [`Error::NoSigningKey`] /
    /// [`Error::NoVerificationKey`] when the signing key or every verification key is missing,
    /// [`Error::Pem`] for a key that cannot be read for the configured algorithm.
    pub fn with_keys(config: Arc<AuthConfig>, keys: JwtKeys) -> Result<Self> {
        Self::build(config, Some(keys), true)
    }

    /// Like [`JwtBackend::new`] but accepts an HS* secret shorter than the digest size, as
    /// tortoise-auth does. Only for reading the conformance vectors (made with short secrets).
    ///
    /// # Errors
    ///
    /// As [`JwtBackend::new`], except [`Error::ShortSecret`].
    ///
    /// Feature `test-hooks`: not part of the public API; for testudo's own conformance tests;
    /// may change without notice.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn new_allowing_short_secret(config: Arc<AuthConfig>) -> Result<Self> {
        Self::build(config, None, false)
    }

    /// Turns the revocation list on, in the `testudo_jwt_outstanding_tokens` and
    /// `testudo_jwt_blacklisted_tokens` tables of `db` (created by `testudo-migrations`).
    ///
    /// The list is on whenever a database is given, whatever `jwt_blacklist_enabled` says;
    /// `jwt_blacklist_enabled = true` without one makes every call fail with
    /// [`Error::RevocationListUnavailable`] (a configuration error) rather than run without the
    /// revocation the configuration asks for. See the crate documentation for what the list
    /// does.
    #[must_use]
    pub fn with_revocation_list(mut self, db: Database) -> Self {
        self.list = Some(db);
        self
    }

    /// Replaces the rotation grace window of the revocation list ([`DEFAULT_ROTATION_GRACE`] by
    /// default, which states what the window means), measured with the backend's clock.
    #[must_use]
    pub fn with_rotation_grace(mut self, grace: std::time::Duration) -> Self {
        self.rotation_grace = grace;
        self
    }

    /// The revocation-list database, when the list is on.
    #[must_use]
    pub fn revocation_list(&self) -> Option<&Database> {
        self.list.as_ref()
    }

    /// Replaces the clock (the system clock by default), e.g. with a
    /// [`testudo_core::FixedClock`] in tests.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The revocation-list database: `Ok(None)` when the list is off, an error when the
    /// configuration asks for it but none was given.
    fn list(&self) -> Result<Option<&Database>> {
        match &self.list {
            Some(db) => Ok(Some(db)),
            None if self.config.jwt_blacklist_enabled => Err(Error::RevocationListUnavailable),
            None => Ok(None),
        }
    }

    /// The rotation grace window as a `chrono` duration (see [`JwtBackend::with_rotation_grace`]).
    fn grace(&self) -> chrono::Duration {
        saturating_chrono(self.rotation_grace)
    }
}

/// A new `jti` (and token family id): a UUID v4 as 32 lowercase hex digits.
fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

impl JwtBackend {
    /// Rotation with and without the list; the new pair carries `extra` when given, else the
    /// presented token's claims.
    async fn rotate_with(
        &self,
        refresh_token: &str,
        extra: Option<&Claims>,
    ) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        match self.list()? {
            Some(db) => self.rotate_recorded(db, refresh_token, extra).await,
            None => {
                let payload = self.decode(refresh_token, TokenType::Refresh)?;
                let empty = Claims::new();
                let pair = self.sign_pair(
                    &payload.sub,
                    extra.or(payload.extra.as_ref()).unwrap_or(&empty),
                    &new_jti(),
                    &new_jti(),
                    self.clock.now().timestamp(),
                    sign::session_start(&payload),
                )?;
                Ok((payload, pair))
            }
        }
    }
}

/// The trait's methods; their behaviour with and without the revocation list is described in
/// the [crate documentation](crate).
#[async_trait]
impl TokenBackend for JwtBackend {
    /// Signs a pair; with the list on, records both `jti`s as outstanding (one transaction, a
    /// new token family).
    async fn create_tokens(&self, user_id: &str, extra: Claims) -> testudo_core::Result<TokenPair> {
        match self.list()? {
            Some(db) => self.issue_recorded(db, user_id, &extra, &new_jti()).await,
            None => Ok(self.sign_now(user_id, &extra, &new_jti(), &new_jti())?),
        }
    }

    /// Verifies a token; with the list on, a blacklisted `jti` is Revoked (checked after the
    /// signature, the times and the type, so an expired token is Expired).
    async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
    ) -> testudo_core::Result<TokenPayload> {
        let list = self.list()?;
        let payload = self.decode(token, expected)?;
        if let Some(db) = list
            && revocation::is_blacklisted(db.as_sea_orm(), &payload.jti)
                .await
                .map_err(testudo_db::Error::from)?
        {
            return Err(TokenError::Revoked.into());
        }
        Ok(payload)
    }

    /// With the list on: single-use rotation with reuse detection. Without it: the trait's
    /// default (verify, a no-op revoke, issue), so the refresh token stays usable.
    async fn rotate(&self, refresh_token: &str) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        self.rotate_with(refresh_token, None).await
    }

    /// As `rotate`, the new access token carrying `extra` (the session's start and credential
    /// version are kept from the presented token).
    async fn rotate_with_claims(
        &self,
        refresh_token: &str,
        extra: Claims,
    ) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        self.rotate_with(refresh_token, Some(&extra)).await
    }

    /// With the list on, blacklists the token's `jti`, even when the token has expired
    /// (a token that does not verify otherwise is ignored). Without it: a no-op, the token
    /// stays valid until it expires.
    async fn revoke_token(&self, token: &str) -> testudo_core::Result<()> {
        let Some(db) = self.list()? else {
            return Ok(());
        };
        self.revoke_recorded(db, token).await
    }

    /// With the list on, blacklists the token and every outstanding token of its family.
    /// Without it: a no-op.
    async fn revoke_session(&self, token: &str) -> testudo_core::Result<()> {
        let Some(db) = self.list()? else {
            return Ok(());
        };
        self.revoke_session_recorded(db, token).await
    }

    /// With the list on, blacklists every outstanding `jti` of the user that is not blacklisted
    /// yet (one transaction) and returns how many. Without it: a no-op returning 0.
    async fn revoke_all_for_user(&self, user_id: &str) -> testudo_core::Result<u64> {
        let Some(db) = self.list()? else {
            return Ok(0);
        };
        self.revoke_all_recorded(db, user_id).await
    }

    /// With the list on, deletes the outstanding rows expired for longer than `jwt_leeway`,
    /// their blacklist rows and the expired blacklist rows of tokens without one (one
    /// transaction) and returns how many rows. Without it: returns 0.
    async fn cleanup_expired(&self) -> testudo_core::Result<u64> {
        let Some(db) = self.list()? else {
            return Ok(0);
        };
        self.cleanup_recorded(db).await
    }

    /// `true` only with the revocation list on.
    fn supports_revocation(&self) -> bool {
        self.list.is_some()
    }
}

impl fmt::Debug for JwtBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBackend")
            .field("algorithm", &self.algorithm)
            .field("signing_kid", &self.signing_kid)
            .field(
                "verification_kids",
                &self.verification.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("issuer", &self.config.jwt_issuer)
            .field("audience", &self.config.jwt_audience)
            .field("leeway_ms", &self.leeway_ms)
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("clock", &self.clock)
            .field("revocation_list", &self.list.is_some())
            .field("rotation_grace", &self.rotation_grace)
            .finish_non_exhaustive()
    }
}
