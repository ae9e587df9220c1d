//! Issuing: [`DatabaseTokenBackend::create`], the insertion of a pair (shared with rotation)
//! and `max_tokens_per_user`.

use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseBackend, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set, Statement,
};
use testudo_core::{Claims, SessionContext, TokenPair, saturating_add};
use testudo_db::retrying;

use super::DatabaseTokenBackend;
use super::revoke::{Matched, access_revocation, refresh_revocation};
use crate::cache::Key;
use crate::entity::{access_token as access, refresh_token as refresh, session};
use crate::token::{generate_token, hash_token, new_id};
use crate::{Error, Result};

/// What [`DatabaseTokenBackend::insert_pair`] writes: a new access / refresh pair of a user,
/// in a token family, issued at `now`.
pub(super) struct NewPair<'a> {
    /// The user the pair is issued to.
    pub(super) user_id: &'a str,
    /// The token family (a new one at login, the rotated token's on rotation).
    pub(super) family_id: &'a str,
    /// The extra claims, as JSON (`None` when there are none).
    pub(super) extra: Option<String>,
    /// The issue time (`created_at`; the expiries are counted from it).
    pub(super) now: DateTime<Utc>,
    /// When the session (the login the family descends from) started: no token of the pair
    /// expires later than `session_max_lifetime` after it.
    pub(super) session_started: DateTime<Utc>,
    /// The refresh token's jti (the access token's is made here).
    pub(super) refresh_jti: String,
    /// The raw access token (only its digest is stored).
    pub(super) access_raw: &'a str,
    /// The raw refresh token (only its digest is stored).
    pub(super) refresh_raw: &'a str,
}

impl DatabaseTokenBackend {
    /// Issues a pair; see
    /// [`TokenBackend::create_tokens`](testudo_core::TokenBackend::create_tokens).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`], [`Error::Random`], [`Error::Claims`].
    pub async fn create(&self, user_id: &str, extra: Claims) -> Result<TokenPair> {
        self.create_for(user_id, extra, &SessionContext::default())
            .await
    }

    /// Issues a pair, recording `client` with the session it starts (a row of
    /// `testudo_sessions`, written in the same transaction); see
    /// [`TokenBackend::create_tokens_for`](testudo_core::TokenBackend::create_tokens_for).
    ///
    /// # Errors
    ///
    /// As [`Self::create`].
    pub async fn create_for(
        &self,
        user_id: &str,
        extra: Claims,
        client: &SessionContext,
    ) -> Result<TokenPair> {
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
                client,
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
        client: &SessionContext,
    ) -> Result<()> {
        let now = self.clock.now();
        // Serialised with the user's other token writes, so `max_tokens_per_user` cannot be
        // overshot by concurrent logins.
        let txn = self.db.begin_for_user(user_id).await?;
        self.insert_pair(
            &txn,
            NewPair {
                user_id,
                family_id,
                extra,
                now,
                session_started: now,
                refresh_jti: new_id(),
                access_raw,
                refresh_raw,
            },
        )
        .await?;
        Self::insert_session(&txn, family_id, user_id, now, now, client).await?;
        let keys = self.enforce_limit(&txn, user_id, now).await?;
        self.notify(&txn, &keys).await?;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(())
    }

    /// Inserts a new pair inside `txn`: both rows in one round trip on SQLite, one statement
    /// each elsewhere.
    pub(super) async fn insert_pair(
        &self,
        txn: &DatabaseTransaction,
        pair: NewPair<'_>,
    ) -> Result<()> {
        let NewPair {
            user_id,
            family_id,
            extra,
            now,
            session_started,
            refresh_jti,
            access_raw,
            refresh_raw,
        } = pair;
        let expiry = |lifetime| self.expiry(now, lifetime, session_started);
        // Without RETURNING: nothing is read back (MySQL / MariaDB would re-select the row).
        let access_jti = new_id();
        let access = access::Entity::insert(access::ActiveModel {
            token_hash: Set(hash_token(access_raw)),
            jti: Set(access_jti.clone()),
            user_id: Set(user_id.to_owned()),
            family_id: Set(family_id.to_owned()),
            extra: Set(extra.clone()),
            created_at: Set(now),
            expires_at: Set(expiry(self.config.access_token_lifetime)),
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
            expires_at: Set(expiry(self.config.refresh_token_lifetime)),
            is_revoked: Set(false),
            revoked_at: Set(None),
            rotated_at: Set(None),
            replaced_by_jti: Set(None),
            session_started_at: Set(Some(session_started)),
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

    /// When a token issued at `now` with `lifetime` expires: `now + lifetime`, but never later
    /// than `session_max_lifetime` after `session_started` (when that limit is on).
    fn expiry(
        &self,
        now: DateTime<Utc>,
        lifetime: std::time::Duration,
        session_started: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let expires = saturating_add(now, lifetime);
        let max = self.config.session_max_lifetime;
        if max.is_zero() {
            expires
        } else {
            expires.min(saturating_add(session_started, max))
        }
    }

    /// Revokes the user's oldest active pairs beyond `max_tokens_per_user` (after the new pair
    /// was inserted), and deletes the sessions they end.
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
        let excess: Vec<(i64, String, String, String)> = refresh::Entity::find()
            .select_only()
            .column(refresh::Column::Id)
            .column(refresh::Column::AccessJti)
            .column(refresh::Column::TokenHash)
            .column(refresh::Column::FamilyId)
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
        let mut families = Vec::new();
        for (id, jti, hash, family) in excess {
            ids.push(id);
            jtis.push(jti);
            keys.push(Key::Token(hash));
            families.push(family);
        }
        keys.extend(self.access_keys(txn, jtis.clone()).await?);
        refresh_revocation(refresh::Column::Id.is_in(ids), Matched::All, now)
            .exec(txn)
            .await?;
        access_revocation(access::Column::Jti.is_in(jtis), now)
            .exec(txn)
            .await?;
        // A family's one live refresh token is revoked: its session ends with it.
        session::Entity::delete_many()
            .filter(session::Column::FamilyId.is_in(families))
            .exec(txn)
            .await?;
        Ok(keys)
    }
}
