//! Sessions with the revocation list on: the device context of each token family in
//! `testudo_jwt_sessions` (written in the transaction that records the login's pair,
//! `last_used_at` moved by each rotation), and the session operations of the trait.
//!
//! A session is live while its family has a refresh token outstanding, not blacklisted and not
//! expired. Verifying an access token never touches the table: "last used" means the last
//! login or refresh. Without the list the backend is stateless and keeps no sessions
//! ([`JwtBackend::supports_sessions`](testudo_core::TokenBackend::supports_sessions) is
//! `false`, the operations answer `SessionsNotSupported`).

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _, Query, SelectStatement};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, Set};
use testudo_core::{Session, SessionContext, SessionRef, TokenType};
use testudo_db::{Database, retrying};

use super::JwtBackend;
use crate::entity::{blacklisted_token as blacklisted, outstanding_token as outstanding, session};
use crate::revocation::{self, Scope};

/// Inserts the session row of a new family, in the transaction recording its first pair.
pub(super) async fn insert<C: ConnectionTrait>(
    c: &C,
    family_id: &str,
    user_id: &str,
    created_at: DateTime<Utc>,
    now: DateTime<Utc>,
    client: &SessionContext,
) -> Result<(), DbErr> {
    session::Entity::insert(session::ActiveModel {
        family_id: Set(family_id.to_owned()),
        user_id: Set(user_id.to_owned()),
        created_at: Set(created_at),
        last_used_at: Set(now),
        ip: Set(client.ip().map(str::to_owned)),
        user_agent: Set(client.user_agent().map(str::to_owned)),
    })
    .exec_without_returning(c)
    .await?;
    Ok(())
}

/// Moves the `last_used_at` of `family_id`, in the rotation's transaction; a family recorded
/// before sessions were (or whose row was cleaned up) gets its row here, started at
/// `started` and with no device context.
pub(super) async fn touch<C: ConnectionTrait>(
    c: &C,
    family_id: &str,
    user_id: &str,
    started: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let res = session::Entity::update_many()
        .col_expr(session::Column::LastUsedAt, Expr::value(now))
        .filter(session::Column::FamilyId.eq(family_id))
        .exec(c)
        .await?;
    if res.rows_affected == 0 {
        insert(
            c,
            family_id,
            user_id,
            started,
            now,
            &SessionContext::default(),
        )
        .await?;
    }
    Ok(())
}

/// Deletes the sessions of the families `scope` revokes (none for
/// [`Scope::FamilyAccess`], which leaves the family alive), in the revoking transaction.
pub(super) async fn delete_in<C: ConnectionTrait>(c: &C, scope: Scope<'_>) -> Result<(), DbErr> {
    let delete = session::Entity::delete_many();
    let delete = match scope {
        Scope::User(user) => delete.filter(session::Column::UserId.eq(user)),
        Scope::Family(family) => delete.filter(session::Column::FamilyId.eq(family)),
        Scope::FamilyAccess(_) => return Ok(()),
        Scope::UserExcept { user, keep } => delete
            .filter(session::Column::UserId.eq(user))
            .filter(session::Column::FamilyId.ne(keep)),
    };
    delete.exec(c).await?;
    Ok(())
}

/// The families with a live refresh token (outstanding, not blacklisted, not expired at
/// `now`), of `user_id` when given.
fn live_families(user_id: Option<&str>, now: DateTime<Utc>) -> SelectStatement {
    let blacklisted = Query::select()
        .expr(Expr::val(1))
        .from(blacklisted::Entity)
        .and_where(
            Expr::col((blacklisted::Entity, blacklisted::Column::Jti))
                .equals((outstanding::Entity, outstanding::Column::Jti)),
        )
        .to_owned();
    let mut live = Query::select();
    live.column(outstanding::Column::FamilyId)
        .from(outstanding::Entity)
        .and_where(outstanding::Column::TokenType.eq(TokenType::Refresh.as_str()))
        .and_where(outstanding::Column::ExpiresAt.gt(now))
        .and_where(outstanding::Column::FamilyId.is_not_null())
        .and_where(Expr::not_exists(blacklisted));
    if let Some(user_id) = user_id {
        live.and_where(outstanding::Column::UserId.eq(user_id));
    }
    live.to_owned()
}

