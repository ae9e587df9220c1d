//! `make_token` / `verify_token`: timestamped tokens with the `:` separator.
//!
//! These module functions, the reference's convenience API, are the only part of the crate that
//! reads the process-wide configuration ([`testudo_config::get_config`]); the types take what
//! they need as arguments.

use std::time::Duration;

use testudo_core::{ExposeSecret as _, SecretString};

use crate::error::{Error, Result};
use crate::signer::Signer;
use crate::timestamp::TimestampSigner;

/// The maximum age asked of [`verify_token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MaxAge {
    /// The configured `signing_token_lifetime` (default 24 h): [`verify_token`] reads it from the
    /// process-wide configuration. tortoise-auth never reads that setting and checks no age by
    /// default; testudo does.
    #[default]
    Default,
    /// At most this many seconds old.
    Seconds(u64),
    /// No age check at all (the reference's `max_age=None`); must be asked for explicitly.
    Unlimited,
}

impl MaxAge {
    /// The age limit in whole seconds this stands for, `None` for no limit; [`MaxAge::Default`]
    /// stands for `default` (pass the configuration's `signing_token_lifetime`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use testudo_signing::MaxAge;
    ///
    /// let day = Duration::from_secs(86_400);
    /// assert_eq!(MaxAge::Default.resolve(day), Some(86_400));
    /// assert_eq!(MaxAge::Seconds(60).resolve(day), Some(60));
    /// assert_eq!(MaxAge::Unlimited.resolve(day), None);
    /// ```
    #[must_use]
    pub fn resolve(self, default: Duration) -> Option<u64> {
        match self {
            Self::Default => Some(default.as_secs()),
            Self::Seconds(s) => Some(s),
            Self::Unlimited => None,
        }
    }
}

impl From<Option<u64>> for MaxAge {
    fn from(max_age: Option<u64>) -> Self {
        max_age.map_or(Self::Unlimited, Self::Seconds)
    }
}

/// The signer of the module functions: `secret`, or, when it is empty, the process-wide
/// configuration's signing secret (tortoise-auth's fallback; its fallback secrets are not used).
fn signer_for(secret: &str) -> Result<TimestampSigner> {
    // The reference accepts any non-empty secret: so do its module functions.
    if !secret.is_empty() {
        return Signer::new_unchecked(secret).map(TimestampSigner::from);
    }
    let config = testudo_config::get_config();
    let configured: &SecretString = config
        .effective_signing_secret()
        .filter(|s| !s.expose_secret().is_empty())
        .ok_or(Error::MissingSecret)?;
    Signer::new_unchecked(configured.expose_secret()).map(TimestampSigner::from)
}

/// `TimestampSigner::new(secret)?.sign_with_timestamp(value)`: an empty `secret` uses the
/// process-wide configuration's `signing_secret` ([`testudo_config::get_config`]), as
/// tortoise-auth does.
///
/// # Errors
///
/// [`crate::Error::MissingSecret`] if `secret` is empty and none is configured.
pub fn make_token(value: &str, secret: &str) -> Result<String> {
    Ok(signer_for(secret)?.sign_with_timestamp(value))
}

/// Verifies a token made by [`make_token`] and returns its value. An empty `secret` uses the
/// process-wide configuration's `signing_secret`, and [`MaxAge::Default`] its
/// `signing_token_lifetime`.
///
/// # Errors
///
/// [`crate::Error::MissingSecret`] as [`make_token`]; otherwise as
/// [`TimestampSigner::unsign_with_timestamp`].
pub fn verify_token(token: &str, max_age: MaxAge, secret: &str) -> Result<String> {
    let signer = signer_for(secret)?;
    let max_age = max_age.resolve(testudo_config::get_config().signing_token_lifetime);
    signer
        .unsign_with_timestamp(token, max_age)
        .map(str::to_owned)
}
