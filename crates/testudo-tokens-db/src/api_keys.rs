//! API keys: long-lived credentials of a user or a service, apart from login sessions.
//!
//! A key is shown once, as `<prefix>_<random><checksum>`: the prefix is
//! `AuthConfig::api_key_prefix` (`tdo` by default), the random part 43 characters of
//! `[A-Za-z0-9]` from the OS random generator (256 bits), the checksum the CRC-32 of the random
//! part in 6 base-62 digits, as GitHub's tokens carry, so that a secret scanner can tell a
//! testudo key from noise without asking anyone, and a mistyped key is refused without a
//! database query. Only the key's SHA-256 digest is stored.
//!
//! ```
//! use std::sync::Arc;
//! use testudo_config::AuthConfig;
//! use testudo_core::ExposeSecret;
//! use testudo_db::Database;
//! use testudo_tokens_db::{ApiKeyError, ApiKeyOwner, ApiKeyStore, Error, NewApiKey};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let db = Database::connect("sqlite::memory:").await?;
//! db.migrate().await?;
//! let keys = ApiKeyStore::new(db, Arc::new(AuthConfig::default()));
//!
//! let issued = keys
//!     .create(NewApiKey::new(ApiKeyOwner::service("billing"), "nightly export").scope("invoices:read"))
//!     .await?;
//! let raw = issued.key.expose_secret(); // show it once: "tdo_..."
//! assert!(raw.starts_with("tdo_"));
//!
//! let key = keys.verify(raw, &["invoices:read"]).await?;
//! assert_eq!(key.owner, ApiKeyOwner::service("billing"));
//! let refused = keys.verify(raw, &["invoices:write"]).await;
//! assert!(matches!(refused, Err(Error::ApiKey(ApiKeyError::MissingScope { index: 0 }))));
//!
//! assert!(keys.revoke(key.id).await?);
//! assert!(matches!(keys.verify(raw, &[]).await, Err(Error::ApiKey(ApiKeyError::Revoked))));
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use testudo_config::AuthConfig;
use testudo_core::{
    AuthenticationError, Clock, InvalidReason as CoreInvalidReason, SecretString, SystemClock,
    TokenError, saturating_add, saturating_sub,
};
use testudo_db::Database;
use testudo_events::{ApiKeyFailure, Event, EventEmitter, EventKind};

pub use testudo_events::ApiKeyOwner;

use crate::entity::api_key;
use crate::token::{digest_eq, generate_token, hash_token};
use crate::{Error, Result};

/// Characters of the random part of a key: 43 of `[A-Za-z0-9]` are 256 bits.
pub const API_KEY_RANDOM_CHARS: usize = 43;
/// Characters of the checksum at the end of a key (CRC-32 in base 62).
pub const API_KEY_CHECKSUM_CHARS: usize = 6;
/// `last_used_at` is written at most once per this interval per key.
pub const LAST_USED_RESOLUTION: Duration = Duration::from_secs(60);
/// Most scopes a key can have.
pub const MAX_SCOPES: usize = 64;
/// Longest scope, in bytes.
pub const MAX_SCOPE_LEN: usize = 64;
/// Longest key name or owner id, in characters (the columns are `VARCHAR(255)`).
pub const MAX_NAME_CHARS: usize = 255;

