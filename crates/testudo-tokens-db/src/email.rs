//! Passwordless email tokens: Moth's scheme, without Moth's defects.
//!
//! Tokens come from the OS random generator and only their SHA-256 digests are stored; a token
//! that fails because of its IP or its expiry is deleted; expiry is compared as a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use testudo_config::AuthConfig;
use testudo_core::{Clock, InvalidReason, SystemClock, TokenError, saturating_add};
use testudo_db::Database;

use crate::Result;
use crate::entity::{email_retval as retval, email_token as token};
use crate::token::{digest_eq, generate_token, hash_token};

/// The purpose of passwordless login tokens: the default of [`EmailTokenOptions::purpose`] and
/// what [`EmailTokenStore::auth_token`] accepts.
pub const LOGIN_PURPOSE: &str = "login";

/// Options of [`EmailTokenStore::create_token`]: by default a single-use login token
/// ([`LOGIN_PURPOSE`]) with the configured lifetime and length, bound to no IP.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EmailTokenOptions {
    /// Bind the token to this IP address: it only authenticates from there.
    pub ip: Option<String>,
    /// Lifetime; `None` uses `AuthConfig::email_token_lifetime`.
    pub expires_in: Option<Duration>,
    /// Length in characters of `[A-Za-z0-9]`; `None` uses `AuthConfig::token_length`.
    pub token_size: Option<usize>,
    /// Store this return value for the address (as [`EmailTokenStore::set_retval`]).
    pub retval: Option<String>,
    /// Consume the token on its first successful use. Default true: a link that keeps working
    /// after it was used is a credential lying in a mailbox; turn it off only for a flow that
    /// needs it (Moth's default, testudo's opt-in).
    pub single_use: bool,
    /// What the token may be used for ([`LOGIN_PURPOSE`] by default): it is accepted only by
    /// [`EmailTokenStore::auth_token_for`] with the same purpose.
    pub purpose: String,
}

impl Default for EmailTokenOptions {
    fn default() -> Self {
        Self {
            ip: None,
            expires_in: None,
            token_size: None,
            retval: None,
            single_use: true,
            purpose: LOGIN_PURPOSE.to_owned(),
        }
    }
}

impl EmailTokenOptions {
    /// Default options.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`EmailTokenOptions::ip`].
    #[must_use]
    pub fn ip(mut self, ip: impl Into<String>) -> Self {
        self.ip = Some(ip.into());
        self
    }

    /// Sets [`EmailTokenOptions::expires_in`].
    #[must_use]
    pub fn expires_in(mut self, d: Duration) -> Self {
        self.expires_in = Some(d);
        self
    }

    /// Sets [`EmailTokenOptions::token_size`].
    #[must_use]
    pub fn token_size(mut self, n: usize) -> Self {
        self.token_size = Some(n);
        self
    }

    /// Sets [`EmailTokenOptions::retval`].
    #[must_use]
    pub fn retval(mut self, v: impl Into<String>) -> Self {
        self.retval = Some(v.into());
        self
    }

    /// Sets [`EmailTokenOptions::single_use`].
    #[must_use]
    pub fn single_use(mut self, yes: bool) -> Self {
        self.single_use = yes;
        self
    }

    /// Sets [`EmailTokenOptions::purpose`].
    #[must_use]
    pub fn purpose(mut self, purpose: impl Into<String>) -> Self {
        self.purpose = purpose.into();
        self
    }
}

/// A successful email-token authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthOutcome {
    /// The address has a stored return value.
    Retval(String),
    /// Authenticated; no return value is stored.
    Success,
}

pub use testudo_core::normalize_email;

/// Stores passwordless email tokens in `testudo_email_tokens`.
#[derive(Debug, Clone)]
pub struct EmailTokenStore {
    db: Database,
    config: Arc<AuthConfig>,
    clock: Arc<dyn Clock>,
}

