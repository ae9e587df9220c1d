//! [`DatabaseTokenBackend`]: opaque tokens stored as SHA-256 digests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement,
};
use testudo_config::AuthConfig;
use testudo_core::{
    Claims, Clock, InvalidReason, SystemClock, TokenBackend, TokenError, TokenPair, TokenPayload,
    TokenType, async_trait, saturating_add, saturating_chrono, wrong_type,
};
use testudo_db::{Database, Dialect, retrying};

use crate::cache::{CacheOptions, Entry, Key, VerifyCache};
use crate::entity::{access_token as access, refresh_token as refresh};
use crate::token::{digest_eq, generate_token, hash_token, new_id, plausible};
use crate::{Error, Result};

/// How long after a refresh token was rotated presenting it again counts as the loser of a
/// concurrent rotation race rather than as a replay: 5 seconds. See
/// [`DatabaseTokenBackend::with_rotation_grace`].
pub const DEFAULT_ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// The token backend that stores opaque tokens (as SHA-256 digests) in the database.
///
/// See the crate documentation for the guarantees (one transaction per pair, atomic rotation,
/// reuse detection, `max_tokens_per_user`).
#[derive(Debug, Clone)]
pub struct DatabaseTokenBackend {
    db: Database,
    config: Arc<AuthConfig>,
    clock: Arc<dyn Clock>,
    rotation_grace: std::time::Duration,
    cache: Option<Arc<VerifyCache>>,
}

/// The PostgreSQL channel revocations are announced on (payload `t:<digest>`, `u:<user id>` or
/// `f:<family id>`), by `pg_notify` inside the revoking transaction.
pub const REVOCATION_CHANNEL: &str = "testudo_token_revocations";

fn parse_extra(extra: Option<&str>) -> Option<Claims> {
    extra
        .and_then(|s| serde_json::from_str::<Claims>(s).ok())
        .filter(|m| !m.is_empty())
}

fn invalid() -> TokenError {
    TokenError::invalid(InvalidReason::NotFound)
}

/// The stored fields of a verified token.
struct Row<'a> {
    hash: &'a str,
    user_id: &'a str,
    jti: &'a str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    is_revoked: bool,
    extra: Option<&'a str>,
}

/// An access-token row read by the caller of [`DatabaseTokenBackend::verify_access_with`] (e.g.
/// joined with its user): the stored fields the backend checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAccessToken {
    /// Lowercase hex SHA-256 of the raw token.
    pub token_hash: String,
    /// The token's id.
    pub jti: String,
    /// The user the token was issued to.
    pub user_id: String,
    /// The token family (the login it descends from).
    pub family_id: String,
    /// The extra claims, as stored JSON.
    pub extra: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// Whether it was revoked.
    pub is_revoked: bool,
}

impl From<access::Model> for StoredAccessToken {
    fn from(m: access::Model) -> Self {
        Self {
            token_hash: m.token_hash,
            jti: m.jti,
            user_id: m.user_id,
            family_id: m.family_id,
            extra: m.extra,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
        }
    }
}

impl<'a> From<&'a StoredAccessToken> for Row<'a> {
    fn from(m: &'a StoredAccessToken) -> Self {
        Self {
            hash: &m.token_hash,
            user_id: &m.user_id,
            jti: &m.jti,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
            extra: m.extra.as_deref(),
        }
    }
}

impl<'a> From<&'a access::Model> for Row<'a> {
    fn from(m: &'a access::Model) -> Self {
        Self {
            hash: &m.token_hash,
            user_id: &m.user_id,
            jti: &m.jti,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
            extra: m.extra.as_deref(),
        }
    }
}

impl<'a> From<&'a refresh::Model> for Row<'a> {
    fn from(m: &'a refresh::Model) -> Self {
        Self {
            hash: &m.token_hash,
            user_id: &m.user_id,
            jti: &m.jti,
            created_at: m.created_at,
            expires_at: m.expires_at,
            is_revoked: m.is_revoked,
            extra: m.extra.as_deref(),
        }
    }
}

impl DatabaseTokenBackend {
    /// A backend on `db` configured by `config` (lifetimes, `token_length`,
    /// `max_tokens_per_user`, `refresh_reuse_detection`), using the system clock.
    #[must_use]
    pub fn new(db: Database, config: Arc<AuthConfig>) -> Self {
        Self {
            db,
            config,
            clock: Arc::new(SystemClock),
            rotation_grace: DEFAULT_ROTATION_GRACE,
            cache: None,
        }
    }

