//! Token vocabulary: types, pairs and verified payloads.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::error::{InvalidReason, TokenError};

/// Extra claims carried by a token (a JSON object), e.g. `{"role": "admin"}`.
pub type Claims = serde_json::Map<String, serde_json::Value>;

/// The two kinds of token a backend issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    /// Short-lived token presented on every request.
    Access,
    /// Long-lived token exchanged for a new pair.
    Refresh,
}

impl TokenType {
    /// The name used in JWT claims and database rows: `"access"` or `"refresh"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
        }
    }
}

impl fmt::Display for TokenType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenType {
    type Err = TokenError;

    /// Parses `"access"` or `"refresh"` (exact, case-sensitive, as the reference).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "access" => Ok(Self::Access),
            "refresh" => Ok(Self::Refresh),
            _ => Err(TokenError::invalid(InvalidReason::UnknownType)),
        }
    }
}

/// An access token and the refresh token issued with it.
///
/// Both are secrets: `Debug` shows neither. Read them with [`TokenPair::access_token`] and
/// [`TokenPair::refresh_token`] where they are sent to the client.
#[derive(Clone)]
pub struct TokenPair {
    /// The access token.
    pub access_token: SecretString,
    /// The refresh token.
    pub refresh_token: SecretString,
}

impl TokenPair {
    /// Builds a pair from the two raw tokens.
    #[must_use]
    pub fn new(access_token: impl Into<String>, refresh_token: impl Into<String>) -> Self {
        Self {
            access_token: SecretString::from(access_token.into()),
            refresh_token: SecretString::from(refresh_token.into()),
        }
    }

    /// The raw access token, to hand to the client.
    #[must_use]
    pub fn access_token(&self) -> &str {
        self.access_token.expose_secret()
    }

    /// The raw refresh token, to hand to the client.
    #[must_use]
    pub fn refresh_token(&self) -> &str {
        self.refresh_token.expose_secret()
    }
}

impl fmt::Debug for TokenPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenPair").finish_non_exhaustive()
    }
}

/// What a backend learned from a verified token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenPayload {
    /// The subject: the user id as text.
    pub sub: String,
    /// Access or refresh.
    pub token_type: TokenType,
    /// The token's unique id (32 lowercase hex digits for tokens testudo issues).
    pub jti: String,
    /// Issued at, in seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, in seconds since the Unix epoch.
    pub exp: i64,
    /// Extra claims given at issue time, if any.
    pub extra: Option<Claims>,
}

/// The extra claim that carries the user's [credential
/// version](crate::AuthUser::credential_version) in both tokens of a pair (absent for version
/// 0): `AuthService` sets it at login and checks it on `authenticate` and `refresh`; the
/// built-in backends carry it into the refresh token and across rotation. Reserved: a value an
/// application passes under this name is replaced.
pub const CREDENTIAL_VERSION_CLAIM: &str = "cv";

impl TokenPayload {
    /// The credential version the token was issued under
    /// ([`CREDENTIAL_VERSION_CLAIM`]; 0 when absent or not a non-negative integer).
    #[must_use]
    pub fn credential_version(&self) -> u64 {
        self.extra
            .as_ref()
            .and_then(|e| e.get(CREDENTIAL_VERSION_CLAIM))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0)
    }
}

/// The result of a successful login: the user and a fresh token pair.
#[derive(Debug, Clone)]
pub struct AuthResult<U> {
    /// The authenticated user.
    pub user: U,
    /// The token pair issued for this login.
    pub tokens: TokenPair,
}

impl<U> AuthResult<U> {
    /// The issued token pair.
    #[must_use]
    pub fn tokens(&self) -> &TokenPair {
        &self.tokens
    }

    /// The raw access token.
    #[must_use]
    pub fn access_token(&self) -> &str {
        self.tokens.access_token()
    }

    /// The raw refresh token.
    #[must_use]
    pub fn refresh_token(&self) -> &str {
        self.tokens.refresh_token()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_type_round_trips_through_its_name() {
        for t in [TokenType::Access, TokenType::Refresh] {
            assert_eq!(t.as_str().parse::<TokenType>(), Ok(t));
            assert_eq!(serde_json::to_string(&t).ok(), Some(format!("\"{t}\"")));
        }
        assert!("Access".parse::<TokenType>().is_err());
    }

    #[test]
    fn token_pair_debug_hides_both_tokens() {
        let pair = TokenPair::new("access-secret", "refresh-secret");
        let shown = format!("{pair:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert_eq!(pair.access_token(), "access-secret");
        let result = AuthResult {
            user: 7,
            tokens: pair,
        };
        assert!(!format!("{result:?}").contains("secret"));
        assert_eq!(result.refresh_token(), "refresh-secret");
    }
}
