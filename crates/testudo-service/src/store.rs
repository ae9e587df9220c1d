//! [`DbUserStore`]: the [`UserStore`] of the built-in `testudo_users` table.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait as _};
use sea_orm::{ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};
use testudo_core::{Clock, Error, Result, SystemClock, UserStore, async_trait};
use testudo_db::CacheOptions;
use testudo_db::{Database, EpochCache};

use crate::entity::user;
use crate::user::{User, normalize_email};

fn storage(e: sea_orm::DbErr) -> Error {
    testudo_db::Error::from(e).into()
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
            // Never negative: it starts at 0 and only grows.
            credential_version: u64::try_from(m.credential_version).unwrap_or(0),
        }
    }
}

/// Users in the `testudo_users` table (created by `testudo-migrations`).
///
/// Besides the [`UserStore`] methods `AuthService` needs, it creates, deactivates and deletes
/// users. To create a user from a password (validated and hashed), use
/// [`AuthService::create_user`](crate::AuthService::create_user); [`DbUserStore::insert_user`]
/// stores an existing hash as is (to import users from tortoise-auth or Django).
///
/// # User cache
///
/// Off by default; [`DbUserStore::with_cache`] turns on a cache of [`UserStore::find_by_id`]
/// (the lookup `AuthService::authenticate` makes), with the guarantees of
/// [`testudo_db::EpochCache`] (exact within the process, stale for at most `ttl` across
/// processes): every write through this store or one of its clones (insert, password, login
/// time, verification, activation, delete) invalidates that user's entry before returning.
#[derive(Debug, Clone)]
pub struct DbUserStore {
    db: Database,
    clock: Arc<dyn Clock>,
    /// Users by id; exact in-process by [`EpochCache`]'s epoch protocol (every write through
    /// the store invalidates after it commits), shared by the clones.
    cache: Option<Arc<EpochCache<i64, User>>>,
}

impl DbUserStore {
    /// A store on `db` with the system clock.
    #[must_use]
    pub fn new(db: Database) -> Self {
        Self {
            db,
            clock: Arc::new(SystemClock),
            cache: None,
        }
    }

    /// Turns on the user cache (see the type's documentation): up to `options.capacity` users,
    /// each kept `options.ttl` by this store's clock ([`DbUserStore::with_clock`]). Clones made
    /// afterwards share it. A zero capacity or ttl caches nothing.
    #[must_use]
    pub fn with_cache(mut self, options: CacheOptions) -> Self {
        self.cache = (options.capacity > 0 && !options.ttl.is_zero())
            .then(|| Arc::new(EpochCache::new(&options)));
        self
    }

    /// Whether the user cache is on.
    #[must_use]
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// Drops every cached user (e.g. after changing `testudo_users` with SQL outside this
    /// store). Does nothing when the cache is off.
    pub fn clear_cache(&self) {
        if let Some(cache) = &self.cache {
            cache.clear();
        }
    }

    /// The cache epoch to pass to [`DbUserStore::offer_cached`], taken before a query that
    /// reads a user row.
    pub(crate) fn cache_epoch(&self) -> Option<u64> {
        self.cache.as_ref().map(|c| c.epoch())
    }

    /// Caches a user read by a query started at `epoch` (from [`DbUserStore::cache_epoch`]).
    pub(crate) fn offer_cached(&self, epoch: Option<u64>, user: &User) {
        if let (Some(cache), Some(epoch)) = (&self.cache, epoch) {
            cache.insert(user.id, user.clone(), self.clock.now(), None, epoch);
        }
    }

    fn invalidate(&self, id: i64) {
        if let Some(cache) = &self.cache {
            cache.invalidate(&[&id]);
        }
    }

    /// Replaces the clock used for `created_at`, `updated_at` and the user cache's ttl.
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

    fn conn(&self) -> &DatabaseConnection {
        self.db.as_sea_orm()
    }

