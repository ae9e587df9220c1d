//! The JWT backend, stateless or with the database revocation list.
//!
//! This module holds the type, its settings and the [`TokenBackend`] impl; the rest is in
//! `build` (algorithm, secrets and keys), `jws` (the compact serialization and the HS* MACs),
//! `claims` (reading a payload), `sign`, `verify`, `rotate` and `revoke`.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use testudo_config::AuthConfig;
use testudo_core::{
    Claims, Clock, Session, SessionContext, SessionRef, SessionsNotSupported, TokenBackend,
    TokenError, TokenPair, TokenPayload, TokenType, async_trait, saturating_chrono,
};
use testudo_db::Database;

use crate::error::{Error, JwksReason, Result};
use crate::jwks;
use crate::keys::JwtKeys;
use crate::revocation;

mod build;
mod claims;
#[cfg(test)]
mod equivalence;
mod jws;
mod revoke;
mod rotate;
mod sessions;
mod sign;
mod verify;

pub(crate) use build::{decoding_key, jwt_algorithm};
pub use testudo_core::DEFAULT_ROTATION_GRACE;

/// The longest token this crate signs or reads: 8 KiB, the usual limit of one HTTP header. A
/// longer one is refused as malformed before anything of it is decoded (a megabyte header
/// would otherwise be base64-decoded and parsed before its signature is checked), and
/// signing claims that would make one fails with [`Error::TooLong`].
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

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
    /// `None` for a backend that only verifies ([`JwtBackend::from_jwks`]).
    signing: Option<Signing>,
    keys: Keys,
    /// The header segment of each kind of token this backend issues or is configured to
    /// verify (no `kid`, and each key's `kid`), with the `kid` it names: a token with one of
    /// these headers skips parsing it.
    known_headers: Vec<(String, Option<String>)>,
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

    /// A backend that only verifies, with the verification keys of a JWK Set (RFC 7517) given
    /// as JSON: the set another testudo service publishes with [`JwtBackend::jwk_set_json`]
    /// (at `/.well-known/jwks.json`, say), so this service accepts the tokens that one issues.
    /// Refresh the keys with [`JwtBackend::replace_verification_keys_from_jwks`] when the
    /// issuer publishes a new set. Its `create_tokens` and `rotate` fail with
    /// [`Error::NoSigningKey`] (a configuration error).
    ///
    /// The configured algorithm must be RS256, ES256 or EdDSA, and every key of the set one
    /// for it; see [`JwtBackend::replace_verification_keys_from_jwks`] for what is refused.
    ///
    /// # Errors
    ///
    /// [`Error::Jwks`] for a set that cannot be used (with [`JwksReason::SymmetricAlgorithm`]
    /// for an HS* configuration), [`Error::NoVerificationKey`] for an empty set,
    /// [`Error::UnsupportedAlgorithm`].
    pub fn from_jwks(config: Arc<AuthConfig>, jwks_json: &str) -> Result<Self> {
        Self::build_from_jwks(config, jwks_json)
    }

    /// Replaces the keys read from a JWK Set (RFC 7517, as JSON) with those of `jwks_json`,
    /// atomically: a verification running meanwhile uses either the old keys or the new ones.
    /// The keys given with [`JwtKeys`] stay and are looked up first, by `kid`; a key of the set
    /// without `kid` verifies the tokens without one.
    ///
    /// Refused, leaving the keys as they were: JSON that is not a JWK Set, a symmetric (`oct`)
    /// key, a key for another algorithm (its `alg`, or its `kty` / `crv`, is not the configured
    /// algorithm's), a key whose `use` is not `sig` or whose `key_ops` lack `verify`, a key
    /// that cannot be read, a `kid` given twice; and a set that would leave the backend with
    /// no key at all. Returns how many keys the set holds.
    ///
    /// # Errors
    ///
    /// [`Error::Jwks`] naming the problem ([`JwksReason::SymmetricAlgorithm`] for an HS*
    /// backend, which verifies with its secrets only), [`Error::NoVerificationKey`].
    pub fn replace_verification_keys_from_jwks(&self, jwks_json: &str) -> Result<usize> {
        let Keys::Public { fixed, published } = &self.keys else {
            return Err(Error::jwks(JwksReason::SymmetricAlgorithm));
        };
        let keys = jwks::read(jwks_json, self.algorithm)?;
        if keys.is_empty() && fixed.is_empty() {
            return Err(Error::NoVerificationKey);
        }
        let n = keys.len();
        *published.write().unwrap_or_else(PoisonError::into_inner) = keys.into();
        Ok(n)
    }

    /// The verification keys given with [`JwtKeys`], as an RFC 7517 JWK Set in JSON (each key
    /// with its `kid`, `alg` and `use: "sig"`), for an endpoint such as
    /// `/.well-known/jwks.json` that other services read with [`JwtBackend::from_jwks`].
    /// Public keys only: never a private key, and for HS256 / HS384 / HS512 (whose keys are
    /// secrets) an empty set. Keys read from another service's set are not republished.
    ///
    /// # Errors
    ///
    /// [`Error::Pem`] when a key cannot be written as a JWK (not expected for a key the
    /// backend accepted).
    pub fn jwk_set_json(&self) -> Result<String> {
        match &self.keys {
            Keys::Hmac(_) => jwks::publish(self.config.jwt_algorithm, self.algorithm, &[]),
            Keys::Public { fixed, .. } => {
                jwks::publish(self.config.jwt_algorithm, self.algorithm, fixed)
            }
        }
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

    /// The revocation-list database for a session operation: the typed refusal when the list
    /// is off (a stateless backend keeps no sessions).
    fn sessions_list(&self) -> testudo_core::Result<&Database> {
        self.list()?.ok_or_else(|| SessionsNotSupported.into())
    }

    /// The rotation grace window as a `chrono` duration (see [`JwtBackend::with_rotation_grace`]).
    fn grace(&self) -> chrono::Duration {
        saturating_chrono(self.rotation_grace)
    }
}

