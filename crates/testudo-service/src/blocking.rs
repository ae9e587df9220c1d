//! A blocking [`AuthService`] for synchronous programs (feature `blocking`).
//!
//! It owns a single-threaded tokio runtime and runs each call of the async service to
//! completion on it (password hashing still runs on the runtime's blocking threads, bounded as
//! usual). Create the database connection inside this runtime ([`AuthService::connect`] or
//! [`AuthService::build`]): connections belong to the runtime that opened them.
//!
//! It must not be used from inside an async runtime (blocking there would stall the runtime):
//! every call, including construction, then returns [`crate::Error::InsideRuntime`] (as
//! [`testudo_core::Error::Configuration`]) instead of panicking. Async code uses
//! [`crate::AuthService`] directly.

use std::future::Future;

use testudo_core::{AuthResult, Claims, Result, SessionContext, TokenPair, UserStore};
use tokio::runtime::{Builder, Handle, Runtime};

use crate::{LoginStart, LogoutAll, SessionInfo, ValidatorPolicy};

/// The blocking counterpart of [`crate::AuthService`]: same operations, same errors.
pub struct AuthService<S: UserStore> {
    runtime: Option<Runtime>,
    inner: crate::AuthService<S>,
}

impl<S: UserStore> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("blocking::AuthService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S: UserStore> Drop for AuthService<S> {
    fn drop(&mut self) {
        // Dropping a runtime blocks until its tasks stop, which panics inside another runtime;
        // shutting it down in the background never does.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn outside_runtime() -> Result<()> {
    if Handle::try_current().is_ok() {
        return Err(crate::Error::InsideRuntime.into());
    }
    Ok(())
}

/// Blocking counterparts of the async methods of the same name: each runs the async method on
/// the private runtime, with the same errors plus [`crate::Error::InsideRuntime`].
macro_rules! blocking_methods {
    ($( $(#[$attr:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        $(
            #[doc = concat!("See [`crate::AuthService::", stringify!($name), "`].")]
            ///
            /// # Errors
            ///
            #[doc = concat!(
                "As [`crate::AuthService::", stringify!($name),
                "`], plus [`crate::Error::InsideRuntime`]."
            )]
            $(#[$attr])*
            pub fn $name(&self $(, $arg: $ty)*) -> Result<$ret> {
                self.run(self.inner.$name($($arg),*))
            }
        )*
    };
}

impl<S: UserStore> AuthService<S> {
    /// Starts a runtime and builds the async service on it with `make` (connect to the database
    /// there).
    ///
    /// # Errors
    ///
    /// [`crate::Error::InsideRuntime`] / [`crate::Error::Runtime`] as
    /// [`testudo_core::Error::Configuration`]; whatever `make` returns.
    pub fn build<F, Fut>(make: F) -> Result<Self>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<crate::AuthService<S>>>,
    {
        outside_runtime()?;
        let runtime = Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(crate::Error::Runtime)?;
        let inner = runtime.block_on(make())?;
        Ok(Self {
            runtime: Some(runtime),
            inner,
        })
    }

    /// Runs `future` to completion on this service's runtime (e.g. running migrations, or other
    /// async code using the same database connection).
    ///
    /// # Errors
    ///
    /// [`crate::Error::InsideRuntime`] as [`testudo_core::Error::Configuration`].
    pub fn block_on<F: Future>(&self, future: F) -> Result<F::Output> {
        outside_runtime()?;
        match &self.runtime {
            Some(runtime) => Ok(runtime.block_on(future)),
            None => Err(crate::Error::InsideRuntime.into()),
        }
    }

    fn run<T>(&self, future: impl Future<Output = Result<T>>) -> Result<T> {
        self.block_on(future)?
    }

    /// The async service inside (for its accessors; run its futures with [`Self::block_on`]).
    #[must_use]
    pub fn inner(&self) -> &crate::AuthService<S> {
        &self.inner
    }

    blocking_methods! {
        fn login(&self, email: &str, password: &str, extra: Claims) -> AuthResult<S::User>;
        fn authenticate(&self, access_token: &str) -> S::User;
        fn refresh(&self, refresh_token: &str) -> TokenPair;
        fn logout(&self, token: &str) -> ();
        fn logout_all(&self, user_id: &str) -> LogoutAll;
        fn set_password(&self, user: &S::User, password: &str, policy: ValidatorPolicy) -> S::User;
        fn check_password(&self, user: &S::User, password: &str) -> bool;
        fn set_unusable_password(&self, user: &S::User) -> S::User;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn request_login_link(&self, email: &str, ip: Option<&str>) -> ();
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn login_with_email_token(&self, email: &str, token: &str, ip: Option<&str>) -> AuthResult<S::User>;
    }
}

/// The account flows.
impl<S: UserStore> AuthService<S> {
    blocking_methods! {
        fn login_from(&self, email: &str, password: &str, extra: Claims, ip: Option<&str>) -> AuthResult<S::User>;
        fn request_reset(&self, email: &str, ip: Option<&str>) -> ();
        fn confirm_reset(&self, token: &str, new_password: &str) -> S::User;
        fn request_email_verification(&self, user: &S::User) -> ();
        fn verify_email(&self, token: &str) -> S::User;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn request_verification_code(&self, user: &S::User) -> ();
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn verify_email_code(&self, user: &S::User, code: &str) -> S::User;
        fn request_email_change(&self, user: &S::User, new_email: &str) -> ();
        fn confirm_email_change(&self, token: &str) -> S::User;
    }
}

/// Sessions, and logins recording the client's device context.
impl<S: UserStore> AuthService<S> {
    blocking_methods! {
        fn login_with_context(&self, email: &str, password: &str, extra: Claims, client: &SessionContext) -> AuthResult<S::User>;
        fn login_start_with_context(&self, email: &str, password: &str, extra: Claims, client: &SessionContext) -> LoginStart<S::User>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn complete_login_with_context(&self, challenge: &str, code: &str, client: &SessionContext) -> AuthResult<S::User>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn login_with_email_token_with_context(&self, email: &str, token: &str, client: &SessionContext) -> AuthResult<S::User>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn login_with_email_token_start_with_context(&self, email: &str, token: &str, client: &SessionContext) -> LoginStart<S::User>;
        fn list_sessions(&self, user_id: &str, current_token: Option<&str>) -> Vec<SessionInfo>;
        fn revoke_session(&self, user_id: &str, session_id: &str) -> bool;
        fn logout_others(&self, current_token: &str) -> u64;
        fn set_password_keeping_session(&self, user: &S::User, password: &str, policy: ValidatorPolicy, refresh_token: &str) -> (S::User, TokenPair);
    }
}

/// Second factors and step-up.
impl<S: UserStore> AuthService<S> {
    blocking_methods! {
        fn login_start(&self, email: &str, password: &str, extra: Claims, ip: Option<&str>) -> LoginStart<S::User>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn login_with_email_token_start(&self, email: &str, token: &str, ip: Option<&str>) -> LoginStart<S::User>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn complete_login(&self, challenge: &str, code: &str, ip: Option<&str>) -> AuthResult<S::User>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn has_second_factor(&self, user: &S::User) -> bool;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn reauthenticate(&self, user: &S::User, password: &str) -> ();
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn enroll_totp(&self, user: &S::User) -> crate::TotpEnrolment;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn confirm_totp(&self, user: &S::User, code: &str) -> Vec<secrecy::SecretString>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn remove_totp(&self, user: &S::User) -> ();
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn regenerate_recovery_codes(&self, user: &S::User) -> Vec<secrecy::SecretString>;
        #[cfg(feature = "db")]
        #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
        fn recovery_codes_remaining(&self, user: &S::User) -> u64;
    }
}

#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
impl AuthService<crate::DbUserStore> {
    /// Connects to `url` (with [`testudo_db::Database::connect`]'s options) on a new runtime and
    /// builds the service with [`crate::AuthService::new`]. The tables must exist: run the
    /// migrations with [`Self::block_on`] (see the crate example).
    ///
    /// # Errors
    ///
    /// As [`Self::build`]; [`testudo_core::Error::Storage`] when the database cannot be opened.
    pub fn connect(url: &str, config: std::sync::Arc<testudo_config::AuthConfig>) -> Result<Self> {
        Self::build(|| async move {
            let db = testudo_db::Database::connect(url).await?;
            crate::AuthService::new(config, db)
        })
    }

    blocking_methods! {
        fn create_user(&self, email: &str, password: &str) -> crate::User;
        fn start_onboarding(&self, email: &str) -> crate::onboarding::OnboardingStart;
        fn start_onboarding_from(&self, email: &str, ip: Option<&str>) -> crate::onboarding::OnboardingStart;
        fn resend_onboarding_code(&self, token: &str) -> ();
        fn resend_onboarding_code_from(&self, token: &str, ip: Option<&str>) -> ();
        fn onboarding_status(&self, token: &str) -> crate::onboarding::OnboardingStatus;
        fn onboarding_step(&self, token: &str, step: &str, input: crate::onboarding::StepInput) -> crate::onboarding::OnboardingStatus;
        fn onboarding_step_from(&self, token: &str, step: &str, input: crate::onboarding::StepInput, ip: Option<&str>) -> crate::onboarding::OnboardingStatus;
        fn verify_onboarding_code(&self, token: &str, code: &str) -> crate::onboarding::OnboardingStatus;
        fn set_onboarding_password(&self, token: &str, password: &str) -> crate::onboarding::OnboardingStatus;
        fn finish_onboarding(&self, token: &str) -> AuthResult<crate::User>;
        fn finish_onboarding_with_context(&self, token: &str, client: &SessionContext) -> AuthResult<crate::User>;
        fn cleanup_onboarding_sessions(&self) -> u64;
    }
}