/// The digits of the checksum, in the order of their values.
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The public id of an API key (to list and revoke it; not a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyId(i64);

impl ApiKeyId {
    /// The id `id` (as shown by [`ApiKeyId::get`]).
    #[must_use]
    pub const fn new(id: i64) -> Self {
        Self(id)
    }

    /// The number.
    #[must_use]
    pub const fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// What an API key is, without the key: returned by [`ApiKeyStore::verify`] and
/// [`ApiKeyStore::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ApiKey {
    /// Its id.
    pub id: ApiKeyId,
    /// Who it belongs to.
    pub owner: ApiKeyOwner,
    /// A name for people (what it is for).
    pub name: String,
    /// What it may do.
    pub scopes: BTreeSet<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it stops working; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was last verified, to [`LAST_USED_RESOLUTION`].
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked; `None`: not revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Whether it has `scope`.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.contains(scope)
    }

    fn from_row(row: api_key::Model) -> Option<Self> {
        let owner = match row.owner_kind.as_str() {
            "user" => ApiKeyOwner::User(row.owner_id),
            "service" => ApiKeyOwner::Service(row.owner_id),
            _ => return None,
        };
        Some(Self {
            id: ApiKeyId(row.id),
            owner,
            name: row.name,
            scopes: row
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// A key just made: the raw key, to show once, and its metadata.
///
/// `Debug` never shows the key.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedApiKey {
    /// The raw key (`<prefix>_<random><checksum>`): give it to its owner now; it is not stored
    /// and cannot be shown again.
    pub key: SecretString,
    /// What was stored.
    pub metadata: ApiKey,
}

/// When a new key expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expiry {
    Never,
    In(Duration),
    At(DateTime<Utc>),
}

/// What [`ApiKeyStore::create`] makes: an owner, a name, scopes and an expiry (never, by
/// default).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct NewApiKey {
    owner: ApiKeyOwner,
    name: String,
    scopes: BTreeSet<String>,
    expiry: Expiry,
}

impl NewApiKey {
    /// A key of `owner` called `name`, with no scope, that never expires.
    pub fn new(owner: ApiKeyOwner, name: impl Into<String>) -> Self {
        Self {
            owner,
            name: name.into(),
            scopes: BTreeSet::new(),
            expiry: Expiry::Never,
        }
    }

    /// Adds a scope: 1 to [`MAX_SCOPE_LEN`] characters of `[A-Za-z0-9_.:/-]`.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.insert(scope.into());
        self
    }

    /// Adds scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Expires `lifetime` after creation (by the store's clock).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expiry = Expiry::In(lifetime);
        self
    }

    /// Expires at `at`, which must be later than the creation.
    pub fn expires_at(mut self, at: DateTime<Utc>) -> Self {
        self.expiry = Expiry::At(at);
        self
    }
}

/// Why an API key is [`ApiKeyError::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidKeyReason {
    /// It does not start with the configured prefix and `_`.
    #[error("wrong prefix")]
    WrongPrefix,
    /// Wrong length, or a character outside `[A-Za-z0-9]` after the prefix.
    #[error("malformed key")]
    Malformed,
    /// The checksum does not match (a mistyped or made-up key).
    #[error("bad checksum")]
    BadChecksum,
    /// Well formed, but no such key is stored.
    #[error("key not found")]
    NotFound,
}

/// Why [`ApiKeyStore::create`] refused a [`NewApiKey`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum KeyRefusal {
    /// The name is empty (or only spaces) or longer than [`MAX_NAME_CHARS`].
    #[error("the name must be 1 to 255 characters")]
    BadName,
    /// The owner's id is empty or longer than [`MAX_NAME_CHARS`].
    #[error("the owner id must be 1 to 255 characters")]
    BadOwner,
    /// A scope is empty, longer than [`MAX_SCOPE_LEN`], or has a character outside
    /// `[A-Za-z0-9_.:/-]`.
    #[error("a scope must be 1 to 64 characters of [A-Za-z0-9_.:/-]")]
    BadScope,
    /// More than [`MAX_SCOPES`] scopes.
    #[error("at most 64 scopes")]
    TooManyScopes,
    /// The expiry is not later than the creation.
    #[error("the expiry must be in the future")]
    ExpiryNotInFuture,
}

/// What verifying or creating an API key can fail with (as
/// [`Error::ApiKey`]).
///
/// For HTTP: [`ApiKeyError::MissingScope`] is 403 (the caller is known, and not allowed),
/// [`ApiKeyError::Refused`] is 400, everything else 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// Not a key of this deployment, or no such key.
    #[error("invalid api key: {reason}")]
    Invalid {
        /// Why; match on it.
        reason: InvalidKeyReason,
    },
    /// The key was revoked.
    #[error("api key has been revoked")]
    Revoked,
    /// The key has expired.
    #[error("api key has expired")]
    Expired,
    /// The key is valid but lacks a scope the caller requires.
    #[error("api key lacks a required scope")]
    MissingScope {
        /// The position, in the `required_scopes` given to [`ApiKeyStore::verify`], of the
        /// first scope it lacks.
        index: usize,
    },
    /// A key could not be created as asked.
    #[error("api key not created: {reason}")]
    Refused {
        /// Why; match on it.
        reason: KeyRefusal,
    },
}

