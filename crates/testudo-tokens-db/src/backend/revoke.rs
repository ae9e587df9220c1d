//! Revocation: [`DatabaseTokenBackend::revoke`], [`DatabaseTokenBackend::revoke_session`],
//! [`DatabaseTokenBackend::revoke_all`], family revocation on reuse detection,
//! [`DatabaseTokenBackend::cleanup`], and the one revoking `UPDATE` of each table that every
//! revocation (rotation and `max_tokens_per_user` included) is made of. Every revoking
//! transaction is serialized with the user's other token writes
//! ([`testudo_db::Database::begin_for_user`]) and retried on transient errors.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QuerySelect, UpdateMany,
};
use testudo_db::retrying;

use super::DatabaseTokenBackend;
use crate::Result;
use crate::cache::Key;
use crate::entity::{access_token as access, refresh_token as refresh, session};
use crate::token::{hash_token, plausible};

/// Which of the refresh tokens its filter matches a [`refresh_revocation`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Matched {
    /// Only those not revoked yet (`... AND is_revoked = false`): a token revoked already keeps
    /// its `revoked_at`.
    Unrevoked,
    /// All of them, with no condition on `is_revoked` (`max_tokens_per_user`, whose rows were
    /// just read as active, by id).
    All,
}

/// `UPDATE testudo_access_tokens SET is_revoked = true, revoked_at = now WHERE <filter> AND
/// is_revoked = false`, to run in the caller's transaction.
pub(super) fn access_revocation(
    filter: impl IntoCondition,
    now: DateTime<Utc>,
) -> UpdateMany<access::Entity> {
    access::Entity::update_many()
        .col_expr(access::Column::IsRevoked, Expr::value(true))
        .col_expr(access::Column::RevokedAt, Expr::value(now))
        .filter(filter)
        .filter(access::Column::IsRevoked.eq(false))
}

/// `UPDATE testudo_refresh_tokens SET is_revoked = true, revoked_at = now WHERE <filter>`,
/// followed by `AND is_revoked = false` for [`Matched::Unrevoked`], to run in the caller's
/// transaction.
pub(super) fn refresh_revocation(
    filter: impl IntoCondition,
    matched: Matched,
    now: DateTime<Utc>,
) -> UpdateMany<refresh::Entity> {
    let update = refresh::Entity::update_many()
        .col_expr(refresh::Column::IsRevoked, Expr::value(true))
        .col_expr(refresh::Column::RevokedAt, Expr::value(now))
        .filter(filter);
    match matched {
        Matched::Unrevoked => update.filter(refresh::Column::IsRevoked.eq(false)),
        Matched::All => update,
    }
}

/// Whose a token is: the user and the token family of its row.
pub(super) struct Holder {
    /// The user the token was issued to.
    pub(super) user_id: String,
    /// Its token family.
    pub(super) family_id: String,
}

/// Which table [`DatabaseTokenBackend::holder`] looks a digest up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Tables {
    /// Refresh tokens only.
    Refresh,
    /// Access tokens, then refresh tokens.
    Both,
}

impl DatabaseTokenBackend {
    /// Whose the token with digest `hash` is, read outside any transaction: a row's user and
    /// family never change, and the writing transaction must know the user before it begins,
    /// to be [serialized](testudo_db::Database::begin_for_user) with the user's other writes.
    pub(super) async fn holder(&self, hash: &str, tables: Tables) -> Result<Option<Holder>> {
        if tables == Tables::Both {
            let row: Option<(String, String)> = access::Entity::find()
                .select_only()
                .column(access::Column::UserId)
                .column(access::Column::FamilyId)
                .filter(access::Column::TokenHash.eq(hash))
                .into_tuple()
                .one(self.conn())
                .await?;
            if let Some((user_id, family_id)) = row {
                return Ok(Some(Holder { user_id, family_id }));
            }
        }
        let row: Option<(String, String)> = refresh::Entity::find()
            .select_only()
            .column(refresh::Column::UserId)
            .column(refresh::Column::FamilyId)
            .filter(refresh::Column::TokenHash.eq(hash))
            .into_tuple()
            .one(self.conn())
            .await?;
        Ok(row.map(|(user_id, family_id)| Holder { user_id, family_id }))
    }

    /// Revokes every token of a family inside `txn` (reuse detection, logout); returns how many
    /// rows.
    pub(super) async fn revoke_family(
        txn: &DatabaseTransaction,
        family_id: &str,
        now: DateTime<Utc>,
    ) -> Result<u64> {
        let a = access_revocation(access::Column::FamilyId.eq(family_id), now)
            .exec(txn)
            .await?;
        let r = refresh_revocation(
            refresh::Column::FamilyId.eq(family_id),
            Matched::Unrevoked,
            now,
        )
        .exec(txn)
        .await?;
        session::Entity::delete_by_id(family_id).exec(txn).await?;
        Ok(a.rows_affected + r.rows_affected)
    }