/// How tokens are signed: the header segment and `.` every token starts with, and the key.
struct Signing {
    prefix: String,
    key: SigningKey,
}

/// The signing key.
#[expect(
    clippy::large_enum_variant,
    reason = "one per backend, and the MAC state is read on every token: kept inline"
)]
enum SigningKey {
    /// An HS* key, its MAC state prepared.
    Hmac(jws::HmacState),
    /// An asymmetric private key.
    Public(EncodingKey),
}

/// One HS* verification key: the current key or a fallback, named by its derived `kid`.
struct HmacKey {
    kid: String,
    state: jws::HmacState,
}

/// A verification key of an asymmetric algorithm, under its `kid` (or none).
type PublicKey = (Option<String>, DecodingKey);

/// The verification keys.
enum Keys {
    /// HS*: the current key first, then the fallbacks.
    Hmac(Vec<HmacKey>),
    /// RS256 / ES256 / EdDSA: the keys of the [`JwtKeys`], then those of the last JWK Set
    /// given ([`JwtBackend::replace_verification_keys_from_jwks`]).
    Public {
        fixed: Vec<PublicKey>,
        published: RwLock<Arc<[PublicKey]>>,
    },
}

impl Keys {
    /// The `kid`s of the verification keys (the JWK Set's after the fixed ones).
    fn kids(&self) -> Vec<Option<String>> {
        match self {
            Self::Hmac(keys) => keys.iter().map(|k| Some(k.kid.clone())).collect(),
            Self::Public { fixed, published } => fixed
                .iter()
                .chain(
                    published
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .iter(),
                )
                .map(|(kid, _)| kid.clone())
                .collect(),
        }
    }
}

/// A new `jti` (and token family id): a UUID v4 as 32 lowercase hex digits.
fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A `jti`: a UUID v4 as 32 lowercase hex digits, on the stack.
#[derive(Clone, Copy)]
struct Jti([u8; 32]);