    /// Inserts an active, unverified user with `email` (normalised here) and an already computed
    /// `password_hash` (any format testudo verifies, or an unusable sentinel).
    ///
    /// # Errors
    ///
    /// [`Error::EmailTaken`] when a user has this email already; [`Error::Storage`] when the
    /// insert fails otherwise.
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
            credential_version: Set(0),
            ..Default::default()
        }
        .insert(self.conn())
        .await
        .map_err(|e| match testudo_db::Error::from(e) {
            e if e.is_unique_violation() => Error::EmailTaken,
            e => e.into(),
        })?;
        tracing::Span::current().record("user_id", model.id);
        self.invalidate(model.id);
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

    /// Deletes the user's row; returns whether it existed. Their tokens stay until they expire
    /// or are revoked (`AuthService` refuses them once the user is gone):
    /// [`AuthService::delete_user`](crate::AuthService::delete_user) revokes them first.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the delete fails.
    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let res = user::Entity::delete_by_id(id).exec(self.conn()).await;
        self.invalidate(id);
        Ok(res.map_err(storage)?.rows_affected > 0)
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
            .exec(self.conn())
            .await;
        self.invalidate(id);
        Ok(res.map_err(storage)?.rows_affected > 0)
    }
}

#[async_trait]
impl UserStore for DbUserStore {
    type User = User;

    async fn find_by_email(&self, normalised_email: &str) -> Result<Option<User>> {
        // No stored address holds a NUL (PostgreSQL text cannot): nobody, not a storage error
        // (a login with one must fail as any unknown address does).
        if normalised_email.contains('\0') {
            return Ok(None);
        }
        // Exact on every database (binary collation on MySQL / MariaDB, migration 9); checked
        // here as well, so a database left with a case- or accent-insensitive collation still
        // never answers with a look-alike's account.
        Ok(user::Entity::find()
            .filter(user::Column::Email.eq(normalised_email))
            .one(self.conn())
            .await
            .map_err(storage)?
            .filter(|m| m.email == normalised_email)
            .map(User::from))
    }

    async fn find_by_id(&self, id: &str) -> Result<Option<User>> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(None);
        };
        if let Some(user) = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&id, self.clock.now()))
        {
            return Ok(Some(user));
        }
        // Taken before the query: a write committed meanwhile keeps this read out of the cache.
        let epoch = self.cache_epoch();
        let user = user::Entity::find_by_id(id)
            .one(self.conn())
            .await
            .map_err(storage)?
            .map(User::from);
        if let Some(user) = &user {
            self.offer_cached(epoch, user);
        }
        Ok(user)
    }

    async fn set_password_hash(&self, id: &str, hash: &str) -> Result<()> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(());
        };
        // Hash and credential version in one statement: no reader sees one without the other.
        let res = user::Entity::update_many()
            .col_expr(user::Column::Password, Expr::value(hash.to_owned()))
            .col_expr(
                user::Column::CredentialVersion,
                Expr::col(user::Column::CredentialVersion).add(1),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(user::Column::Id.eq(id))
            .exec(self.conn())
            .await;
        self.invalidate(id);
        res.map_err(storage).map(drop)
    }

    async fn upgrade_password_hash(&self, id: &str, old: &str, upgraded: &str) -> Result<bool> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let res = user::Entity::update_many()
            .col_expr(user::Column::Password, Expr::value(upgraded.to_owned()))
            .col_expr(user::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::Password.eq(old))
            .exec(self.conn())
            .await;
        self.invalidate(id);
        Ok(res.map_err(storage)?.rows_affected == 1)
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

    async fn set_email(&self, id: &str, current: &str, new: &str) -> Result<bool> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let res = user::Entity::update_many()
            .col_expr(user::Column::Email, Expr::value(new.to_owned()))
            .col_expr(user::Column::IsVerified, Expr::value(true))
            .col_expr(user::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::Email.eq(current))
            .exec(self.conn())
            .await;
        self.invalidate(id);
        match res {
            Ok(r) => Ok(r.rows_affected == 1),
            Err(e) => Err(match testudo_db::Error::from(e) {
                e if e.is_unique_violation() => Error::EmailTaken,
                e => e.into(),
            }),
        }
    }

    async fn replace_password_hash(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        let Ok(id) = id.parse::<i64>() else {
            return Ok(false);
        };
        let res = user::Entity::update_many()
            .col_expr(user::Column::Password, Expr::value(new.to_owned()))
            .col_expr(
                user::Column::CredentialVersion,
                Expr::col(user::Column::CredentialVersion).add(1),
            )
            .col_expr(user::Column::UpdatedAt, Expr::value(self.clock.now()))
            .filter(user::Column::Id.eq(id))
            .filter(user::Column::Password.eq(old))
            .exec(self.conn())
            .await;
        self.invalidate(id);
        Ok(res.map_err(storage)?.rows_affected == 1)
    }
}
