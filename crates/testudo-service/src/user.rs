//! The built-in user and the anonymous user.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use testudo_core::{AuthUser, UserAttributes};

/// A user of the built-in `testudo_users` table: the counterpart of tortoise-auth's
/// `AbstractUser` fields.
///
/// Returned by [`DbUserStore`](crate::DbUserStore) and by
/// [`AuthService`](crate::AuthService) operations on it. The password field holds a hash (or an
/// unusable sentinel), never a password; `Debug` omits it anyway.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct User {
    /// Primary key.
    pub id: i64,
    /// Normalised (trimmed, lower-cased) email address, the login identifier.
    pub email: String,
    /// The stored password hash, or an unusable sentinel.
    pub password: String,
    /// Last successful login.
    pub last_login: Option<DateTime<Utc>>,
    /// Whether the user may log in.
    pub is_active: bool,
    /// Whether the email address has been verified.
    pub is_verified: bool,
    /// Application-defined join time (testudo never sets it).
    pub joined_at: Option<DateTime<Utc>>,
    /// Row creation time.
    pub created_at: DateTime<Utc>,
    /// Last modification time.
    pub updated_at: DateTime<Utc>,
    /// The credential version ([`AuthUser::credential_version`]): incremented by every
    /// password change; tokens issued under an older one no longer authenticate.
    pub credential_version: u64,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("has_usable_password", &self.has_usable_password())
            .field("last_login", &self.last_login)
            .field("is_active", &self.is_active)
            .field("is_verified", &self.is_verified)
            .field("joined_at", &self.joined_at)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .field("credential_version", &self.credential_version)
            .finish()
    }
}

impl User {
    /// Whether the stored password can ever verify (not empty, not an unusable `!...` sentinel).
    #[must_use]
    pub fn has_usable_password(&self) -> bool {
        testudo_hashers::is_usable(&self.password)
    }

    /// Replaces the password in memory with a fresh unusable sentinel (as tortoise-auth: nothing
    /// is saved; [`AuthService::set_unusable_password`](crate::AuthService::set_unusable_password)
    /// saves it).
    ///
    /// # Errors
    ///
    /// [`testudo_core::Error::Configuration`] when the operating system's random generator fails.
    pub fn set_unusable_password(&mut self) -> testudo_core::Result<()> {
        self.password = testudo_hashers::make_unusable_password()?;
        Ok(())
    }

    /// Always `true` for a real user (for middleware that also handles [`AnonymousUser`]).
    #[must_use]
    pub const fn is_authenticated(&self) -> bool {
        true
    }

    /// Always `false` for a real user.
    #[must_use]
    pub const fn is_anonymous(&self) -> bool {
        false
    }
}

impl UserAttributes for User {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "email" => Some(Cow::Borrowed(self.email.as_str())),
            "id" => Some(Cow::Owned(self.id.to_string())),
            _ => None,
        }
    }
}

impl AuthUser for User {
    fn id(&self) -> String {
        self.id.to_string()
    }
    fn email(&self) -> &str {
        &self.email
    }
    fn password_hash(&self) -> &str {
        &self.password
    }
    fn is_active(&self) -> bool {
        self.is_active
    }
    fn is_verified(&self) -> bool {
        self.is_verified
    }
    fn last_login(&self) -> Option<DateTime<Utc>> {
        self.last_login
    }
    fn credential_version(&self) -> u64 {
        self.credential_version
    }
}

/// The user of a request that carries no (valid) credentials.
///
/// ```
/// use testudo_service::AnonymousUser;
///
/// let anon = AnonymousUser;
/// assert!(anon.is_anonymous());
/// assert!(!anon.is_authenticated());
/// assert!(!anon.has_usable_password());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct AnonymousUser;

impl AnonymousUser {
    /// Always `false`.
    #[must_use]
    pub const fn is_authenticated(&self) -> bool {
        false
    }

    /// Always `true`.
    #[must_use]
    pub const fn is_anonymous(&self) -> bool {
        true
    }

    /// Always `false`: an anonymous user has no password.
    #[must_use]
    pub const fn has_usable_password(&self) -> bool {
        false
    }
}

// The one email rule of testudo is defined in testudo-core; the crate root re-exports it from
// here, and the user store imports it from here.
pub use testudo_core::normalize_email;
