//! [`S2SService`]: service-to-service authentication by shared tokens.
//!
//! The accepted tokens come from the environment variable named by
//! `AuthConfig::s2s_token_env_var` (`S2S_AUTH_TOKEN` by default), comma-separated, so a token is
//! rotated without downtime: deploy `old,new`, move the callers to `new`, then deploy `new`.
//! Entries are trimmed and empty ones dropped, as in tortoise-auth.
//!
//! Unlike tortoise-auth, a caller's service name is reported as *claimed* (the
//! `claimed_service` of the events): every holder of a shared token can claim any name, so it
//! is not an identity. Give each service its own API key when the identity matters.
//!
//! ```
//! use testudo_config::AuthConfig;
//! use testudo_service::S2SService;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), testudo_core::Error> {
//! let config = AuthConfig::builder().s2s_enabled(true).build()?;
//! // In production: S2SService::from_env(&config)?, reading S2S_AUTH_TOKEN.
//! let s2s = S2SService::from_lookup(&config, |_name| Some("old-token, new-token".into()))?;
//! s2s.authenticate("new-token", Some("billing")).await?;
//! s2s.authenticate("old-token", None).await?;
//! assert!(s2s.authenticate("other", Some("billing")).await.is_err());
//! # Ok(()) }
//! ```

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};
use testudo_config::AuthConfig;
use testudo_core::{AuthenticationError, Result};
use testudo_events::{Event, EventEmitter, EventKind};

/// The longest claimed service name reported in events, in characters (longer ones are cut:
/// the name comes from the caller).
pub const MAX_CLAIMED_SERVICE_CHARS: usize = 128;

/// What setting up an [`S2SService`] can fail with; converts into
/// [`testudo_core::Error::Configuration`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum S2sError {
    /// `AuthConfig::s2s_enabled` is off.
    #[error("service-to-service authentication is not enabled (s2s_enabled)")]
    Disabled,
    /// The configured environment variable is unset, not UTF-8, or holds no token.
    #[error("s2s token environment variable '{var}' is not set or empty")]
    NoTokens {
        /// The variable's name (`AuthConfig::s2s_token_env_var`).
        var: S2sVarName,
    },
    /// [`S2SService::with_tokens`] was given no non-empty token.
    #[error("no s2s token given")]
    NoTokensGiven,
}

/// The name of the environment variable in [`S2sError::NoTokens`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct S2sVarName(Box<str>);

impl S2sVarName {
    /// The variable's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for S2sVarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<S2sError> for testudo_core::Error {
    fn from(e: S2sError) -> Self {
        Self::configuration(e)
    }
}

/// Checks service-to-service tokens against the configured ones.
///
/// Only the tokens' SHA-256 digests are kept. A presented token is hashed once and compared
/// in constant time with **every** configured digest (no early exit: the time does not tell
/// whether, or which, token matched, nor the tokens' lengths). `Debug` shows how many tokens
/// there are and the variable, never a token.
#[derive(Clone)]
pub struct S2SService {
    digests: Vec<[u8; 32]>,
    var: String,
    events: EventEmitter,
}

impl fmt::Debug for S2SService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S2SService")
            .field("var", &self.var)
            .field("tokens", &self.digests.len())
            .finish_non_exhaustive()
    }
}

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The tokens of a variable's value: split on commas, trimmed, empty ones dropped.
fn parse(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|t| !t.is_empty())
}

impl S2SService {
    /// Reads the tokens from the process environment: the variable
    /// `config.s2s_token_env_var`, read once, here.
    ///
    /// # Errors
    ///
    /// [`S2sError::Disabled`], [`S2sError::NoTokens`] (naming the variable), as
    /// [`testudo_core::Error::Configuration`].
    pub fn from_env(config: &AuthConfig) -> Result<Self> {
        Self::from_lookup(config, |name| std::env::var(name).ok())
    }

