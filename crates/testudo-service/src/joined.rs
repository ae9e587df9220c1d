//! The one-query `authenticate` of a [`DbUserStore`] with the [`DatabaseTokenBackend`] on the same
//! database: the access-token row joined (`LEFT JOIN`) with its user.

use std::sync::Arc;

use sea_orm::{ConnectionTrait, FromQueryResult, Statement};
use testudo_core::{AuthenticationError, Result, UserStore};
use testudo_db::Dialect;
use testudo_tokens_db::{DatabaseTokenBackend, StoredAccessToken};

use crate::entity::user;
use crate::{DbUserStore, User};

/// The selected columns: the token's with prefix `a_`, the user's with prefix `u_`.
const COLUMNS: &str = "t.id AS a_id, t.token_hash AS a_token_hash, t.jti AS a_jti, \
    t.user_id AS a_user_id, t.family_id AS a_family_id, t.extra AS a_extra, \
    t.created_at AS a_created_at, t.expires_at AS a_expires_at, t.is_revoked AS a_is_revoked, \
    t.revoked_at AS a_revoked_at, u.id AS u_id, u.email AS u_email, u.password AS u_password, \
    u.last_login AS u_last_login, u.is_active AS u_is_active, u.is_verified AS u_is_verified, \
    u.joined_at AS u_joined_at, u.created_at AS u_created_at, u.updated_at AS u_updated_at, \
    u.credential_version AS u_credential_version";

/// The joined query for `backend`. `testudo_users.id` is an integer and the token's `user_id`
/// text, so the join casts the text: SQLite's `CAST` never fails; on PostgreSQL and MySQL /
/// MariaDB a pattern guard keeps non-numeric (or too long) ids from raising a cast error and
/// gives NULL instead. The cast applies to the token side only, so the users primary key is
/// still used for the lookup. Whatever the cast does with odd ids (leading `+`, spaces, 19
/// digits), [`Joined::authenticate`] checks the joined user against Rust's own parse of the id
/// and falls back to [`UserStore::find_by_id`] when they disagree, so the answer is always
/// the two-step one.
fn sql(dialect: Dialect) -> String {
    let (cast, param) = match dialect {
        Dialect::Postgres => (
            "CASE WHEN t.user_id ~ '^[+-]?[0-9]{1,18}$' THEN CAST(t.user_id AS BIGINT) END",
            "$1",
        ),
        Dialect::MySql => (
            "CASE WHEN t.user_id REGEXP '^[+-]?[0-9]{1,18}$' THEN CAST(t.user_id AS SIGNED) END",
            "?",
        ),
        _ => ("CAST(t.user_id AS INTEGER)", "?"),
    };
    format!(
        "SELECT {COLUMNS} FROM testudo_access_tokens t LEFT JOIN testudo_users u \
         ON u.id = {cast} WHERE t.token_hash = {param}"
    )
}

/// What the joined query says about the token's user.
enum Fetched {
    /// The user row.
    Found(User),
    /// The id cannot name a user of this table (it does not parse as an integer).
    Absent,
    /// The join and the strict parse of the id disagree (or the user row is gone): ask the
    /// store.
    Unknown,
}

/// `AuthService::authenticate` in one query (token row and user row), used when the service's
/// store is a [`DbUserStore`] and its backend the default [`DatabaseTokenBackend`] on the same
/// connection pool.
#[derive(Debug)]
pub(crate) struct Joined {
    backend: Arc<DatabaseTokenBackend>,
    store: DbUserStore,
    sql: String,
}

impl Joined {
    /// The fast path, when `store` and `backend` use the same connection pool.
    pub(crate) fn new(store: &DbUserStore, backend: &Arc<DatabaseTokenBackend>) -> Option<Self> {
        store
            .database()
            .same_pool(backend.database())
            .then(|| Self {
                backend: Arc::clone(backend),
                store: store.clone(),
                sql: sql(store.database().dialect()),
            })
    }

    /// As the two-step `authenticate` (token errors first, then `UserNotFound` /
    /// `UserInactive`), in one query; none with both caches warm.
    async fn authenticate_joined(&self, token: &str) -> Result<User> {
        let db = self.store.database().as_sea_orm();
        let backend = self.store.database().dialect().backend();
        let sql = self.sql.as_str();
        let store = &self.store;
        let (payload, fetched) = self
            .backend
            .verify_access_with(token, |digest| async move {
                let epoch = store.cache_epoch();
                let stmt = Statement::from_sql_and_values(backend, sql, [digest.into()]);
                let Some(row) = db.query_one_raw(stmt).await? else {
                    return Ok(None);
                };
                let token = StoredAccessToken {
                    token_hash: row.try_get("", "a_token_hash")?,
                    jti: row.try_get("", "a_jti")?,
                    user_id: row.try_get("", "a_user_id")?,
                    family_id: row.try_get("", "a_family_id")?,
                    extra: row.try_get("", "a_extra")?,
                    created_at: row.try_get("", "a_created_at")?,
                    expires_at: row.try_get("", "a_expires_at")?,
                    is_revoked: row.try_get("", "a_is_revoked")?,
                };
                let joined = match row.try_get::<Option<i64>>("", "u_id")? {
                    Some(_) => Some(user::Model::from_query_result(&row, "u_")?),
                    None => None,
                };
                let fetched = match (token.user_id.parse::<i64>(), joined) {
                    (Err(_), _) => Fetched::Absent,
                    (Ok(id), Some(u)) if u.id == id => {
                        let user = User::from(u);
                        store.offer_cached(epoch, &user);
                        Fetched::Found(user)
                    }
                    (Ok(_), _) => Fetched::Unknown,
                };
                Ok(Some((token, fetched)))
            })
            .await?;
        tracing::Span::current().record("user_id", payload.sub.as_str());
        let user = match fetched {
            Some(Fetched::Found(user)) => Some(user),
            Some(Fetched::Absent) => None,
            // Verified from the token cache, or an id the join could not settle.
            None | Some(Fetched::Unknown) => self.store.find_by_id(&payload.sub).await?,
        };
        match user {
            None => Err(AuthenticationError::UserNotFound.into()),
            Some(user) if !user.is_active => Err(AuthenticationError::UserInactive.into()),
            Some(user) => {
                crate::service::check_version(&payload, &user)?;
                Ok(user)
            }
        }
    }
}

#[testudo_core::async_trait]
impl crate::service::JoinedAuthenticate<User> for Joined {
    async fn authenticate(&self, token: &str) -> Result<User> {
        self.authenticate_joined(token).await
    }
}