    /// Turns on the verification cache (off by default), shared with the backend's clones.
    ///
    /// A verified token is remembered by digest, so that verifying it again (through
    /// [`Self::verify`] or [`Self::verify_access_with`]) does not touch the database. Guarantees:
    ///
    /// - **Within the process (this backend and its clones): exact.** Every revocation made
    ///   through them (revoke, rotation of a refresh token and its paired access token,
    ///   revoke-all, family revocation on reuse detection, `max_tokens_per_user` eviction)
    ///   removes the affected entries after its commit and before it returns, and a verify
    ///   that raced with it cannot re-insert a stale entry.
    /// - **Across processes (another backend instance, another node, a direct database
    ///   write): stale for at most [`CacheOptions::ttl`]**, measured with the injected clock
    ///   from the verify that read the database. On PostgreSQL,
    ///   `listen_for_revocations` (feature `postgres`) closes that window down to the delivery
    ///   latency of `NOTIFY`.
    /// - An entry is never served at or after the token's own expiry.
    #[must_use]
    pub fn with_cache(mut self, options: CacheOptions) -> Self {
        self.cache = Some(Arc::new(VerifyCache::new(&options)));
        self
    }

    /// Makes the verification cache exact across nodes on PostgreSQL: listens on
    /// [`REVOCATION_CHANNEL`], where every invalidating write of any backend on this database
    /// announces what it revoked (by `pg_notify` inside its transaction, so delivered at
    /// commit), and removes those entries here.
    ///
    /// The cache is cleared and bypassed (every verify reads the database) until `LISTEN`
    /// succeeds, and again whenever the listener loses its connection, until it has
    /// reconnected. The remaining window is the delivery latency of a notification: from the
    /// revoking commit until this process has received and applied it (typically well under
    /// a millisecond on a LAN, unbounded if the listener's connection stalls without
    /// failing; the [`CacheOptions::ttl`] bound still holds then). The listening task runs until
    /// the backend and its clones are dropped, this method is called again, or the pool is
    /// closed. Without a cache this does nothing.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the first `LISTEN` fails, [`Error::NeedsPostgres`] when the
    /// database is not PostgreSQL
    /// (the cache then stays bypassed on PostgreSQL: call again).
    #[cfg(feature = "postgres")]
    pub async fn listen_for_revocations(&self) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        if self.db.dialect() != Dialect::Postgres {
            return Err(Error::NeedsPostgres);
        }
        let pool = self.conn().get_postgres_connection_pool().clone();
        crate::listen::listen(cache, pool).await
    }

    /// Number of cached verifications, or `None` when the cache is off.
    #[must_use]
    pub fn cached_tokens(&self) -> Option<usize> {
        self.cache.as_ref().map(|c| c.len())
    }

    /// Whether invalidating writes must collect the digests they revoke: with a cache here, or on
    /// PostgreSQL (other nodes' caches listen for them).
    fn tracks(&self) -> bool {
        self.cache.is_some() || self.db.dialect() == Dialect::Postgres
    }

    /// Announces `keys` on [`REVOCATION_CHANNEL`] inside `txn` (PostgreSQL only; delivered at
    /// commit).
    async fn notify(&self, txn: &DatabaseTransaction, keys: &[Key]) -> Result<()> {
        if keys.is_empty() || txn.get_database_backend() != DatabaseBackend::Postgres {
            return Ok(());
        }
        let mut sql = String::from("SELECT 1");
        let mut values = Vec::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            sql.push_str(&format!(
                ", pg_notify('{REVOCATION_CHANNEL}', ${})::text",
                i + 1
            ));
            values.push(k.encode().into());
        }
        txn.execute_raw(Statement::from_sql_and_values(
            DatabaseBackend::Postgres,
            sql,
            values,
        ))
        .await?;
        Ok(())
    }

    /// Removes the cache entries of `keys` (after the commit of their revocation).
    fn invalidate(&self, keys: &[Key]) {
        if let Some(c) = &self.cache {
            c.invalidate(keys);
        }
    }

    /// The digests of the access tokens with these jtis (to invalidate them).
    async fn access_keys(&self, txn: &DatabaseTransaction, jtis: Vec<String>) -> Result<Vec<Key>> {
        if jtis.is_empty() || !self.tracks() {
            return Ok(Vec::new());
        }
        let hashes: Vec<String> = access::Entity::find()
            .select_only()
            .column(access::Column::TokenHash)
            .filter(access::Column::Jti.is_in(jtis))
            .into_tuple()
            .all(txn)
            .await?;
        Ok(hashes.into_iter().map(Key::Token).collect())
    }

    /// Remembers a verification read from the database (the epoch was taken before the read).
    fn remember(
        &self,
        epoch: Option<u64>,
        hash: String,
        payload: &TokenPayload,
        family_id: &str,
        expires_at: DateTime<Utc>,
        read_at: DateTime<Utc>,
    ) {
        if let (Some(c), Some(epoch)) = (&self.cache, epoch) {
            c.insert(
                hash,
                Entry {
                    payload: payload.clone(),
                    family_id: family_id.to_owned(),
                    expires_at,
                    cached_at: read_at,
                },
                epoch,
            );
        }
    }

    /// Replaces the rotation grace window ([`DEFAULT_ROTATION_GRACE`] by default).
    ///
    /// A refresh token presented again less than `grace` after it was rotated (by the injected
    /// clock) is answered Revoked without reuse detection: that is how the losers of N
    /// concurrent rotations of one token look, and revoking the family there would kill the
    /// winner's new pair. Presented later, it is a replay and its family is revoked. A zero
    /// grace treats every second presentation as a replay.
    #[must_use]
    pub fn with_rotation_grace(mut self, grace: std::time::Duration) -> Self {
        self.rotation_grace = grace;
        self
    }

    /// Replaces the clock every timestamp is taken from.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The database.
    #[must_use]
    pub fn database(&self) -> &Database {
        &self.db
    }

    fn conn(&self) -> &DatabaseConnection {
        self.db.as_sea_orm()
    }

    fn check(&self, row: &Row<'_>, hash: &str, ty: TokenType) -> Result<TokenPayload> {
        if !digest_eq(row.hash, hash) {
            return Err(invalid().into());
        }
        if row.is_revoked {
            return Err(TokenError::Revoked.into());
        }
        if self.clock.now() >= row.expires_at {
            return Err(TokenError::Expired.into());
        }
        Ok(TokenPayload {
            sub: row.user_id.to_owned(),
            token_type: ty,
            jti: row.jti.to_owned(),
            iat: row.created_at.timestamp(),
            exp: row.expires_at.timestamp(),
            extra: parse_extra(row.extra),
        })
    }

    /// Verifies a token; see [`TokenBackend::verify_token`].
    ///
    /// # Errors
    ///
    /// Invalid / Revoked / Expired token errors, [`Error::Storage`].
    pub async fn verify(&self, token: &str, expected: TokenType) -> Result<TokenPayload> {
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let now = self.clock.now();
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&hash, expected, now))
        {
            return Ok(hit);
        }
        let epoch = self.cache.as_ref().map(|c| c.epoch());
        match expected {
            TokenType::Access => {
                let row = access::Entity::find()
                    .filter(access::Column::TokenHash.eq(hash.as_str()))
                    .one(self.conn())
                    .await?
                    .ok_or_else(invalid)?;
                let payload = self.check(&Row::from(&row), &hash, expected)?;
                self.remember(epoch, hash, &payload, &row.family_id, row.expires_at, now);
                Ok(payload)
            }
            TokenType::Refresh => {
                let row = refresh::Entity::find()
                    .filter(refresh::Column::TokenHash.eq(hash.as_str()))
                    .one(self.conn())
                    .await?
                    .ok_or_else(invalid)?;
                let payload = self.check(&Row::from(&row), &hash, expected)?;
                self.remember(epoch, hash, &payload, &row.family_id, row.expires_at, now);
                Ok(payload)
            }
            #[expect(
                unreachable_patterns,
                reason = "TokenType is non_exhaustive in spirit; future types are invalid here"
            )]
            other => Err(wrong_type(expected, Some(other)).into()),
        }
    }

    /// Verifies an access token whose row is loaded by `fetch` (given the token's hex SHA-256
    /// digest), e.g. joined with its user in one query. Returns the payload and `fetch`'s extra
    /// value, or `None` for the extra value when the answer came from the verification cache
    /// (`fetch` not called; see [`Self::with_cache`]).
    ///
    /// The checks are those of [`Self::verify`] with [`TokenType::Access`]: plausibility before
    /// any database access, constant-time digest comparison, revoked before expired, expiry by
    /// the injected clock. `fetch` returning `Ok(None)` means "no such token".
    ///
    /// # Errors
    ///
    /// Invalid / Revoked / Expired token errors, and whatever `fetch` returns (typically
    /// [`Error::Storage`] from a database error through `?`).
    pub async fn verify_access_with<T, F, Fut>(
        &self,
        token: &str,
        fetch: F,
    ) -> Result<(TokenPayload, Option<T>)>
    where
        F: FnOnce(String) -> Fut + Send,
        Fut: Future<Output = Result<Option<(StoredAccessToken, T)>>> + Send,
        T: Send,
    {
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let now = self.clock.now();
        if let Some(hit) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&hash, TokenType::Access, now))
        {
            return Ok((hit, None));
        }
        let epoch = self.cache.as_ref().map(|c| c.epoch());
        let (row, extra) = fetch(hash.clone()).await?.ok_or_else(invalid)?;
        let payload = self.check(&Row::from(&row), &hash, TokenType::Access)?;
        self.remember(epoch, hash, &payload, &row.family_id, row.expires_at, now);
        Ok((payload, Some(extra)))
    }

    /// Inserts a new pair inside `txn`.
    #[expect(clippy::too_many_arguments, reason = "internal helper")]
    async fn insert_pair(
        &self,
        txn: &DatabaseTransaction,
        user_id: &str,
        family_id: &str,
        extra: Option<String>,
        now: DateTime<Utc>,
        refresh_jti: String,
        access_raw: &str,
        refresh_raw: &str,
    ) -> Result<()> {
        // Without RETURNING: nothing is read back (MySQL / MariaDB would re-select the row).
        let access_jti = new_id();
        let access = access::Entity::insert(access::ActiveModel {
            token_hash: Set(hash_token(access_raw)),
            jti: Set(access_jti.clone()),
            user_id: Set(user_id.to_owned()),
            family_id: Set(family_id.to_owned()),
            extra: Set(extra.clone()),
            created_at: Set(now),
            expires_at: Set(saturating_add(now, self.config.access_token_lifetime)),
            is_revoked: Set(false),
            revoked_at: Set(None),
            ..Default::default()
        });
        let refresh = refresh::Entity::insert(refresh::ActiveModel {
            token_hash: Set(hash_token(refresh_raw)),
            jti: Set(refresh_jti),
            user_id: Set(user_id.to_owned()),
            family_id: Set(family_id.to_owned()),
            access_jti: Set(access_jti),
            extra: Set(extra),
            created_at: Set(now),
            expires_at: Set(saturating_add(now, self.config.refresh_token_lifetime)),
            is_revoked: Set(false),
            revoked_at: Set(None),
            rotated_at: Set(None),
            replaced_by_jti: Set(None),
            ..Default::default()
        });
        if txn.get_database_backend() == DatabaseBackend::Sqlite {
            // One round trip to sqlx's SQLite worker thread for both rows: sqlx runs every
            // statement of the text, binding the `?` parameters in order across them.
            let (a, r) = (
                access.build(DatabaseBackend::Sqlite),
                refresh.build(DatabaseBackend::Sqlite),
            );
            let values: Vec<sea_orm::Value> = a
                .values
                .into_iter()
                .chain(r.values)
                .flat_map(|v| v.0)
                .collect();
            let done = txn
                .execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Sqlite,
                    format!("{}; {}", a.sql, r.sql),
                    values,
                ))
                .await?;
            if done.rows_affected() != 2 {
                return Err(testudo_db::Error::unexpected(
                    "issuing a token pair did not write two rows",
                )
                .into());
            }
        } else {
            access.exec_without_returning(txn).await?;
            refresh.exec_without_returning(txn).await?;
        }
        Ok(())
    }

    /// Revokes the user's oldest active pairs beyond `max_tokens_per_user` (after the new pair
    /// was inserted).
    async fn enforce_limit(
        &self,
        txn: &DatabaseTransaction,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Key>> {
        let max = self.config.max_tokens_per_user;
        if max == 0 {
            return Ok(Vec::new());
        }
        // The active pairs beyond the newest `max`, read through the index on
        // (user_id, is_revoked, created_at): revoked history is not scanned.
        let excess: Vec<(i64, String, String)> = refresh::Entity::find()
            .select_only()
            .column(refresh::Column::Id)
            .column(refresh::Column::AccessJti)
            .column(refresh::Column::TokenHash)
            .filter(refresh::Column::UserId.eq(user_id))
            .filter(refresh::Column::IsRevoked.eq(false))
            .filter(refresh::Column::ExpiresAt.gt(now))
            .order_by_desc(refresh::Column::CreatedAt)
            .order_by_desc(refresh::Column::Id)
            .offset(u64::from(max))
            .limit(i64::MAX.unsigned_abs()) // SQLite needs a LIMIT with OFFSET
            .into_tuple()
            .all(txn)
            .await?;
        if excess.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::new();
        let mut jtis = Vec::new();
        let mut keys = Vec::new();
        for (id, jti, hash) in excess {
            ids.push(id);
            jtis.push(jti);
            keys.push(Key::Token(hash));
        }
        keys.extend(self.access_keys(txn, jtis.clone()).await?);
        refresh::Entity::update_many()
            .col_expr(refresh::Column::IsRevoked, Expr::value(true))
            .col_expr(refresh::Column::RevokedAt, Expr::value(now))
            .filter(refresh::Column::Id.is_in(ids))
            .exec(txn)
            .await?;
        access::Entity::update_many()
            .col_expr(access::Column::IsRevoked, Expr::value(true))
            .col_expr(access::Column::RevokedAt, Expr::value(now))
            .filter(access::Column::Jti.is_in(jtis))
            .filter(access::Column::IsRevoked.eq(false))
            .exec(txn)
            .await?;
        Ok(keys)
    }

    /// Issues a pair; see [`TokenBackend::create_tokens`].
    ///
    /// # Errors
    ///
    /// [`Error::Storage`], [`Error::Random`], [`Error::Claims`].
    pub async fn create(&self, user_id: &str, extra: Claims) -> Result<TokenPair> {
        let extra = if extra.is_empty() {
            None
        } else {
            Some(serde_json::to_string(&extra).map_err(|e| Error::Claims(Box::new(e)))?)
        };
        let access_raw = generate_token(self.config.token_length)?;
        let refresh_raw = generate_token(self.config.token_length)?;
        let family_id = new_id();
        retrying(|| {
            self.create_once(
                user_id,
                &family_id,
                extra.clone(),
                &access_raw,
                &refresh_raw,
            )
        })
        .await?;
        Ok(TokenPair::new(access_raw, refresh_raw))
    }

    /// One attempt at issuing a pair: one transaction, run again by [`retrying`] when the
    /// database aborts it to break a deadlock.
    async fn create_once(
        &self,
        user_id: &str,
        family_id: &str,
        extra: Option<String>,
        access_raw: &str,
        refresh_raw: &str,
    ) -> Result<()> {
        let now = self.clock.now();
        // Serialised with the user's other token writes, so `max_tokens_per_user` cannot be
        // overshot by concurrent logins.
        let txn = self.db.begin_for_user(user_id).await?;
        self.insert_pair(
            &txn,
            user_id,
            family_id,
            extra,
            now,
            new_id(),
            access_raw,
            refresh_raw,
        )
        .await?;
        let keys = self.enforce_limit(&txn, user_id, now).await?;
        self.notify(&txn, &keys).await?;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(())
    }

    /// Rotates a refresh token; see [`TokenBackend::rotate`].
    ///
    /// # Errors
    ///
    /// Invalid / Revoked / Expired token errors, [`Error::Storage`], [`Error::Random`].
    pub async fn rotate_refresh(&self, token: &str) -> Result<(TokenPayload, TokenPair)> {
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let access_raw = generate_token(self.config.token_length)?;
        let refresh_raw = generate_token(self.config.token_length)?;
        let payload = retrying(|| self.rotate_once(&hash, &access_raw, &refresh_raw)).await?;
        Ok((payload, TokenPair::new(access_raw, refresh_raw)))
    }

    /// Whether a refresh token rotated at `rotated_at` and presented again at `now` is a replay
    /// (rather than the loser of a concurrent rotation): see [`Self::with_rotation_grace`].
    fn is_replay(&self, rotated_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now.signed_duration_since(rotated_at) >= saturating_chrono(self.rotation_grace)
    }

    /// One attempt at a rotation: one transaction, run again by [`retrying`] when the
    /// database aborts it to break a deadlock.
    async fn rotate_once(
        &self,
        hash: &str,
        access_raw: &str,
        refresh_raw: &str,
    ) -> Result<TokenPayload> {
        let new_refresh_jti = new_id();
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        // The conditional UPDATE decides: only one caller can flip is_revoked.
        let res = refresh::Entity::update_many()
            .col_expr(refresh::Column::IsRevoked, Expr::value(true))
            .col_expr(refresh::Column::RevokedAt, Expr::value(now))
            .col_expr(refresh::Column::RotatedAt, Expr::value(now))
            .col_expr(
                refresh::Column::ReplacedByJti,
                Expr::value(new_refresh_jti.clone()),
            )
            .filter(refresh::Column::TokenHash.eq(hash))
            .filter(refresh::Column::IsRevoked.eq(false))
            .filter(refresh::Column::ExpiresAt.gt(now))
            .exec(&txn)
            .await?;
        let row = refresh::Entity::find()
            .filter(refresh::Column::TokenHash.eq(hash))
            .one(&txn)
            .await?;
        let Some(row) = row.filter(|r| digest_eq(&r.token_hash, hash)) else {
            txn.rollback().await?;
            return Err(invalid().into());
        };
        if res.rows_affected != 1 {
            if !row.is_revoked {
                txn.rollback().await?;
                return Err(TokenError::Expired.into());
            }
            let replayed = row.rotated_at.is_some_and(|at| self.is_replay(at, now));
            if replayed && self.config.refresh_reuse_detection {
                tracing::warn!(
                    family = %row.family_id,
                    "rotated refresh token presented again: revoking its family"
                );
                Self::revoke_family(&txn, &row.family_id, now).await?;
                let keys = [Key::Family(row.family_id.clone())];
                self.notify(&txn, &keys).await?;
                txn.commit().await?;
                self.invalidate(&keys);
            } else {
                // Revoked outright, or the loser of a concurrent rotation of this token.
                txn.rollback().await?;
            }
            return Err(TokenError::Revoked.into());
        }
        // The access token issued with the rotated refresh token is replaced too.
        let mut keys = vec![Key::Token(hash.to_owned())];
        if self.tracks() {
            keys.extend(self.access_keys(&txn, vec![row.access_jti.clone()]).await?);
        }
        access::Entity::update_many()
            .col_expr(access::Column::IsRevoked, Expr::value(true))
            .col_expr(access::Column::RevokedAt, Expr::value(now))
            .filter(access::Column::Jti.eq(row.access_jti.as_str()))
            .filter(access::Column::IsRevoked.eq(false))
            .exec(&txn)
            .await?;
        self.insert_pair(
            &txn,
            &row.user_id,
            &row.family_id,
            row.extra.clone(),
            now,
            new_refresh_jti,
            access_raw,
            refresh_raw,
        )
        .await?;
        self.notify(&txn, &keys).await?;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(TokenPayload {
            sub: row.user_id,
            token_type: TokenType::Refresh,
            jti: row.jti,
            iat: row.created_at.timestamp(),
            exp: row.expires_at.timestamp(),
            extra: parse_extra(row.extra.as_deref()),
        })
    }

    async fn revoke_family(
        txn: &DatabaseTransaction,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let a = access::Entity::update_many()
            .col_expr(access::Column::IsRevoked, Expr::value(true))
            .col_expr(access::Column::RevokedAt, Expr::value(now))
            .filter(access::Column::FamilyId.eq(family_id))
            .filter(access::Column::IsRevoked.eq(false))
            .exec(txn)
            .await?;
        let r = refresh::Entity::update_many()
            .col_expr(refresh::Column::IsRevoked, Expr::value(true))
            .col_expr(refresh::Column::RevokedAt, Expr::value(now))
            .filter(refresh::Column::FamilyId.eq(family_id))
            .filter(refresh::Column::IsRevoked.eq(false))
            .exec(txn)
            .await?;
        Ok(a.rows_affected + r.rows_affected)
    }

    /// Revokes one token; see [`TokenBackend::revoke_token`].
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    pub async fn revoke(&self, token: &str) -> Result<()> {
        if !plausible(token, self.config.token_length) {
            return Ok(());
        }
        let hash = hash_token(token);
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let mut keys = Vec::new();
        let a = access::Entity::update_many()
            .col_expr(access::Column::IsRevoked, Expr::value(true))
            .col_expr(access::Column::RevokedAt, Expr::value(now))
            .filter(access::Column::TokenHash.eq(hash.as_str()))
            .filter(access::Column::IsRevoked.eq(false))
            .exec(&txn)
            .await?;
        if a.rows_affected > 0 {
            keys.push(Key::Token(hash.clone()));
        } else {
            let row = refresh::Entity::find()
                .filter(refresh::Column::TokenHash.eq(hash.as_str()))
                .one(&txn)
                .await?;
            if let Some(row) = row {
                keys.push(Key::Token(hash.clone()));
                keys.extend(self.access_keys(&txn, vec![row.access_jti.clone()]).await?);
                refresh::Entity::update_many()
                    .col_expr(refresh::Column::IsRevoked, Expr::value(true))
                    .col_expr(refresh::Column::RevokedAt, Expr::value(now))
                    .filter(refresh::Column::Id.eq(row.id))
                    .filter(refresh::Column::IsRevoked.eq(false))
                    .exec(&txn)
                    .await?;
                access::Entity::update_many()
                    .col_expr(access::Column::IsRevoked, Expr::value(true))
                    .col_expr(access::Column::RevokedAt, Expr::value(now))
                    .filter(access::Column::Jti.eq(row.access_jti.as_str()))
                    .filter(access::Column::IsRevoked.eq(false))
                    .exec(&txn)
                    .await?;
            }
        }
        self.notify(&txn, &keys).await?;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(())
    }

    /// Revokes every token of a user in one transaction; returns the number of rows revoked.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    pub async fn revoke_all(&self, user_id: &str) -> Result<u64> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let a = access::Entity::update_many()
            .col_expr(access::Column::IsRevoked, Expr::value(true))
            .col_expr(access::Column::RevokedAt, Expr::value(now))
            .filter(access::Column::UserId.eq(user_id))
            .filter(access::Column::IsRevoked.eq(false))
            .exec(&txn)
            .await?;
        let r = refresh::Entity::update_many()
            .col_expr(refresh::Column::IsRevoked, Expr::value(true))
            .col_expr(refresh::Column::RevokedAt, Expr::value(now))
            .filter(refresh::Column::UserId.eq(user_id))
            .filter(refresh::Column::IsRevoked.eq(false))
            .exec(&txn)
            .await?;
        let keys = [Key::User(user_id.to_owned())];
        self.notify(&txn, &keys).await?;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(a.rows_affected + r.rows_affected)
    }

    /// Deletes expired rows (revoked or not) of both tables; returns how many.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    pub async fn cleanup(&self) -> Result<u64> {
        let now = self.clock.now();
        let a = access::Entity::delete_many()
            .filter(access::Column::ExpiresAt.lte(now))
            .exec(self.conn())
            .await?;
        let r = refresh::Entity::delete_many()
            .filter(refresh::Column::ExpiresAt.lte(now))
            .exec(self.conn())
            .await?;
        if let Some(c) = &self.cache {
            c.purge_expired(now);
        }
        Ok(a.rows_affected + r.rows_affected)
    }
}

#[async_trait]
impl TokenBackend for DatabaseTokenBackend {
    async fn create_tokens(&self, user_id: &str, extra: Claims) -> testudo_core::Result<TokenPair> {
        Ok(self.create(user_id, extra).await?)
    }

    async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
    ) -> testudo_core::Result<TokenPayload> {
        Ok(self.verify(token, expected).await?)
    }

    async fn rotate(&self, refresh_token: &str) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        Ok(self.rotate_refresh(refresh_token).await?)
    }

    async fn revoke_token(&self, token: &str) -> testudo_core::Result<()> {
        Ok(self.revoke(token).await?)
    }

    async fn revoke_all_for_user(&self, user_id: &str) -> testudo_core::Result<u64> {
        Ok(self.revoke_all(user_id).await?)
    }

    async fn cleanup_expired(&self) -> testudo_core::Result<u64> {
        Ok(self.cleanup().await?)
    }
}
