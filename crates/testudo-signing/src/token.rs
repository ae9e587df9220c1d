//! `make_token` / `verify_token`: timestamped tokens with the `:` separator.

use crate::error::Result;
use crate::timestamp::TimestampSigner;

/// The maximum age asked of [`verify_token`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MaxAge {
    /// The configured `signing_token_lifetime` (default 24 h). tortoise-auth never reads that
    /// setting and checks no age by default; testudo does.
    #[default]
    Default,
    /// At most this many seconds old.
    Seconds(u64),
    /// No age check at all (the reference's `max_age=None`); must be asked for explicitly.
    Unlimited,
}

impl MaxAge {
    /// The age limit in seconds this stands for, reading the configuration for
    /// [`MaxAge::Default`].
    #[must_use]
    pub fn resolve(self) -> Option<u64> {
        match self {
            Self::Default => Some(
                testudo_config::get_config()
                    .signing_token_lifetime
                    .as_secs(),
            ),
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

/// `TimestampSigner::new(secret)?.sign_with_timestamp(value)`: an empty `secret` uses the
/// configured `signing_secret`.
///
/// # Errors
///
/// [`crate::Error::MissingSecret`] if `secret` is empty and none is configured.
pub fn make_token(value: &str, secret: &str) -> Result<String> {
    Ok(TimestampSigner::new(secret)?.sign_with_timestamp(value))
}

/// Verifies a token made by [`make_token`] and returns its value.
///
/// # Errors
///
/// [`crate::Error::MissingSecret`] as [`make_token`]; otherwise as
/// [`TimestampSigner::unsign_with_timestamp`].
pub fn verify_token(token: &str, max_age: MaxAge, secret: &str) -> Result<String> {
    let signer = TimestampSigner::new(secret)?;
    signer
        .unsign_with_timestamp(token, max_age.resolve())
        .map(str::to_owned)
}