/// Deletes the sessions without a refresh token live at `cutoff` (revoked families, and those
/// expired before it: the caller passes `jwt_leeway` ago, so a refresh token still accepted
/// within the leeway keeps its session); returns how many.
pub(super) async fn cleanup<C: ConnectionTrait>(
    c: &C,
    cutoff: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let res = session::Entity::delete_many()
        .filter(session::Column::FamilyId.not_in_subquery(live_families(None, cutoff)))
        .exec(c)
        .await?;
    Ok(res.rows_affected)
}

impl JwtBackend {
    /// [`TokenBackend::session_of`](testudo_core::TokenBackend::session_of) with the list on:
    /// the family of the token's outstanding row (a token whose signature does not verify, or
    /// that was never recorded, names none).
    pub(super) async fn session_of_recorded(
        &self,
        db: &Database,
        token: &str,
    ) -> testudo_core::Result<Option<SessionRef>> {
        let Some((jti, _)) = self.decode_for_revoke(token) else {
            return Ok(None);
        };
        let row = revocation::outstanding_row(db.as_sea_orm(), &jti)
            .await
            .map_err(testudo_db::Error::from)?;
        Ok(row.and_then(|r| r.family_id.map(|family| SessionRef::new(r.user_id, family))))
    }

    /// [`TokenBackend::list_sessions`](testudo_core::TokenBackend::list_sessions) with the
    /// list on: the live sessions of `user_id`, newest first.
    pub(super) async fn sessions_recorded(
        &self,
        db: &Database,
        user_id: &str,
    ) -> testudo_core::Result<Vec<Session>> {
        let now = self.clock.now();
        let rows = session::Entity::find()
            .filter(session::Column::UserId.eq(user_id))
            .filter(session::Column::FamilyId.in_subquery(live_families(Some(user_id), now)))
            .order_by_desc(session::Column::CreatedAt)
            .order_by_desc(session::Column::FamilyId)
            .all(db.as_sea_orm())
            .await
            .map_err(testudo_db::Error::from)?;
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

    /// [`TokenBackend::revoke_user_session`](testudo_core::TokenBackend::revoke_user_session)
    /// with the list on: blacklists every outstanding token of family `session_id` if it is a
    /// live session of `user_id` (one transaction, serialized with the user's rotations), and
    /// says whether it was.
    pub(super) async fn revoke_user_session_recorded(
        &self,
        db: &Database,
        user_id: &str,
        session_id: &str,
    ) -> testudo_core::Result<bool> {
        Ok(retrying(|| async {
            let now = self.clock.now();
            let txn = db.begin_for_user(user_id).await?;
            let owned = outstanding::Entity::find()
                .filter(outstanding::Column::FamilyId.eq(session_id))
                .filter(
                    outstanding::Column::FamilyId.in_subquery(live_families(Some(user_id), now)),
                )
                .one(&*txn)
                .await?
                .is_some_and(|r| {
                    r.user_id == user_id && r.family_id.as_deref() == Some(session_id)
                });
            if !owned {
                txn.rollback().await?;
                return Ok::<_, testudo_db::Error>(false);
            }
            let scope = Scope::Family(session_id);
            revocation::blacklist_outstanding(&*txn, scope, now).await?;
            delete_in(&*txn, scope).await?;
            txn.commit().await?;
            Ok(true)
        })
        .await?)
    }

    /// [`TokenBackend::revoke_other_sessions`](testudo_core::TokenBackend::revoke_other_sessions)
    /// with the list on: blacklists every outstanding token of `user_id` outside family `keep`
    /// and deletes their sessions, in one transaction serialized with the user's rotations (a
    /// rotation of another session either commits first, and its new pair is blacklisted here,
    /// or runs after, and finds its token blacklisted); returns how many tokens.
    pub(super) async fn revoke_other_sessions_recorded(
        &self,
        db: &Database,
        user_id: &str,
        keep: &str,
    ) -> testudo_core::Result<u64> {
        Ok(retrying(|| async {
            let now = self.clock.now();
            let txn = db.begin_for_user(user_id).await?;
            let scope = Scope::UserExcept {
                user: user_id,
                keep,
            };
            let n = revocation::blacklist_outstanding(&*txn, scope, now).await?;
            delete_in(&*txn, scope).await?;
            testudo_core::pause::point("tokens_jwt.revoke_other_sessions.before_commit").await;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(n)
        })
        .await?)
    }
}
