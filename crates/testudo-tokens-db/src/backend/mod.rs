//! [`DatabaseTokenBackend`]: opaque tokens stored as SHA-256 digests.
//!
//! This module holds the type, its settings, the verification cache and revocation
//! announcements every write shares, and the [`TokenBackend`] impl; the operations are in
//! `issue`, `verify`, `rotate` and `revoke`.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QuerySelect, Statement,
};
use testudo_config::AuthConfig;
use testudo_core::{
    Claims, Clock, InvalidReason, Session, SessionContext, SessionRef, SystemClock, TokenBackend,
    TokenError, TokenPair, TokenPayload, TokenType, async_trait,
};
use testudo_db::{Database, Dialect};

use crate::Result;
use crate::cache::{CacheOptions, Entry, Key, VerifyCache};
use crate::entity::access_token as access;

mod issue;
mod revoke;
mod rotate;
mod sessions;
mod verify;

pub use verify::StoredAccessToken;

pub use testudo_core::DEFAULT_ROTATION_GRACE;

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

/// The extra claims stored as JSON, `None` when absent, unreadable or empty.
fn parse_extra(extra: Option<&str>) -> Option<Claims> {
    extra
        .and_then(|s| serde_json::from_str::<Claims>(s).ok())
        .filter(|m| !m.is_empty())
}

/// The error for a token that matches no row.
fn invalid() -> TokenError {
    TokenError::invalid(InvalidReason::NotFound)
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

    /// Turns on the verification cache (off by default), shared with the backend's clones: a
    /// verified token is remembered by digest, so that verifying it again (through
    /// [`Self::verify`] or [`Self::verify_access_with`]) does not touch the database.
    ///
    /// Exact within the process, stale for at most [`CacheOptions::ttl`] across processes
    /// (the guarantees of [`testudo_db::EpochCache`]); which writes invalidate what, and
    /// PostgreSQL's LISTEN/NOTIFY, are in the [crate documentation](crate#verification-cache-off-by-default).
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
    /// [`Error::Storage`](crate::Error::Storage) when the first `LISTEN` fails,
    /// [`Error::NeedsPostgres`](crate::Error::NeedsPostgres) when the
    /// database is not PostgreSQL
    /// (the cache then stays bypassed on PostgreSQL: call again).
    #[cfg(feature = "postgres")]
    pub async fn listen_for_revocations(&self) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        if self.db.dialect() != Dialect::Postgres {
            return Err(crate::Error::NeedsPostgres);
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

    /// Replaces the rotation grace window ([`DEFAULT_ROTATION_GRACE`] by default, which states
    /// what the window means), measured with the injected clock.
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

    /// The sea-orm connection of [`Self::database`].
    fn conn(&self) -> &DatabaseConnection {
        self.db.as_sea_orm()
    }
}

#[async_trait]
impl TokenBackend for DatabaseTokenBackend {
    async fn create_tokens(&self, user_id: &str, extra: Claims) -> testudo_core::Result<TokenPair> {
        Ok(self.create(user_id, extra).await?)
    }

    async fn create_tokens_for(
        &self,
        user_id: &str,
        extra: Claims,
        client: &SessionContext,
    ) -> testudo_core::Result<TokenPair> {
        Ok(self.create_for(user_id, extra, client).await?)
    }

    fn supports_sessions(&self) -> bool {
        true
    }

    async fn session_of(&self, token: &str) -> testudo_core::Result<Option<SessionRef>> {
        Ok(self.session_of(token).await?)
    }

    async fn list_sessions(&self, user_id: &str) -> testudo_core::Result<Vec<Session>> {
        Ok(self.sessions(user_id).await?)
    }

    async fn revoke_user_session(
        &self,
        user_id: &str,
        session_id: &str,
    ) -> testudo_core::Result<bool> {
        Ok(self.revoke_user_session(user_id, session_id).await?)
    }

    async fn revoke_other_sessions(&self, user_id: &str, keep: &str) -> testudo_core::Result<u64> {
        Ok(self.revoke_other_sessions(user_id, keep).await?)
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

    async fn rotate_with_claims(
        &self,
        refresh_token: &str,
        extra: Claims,
    ) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        Ok(self
            .rotate_refresh_with_claims(refresh_token, &extra)
            .await?)
    }

    async fn revoke_token(&self, token: &str) -> testudo_core::Result<()> {
        Ok(self.revoke(token).await?)
    }

    async fn revoke_session(&self, token: &str) -> testudo_core::Result<()> {
        self.revoke_session(token).await?;
        Ok(())
    }

    async fn revoke_all_for_user(&self, user_id: &str) -> testudo_core::Result<u64> {
        Ok(self.revoke_all(user_id).await?)
    }

    async fn cleanup_expired(&self) -> testudo_core::Result<u64> {
        Ok(self.cleanup().await?)
    }
}
