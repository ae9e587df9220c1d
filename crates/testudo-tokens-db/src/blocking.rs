//! A blocking [`EmailTokenStore`] for synchronous programs (feature `blocking`): Moth's `Moth`
//! beside `AsyncMoth`, with the same method names as the async store.
//!
//! It owns a single-threaded tokio runtime and runs each call of the async
//! [`crate::EmailTokenStore`] to completion on it. Open the database inside this runtime
//! ([`EmailTokenStore::connect`] or [`EmailTokenStore::build`]): connections belong to the
//! runtime that opened them. Like Moth's constructor, building it blocks while it connects.
//!
//! It must not be used from inside an async runtime (blocking there would stall it): every
//! call, construction included, then returns [`Error::InsideRuntime`]
//! instead of panicking. Async code uses [`crate::EmailTokenStore`].
//!
//! ```
//! use std::sync::Arc;
//! use testudo_config::AuthConfig;
//! use testudo_tokens_db::blocking::EmailTokenStore;
//! use testudo_tokens_db::{AuthOutcome, EmailTokenOptions};
//!
//! let store = EmailTokenStore::connect("sqlite::memory:", Arc::new(AuthConfig::default()))?;
//! let token = store.create_token("ann@example.com", EmailTokenOptions::new().retval("user-7"))?;
//! let outcome = store.auth_token("ann@example.com", &token, None)?;
//! assert_eq!(outcome, AuthOutcome::Retval("user-7".into()));
//! # Ok::<(), testudo_tokens_db::Error>(())
//! ```

use std::future::Future;
use std::sync::Arc;

use testudo_config::AuthConfig;
use testudo_db::Database;
use tokio::runtime::{Builder, Handle, Runtime};

use crate::{AuthOutcome, EmailTokenOptions, Error, Result};

/// The blocking counterpart of [`crate::EmailTokenStore`]: same methods, same errors, plus
/// [`Error::InsideRuntime`].
pub struct EmailTokenStore {
    runtime: Option<Runtime>,
    inner: crate::EmailTokenStore,
}

impl std::fmt::Debug for EmailTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::EmailTokenStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl Drop for EmailTokenStore {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which panics inside another runtime; a
        // background shutdown never does.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Refuses to block inside an async runtime.
fn outside_runtime() -> Result<()> {
    if Handle::try_current().is_ok() {
        return Err(Error::InsideRuntime);
    }
    Ok(())
}

impl EmailTokenStore {
    /// Starts a runtime and builds the async store on it with `make` (open the database
    /// there).
    ///
    /// # Errors
    ///
    /// [`Error::InsideRuntime`],
    /// [`Error::Runtime`]; whatever `make` returns.
    pub fn build<F, Fut>(make: F) -> Result<Self>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<crate::EmailTokenStore>>,
    {
        outside_runtime()?;
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        let inner = runtime.block_on(make())?;
        Ok(Self {
            runtime: Some(runtime),
            inner,
        })
    }

    /// Connects to `url` (with [`Database::connect`]'s options) on a new runtime, runs the
    /// migrations, and builds the store with [`crate::EmailTokenStore::new`].
    ///
    /// # Errors
    ///
    /// As [`Self::build`]; [`Error::Storage`] when the database cannot
    /// be opened or migrated.
    pub fn connect(url: &str, config: Arc<AuthConfig>) -> Result<Self> {
        Self::build(|| async move {
            let db = Database::connect(url).await?;
            db.migrate().await?;
            Ok(crate::EmailTokenStore::new(db, config))
        })
    }

    /// Runs `future` to completion on this store's runtime (other async code using the same
    /// connection, e.g. the async store from [`Self::inner`]).
    ///
    /// # Errors
    ///
    /// [`Error::InsideRuntime`].
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        outside_runtime()?;
        match &self.runtime {
            Some(runtime) => Ok(runtime.block_on(future)),
            None => Err(Error::InsideRuntime),
        }
    }

    fn run<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_on(future)?
    }

    /// The async store inside (run its futures with [`Self::block_on`]).
    #[must_use]
    pub fn inner(&self) -> &crate::EmailTokenStore {
        &self.inner
    }

    /// Replaces the clock of the async store inside.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn testudo_core::Clock>) -> Self {
        self.inner = self.inner.clone().with_clock(clock);
        self
    }

    /// See [`crate::EmailTokenStore::create_token`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::create_token`], plus
    /// [`Error::InsideRuntime`].
    pub fn create_token(&self, email: &str, options: EmailTokenOptions) -> Result<String> {
        self.run(self.inner.create_token(email, options))
    }

    /// See [`crate::EmailTokenStore::auth_token`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::auth_token`], plus
    /// [`Error::InsideRuntime`].
    pub fn auth_token(&self, email: &str, token: &str, ip: Option<&str>) -> Result<AuthOutcome> {
        self.run(self.inner.auth_token(email, token, ip))
    }

    /// See [`crate::EmailTokenStore::auth_token_for`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::auth_token_for`], plus
    /// [`Error::InsideRuntime`].
    pub fn auth_token_for(
        &self,
        purpose: &str,
        email: &str,
        token: &str,
        ip: Option<&str>,
    ) -> Result<AuthOutcome> {
        self.run(self.inner.auth_token_for(purpose, email, token, ip))
    }

    /// See [`crate::EmailTokenStore::set_retval`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::set_retval`], plus
    /// [`Error::InsideRuntime`].
    pub fn set_retval(&self, email: &str, value: impl Into<String>) -> Result<()> {
        self.run(self.inner.set_retval(email, value))
    }

    /// See [`crate::EmailTokenStore::fetch_retval`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::fetch_retval`], plus
    /// [`Error::InsideRuntime`].
    pub fn fetch_retval(&self, email: &str) -> Result<Option<String>> {
        self.run(self.inner.fetch_retval(email))
    }

    /// See [`crate::EmailTokenStore::remove_token`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::remove_token`], plus
    /// [`Error::InsideRuntime`].
    pub fn remove_token(&self, email: &str, token: &str) -> Result<bool> {
        self.run(self.inner.remove_token(email, token))
    }

    /// See [`crate::EmailTokenStore::remove_tokens`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::remove_tokens`], plus
    /// [`Error::InsideRuntime`].
    pub fn remove_tokens(&self, email: &str) -> Result<u64> {
        self.run(self.inner.remove_tokens(email))
    }

    /// See [`crate::EmailTokenStore::remove_user`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::remove_user`], plus
    /// [`Error::InsideRuntime`].
    pub fn remove_user(&self, email: &str) -> Result<u64> {
        self.run(self.inner.remove_user(email))
    }

    /// See [`crate::EmailTokenStore::cleanup_expired`].
    ///
    /// # Errors
    ///
    /// As [`crate::EmailTokenStore::cleanup_expired`], plus
    /// [`Error::InsideRuntime`].
    pub fn cleanup_expired(&self) -> Result<u64> {
        self.run(self.inner.cleanup_expired())
    }
}
