//! Throttling of [`AuthService`]'s guessable entry points with a [`RateLimiter`]
//! ([`AuthServiceBuilder::rate_limiter`](crate::AuthServiceBuilder::rate_limiter)).
//!
//! Each attempt is checked and counted *before* any work (lookup, hashing, mail): a refused
//! attempt costs one limiter call and answers [`Error::RateLimited`] with the wait.
//!
//! | entry point | scope | counted per | policy |
//! |---|---|---|---|
//! | `login` | `login` | normalised address; and client address | `rate_limit_*` |
//! | `request_reset` | `password_reset` | normalised address; and client address | `password_reset_rate_limit_*` |
//! | `request_login_link` | `login_link` | normalised address; and client address | `password_reset_rate_limit_*` |
//! | `verify_email_code` | `verification_code` | user id | `rate_limit_*` |
//! | `confirm_totp`, `complete_login` | `second_factor` | user id; and client address | `rate_limit_*` |
//! | `reauthenticate` | `reauthenticate` | user id | `rate_limit_*` |
//! | `register` | `registration` | normalised address; and client address | `rate_limit_*` |
//! | `start_onboarding`, `resend_onboarding_code` (`*_from`) | `onboarding_start` | normalised address; and client address | `password_reset_rate_limit_*` |
//! | onboarding codes (`onboarding_step(_from)` of `verify_email`) | `verification_code` | normalised address; and client address | `rate_limit_*` |
//! | onboarding TOTP (`onboarding_step(_from)` of `setup_totp`) | `second_factor` | normalised address; and client address | `rate_limit_*` |
//!
//! The per-address key protects the account whatever the number of clients guessing; the
//! per-client key (when the caller passes the client's address) allows
//! [`CLIENT_FACTOR`] times more, so one client spraying many accounts slows down without a
//! whole office behind one NAT being locked out by a colleague's typos. A successful login
//! resets its address's counter.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use testudo_core::{Error, Result, UserStore};
use testudo_events::Event;
use testudo_throttle::{Decision, Policy, RateKey, RateLimiter};

use crate::AuthService;

/// How many more attempts one client address is allowed than one identifier, per scope.
pub const CLIENT_FACTOR: u32 = 20;

/// What is throttled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "db"),
    expect(
        dead_code,
        reason = "login links, codes and second factors need the database"
    )
)]
pub(crate) enum Scope {
    Login,
    PasswordReset,
    LoginLink,
    VerificationCode,
    SecondFactor,
    Reauthenticate,
    OnboardingStart,
    Registration,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::PasswordReset => "password_reset",
            Self::LoginLink => "login_link",
            Self::VerificationCode => "verification_code",
            Self::SecondFactor => "second_factor",
            Self::Reauthenticate => "reauthenticate",
            Self::OnboardingStart => "onboarding_start",
            Self::Registration => "registration",
        }
    }
}

/// The limiter and the policies the configuration gives.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    limiter: Arc<dyn RateLimiter>,
    login: Policy,
    reset: Policy,
}

impl Throttle {
    pub(crate) fn new(limiter: Arc<dyn RateLimiter>, config: &testudo_config::AuthConfig) -> Self {
        Self {
            limiter,
            login: Policy::login(config),
            reset: Policy::password_reset(config),
        }
    }

    fn policy(&self, scope: Scope) -> &Policy {
        match scope {
            Scope::Login
            | Scope::VerificationCode
            | Scope::SecondFactor
            | Scope::Reauthenticate
            | Scope::Registration => &self.login,
            Scope::PasswordReset | Scope::LoginLink | Scope::OnboardingStart => &self.reset,
        }
    }

    pub(crate) fn limiter(&self) -> &Arc<dyn RateLimiter> {
        &self.limiter
    }
}

/// The client address a caller passed, when it is one (anything else is not counted per
/// client: the identifier is still counted).
pub(crate) fn client_ip(ip: Option<&str>) -> Option<IpAddr> {
    ip.and_then(|s| s.trim().parse().ok())
}

/// The wait of a refused attempt, if refused.
fn wait(decision: Decision) -> Option<Duration> {
    match decision {
        Decision::Limited { retry_after } => Some(retry_after),
        Decision::Allowed { .. } => None,
    }
}

impl<S: UserStore> AuthService<S> {
    /// Counts one attempt of `identifier` (and of the client at `ip`) in `scope`; refuses with
    /// [`Error::RateLimited`] (after emitting `rate_limit_exceeded`) when either key is over
    /// its limit. Does nothing without a rate limiter.
    pub(crate) async fn throttle(
        &self,
        scope: Scope,
        identifier: &str,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        let Some(throttle) = &self.throttle else {
            return Ok(());
        };
        let policy = throttle.policy(scope);
        let key = RateKey::new(scope.name(), identifier);
        let mut retry_after = wait(throttle.limiter.hit(&key, policy).await?);
        if let Some(ip) = ip {
            let per_client = Policy {
                max_attempts: policy.max_attempts.saturating_mul(CLIENT_FACTOR),
                ..*policy
            };
            let client = RateKey::new(scope.name(), "").with_ip(ip);
            let client_wait = wait(throttle.limiter.hit(&client, &per_client).await?);
            retry_after = retry_after.max(client_wait);
        }
        let Some(retry_after) = retry_after else {
            return Ok(());
        };
        tracing::info!(
            scope = scope.name(),
            retry_after_ms = u64::try_from(retry_after.as_millis()).unwrap_or(u64::MAX),
            "attempt refused by throttling"
        );
        self.emit(Event::RateLimitExceeded {
            scope: scope.name().into(),
            identifier: identifier.to_owned(),
            retry_after,
        })
        .await?;
        Err(Error::RateLimited { retry_after })
    }

    /// Forgets the attempts of `identifier` in `scope` (after a successful login).
    pub(crate) async fn throttle_reset(&self, scope: Scope, identifier: &str) -> Result<()> {
        match &self.throttle {
            Some(t) => {
                t.limiter
                    .reset(&RateKey::new(scope.name(), identifier))
                    .await
            }
            None => Ok(()),
        }
    }

    /// The rate limiter, when one is configured
    /// ([`AuthServiceBuilder::rate_limiter`](crate::AuthServiceBuilder::rate_limiter)); call
    /// its `cleanup` from a periodic task.
    #[must_use]
    pub fn rate_limiter(&self) -> Option<&Arc<dyn RateLimiter>> {
        self.throttle.as_ref().map(Throttle::limiter)
    }
}