impl ApiKeyError {
    const fn invalid(reason: InvalidKeyReason) -> Self {
        Self::Invalid { reason }
    }

    /// The reason reported by `api_key_rejected`, for a verification failure.
    fn failure(&self) -> Option<ApiKeyFailure> {
        Some(match self {
            Self::Invalid {
                reason: InvalidKeyReason::NotFound,
            } => ApiKeyFailure::NotFound,
            Self::Invalid { .. } => ApiKeyFailure::Malformed,
            Self::Revoked => ApiKeyFailure::Revoked,
            Self::Expired => ApiKeyFailure::Expired,
            Self::MissingScope { .. } => ApiKeyFailure::MissingScope,
            Self::Refused { .. } => return None,
        })
    }
}

/// Into the core error: an invalid, revoked or expired key is a [`TokenError`]
/// (401), a missing scope [`AuthenticationError::MissingScope`] (403), and a refused creation a
/// [`Configuration`](testudo_core::Error::Configuration) error: names and scopes come from the
/// application's code, which, like a wrong setting, is fixed in its set-up.
impl From<ApiKeyError> for testudo_core::Error {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Invalid {
                reason: InvalidKeyReason::NotFound,
            } => TokenError::invalid(CoreInvalidReason::NotFound).into(),
            ApiKeyError::Invalid { .. } => TokenError::invalid(CoreInvalidReason::Malformed).into(),
            ApiKeyError::Revoked => TokenError::Revoked.into(),
            ApiKeyError::Expired => TokenError::Expired.into(),
            ApiKeyError::MissingScope { .. } => AuthenticationError::MissingScope.into(),
            e @ ApiKeyError::Refused { .. } => Self::configuration(e),
        }
    }
}