    /// Revokes one token (a refresh token with the access token issued with it); see
    /// [`TokenBackend::revoke_token`](testudo_core::TokenBackend::revoke_token). Serialized with
    /// the user's other token writes, retried on transient errors.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke(&self, token: &str) -> Result<()> {
        if !plausible(token, self.config.token_length) {
            return Ok(());
        }
        let hash = hash_token(token);
        let Some(holder) = self.holder(&hash, Tables::Both).await? else {
            return Ok(());
        };
        retrying(|| self.revoke_once(&holder.user_id, &hash)).await
    }

    /// One attempt of [`Self::revoke`].
    async fn revoke_once(&self, user_id: &str, hash: &str) -> Result<()> {
        let now = self.clock.now();
        let txn = self.db.begin_for_user(user_id).await?;
        let mut keys = Vec::new();
        let a = access_revocation(access::Column::TokenHash.eq(hash), now)
            .exec(&*txn)
            .await?;
        if a.rows_affected > 0 {
            keys.push(Key::Token(hash.to_owned()));
        } else {
            let row = refresh::Entity::find()
                .filter(refresh::Column::TokenHash.eq(hash))
                .one(&*txn)
                .await?;
            if let Some(row) = row {
                keys.push(Key::Token(hash.to_owned()));
                keys.extend(self.access_keys(&txn, vec![row.access_jti.clone()]).await?);
                refresh_revocation(refresh::Column::Id.eq(row.id), Matched::Unrevoked, now)
                    .exec(&*txn)
                    .await?;
                access_revocation(access::Column::Jti.eq(row.access_jti.as_str()), now)
                    .exec(&*txn)
                    .await?;
            }
        }
        self.notify(&txn, &keys).await?;
        txn.commit().await?;
        self.invalidate(&keys);
        Ok(())
    }

    /// Revokes the session a token belongs to: every token of its family (the pair it was
    /// issued with, and what rotation made of it); see
    /// [`TokenBackend::revoke_session`](testudo_core::TokenBackend::revoke_session). Returns
    /// how many rows were revoked (0 for an unknown token).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke_session(&self, token: &str) -> Result<u64> {
        if !plausible(token, self.config.token_length) {
            return Ok(0);
        }
        let Some(holder) = self.holder(&hash_token(token), Tables::Both).await? else {
            return Ok(0);
        };
        retrying(|| async {
            let now = self.clock.now();
            let txn = self.db.begin_for_user(&holder.user_id).await?;
            let n = Self::revoke_family(&txn, &holder.family_id, now).await?;
            let keys = [Key::Family(holder.family_id.clone())];
            self.notify(&txn, &keys).await?;
            txn.commit().await?;
            self.invalidate(&keys);
            Ok(n)
        })
        .await
    }

    /// Revokes every token of a user in one transaction, serialized with the user's other token
    /// writes (so a rotation in flight is either revoked here or refused afterwards) and retried
    /// on transient errors; returns the number of rows revoked.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke_all(&self, user_id: &str) -> Result<u64> {
        retrying(|| async {
            let now = self.clock.now();
            let txn = self.db.begin_for_user(user_id).await?;
            let a = access_revocation(access::Column::UserId.eq(user_id), now)
                .exec(&*txn)
                .await?;
            let r =
                refresh_revocation(refresh::Column::UserId.eq(user_id), Matched::Unrevoked, now)
                    .exec(&*txn)
                    .await?;
            session::Entity::delete_many()
                .filter(session::Column::UserId.eq(user_id))
                .exec(&*txn)
                .await?;
            let keys = [Key::User(user_id.to_owned())];
            self.notify(&txn, &keys).await?;
            txn.commit().await?;
            self.invalidate(&keys);
            Ok(a.rows_affected + r.rows_affected)
        })
        .await
    }

    /// Deletes expired rows (revoked or not) of both token tables, and the sessions left
    /// without a live token; returns how many token rows were deleted.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
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
        let sessions = self.cleanup_sessions(now).await?;
        tracing::debug!(sessions, "ended sessions deleted");
        if let Some(c) = &self.cache {
            c.purge_expired(now);
        }
        Ok(a.rows_affected + r.rows_affected)
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{DatabaseBackend, QueryTrait, Value};

    use super::*;

    /// The SQL and values of `update` on PostgreSQL.
    fn built<E: EntityTrait>(update: &UpdateMany<E>) -> (String, Vec<Value>) {
        let statement = update.build(DatabaseBackend::Postgres);
        let values = statement.values.map(|v| v.0).unwrap_or_default();
        (statement.sql, values)
    }

    #[test]
    fn access_revocations_only_touch_tokens_not_revoked_yet() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let (sql, values) = built(&access_revocation(access::Column::UserId.eq("u"), now));
        assert_eq!(
            sql,
            r#"UPDATE "testudo_access_tokens" SET "is_revoked" = $1, "revoked_at" = $2 WHERE "testudo_access_tokens"."user_id" = $3 AND "testudo_access_tokens"."is_revoked" = $4"#
        );
        assert_eq!(
            values,
            [true.into(), now.into(), "u".into(), false.into()] as [Value; 4]
        );
    }

    #[test]
    fn refresh_revocations_add_the_is_revoked_condition_only_when_asked() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
        let (sql, values) = built(&refresh_revocation(
            refresh::Column::FamilyId.eq("f"),
            Matched::Unrevoked,
            now,
        ));
        assert_eq!(
            sql,
            r#"UPDATE "testudo_refresh_tokens" SET "is_revoked" = $1, "revoked_at" = $2 WHERE "testudo_refresh_tokens"."family_id" = $3 AND "testudo_refresh_tokens"."is_revoked" = $4"#
        );
        assert_eq!(
            values,
            [true.into(), now.into(), "f".into(), false.into()] as [Value; 4]
        );
        let (sql, values) = built(&refresh_revocation(
            refresh::Column::Id.is_in([1_i64, 2]),
            Matched::All,
            now,
        ));
        assert_eq!(
            sql,
            r#"UPDATE "testudo_refresh_tokens" SET "is_revoked" = $1, "revoked_at" = $2 WHERE "testudo_refresh_tokens"."id" IN ($3, $4)"#
        );
        assert_eq!(
            values,
            [true.into(), now.into(), 1_i64.into(), 2_i64.into()] as [Value; 4]
        );
    }
}
