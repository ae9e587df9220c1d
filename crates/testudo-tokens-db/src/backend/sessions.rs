//! Sessions: the device context of each token family in `testudo_sessions` (written when the
//! login's pair is issued, `last_used_at` moved by each rotation), and the session operations:
//! [`DatabaseTokenBackend::sessions`], [`DatabaseTokenBackend::revoke_user_session`],
//! [`DatabaseTokenBackend::revoke_other_sessions`].
//!
//! Verifying an access token never touches this table: "last used" means the last login or
//! refresh, and verification stays one query.

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use testudo_core::{Session, SessionContext, SessionRef};
use testudo_db::retrying;

use super::DatabaseTokenBackend;
use super::revoke::{Matched, Tables, access_revocation, refresh_revocation};
use crate::Result;
use crate::cache::Key;
use crate::entity::{access_token as access, refresh_token as refresh, session};
use crate::token::{hash_token, plausible};

impl DatabaseTokenBackend {
    /// Inserts the session row of a new family, inside the transaction issuing its first pair.
    pub(super) async fn insert_session(
        txn: &DatabaseTransaction,
        family_id: &str,
        user_id: &str,
        created_at: DateTime<Utc>,
        now: DateTime<Utc>,
        client: &SessionContext,
    ) -> Result<()> {
        session::Entity::insert(session::ActiveModel {
            family_id: Set(family_id.to_owned()),
            user_id: Set(user_id.to_owned()),
            created_at: Set(created_at),
            last_used_at: Set(now),
            ip: Set(client.ip().map(str::to_owned)),
            user_agent: Set(client.user_agent().map(str::to_owned)),
        })
        .exec_without_returning(txn)
        .await?;
        Ok(())
    }

    /// Moves the `last_used_at` of the family `rotated` belongs to, inside the rotation's
    /// transaction; a family from before sessions were recorded gets its row here (with no
    /// device context).
    pub(super) async fn touch_session(
        &self,
        txn: &DatabaseTransaction,
        rotated: &refresh::Model,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let res = session::Entity::update_many()
            .col_expr(session::Column::LastUsedAt, Expr::value(now))
            .filter(session::Column::FamilyId.eq(rotated.family_id.as_str()))
            .exec(txn)
            .await?;
        if res.rows_affected == 0 {
            let started = rotated.session_started_at.unwrap_or(rotated.created_at);
            Self::insert_session(
                txn,
                &rotated.family_id,
                &rotated.user_id,
                started,
                now,
                &SessionContext::default(),
            )
            .await?;
        }
        Ok(())
    }

    /// Deletes the sessions that have no live refresh token left (revoked or expired
    /// families); returns how many.
    pub(super) async fn cleanup_sessions(&self, now: DateTime<Utc>) -> Result<u64> {
        let live = Query::select()
            .column(refresh::Column::FamilyId)
            .from(refresh::Entity)
            .and_where(refresh::Column::IsRevoked.eq(false))
            .and_where(refresh::Column::ExpiresAt.gt(now))
            .to_owned();
        let res = session::Entity::delete_many()
            .filter(session::Column::FamilyId.not_in_subquery(live))
            .exec(self.conn())
            .await?;
        Ok(res.rows_affected)
    }

    /// The session `token` (access or refresh) belongs to, valid or not; `None` for an unknown
    /// token. See [`TokenBackend::session_of`](testudo_core::TokenBackend::session_of).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn session_of(&self, token: &str) -> Result<Option<SessionRef>> {
        if !plausible(token, self.config.token_length) {
            return Ok(None);
        }
        let holder = self.holder(&hash_token(token), Tables::Both).await?;
        Ok(holder.map(|h| SessionRef::new(h.user_id, h.family_id)))
    }

    /// The live sessions of `user_id` (a refresh token of the family neither revoked nor
    /// expired), newest first. See
    /// [`TokenBackend::list_sessions`](testudo_core::TokenBackend::list_sessions).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let now = self.clock.now();
        let live = Query::select()
            .column(refresh::Column::FamilyId)
            .from(refresh::Entity)
            .and_where(refresh::Column::UserId.eq(user_id))
            .and_where(refresh::Column::IsRevoked.eq(false))
            .and_where(refresh::Column::ExpiresAt.gt(now))
            .to_owned();
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::FamilyId.in_subquery(live))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::FamilyId)
            .all(self.conn())
            .await?;
        Ok(rows
            .into_iter()
            // The binary collation on MySQL / MariaDB makes this hold; checked all the same.
            .filter(|r| r.user_id == user_id)
            .map(|r| {
                let client = SessionContext::new()
                    .with_ip(r.ip.as_deref())
                    .with_user_agent(r.user_agent.as_deref());
                Session::new(r.family_id, r.user_id, r.created_at, r.last_used_at, client)
            })
            .collect())
    }

    /// Revokes session `session_id` if it is a live session of `user_id`, and says whether it
    /// was; another user's session is left alone. See
    /// [`TokenBackend::revoke_user_session`](testudo_core::TokenBackend::revoke_user_session).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke_user_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        retrying(|| async {
            let now = self.clock.now();
            let txn = self.db.begin_for_user(user_id).await?;
            let owned: Option<String> = refresh::Entity::find()
                .select_only()
                .column(refresh::Column::FamilyId)
                .filter(refresh::Column::FamilyId.eq(session_id))
                .filter(refresh::Column::UserId.eq(user_id))
                .filter(refresh::Column::IsRevoked.eq(false))
                .filter(refresh::Column::ExpiresAt.gt(now))
                .into_tuple()
                .one(&*txn)
                .await?;
            if owned.is_none_or(|f| f != session_id) {
                txn.rollback().await?;
                return Ok(false);
            }
            Self::revoke_family(&txn, session_id, now).await?;
            let keys = [Key::Family(session_id.to_owned())];
            self.notify(&txn, &keys).await?;
            txn.commit().await?;
            self.invalidate(&keys);
            Ok(true)
        })
        .await
    }

    /// Revokes every token of `user_id` outside session `keep` and their sessions, in one
    /// transaction serialized with the user's rotations (a rotation of another session either
    /// commits first, and its new pair is revoked here, or runs after, and finds its token
    /// revoked); returns how many tokens were revoked. See
    /// [`TokenBackend::revoke_other_sessions`](testudo_core::TokenBackend::revoke_other_sessions).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn revoke_other_sessions(&self, user_id: &str, keep: &str) -> Result<u64> {
        retrying(|| async {
            let now = self.clock.now();
            let txn = self.db.begin_for_user(user_id).await?;
            let a = access_revocation(
                Condition::all()
                    .add(access::Column::UserId.eq(user_id))
                    .add(access::Column::FamilyId.ne(keep)),
                now,
            )
            .exec(&*txn)
            .await?;
            let r = refresh_revocation(
                Condition::all()
                    .add(refresh::Column::UserId.eq(user_id))
                    .add(refresh::Column::FamilyId.ne(keep)),
                Matched::Unrevoked,
                now,
            )
            .exec(&*txn)
            .await?;
            session::Entity::delete_many()
                .filter(session::Column::UserId.eq(user_id))
                .filter(session::Column::FamilyId.ne(keep))
                .exec(&*txn)
                .await?;
            // Every cached token of the user is dropped (those of `keep` are read again).
            let keys = [Key::User(user_id.to_owned())];
            self.notify(&txn, &keys).await?;
            testudo_core::pause::point("tokens_db.revoke_other_sessions.before_commit").await;
            txn.commit().await?;
            self.invalidate(&keys);
            Ok(a.rows_affected + r.rows_affected)
        })
        .await
    }
}