    /// As [`Self::from_env`], with `lookup` giving the value of an environment variable by
    /// name (for tests, or another source of settings).
    ///
    /// # Errors
    ///
    /// As [`Self::from_env`].
    pub fn from_lookup(
        config: &AuthConfig,
        lookup: impl FnOnce(&str) -> Option<String>,
    ) -> Result<Self> {
        if !config.s2s_enabled {
            return Err(S2sError::Disabled.into());
        }
        let var = config.s2s_token_env_var.clone();
        let value = lookup(&var).unwrap_or_default();
        let digests: Vec<[u8; 32]> = parse(&value).map(digest).collect();
        if digests.is_empty() {
            return Err(S2sError::NoTokens {
                var: S2sVarName(var.into()),
            }
            .into());
        }
        Ok(Self {
            digests,
            var,
            events: testudo_events::emitter().clone(),
        })
    }

    /// A service accepting `tokens` (each trimmed, empty ones dropped), without reading the
    /// environment.
    ///
    /// # Errors
    ///
    /// [`S2sError::Disabled`], [`S2sError::NoTokensGiven`], as
    /// [`testudo_core::Error::Configuration`].
    pub fn with_tokens<I, T>(config: &AuthConfig, tokens: I) -> Result<Self>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        if !config.s2s_enabled {
            return Err(S2sError::Disabled.into());
        }
        let digests: Vec<[u8; 32]> = tokens
            .into_iter()
            .filter_map(|t| {
                let t = t.as_ref().trim();
                (!t.is_empty()).then(|| digest(t))
            })
            .collect();
        if digests.is_empty() {
            return Err(S2sError::NoTokensGiven.into());
        }
        Ok(Self {
            digests,
            var: config.s2s_token_env_var.clone(),
            events: testudo_events::emitter().clone(),
        })
    }

    /// Replaces the event emitter (by default the process-wide one).
    #[must_use]
    pub fn with_events(mut self, events: EventEmitter) -> Self {
        self.events = events;
        self
    }

    /// How many tokens are accepted (2 during a rotation).
    #[must_use]
    pub fn token_count(&self) -> usize {
        self.digests.len()
    }

    /// Whether `token` is one of the configured tokens, compared with each in constant time.
    fn matches(&self, token: &str) -> bool {
        let presented = digest(token);
        let found = self
            .digests
            .iter()
            .fold(Choice::from(0), |acc, d| acc | d.ct_eq(&presented));
        bool::from(found)
    }

    /// Accepts `token` if it is one of the configured tokens. `claimed_service` is the name the
    /// caller gives (an `X-Service-Name` header, ...): it is passed to the events as claimed,
    /// cut to [`MAX_CLAIMED_SERVICE_CHARS`], and proves nothing.
    ///
    /// Emits `s2s_auth_success` or `s2s_auth_failed`.
    ///
    /// # Errors
    ///
    /// [`AuthenticationError::InvalidCredentials`] when the token matches none;
    /// [`testudo_core::Error::Event`] when a handler fails while errors propagate.
    #[tracing::instrument(skip_all)]
    pub async fn authenticate(&self, token: &str, claimed_service: Option<&str>) -> Result<()> {
        let ok = self.matches(token);
        let kind = if ok {
            EventKind::S2sAuthSuccess
        } else {
            EventKind::S2sAuthFailed
        };
        if self.events.has_listeners(kind) {
            let claimed_service = claimed_service.map(|s| {
                s.chars()
                    .take(MAX_CLAIMED_SERVICE_CHARS)
                    .collect::<String>()
            });
            let event = if ok {
                Event::S2sAuthSuccess { claimed_service }
            } else {
                Event::S2sAuthFailed { claimed_service }
            };
            self.events.emit(&event).await?;
        }
        if ok {
            Ok(())
        } else {
            tracing::info!("s2s token refused");
            Err(AuthenticationError::InvalidCredentials.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_split_on_commas_trimmed_and_empties_dropped() {
        let tokens: Vec<&str> = parse(" a ,b,, ,\tc\n,").collect();
        assert_eq!(tokens, ["a", "b", "c"]);
        assert_eq!(parse(" , ,").count(), 0);
    }
}
