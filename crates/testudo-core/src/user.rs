//! The user-store port: what `AuthService` needs from any user model.

use std::borrow::Cow;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::Result;

/// Gives attribute values of a user by name, for validators such as the similarity check.
///
/// This is the Rust counterpart of tortoise-auth reading `getattr(user, name)`. It needs no
/// database: implement it for any struct, or use a map.
///
/// ```
/// use std::collections::HashMap;
/// use testudo_core::UserAttributes;
///
/// let user = HashMap::from([("email".to_string(), "alice@example.com".to_string())]);
/// assert_eq!(user.attribute("email").as_deref(), Some("alice@example.com"));
/// assert_eq!(user.attribute("phone"), None);
/// ```
pub trait UserAttributes: Send + Sync {
    /// The value of the attribute called `name`, if the user has one.
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl<S: std::hash::BuildHasher + Send + Sync> UserAttributes
    for std::collections::HashMap<String, String, S>
{
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl UserAttributes for std::collections::BTreeMap<String, String> {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl<T: UserAttributes + ?Sized> UserAttributes for &T {
    fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
        (**self).attribute(name)
    }
}

/// A user as `AuthService` sees it: the counterpart of tortoise-auth's `AbstractUser` fields.
///
/// The default [`UserAttributes::attribute`] lookup an implementation should provide covers at
/// least `"email"`, so the similarity validator works out of the box.
pub trait AuthUser: UserAttributes + Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The user's id as text; stored in tokens as their subject (`sub`).
    fn id(&self) -> String;
    /// The normalised (trimmed, lower-cased) email address, the login identifier.
    fn email(&self) -> &str;
    /// The stored password hash (a PHC / modular-crypt string, or an unusable sentinel).
    fn password_hash(&self) -> &str;
    /// Whether the account may log in.
    fn is_active(&self) -> bool;
    /// Whether the email address has been verified.
    fn is_verified(&self) -> bool;
    /// When the user last logged in, if ever.
    fn last_login(&self) -> Option<DateTime<Utc>>;
    /// The user's credential version (security stamp): changed by every
    /// [`UserStore::set_password_hash`], and carried by every token issued to the user (claim
    /// [`CREDENTIAL_VERSION_CLAIM`](crate::CREDENTIAL_VERSION_CLAIM)), so that `AuthService`
    /// refuses a token issued under an older version, such as one a login in flight obtained
    /// after a password change it had not seen.
    ///
    /// The default, a constant 0, binds nothing: sessions then end on a password change only
    /// through the backend's revocation. A store with a version column returns it here.
    fn credential_version(&self) -> u64 {
        0
    }
}

/// Where `AuthService` finds and updates users.
///
/// testudo ships `DbUserStore` for its own `testudo_users` table; implement this trait to use an
/// application's own user table instead. It replaces tortoise-auth's `AuthConfig.user_model`.
///
/// # Example
///
/// ```
/// use std::borrow::Cow;
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use chrono::{DateTime, Utc};
/// use testudo_core::{async_trait, AuthUser, Result, UserAttributes, UserStore};
///
/// #[derive(Debug, Clone)]
/// struct User { id: u64, email: String, hash: String, active: bool, verified: bool, last_login: Option<DateTime<Utc>> }
///
/// impl UserAttributes for User {
///     fn attribute(&self, name: &str) -> Option<Cow<'_, str>> {
///         (name == "email").then(|| Cow::Borrowed(self.email.as_str()))
///     }
/// }
///
/// impl AuthUser for User {
///     fn id(&self) -> String { self.id.to_string() }
///     fn email(&self) -> &str { &self.email }
///     fn password_hash(&self) -> &str { &self.hash }
///     fn is_active(&self) -> bool { self.active }
///     fn is_verified(&self) -> bool { self.verified }
///     fn last_login(&self) -> Option<DateTime<Utc>> { self.last_login }
/// }
///
/// #[derive(Debug, Default)]
/// struct MemoryStore { users: Mutex<HashMap<u64, User>> }
///
/// impl MemoryStore {
///     fn update(&self, id: &str, f: impl FnOnce(&mut User)) {
///         let Ok(id) = id.parse::<u64>() else { return };
///         if let Some(user) = self.users.lock().unwrap().get_mut(&id) {
///             f(user);
///         }
///     }
/// }
///
/// #[async_trait]
/// impl UserStore for MemoryStore {
///     type User = User;
///     async fn find_by_email(&self, email: &str) -> Result<Option<User>> {
///         Ok(self.users.lock().unwrap().values().find(|u| u.email == email).cloned())
///     }
///     async fn find_by_id(&self, id: &str) -> Result<Option<User>> {
///         let Ok(id) = id.parse::<u64>() else { return Ok(None) };
///         Ok(self.users.lock().unwrap().get(&id).cloned())
///     }
///     async fn set_password_hash(&self, id: &str, hash: &str) -> Result<()> {
///         self.update(id, |u| u.hash = hash.to_owned());
///         Ok(())
///     }
///     async fn record_login(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
///         self.update(id, |u| u.last_login = Some(at));
///         Ok(())
///     }
///     async fn mark_verified(&self, id: &str) -> Result<()> {
///         self.update(id, |u| u.verified = true);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<()> {
/// let store = MemoryStore::default();
/// store.users.lock().unwrap().insert(1, User {
///     id: 1, email: "alice@example.com".into(), hash: String::new(),
///     active: true, verified: false, last_login: None,
/// });
/// store.mark_verified("1").await?;
/// let alice = store.find_by_email("alice@example.com").await?.expect("alice exists");
/// assert!(alice.is_verified());
/// assert!(store.find_by_id("not-a-number").await?.is_none());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    /// The user type this store returns.
    type User: AuthUser;

