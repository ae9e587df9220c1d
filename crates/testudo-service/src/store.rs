//! [`DbUserStore`]: the [`UserStore`] of the built-in `testudo_users` table.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use testudo_core::{Clock, Error, Result, SystemClock, UserStore, async_trait};

use crate::entity::user;
use crate::user::{User, normalize_email};

fn storage(e: sea_orm::DbErr) -> Error {
    Error::storage(e)
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        Self {
            id: m.id,
            email: m.email,
            password: m.password,
            last_login: m.last_login,
            is_active: m.is_active,
            is_verified: m.is_verified,
            joined_at: m.joined_at,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// Users in the `testudo_users` table (created by `testudo-migrations`).
///
/// Besides the [`UserStore`] methods `AuthService` needs, it creates, deactivates and deletes
/// users. To create a user from a password (validated and hashed), use
/// [`AuthService::create_user`](crate::AuthService::create_user); [`DbUserStore::insert_user`]
/// stores an existing hash as is (to import users from tortoise-auth or Django).
#[derive(Debug, Clone)]
pub struct DbUserStore {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
}

impl DbUserStore {
    /// A store on `db` with the system clock.
    #[must_use]
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock used for `created_at`, `updated_at` and nothing else.
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

    /// Inserts an active, unverified user with `email` (normalised here) and an already computed
    /// `password_hash` (any format testudo verifies, or an unusable sentinel).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the insert fails, e.g. because the email is already taken.
    #[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn insert_user(&self, email: &str, password_hash: &str) -> Result<User> {
        let now = self.clock.now();
        let model = user::ActiveModel {
            email: Set(normalize_email(email)),
            password: Set(password_hash.to_owned()),
            last_login: Set(None),
            is_active: Set(true),
            is_verified: Set(false),
            joined_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(storage)?;
        tracing::Span::current().record("user_id", model.id);
        Ok(model.into())
    }

    /// Sets whether the user may log in; returns whether the user exists.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the update fails.
    pub async fn set_active(&self, id: &str, active: bool) -> Result<bool> {
        self.update(id, user::Column::IsActive, active).await
    }

    /// Deletes the user; returns whether it existed. (Their tokens stay until they expire or are
    /// revoked, but `AuthService` refuses them once the user is gone.)
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the delete fails.
    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let res = user::Entity::delete_by_id(id)
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(res.rows_affected > 0)
    }

    async fn update<V>(&self, id: &str, column: user::Column, value: V) -> Result<bool>
    where
        V: Into<sea_orm::Value>,
    {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let res = user::Entity::update_many()
            .col_expr(column, Expr::value(value.into()))
            .col_expr(user::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(user::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .map_err(storage)?;
        Ok(res.rows_affected > 0)
    }
}

#[async_trait]
impl UserStore for DbUserStore {
    type User = User;

    async fn find_by_email(&self, normalised_email: &str) -> Result<Option<User>> {
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(normalised_email))
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(User::from))
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<User>> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        Ok(user::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(storage)?
            .map(User::from))
    }

    async fn set_password_hash(&self, id: &str, hash: &str) -> Result<()> {
        self.update(id, user::Column::Password, hash.to_owned())
            .await
            .map(drop)
    }

    async fn record_login(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.update(id, user::Column::LastLogin, Some(at))
            .await
            .map(drop)
    }

    async fn mark_verified(&self, id: &str) -> Result<()> {
        self.update(id, user::Column::IsVerified, true)
            .await
            .map(drop)
    }
}
