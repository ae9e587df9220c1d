//! [`DatabaseTokenBackend`]: opaque tokens stored as SHA-256 digests.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseConnection,
    DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, Statement,
    TransactionTrait,
};
use testudo_config::AuthConfig;
use testudo_core::{
    Claims, Clock, SystemClock, TokenBackend, TokenError, TokenPair, TokenPayload, TokenType,
    async_trait, wrong_type,
};

use crate::entity::{access_token as access, refresh_token as refresh};
use crate::retry::retrying;
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
    db: DatabaseConnection,
    config: Arc<AuthConfig>,
    clock: Arc<dyn Clock>,
    rotation_grace: std::time::Duration,
}

fn lifetime(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

fn add(now: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    now.checked_add_signed(lifetime(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn parse_extra(extra: Option<&str>) -> Option<Claims> {
    extra
        .and_then(|s| serde_json::from_str::<Claims>(s).ok())
        .filter(|m| !m.is_empty())
}

fn invalid() -> TokenError {
    TokenError::invalid("token not found")
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
    pub fn new(db: DatabaseConnection, config: Arc<AuthConfig>) -> Self {
        Self {
            db,
            config,
            clock: Arc::new(SystemClock),
            rotation_grace: DEFAULT_ROTATION_GRACE,
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

    /// The database connection.
    #[must_use]
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
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
        match expected {
            TokenType::Access => {
                let row = access::Entity::find()
                    .filter(access::Column::TokenHash.eq(hash.as_str()))
                    .one(&self.db)
                    .await?
                    .ok_or_else(invalid)?;
                self.check(&Row::from(&row), &hash, expected)
            }
            TokenType::Refresh => {
                let row = refresh::Entity::find()
                    .filter(refresh::Column::TokenHash.eq(hash.as_str()))
                    .one(&self.db)
                    .await?
                    .ok_or_else(invalid)?;
                self.check(&Row::from(&row), &hash, expected)
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
    /// [`Error::Storage`] from a [`sea_orm::DbErr`] through `?`).
    pub async fn verify_access_with<T, F, Fut>(
        &self,
        token: &str,
        fetch: F,
    ) -> Result<(TokenPayload, Option<T>)>
    where
        F: FnOnce(String) -> Fut + Send,
        Fut: Future<Output = Result<Option<(access::Model, T)>>> + Send,
        T: Send,
    {
        if !plausible(token, self.config.token_length) {
            return Err(invalid().into());
        }
        let hash = hash_token(token);
        let (row, extra) = fetch(hash.clone()).await?.ok_or_else(invalid)?;
        let payload = self.check(&Row::from(&row), &hash, TokenType::Access)?;
        Ok((payload, Some(extra)))
    }

    /// Serialises token issuing for `user_id` inside `txn` so `max_tokens_per_user` cannot be
    /// overshot by concurrent logins: a transaction-scoped advisory lock on PostgreSQL, a
    /// locking read of the user's refresh rows on MySQL / MariaDB (`InnoDB` next-key locks; a
    /// deadlock aborts one login rather than overshooting), nothing on SQLite (one writer at a
    /// time, and the first statement of the transaction is a write).
    async fn lock_user(txn: &DatabaseTransaction, user_id: &str) -> Result<()> {
        match txn.get_database_backend() {
            DatabaseBackend::Postgres => {
                txn.execute_raw(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 7426))::text",
                    [user_id.into()],
                ))
                .await?;
            }
            DatabaseBackend::MySql => {
                refresh::Entity::find()
                    .select_only()
                    .column(refresh::Column::Id)
                    .filter(refresh::Column::UserId.eq(user_id))
                    .lock_exclusive()
                    .into_tuple::<i64>()
                    .all(txn)
                    .await?;
            }
            _ => {}
        }
        Ok(())
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
        let access_jti = new_id();
        access::ActiveModel {
            token_hash: Set(hash_token(access_raw)),
            jti: Set(access_jti.clone()),
            user_id: Set(user_id.to_owned()),
            family_id: Set(family_id.to_owned()),
            extra: Set(extra.clone()),
            created_at: Set(now),
            expires_at: Set(add(now, self.config.access_token_lifetime)),
            is_revoked: Set(false),
            revoked_at: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        refresh::ActiveModel {
            token_hash: Set(hash_token(refresh_raw)),
            jti: Set(refresh_jti),
            user_id: Set(user_id.to_owned()),
            family_id: Set(family_id.to_owned()),
            access_jti: Set(access_jti),
            extra: Set(extra),
            created_at: Set(now),
            expires_at: Set(add(now, self.config.refresh_token_lifetime)),
            is_revoked: Set(false),
            revoked_at: Set(None),
            rotated_at: Set(None),
            replaced_by_jti: Set(None),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }

    /// Revokes the user's oldest active pairs beyond `max_tokens_per_user` (after the new pair
    /// was inserted).
    async fn enforce_limit(
        &self,
        txn: &DatabaseTransaction,
        user_id: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let max = self.config.max_tokens_per_user;
        if max == 0 {
            return Ok(());
        }
        let active: Vec<(i64, String)> = refresh::Entity::find()
            .select_only()
            .column(refresh::Column::Id)
            .column(refresh::Column::AccessJti)
            .filter(refresh::Column::UserId.eq(user_id))
            .filter(refresh::Column::IsRevoked.eq(false))
            .filter(refresh::Column::ExpiresAt.gt(now))
            .order_by_desc(refresh::Column::CreatedAt)
            .order_by_desc(refresh::Column::Id)
            .into_tuple()
            .all(txn)
            .await?;
        let keep = usize::try_from(max).unwrap_or(usize::MAX);
        if active.len() <= keep {
            return Ok(());
        }
        let (ids, jtis): (Vec<i64>, Vec<String>) = active.into_iter().skip(keep).unzip();
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
        Ok(())
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
            Some(serde_json::to_string(&extra).map_err(Error::Claims)?)
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
        let txn = self.db.begin().await?;
        Self::lock_user(&txn, user_id).await?;
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
        self.enforce_limit(&txn, user_id, now).await?;
        txn.commit().await?;
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
        now.signed_duration_since(rotated_at) >= lifetime(self.rotation_grace)
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
                txn.commit().await?;
            } else {
                // Revoked outright, or the loser of a concurrent rotation of this token.
                txn.rollback().await?;
            }
            return Err(TokenError::Revoked.into());
        }
        // The access token issued with the rotated refresh token is replaced too.
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
        txn.commit().await?;
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
        let a = access::Entity::update_many()
            .col_expr(access::Column::IsRevoked, Expr::value(true))
            .col_expr(access::Column::RevokedAt, Expr::value(now))
            .filter(access::Column::TokenHash.eq(hash.as_str()))
            .filter(access::Column::IsRevoked.eq(false))
            .exec(&txn)
            .await?;
        if a.rows_affected == 0 {
            let row = refresh::Entity::find()
                .filter(refresh::Column::TokenHash.eq(hash.as_str()))
                .one(&txn)
                .await?;
            if let Some(row) = row {
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
        txn.commit().await?;
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
        txn.commit().await?;
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
            .exec(&self.db)
            .await?;
        let r = refresh::Entity::delete_many()
            .filter(refresh::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
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