    /// Finds a user by email. `normalised_email` is already trimmed and lower-cased
    /// ([`normalize_email`](crate::normalize_email)); the store must compare it **exactly**
    /// (byte for byte) with the stored addresses, never through an accent- or case-insensitive
    /// collation: `alice@exämple.com` must not find `alice@example.com`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be read.
    async fn find_by_email(&self, normalised_email: &str) -> Result<Option<Self::User>>;

    /// Finds a user by id (the text form stored in tokens). An id that cannot be parsed for this
    /// store is `Ok(None)`, not an error.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be read.
    async fn find_by_id(&self, id: &str) -> Result<Option<Self::User>>;

    /// Saves a new password hash for the user (a password change, or an unusable password)
    /// and, in the same write, changes the user's
    /// [credential version](AuthUser::credential_version), so that tokens issued before stop
    /// authenticating.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn set_password_hash(&self, id: &str, hash: &str) -> Result<()>;

    /// Replaces the hash `old` of the same password with its `upgraded` rehash (transparent
    /// upgrade at login), only if the stored hash is still `old` (a compare-and-swap), without
    /// changing the credential version; returns whether it replaced it. `false` means the
    /// password changed meanwhile: the stale upgrade must not undo that change.
    ///
    /// The default is **not** a compare-and-swap: it calls [`UserStore::set_password_hash`]
    /// (which also ends the user's other sessions) and answers `true`. Override it in a store
    /// that can make the write conditional.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn upgrade_password_hash(&self, id: &str, old: &str, upgraded: &str) -> Result<bool> {
        let _ = old;
        self.set_password_hash(id, upgraded).await?;
        Ok(true)
    }

    /// Records a successful login at `at`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn record_login(&self, id: &str, at: DateTime<Utc>) -> Result<()>;

    /// Marks the user's email address as verified (after a passwordless email login).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn mark_verified(&self, id: &str) -> Result<()>;

    /// Changes the user's address from `current` to `new` (normalised), which its owner has
    /// just proven (the email-change flow), only if it is still `current` (a compare-and-swap);
    /// the new address is marked verified in the same write. Returns whether it changed it.
    ///
    /// The default refuses with [`crate::Error::Configuration`]: a store that can change
    /// addresses overrides it.
    ///
    /// # Errors
    ///
    /// [`crate::Error::EmailTaken`] when another user has the address;
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn set_email(&self, id: &str, current: &str, new: &str) -> Result<bool> {
        let _ = (id, current, new);
        Err(crate::Error::configuration(
            "this user store cannot change email addresses (implement UserStore::set_email)",
        ))
    }

    /// Saves `new` as the user's password hash only if the stored hash is still `old` (a
    /// compare-and-swap), changing the credential version in the same write as
    /// [`UserStore::set_password_hash`] does; returns whether it saved it. A password-reset link
    /// is used this way, so two uses of one link cannot both set a password.
    ///
    /// The default is **not** a compare-and-swap: it calls [`UserStore::set_password_hash`] and
    /// answers `true`. Override it in a store that can make the write conditional.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn replace_password_hash(&self, id: &str, old: &str, new: &str) -> Result<bool> {
        let _ = old;
        self.set_password_hash(id, new).await?;
        Ok(true)
    }
}
