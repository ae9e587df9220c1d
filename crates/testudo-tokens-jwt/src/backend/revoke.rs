//! Revocation with the list on: one token, every token of a user, a family (reuse
//! detection), and the cleanup of expired rows.

use chrono::{DateTime, Utc};
use testudo_core::{saturating_from_unix, saturating_sub};
use testudo_db::{Database, retrying};

use super::JwtBackend;
use crate::revocation::{self, Scope};

/// Blacklists every outstanding token of `user_id` in `scope` and deletes the sessions of the
/// families it ends, in one transaction serialized with the user's other writes to the list
/// (so a rotation in flight is either blacklisted here or refused afterwards) and run again
/// while the database aborts it with a transient error; returns how many tokens.
pub(super) async fn blacklist(
    db: &Database,
    user_id: &str,
    scope: Scope<'_>,
    now: DateTime<Utc>,
) -> testudo_db::Result<u64> {
    retrying(|| async {
        let txn = db.begin_for_user(user_id).await?;
        let n = revocation::blacklist_outstanding(&*txn, scope, now).await?;
        super::sessions::delete_in(&*txn, scope).await?;
        txn.commit().await?;
        Ok(n)
    })
    .await
}

impl JwtBackend {
    /// [`TokenBackend::revoke_token`](testudo_core::TokenBackend::revoke_token) with the list
    /// on: blacklists the token's `jti`, even when the token has expired; a token that does not
    /// verify otherwise is ignored.
    pub(super) async fn revoke_recorded(
        &self,
        db: &Database,
        token: &str,
    ) -> testudo_core::Result<()> {
        self.blacklist_token(db, token).await?;
        Ok(())
    }

    /// Blacklists the `jti` of `token` (expired or not) and returns it; `None` for a token that
    /// does not verify otherwise.
    async fn blacklist_token(
        &self,
        db: &Database,
        token: &str,
    ) -> testudo_db::Result<Option<String>> {
        let Some((jti, exp)) = self.decode_for_revoke(token) else {
            return Ok(None);
        };
        let expires_at = exp.map(saturating_from_unix);
        // One statement, but InnoDB can still pick it as a deadlock victim against a
        // concurrent rotation inserting the same jti: retried like every revocation.
        retrying(|| async {
            Ok::<_, testudo_db::Error>(
                revocation::blacklist_one(db.as_sea_orm(), &jti, self.clock.now(), expires_at)
                    .await?,
            )
        })
        .await?;
        Ok(Some(jti))
    }

    /// [`TokenBackend::revoke_all_for_user`](testudo_core::TokenBackend::revoke_all_for_user)
    /// with the list on: blacklists every outstanding `jti` of the user that is not blacklisted
    /// yet (one transaction); returns how many.
    pub(super) async fn revoke_all_recorded(
        &self,
        db: &Database,
        user_id: &str,
    ) -> testudo_core::Result<u64> {
        Ok(blacklist(db, user_id, Scope::User(user_id), self.clock.now()).await?)
    }

    /// [`TokenBackend::revoke_session`](testudo_core::TokenBackend::revoke_session) with the
    /// list on: blacklists the token's `jti` and every outstanding token of its family (the
    /// login it descends from), even when the token has expired; a token that does not verify
    /// otherwise is ignored.
    pub(super) async fn revoke_session_recorded(
        &self,
        db: &Database,
        token: &str,
    ) -> testudo_core::Result<()> {
        let Some(jti) = self.blacklist_token(db, token).await? else {
            return Ok(());
        };
        let row = revocation::outstanding_row(db.as_sea_orm(), &jti)
            .await
            .map_err(testudo_db::Error::from)?;
        if let Some(row) = row
            && let Some(family) = &row.family_id
        {
            blacklist(db, &row.user_id, Scope::Family(family), self.clock.now()).await?;
        }
        Ok(())
    }

    /// [`TokenBackend::cleanup_expired`](testudo_core::TokenBackend::cleanup_expired) with the
    /// list on: deletes the outstanding rows expired for longer than `jwt_leeway`, their
    /// blacklist rows, the expired blacklist rows of tokens without one, and the sessions with
    /// no live refresh token left (one transaction); returns how many rows.
    pub(super) async fn cleanup_recorded(&self, db: &Database) -> testudo_core::Result<u64> {
        let cutoff = saturating_sub(self.clock.now(), self.config.jwt_leeway);
        let txn = db.begin().await?;
        let n = revocation::delete_expired(&txn, cutoff)
            .await
            .map_err(testudo_db::Error::from)?;
        let s = super::sessions::cleanup(&txn, cutoff)
            .await
            .map_err(testudo_db::Error::from)?;
        txn.commit().await.map_err(testudo_db::Error::from)?;
        Ok(n + s)
    }
}