/// CRC-32 (IEEE 802.3, as zlib's `crc32`).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFF_u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// The checksum of a key's random part: its CRC-32 in [`API_KEY_CHECKSUM_CHARS`] base-62
/// digits, most significant first, zero-padded (62^6 > 2^32).
fn checksum(random: &str) -> [u8; API_KEY_CHECKSUM_CHARS] {
    let mut n = crc32(random.as_bytes());
    let mut out = [b'0'; API_KEY_CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out
}

/// Whether `scope` is 1 to [`MAX_SCOPE_LEN`] characters of `[A-Za-z0-9_.:/-]`.
fn valid_scope(scope: &str) -> bool {
    !scope.is_empty()
        && scope.len() <= MAX_SCOPE_LEN
        && scope
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.:/-".contains(&b))
}

/// Whether `text` is 1 to [`MAX_NAME_CHARS`] characters, not only spaces.
fn valid_name(text: &str) -> bool {
    !text.trim().is_empty() && text.chars().count() <= MAX_NAME_CHARS
}

/// Creates, verifies, lists and revokes API keys in `testudo_api_keys`.
///
/// A cheap handle (`Clone` shares the database pool and the emitter). Events go to the
/// process-wide emitter unless [`ApiKeyStore::with_events`] gives another.
#[derive(Debug, Clone)]
pub struct ApiKeyStore {
    db: Database,
    config: Arc<AuthConfig>,
    clock: Arc<dyn Clock>,
    events: EventEmitter,
}

impl ApiKeyStore {
    /// A store on `db`, making keys with `config.api_key_prefix`, on the system clock.
    #[must_use]
    pub fn new(db: Database, config: Arc<AuthConfig>) -> Self {
        Self {
            db,
            config,
            clock: Arc::new(SystemClock),
            events: testudo_events::emitter().clone(),
        }
    }

    /// Replaces the clock (expiry and `last_used_at` are decided by it).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the event emitter.
    #[must_use]
    pub fn with_events(mut self, events: EventEmitter) -> Self {
        self.events = events;
        self
    }

    /// Makes a key as `new` says and returns it, raw, with its metadata; emits
    /// `api_key_created` (without the key).
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::Refused`] for a name, owner, scope or expiry `new` cannot have;
    /// [`Error::Storage`], [`Error::Random`], [`Error::Event`] (a handler failed while errors
    /// propagate; the key exists then).
    #[tracing::instrument(skip_all, fields(owner = %new.owner))]
    pub async fn create(&self, new: NewApiKey) -> Result<IssuedApiKey> {
        let refuse = |reason| Error::ApiKey(ApiKeyError::Refused { reason });
        if !valid_name(&new.name) {
            return Err(refuse(KeyRefusal::BadName));
        }
        let owner_id = new.owner.id();
        if owner_id.is_empty() || owner_id.chars().count() > MAX_NAME_CHARS {
            return Err(refuse(KeyRefusal::BadOwner));
        }
        if new.scopes.len() > MAX_SCOPES {
            return Err(refuse(KeyRefusal::TooManyScopes));
        }
        if !new.scopes.iter().all(|s| valid_scope(s)) {
            return Err(refuse(KeyRefusal::BadScope));
        }
        let now = self.clock.now();
        let expires_at = match new.expiry {
            Expiry::Never => None,
            Expiry::In(d) => Some(saturating_add(now, d)),
            Expiry::At(at) => Some(at),
        };
        if expires_at.is_some_and(|at| at <= now) {
            return Err(refuse(KeyRefusal::ExpiryNotInFuture));
        }
        let random = generate_token(API_KEY_RANDOM_CHARS)?;
        let mut raw = String::with_capacity(
            self.config.api_key_prefix.len() + 1 + API_KEY_RANDOM_CHARS + API_KEY_CHECKSUM_CHARS,
        );
        raw.push_str(&self.config.api_key_prefix);
        raw.push('_');
        raw.push_str(&random);
        raw.extend(checksum(&random).iter().map(|&b| char::from(b)));
        let scopes = new
            .scopes
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let row = api_key::ActiveModel {
            key_hash: Set(hash_token(&raw)),
            owner_kind: Set(new.owner.kind().to_owned()),
            owner_id: Set(owner_id.to_owned()),
            name: Set(new.name.clone()),
            scopes: Set(scopes),
            created_at: Set(now),
            expires_at: Set(expires_at),
            last_used_at: Set(None),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(self.db.as_sea_orm())
        .await?;
        let metadata = ApiKey {
            id: ApiKeyId(row.id),
            owner: new.owner,
            name: new.name,
            scopes: new.scopes,
            created_at: row.created_at,
            expires_at: row.expires_at,
            last_used_at: None,
            revoked_at: None,
        };
        if self.events.has_listeners(EventKind::ApiKeyCreated) {
            self.events
                .emit(&Event::ApiKeyCreated {
                    key_id: metadata.id.0,
                    owner: metadata.owner.clone(),
                    name: metadata.name.clone(),
                })
                .await?;
        }
        Ok(IssuedApiKey {
            key: SecretString::from(raw),
            metadata,
        })
    }

    /// The checks of a key's shape, before any database access: prefix, length, characters,
    /// checksum.
    fn check_shape(&self, raw: &str) -> std::result::Result<(), InvalidKeyReason> {
        let rest = raw
            .strip_prefix(self.config.api_key_prefix.as_str())
            .and_then(|r| r.strip_prefix('_'))
            .ok_or(InvalidKeyReason::WrongPrefix)?;
        if rest.len() != API_KEY_RANDOM_CHARS + API_KEY_CHECKSUM_CHARS
            || !rest.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(InvalidKeyReason::Malformed);
        }
        let (random, check) = rest.split_at(API_KEY_RANDOM_CHARS);
        // Both halves come from the caller: nothing secret is compared here.
        if check.as_bytes() != checksum(random) {
            return Err(InvalidKeyReason::BadChecksum);
        }
        Ok(())
    }

    /// Verifies `raw` and that it has every scope in `required_scopes`; returns its metadata.
    ///
    /// A key of the wrong shape (prefix, length, characters, checksum) is refused without a
    /// database query; otherwise verification is **one query**, the lookup by the key's
    /// digest (unique index), after which revoked, expired (by the injected clock) and the
    /// scopes are checked on the row, in that order, and the stored digest is compared in
    /// constant time. It writes only to keep `last_used_at`: when the stored time is absent
    /// or [`LAST_USED_RESOLUTION`] old, a conditional `UPDATE ... WHERE last_used_at IS NULL
    /// OR last_used_at <= now - 60 s` sets it, so a key verified a thousand times a minute is
    /// written once a minute (and once across every node sharing the database: the condition
    /// lets only the first of concurrent verifiers write). A failure of that write is logged
    /// and does not fail the verification.
    ///
    /// Emits `api_key_used` on success, `api_key_rejected` (with the reason) on a refusal.
    ///
    /// # Errors
    ///
    /// [`ApiKeyError::Invalid`] (with the reason), [`ApiKeyError::Revoked`],
    /// [`ApiKeyError::Expired`], [`ApiKeyError::MissingScope`] (with the position of the
    /// first scope missing); [`Error::Storage`]; [`Error::Event`] (a handler failed while errors
    /// propagate).
    #[tracing::instrument(skip_all)]
    pub async fn verify(&self, raw: &str, required_scopes: &[&str]) -> Result<ApiKey> {
        match self.check(raw, required_scopes).await {
            Ok(key) => {
                if self.events.has_listeners(EventKind::ApiKeyUsed) {
                    self.events
                        .emit(&Event::ApiKeyUsed {
                            key_id: key.id.0,
                            owner: key.owner.clone(),
                        })
                        .await?;
                }
                Ok(key)
            }
            Err((Error::ApiKey(e), key_id)) => {
                if let Some(reason) = e.failure()
                    && self.events.has_listeners(EventKind::ApiKeyRejected)
                {
                    self.events
                        .emit(&Event::ApiKeyRejected {
                            key_id: key_id.map(ApiKeyId::get),
                            reason,
                        })
                        .await?;
                }
                Err(Error::ApiKey(e))
            }
            Err((e, _)) => Err(e),
        }
    }

    /// [`Self::verify`] without the events; a refusal carries the key's id when it exists.
    async fn check(
        &self,
        raw: &str,
        required_scopes: &[&str],
    ) -> std::result::Result<ApiKey, (Error, Option<ApiKeyId>)> {
        let refuse = |e: ApiKeyError, id| (Error::ApiKey(e), id);
        self.check_shape(raw)
            .map_err(|reason| refuse(ApiKeyError::invalid(reason), None))?;
        let hash = hash_token(raw);
        let row = api_key::Entity::find()
            .filter(api_key::Column::KeyHash.eq(hash.as_str()))
            .one(self.db.as_sea_orm())
            .await
            .map_err(|e| (Error::from(e), None))?;
        let not_found = || refuse(ApiKeyError::invalid(InvalidKeyReason::NotFound), None);
        let Some(row) = row.filter(|r| digest_eq(&r.key_hash, &hash)) else {
            return Err(not_found());
        };
        let id = Some(ApiKeyId(row.id));
        let now = self.clock.now();
        if row.revoked_at.is_some() {
            return Err(refuse(ApiKeyError::Revoked, id));
        }
        if row.expires_at.is_some_and(|at| now >= at) {
            return Err(refuse(ApiKeyError::Expired, id));
        }
        let Some(mut key) = ApiKey::from_row(row) else {
            tracing::warn!(key_id = ?id, "api key row with an unknown owner kind");
            return Err(not_found());
        };
        if let Some(index) = required_scopes.iter().position(|s| !key.has_scope(s)) {
            return Err(refuse(ApiKeyError::MissingScope { index }, id));
        }
        let stale = key.last_used_at.is_none_or(|at| {
            now.signed_duration_since(at)
                .to_std()
                .is_ok_and(|d| d >= LAST_USED_RESOLUTION)
        });
        if stale {
            // Tests hold a verification here, after its read, to let another write first.
            testudo_core::pause::point("tokens_db.api_keys.before_touch").await;
            self.touch(&mut key, now).await;
        }
        Ok(key)
    }

    /// Sets `last_used_at` to `now` unless another verification did within the resolution.
    async fn touch(&self, key: &mut ApiKey, now: DateTime<Utc>) {
        let cutoff = saturating_sub(now, LAST_USED_RESOLUTION);
        let written = api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Expr::value(now))
            .filter(api_key::Column::Id.eq(key.id.0))
            .filter(
                Condition::any()
                    .add(api_key::Column::LastUsedAt.is_null())
                    .add(api_key::Column::LastUsedAt.lte(cutoff)),
            )
            .exec(self.db.as_sea_orm())
            .await;
        match written {
            Ok(_) => key.last_used_at = Some(now),
            Err(e) => tracing::warn!(key_id = %key.id, error = %e, "cannot record api key use"),
        }
    }

    /// Every key of `owner`, revoked and expired ones included, oldest first.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    pub async fn list(&self, owner: &ApiKeyOwner) -> Result<Vec<ApiKey>> {
        let rows = api_key::Entity::find()
            .filter(api_key::Column::OwnerKind.eq(owner.kind()))
            .filter(api_key::Column::OwnerId.eq(owner.id()))
            .order_by_asc(api_key::Column::CreatedAt)
            .order_by_asc(api_key::Column::Id)
            .all(self.db.as_sea_orm())
            .await?;
        Ok(rows.into_iter().filter_map(ApiKey::from_row).collect())
    }

    /// The key with this id, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    pub async fn get(&self, id: ApiKeyId) -> Result<Option<ApiKey>> {
        Ok(api_key::Entity::find_by_id(id.0)
            .one(self.db.as_sea_orm())
            .await?
            .and_then(ApiKey::from_row))
    }

    /// Revokes the key `id`; returns whether this call revoked it (false: unknown, or revoked
    /// already). Emits `api_key_revoked` when it did. Takes effect at once on every node:
    /// verification reads the row.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`]; [`Error::Event`] (a handler failed while errors propagate; the key
    /// is revoked then).
    #[tracing::instrument(skip(self))]
    pub async fn revoke(&self, id: ApiKeyId) -> Result<bool> {
        let res = api_key::Entity::update_many()
            .col_expr(api_key::Column::RevokedAt, Expr::value(self.clock.now()))
            .filter(api_key::Column::Id.eq(id.0))
            .filter(api_key::Column::RevokedAt.is_null())
            .exec(self.db.as_sea_orm())
            .await?;
        if res.rows_affected == 0 {
            return Ok(false);
        }
        if self.events.has_listeners(EventKind::ApiKeyRevoked)
            && let Some(key) = self.get(id).await?
        {
            self.events
                .emit(&Event::ApiKeyRevoked {
                    key_id: id.0,
                    owner: key.owner,
                })
                .await?;
        }
        Ok(true)
    }

    /// Revokes every key of `owner` not revoked yet (e.g. when the user is deleted); returns
    /// how many. Emits `api_key_revoked` for each.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`]; [`Error::Event`].
    #[tracing::instrument(skip(self), fields(owner = %owner))]
    pub async fn revoke_all(&self, owner: &ApiKeyOwner) -> Result<u64> {
        let mut revoked = 0;
        for key in self.list(owner).await? {
            if key.revoked_at.is_none() && self.revoke(key.id).await? {
                revoked += 1;
            }
        }
        Ok(revoked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn the_checksum_is_six_base62_digits_of_the_crc() {
        // 0xCBF43926 = 3421780262 = "3jZRME" in base 62 with digits 0-9A-Za-z.
        assert_eq!(&checksum("123456789"), b"3jZRME");
        assert_eq!(&checksum(""), b"000000");
    }

    #[test]
    fn scopes_and_names_are_checked() {
        assert!(valid_scope("repo:read"));
        assert!(valid_scope("billing/invoices.write-all_v2"));
        for bad in ["", "with space", "naïve", "a\0b", &"x".repeat(65)] {
            assert!(!valid_scope(bad), "{bad:?}");
        }
        assert!(valid_name("CI deploy key"));
        assert!(!valid_name("   "));
        assert!(!valid_name(&"é".repeat(256)));
        assert!(valid_name(&"é".repeat(255)));
    }
}