impl Jti {
    /// The text of the `jti`.
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// Bytes of the OS CSPRNG read ahead, per thread, for `jti`s: one `getrandom` call (about
/// 0.6 µs on the project's machines, a quarter of a whole pair's cost) serves
/// [`JTI_BATCH`] pairs.
///
/// Only `jti`s come from here, never a secret: a `jti` names a token, and what makes a token
/// unforgeable is its signature. The bytes are still the OS generator's, used once each. A
/// process that forks after issuing tokens would hand the child the same unread bytes, so
/// both could issue a `jti` twice; testudo never forks, and a fork without `exec` in a
/// multi-threaded async program is unsound anyway.
struct JtiRandomness {
    bytes: [u8; JTI_BATCH * 32],
    used: usize,
}

/// How many pairs' `jti`s one read of the OS generator serves.
const JTI_BATCH: usize = 32;

thread_local! {
    static JTI_RANDOMNESS: std::cell::RefCell<JtiRandomness> = const {
        std::cell::RefCell::new(JtiRandomness { bytes: [0; JTI_BATCH * 32], used: JTI_BATCH * 32 })
    };
}

/// 32 bytes of the OS CSPRNG for one pair's `jti`s, from this thread's read-ahead.
///
/// # Errors
///
/// [`Error::Random`] when the OS random number generator fails.
fn jti_bytes() -> Result<[u8; 32]> {
    JTI_RANDOMNESS.with(|cell| {
        let mut pool = cell.borrow_mut();
        if pool.used + 32 > pool.bytes.len() {
            getrandom::fill(&mut pool.bytes).map_err(|e| Error::Random(Box::new(e)))?;
            pool.used = 0;
        }
        let start = pool.used;
        let chunk = pool
            .bytes
            .get_mut(start..start + 32)
            .ok_or_else(|| Error::Random("the jti read-ahead is out of bounds".into()))?;
        let mut out = [0_u8; 32];
        out.copy_from_slice(chunk);
        // Used once: zeroed, and never handed out again.
        chunk.fill(0);
        pool.used += 32;
        Ok(out)
    })
}

/// Two new `jti`s from 32 bytes of the OS CSPRNG ([`jti_bytes`]).
///
/// # Errors
///
/// [`Error::Random`] when the OS random number generator fails.
fn new_jtis() -> Result<[Jti; 2]> {
    let bytes = jti_bytes()?;
    let (a, b) = bytes.split_at(16);
    let jti = |half: &[u8]| {
        let random: [u8; 16] = half.try_into().unwrap_or_default();
        let mut text = [0_u8; 32];
        uuid::Builder::from_random_bytes(random)
            .into_uuid()
            .simple()
            .encode_lower(&mut text);
        Jti(text)
    };
    Ok([jti(a), jti(b)])
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
                let [access_jti, refresh_jti] = new_jtis()?;
                let pair = self.sign_pair(
                    &payload.sub,
                    extra.or(payload.extra.as_ref()).unwrap_or(&empty),
                    access_jti.as_str(),
                    refresh_jti.as_str(),
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
        self.create_tokens_for(user_id, extra, &SessionContext::default())
            .await
    }

    /// As `create_tokens`; with the list on, the new family's session records `client` (in
    /// the same transaction). Without it, `client` is not kept anywhere.
    async fn create_tokens_for(
        &self,
        user_id: &str,
        extra: Claims,
        client: &SessionContext,
    ) -> testudo_core::Result<TokenPair> {
        match self.list()? {
            Some(db) => {
                self.issue_recorded(db, user_id, &extra, &new_jti(), client)
                    .await
            }
            None => {
                let [access_jti, refresh_jti] = new_jtis()?;
                Ok(self.sign_now(user_id, &extra, access_jti.as_str(), refresh_jti.as_str())?)
            }
        }
    }

    /// `true` only with the revocation list on: a stateless backend has nowhere to keep them.
    fn supports_sessions(&self) -> bool {
        self.list.is_some()
    }

    /// With the list on, the family of the token's outstanding row (its signature must verify;
    /// it may have expired). Without it: `SessionsNotSupported`.
    async fn session_of(&self, token: &str) -> testudo_core::Result<Option<SessionRef>> {
        self.session_of_recorded(self.sessions_list()?, token).await
    }

    /// With the list on, the live sessions of `user_id` (a refresh token of the family neither
    /// blacklisted nor expired), newest first. Without it: `SessionsNotSupported`.
    async fn list_sessions(&self, user_id: &str) -> testudo_core::Result<Vec<Session>> {
        self.sessions_recorded(self.sessions_list()?, user_id).await
    }

    /// With the list on, blacklists session `session_id` if it is a live session of `user_id`.
    /// Without it: `SessionsNotSupported`.
    async fn revoke_user_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> testudo_core::Result<bool> {
        self.revoke_user_session_recorded(self.sessions_list()?, user_id, session_id)
            .await
    }

    /// With the list on, blacklists every token of `user_id` outside session `keep`, atomically
    /// with the user's rotations. Without it: `SessionsNotSupported`.
    async fn revoke_other_sessions(&self, user_id: &str, keep: &str) -> testudo_core::Result<u64> {
        self.revoke_other_sessions_recorded(self.sessions_list()?, user_id, keep)
            .await
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
    /// their blacklist rows, the expired blacklist rows of tokens without one and the sessions
    /// left without a live refresh token (one transaction) and returns how many rows. Without
    /// it: returns 0.
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
            .field("signs", &self.signing.is_some())
            .field("verification_kids", &self.keys.kids())
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Many batches on several threads: every `jti` is 32 lowercase hex digits of a UUID v4,
    /// and none repeats (within a thread across refills, nor across threads).
    #[test]
    fn jtis_from_the_read_ahead_never_repeat_across_refills_and_threads() {
        let per_thread = JTI_BATCH * 5 + 3;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| new_jtis().map(|pair| pair.map(|j| j.as_str().to_owned())))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        let mut seen = HashSet::new();
        for thread in threads {
            let pairs = thread.join().map_err(|_| "a thread panicked");
            for jti in pairs.into_iter().flatten().flatten().flatten() {
                assert_eq!(jti.len(), 32);
                assert!(
                    jti.bytes()
                        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
                );
                assert_eq!(jti.as_bytes().get(12), Some(&b'4'), "a UUID v4: {jti}");
                assert!(seen.insert(jti.clone()), "jti {jti} issued twice");
            }
        }
        assert_eq!(seen.len(), 4 * per_thread * 2);
    }
}
