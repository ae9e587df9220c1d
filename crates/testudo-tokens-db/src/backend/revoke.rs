//! Revocation: [`DatabaseTokenBackend::revoke`], [`DatabaseTokenBackend::revoke_all`], family
//! revocation on reuse detection, [`DatabaseTokenBackend::cleanup`], and the one revoking
//! `UPDATE` of each table that every revocation (rotation and `max_tokens_per_user` included)
//! is made of.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, IntoCondition};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, UpdateMany};

use super::DatabaseTokenBackend;
use crate::Result;
use crate::cache::Key;
use crate::entity::{access_token as access, refresh_token as refresh};
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

impl DatabaseTokenBackend {
    /// Revokes every token of a family inside `txn` (reuse detection); returns how many rows.
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
        Ok(a.rows_affected + r.rows_affected)
    }

    /// Revokes one token; see
    /// [`TokenBackend::revoke_token`](testudo_core::TokenBackend::revoke_token).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke(&self, token: &str) -> Result<()> {
        if !plausible(token, self.config.token_length) {
            return Ok(());
        }
        let hash = hash_token(token);
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let mut keys = Vec::new();
        let a = access_revocation(access::Column::TokenHash.eq(hash.as_str()), now)
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
                refresh_revocation(refresh::Column::Id.eq(row.id), Matched::Unrevoked, now)
                    .exec(&txn)
                    .await?;
                access_revocation(access::Column::Jti.eq(row.access_jti.as_str()), now)
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
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke_all(&self, user_id: &str) -> Result<u64> {
        let now = self.clock.now();
        let txn = self.db.begin().await?;
        let a = access_revocation(access::Column::UserId.eq(user_id), now)
            .exec(&txn)
            .await?;
        let r = refresh_revocation(refresh::Column::UserId.eq(user_id), Matched::Unrevoked, now)
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
