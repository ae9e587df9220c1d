//! What a password login answers when the account may have a second factor.

use std::fmt;

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use testudo_core::AuthResult;

/// What [`AuthService::login_start`](crate::AuthService::login_start) answers.
///
/// Its own type, rather than an [`AuthResult`] that sometimes lacks tokens, so a caller must
/// say what it does with each case; [`AuthService::login`](crate::AuthService::login), which
/// existing callers use, refuses an account with a second factor
/// ([`AuthenticationError::SecondFactorRequired`](testudo_core::AuthenticationError::SecondFactorRequired))
/// instead of answering tokens, so no caller written before second factors existed can skip
/// one.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "a login that asks for a second factor has issued no tokens"]
pub enum LoginStart<U> {
    /// The account has no second factor: the login is complete.
    Complete(AuthResult<U>),
    /// The password was right and the account has a second factor: no tokens yet. Ask for a
    /// code and call [`AuthService::complete_login`](crate::AuthService::complete_login) with
    /// this challenge.
    SecondFactor(LoginChallenge),
}

/// The pending second step of a login: a random, single-use, short-lived value (stored only as
/// a keyed digest). `Debug` does not show it.
#[derive(Clone)]
pub struct LoginChallenge {
    pub(crate) token: SecretString,
    pub(crate) expires_at: DateTime<Utc>,
}

impl LoginChallenge {
    /// The value to hand the client (it comes back with the code).
    #[must_use]
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// When it stops being accepted (`login_challenge_lifetime` after the password check).
    #[must_use]
    pub fn expires_at(&self) -> DateTime<Utc> {
        self.expires_at
    }
}

impl fmt::Debug for LoginChallenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginChallenge")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