impl EmailTokenStore {
    /// A store on `db`, with lifetimes and token length from `config`.
    #[must_use]
    pub fn new(db: Database, config: Arc<AuthConfig>) -> Self {
        Self {
            db,
            config,
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Creates a token for `email` and returns it (raw; only its digest is stored).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage), [`Error::Random`](crate::Error::Random).
    pub async fn create_token(&self, email: &str, options: EmailTokenOptions) -> Result<String> {
        let email = normalize_email(email);
        let len = options
            .token_size
            .unwrap_or(self.config.token_length)
            .clamp(16, 1024);
        let raw = generate_token(len)?;
        let now = self.clock.now();
        let lifetime = options
            .expires_in
            .unwrap_or(self.config.email_token_lifetime);
        let expires = saturating_add(now, lifetime);
        let txn = self.db.begin().await?;
        token::ActiveModel {
            email: Set(email.clone()),
            token_hash: Set(hash_token(&raw)),
            ip: Set(options.ip),
            created_at: Set(now),
            expires_at: Set(expires),
            single_use: Set(options.single_use),
            purpose: Set(options.purpose),
            ..Default::default()
        }
        .insert(&txn)
        .await?;
        if let Some(v) = options.retval {
            Self::put_retval(&txn, &email, v, now).await?;
        }
        txn.commit().await?;
        Ok(raw)
    }

    /// Authenticates `email` with a login token ([`LOGIN_PURPOSE`]) from `ip`: see
    /// [`EmailTokenStore::auth_token_for`].
    ///
    /// # Errors
    ///
    /// As [`EmailTokenStore::auth_token_for`].
    pub async fn auth_token(
        &self,
        email: &str,
        token: &str,
        ip: Option<&str>,
    ) -> Result<AuthOutcome> {
        self.auth_token_for(LOGIN_PURPOSE, email, token, ip).await
    }

    /// Authenticates `email` with `token`, created for `purpose`, from `ip`. On success returns
    /// the stored return value (or [`AuthOutcome::Success`]) and deletes a single-use token; a
    /// token that is expired or used from another IP than the one it is bound to is deleted and
    /// refused; a token of another purpose or another address is unknown here.
    ///
    /// # Errors
    ///
    /// [`TokenError::Invalid`] (unknown token, other address or purpose, wrong IP),
    /// [`TokenError::Expired`], [`Error::Storage`](crate::Error::Storage).
    pub async fn auth_token_for(
        &self,
        purpose: &str,
        email: &str,
        token: &str,
        ip: Option<&str>,
    ) -> Result<AuthOutcome> {
        let email = normalize_email(email);
        // No stored address holds a NUL (PostgreSQL text cannot): such an address is unknown,
        // not a storage error.
        if token.is_empty()
            || token.len() > 1024
            || !token.bytes().all(|b| b.is_ascii_alphanumeric())
            || email.contains('\0')
        {
            return Err(TokenError::invalid(InvalidReason::NotFound).into());
        }
        let hash = hash_token(token);
        let row = token::Entity::find()
            .filter(token::Column::TokenHash.eq(hash.as_str()))
            .filter(token::Column::Email.eq(email.as_str()))
            .one(self.db.as_sea_orm())
            .await?;
        let Some(row) = row.filter(|r| {
            digest_eq(&r.token_hash, &hash) && r.email == email && r.purpose == purpose
        }) else {
            return Err(TokenError::invalid(InvalidReason::NotFound).into());
        };
        let now = self.clock.now();
        let refusal = if now >= row.expires_at {
            Some(TokenError::Expired)
        } else if row.ip.as_deref().is_some_and(|bound| Some(bound) != ip) {
            Some(TokenError::invalid(InvalidReason::WrongAddress))
        } else {
            None
        };
        if let Some(err) = refusal {
            token::Entity::delete_by_id(row.id)
                .exec(self.db.as_sea_orm())
                .await?;
            return Err(err.into());
        }
        if row.single_use {
            let res = token::Entity::delete_by_id(row.id)
                .exec(self.db.as_sea_orm())
                .await?;
            if res.rows_affected != 1 {
                // Used concurrently: only the caller that deleted it wins.
                return Err(TokenError::invalid(InvalidReason::NotFound).into());
            }
        }
        Ok(match self.fetch_retval(&email).await? {
            Some(v) => AuthOutcome::Retval(v),
            None => AuthOutcome::Success,
        })
    }

    async fn put_retval<C: sea_orm::ConnectionTrait>(
        db: &C,
        email: &str,
        value: String,
        now: DateTime<Utc>,
    ) -> Result<()> {
        retval::Entity::delete_by_id(email.to_owned())
            .exec(db)
            .await?;
        retval::ActiveModel {
            email: Set(email.to_owned()),
            retval: Set(value),
            updated_at: Set(now),
        }
        .insert(db)
        .await?;
        Ok(())
    }

    /// Stores the return value of `email`, replacing any previous one.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn set_retval(&self, email: &str, value: impl Into<String>) -> Result<()> {
        let email = normalize_email(email);
        let txn = self.db.begin().await?;
        Self::put_retval(&txn, &email, value.into(), self.clock.now()).await?;
        txn.commit().await?;
        Ok(())
    }

    /// The return value of `email`, if any.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn fetch_retval(&self, email: &str) -> Result<Option<String>> {
        let email = normalize_email(email);
        Ok(retval::Entity::find_by_id(email)
            .one(self.db.as_sea_orm())
            .await?
            .map(|r| r.retval))
    }

    /// Deletes one token of `email`; returns whether it existed.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn remove_token(&self, email: &str, token: &str) -> Result<bool> {
        let email = normalize_email(email);
        let res = token::Entity::delete_many()
            .filter(token::Column::TokenHash.eq(hash_token(token)))
            .filter(token::Column::Email.eq(email))
            .exec(self.db.as_sea_orm())
            .await?;
        Ok(res.rows_affected > 0)
    }

    /// Deletes every pending token of `email` (whatever its purpose), keeping its return value;
    /// returns how many. `AuthService` calls it when it ends the user's sessions (logout
    /// everywhere, a password change), so no link mailed before outlives them.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn remove_tokens(&self, email: &str) -> Result<u64> {
        let res = token::Entity::delete_many()
            .filter(token::Column::Email.eq(normalize_email(email)))
            .exec(self.db.as_sea_orm())
            .await?;
        Ok(res.rows_affected)
    }

    /// Deletes every token and the return value of `email`; returns the rows deleted.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn remove_user(&self, email: &str) -> Result<u64> {
        let email = normalize_email(email);
        let txn = self.db.begin().await?;
        let a = token::Entity::delete_many()
            .filter(token::Column::Email.eq(email.as_str()))
            .exec(&txn)
            .await?;
        let b = retval::Entity::delete_by_id(email).exec(&txn).await?;
        txn.commit().await?;
        Ok(a.rows_affected + b.rows_affected)
    }

    /// Deletes expired email tokens; returns how many.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`](crate::Error::Storage).
    pub async fn cleanup_expired(&self) -> Result<u64> {
        let res = token::Entity::delete_many()
            .filter(token::Column::ExpiresAt.lte(self.clock.now()))
            .exec(self.db.as_sea_orm())
            .await?;
        Ok(res.rows_affected)
    }
}
