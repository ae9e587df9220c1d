//! The token backend port.

use async_trait::async_trait;

use crate::error::{InvalidReason, Result, TokenError};
use crate::session::{Session, SessionContext, SessionRef, SessionsNotSupported};
use crate::token::{Claims, TokenPair, TokenPayload, TokenType};

/// Issues, verifies and revokes token pairs.
///
/// testudo ships two implementations: `DatabaseTokenBackend` (opaque tokens stored as SHA-256
/// digests, in `testudo-tokens-db`) and `JwtBackend` (stateless JWTs with an optional revocation
/// list, in `testudo-tokens-jwt`). `AuthService` holds one as `Arc<dyn TokenBackend>`.
///
/// # Example
///
/// A minimal in-memory backend (no expiry, for illustration only):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use testudo_core::{async_trait, Claims, InvalidReason, Result, TokenBackend, TokenError, TokenPair, TokenPayload, TokenType};
///
/// #[derive(Debug, Default)]
/// struct MemoryBackend {
///     // raw token -> (payload, revoked)
///     tokens: Mutex<HashMap<String, (TokenPayload, bool)>>,
///     counter: Mutex<u64>,
/// }
///
/// impl MemoryBackend {
///     fn issue(&self, user_id: &str, token_type: TokenType, extra: Option<Claims>) -> String {
///         let mut n = self.counter.lock().unwrap();
///         *n += 1;
///         let raw = format!("{token_type}-{n}");
///         let payload = TokenPayload { sub: user_id.into(), token_type, jti: n.to_string(), iat: 0, exp: i64::MAX, extra };
///         self.tokens.lock().unwrap().insert(raw.clone(), (payload, false));
///         raw
///     }
/// }
///
/// #[async_trait]
/// impl TokenBackend for MemoryBackend {
///     async fn create_tokens(&self, user_id: &str, extra: Claims) -> Result<TokenPair> {
///         let extra = (!extra.is_empty()).then_some(extra);
///         let access = self.issue(user_id, TokenType::Access, extra);
///         let refresh = self.issue(user_id, TokenType::Refresh, None);
///         Ok(TokenPair::new(access, refresh))
///     }
///     async fn verify_token(&self, token: &str, expected: TokenType) -> Result<TokenPayload> {
///         match self.tokens.lock().unwrap().get(token) {
///             Some((_, true)) => Err(TokenError::Revoked.into()),
///             Some((p, false)) if p.token_type == expected => Ok(p.clone()),
///             _ => Err(TokenError::invalid(InvalidReason::NotFound).into()),
///         }
///     }
///     async fn revoke_token(&self, token: &str) -> Result<()> {
///         if let Some(entry) = self.tokens.lock().unwrap().get_mut(token) { entry.1 = true; }
///         Ok(())
///     }
///     async fn revoke_all_for_user(&self, user_id: &str) -> Result<u64> {
///         let mut n = 0;
///         for (p, revoked) in self.tokens.lock().unwrap().values_mut() {
///             if p.sub == user_id && !*revoked { *revoked = true; n += 1; }
///         }
///         Ok(n)
///     }
///     async fn cleanup_expired(&self) -> Result<u64> { Ok(0) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<()> {
/// let backend = MemoryBackend::default();
/// let pair = backend.create_tokens("42", Claims::new()).await?;
/// let payload = backend.verify_token(pair.access_token(), TokenType::Access).await?;
/// assert_eq!(payload.sub, "42");
/// // The default `rotate` verifies, revokes and re-issues (not atomic: see its docs).
/// let (old, next) = backend.rotate(pair.refresh_token()).await?;
/// assert_eq!(old.sub, "42");
/// assert!(backend.verify_token(pair.refresh_token(), TokenType::Refresh).await.is_err());
/// assert!(backend.verify_token(next.refresh_token(), TokenType::Refresh).await.is_ok());
/// # Ok(()) }
/// ```
#[async_trait]
pub trait TokenBackend: Send + Sync + std::fmt::Debug {
    /// Issues a new access / refresh pair for `user_id`; `extra` claims go into the access token
    /// (an empty map means none).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the pair cannot be stored.
    async fn create_tokens(&self, user_id: &str, extra: Claims) -> Result<TokenPair>;

    /// Verifies `token` as a token of type `expected` and returns its payload.
    ///
    /// # Errors
    ///
    /// [`TokenError::Invalid`] for unknown, malformed, wrongly signed or wrong-type tokens,
    /// [`TokenError::Revoked`] for revoked ones (checked before expiry), [`TokenError::Expired`]
    /// for expired ones; [`crate::Error::Storage`] when the store cannot be read.
    async fn verify_token(&self, token: &str, expected: TokenType) -> Result<TokenPayload>;

    /// Revokes the presented refresh token and issues the next pair, returning the payload of the
    /// presented token and the new pair.
    ///
    /// The built-in backends override this with an atomic version: of several concurrent calls
    /// with the same token exactly one succeeds. This default (verify, revoke, create) is **not
    /// atomic**: two concurrent calls may both succeed. Override it in a backend used with
    /// concurrent refreshes.
    ///
    /// # Errors
    ///
    /// As [`TokenBackend::verify_token`] with [`TokenType::Refresh`], plus storage errors.
    async fn rotate(&self, refresh_token: &str) -> Result<(TokenPayload, TokenPair)> {
        let payload = self.verify_token(refresh_token, TokenType::Refresh).await?;
        self.revoke_token(refresh_token).await?;
        let pair = self
            .create_tokens(&payload.sub, payload.extra.clone().unwrap_or_default())
            .await?;
        Ok((payload, pair))
    }

    /// As [`TokenBackend::rotate`], the new pair carrying `extra` as its extra claims instead
    /// of the presented token's (`AuthService` uses it when a refresh-claims hook recomputes
    /// them from the user). The built-in backends keep what binds the session (its start, for
    /// `session_max_lifetime`) from the presented token.
    ///
    /// The default verifies, revokes and issues, **not atomically** (as the default
    /// [`TokenBackend::rotate`]); override it along with `rotate`.
    ///
    /// # Errors
    ///
    /// As [`TokenBackend::rotate`].
    async fn rotate_with_claims(
        &self,
        refresh_token: &str,
        extra: Claims,
    ) -> Result<(TokenPayload, TokenPair)> {
        let payload = self.verify_token(refresh_token, TokenType::Refresh).await?;
        self.revoke_token(refresh_token).await?;
        let pair = self.create_tokens(&payload.sub, extra).await?;
        Ok((payload, pair))
    }

    /// Revokes one token (access or refresh). Unknown tokens are ignored.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn revoke_token(&self, token: &str) -> Result<()>;

    /// Revokes the session `token` belongs to: the pair it was issued with and every pair
    /// rotation made of it (its token family), so a logout leaves no refresh token alive.
    /// Unknown tokens are ignored.
    ///
    /// The default revokes `token` alone; the built-in backends revoke the family (the JWT
    /// backend with its revocation list only).
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn revoke_session(&self, token: &str) -> Result<()> {
        self.revoke_token(token).await
    }

    /// Revokes every token of `user_id` and returns how many were revoked.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn revoke_all_for_user(&self, user_id: &str) -> Result<u64>;

    /// Deletes expired rows and returns how many were deleted.
    ///
    /// # Errors
    ///
    /// [`crate::Error::Storage`] when the store cannot be written.
    async fn cleanup_expired(&self) -> Result<u64>;

    /// As [`TokenBackend::create_tokens`], recording `client` (IP, user agent) with the session
    /// the pair starts. Every login of `AuthService` issues its pair through this method.
    ///
    /// The default ignores `client` and calls [`TokenBackend::create_tokens`]: a backend that
    /// keeps sessions overrides it.
    ///
    /// # Errors
    ///
    /// As [`TokenBackend::create_tokens`].
    async fn create_tokens_for(
        &self,
        user_id: &str,
        extra: Claims,
        client: &SessionContext,
    ) -> Result<TokenPair> {
        let _ = client;
        self.create_tokens(user_id, extra).await
    }

    /// Whether this backend keeps sessions ([`TokenBackend::list_sessions`] and the methods
    /// after it work). The default: `false`.
    fn supports_sessions(&self) -> bool {
        false
    }

    /// The session `token` (access or refresh) belongs to, whether or not the token is still
    /// valid (callers verify it first when that matters); `None` for an unknown token.
    ///
    /// # Errors
    ///
    /// [`SessionsNotSupported`] (as [`crate::Error::Configuration`]) by default;
    /// [`crate::Error::Storage`].
    async fn session_of(&self, token: &str) -> Result<Option<SessionRef>> {
        let _ = token;
        Err(SessionsNotSupported.into())
    }

    /// The live sessions of `user_id` (at least one token of the family neither revoked nor
    /// expired), newest first.
    ///
    /// # Errors
    ///
    /// [`SessionsNotSupported`] (as [`crate::Error::Configuration`]) by default;
    /// [`crate::Error::Storage`].
    async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>> {
        let _ = user_id;
        Err(SessionsNotSupported.into())
    }

    /// Revokes session `session_id` if it belongs to `user_id`; `false` when there is no such
    /// session of that user (another user's session is left alone).
    ///
    /// # Errors
    ///
    /// [`SessionsNotSupported`] (as [`crate::Error::Configuration`]) by default;
    /// [`crate::Error::Storage`].
    async fn revoke_user_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        let _ = (user_id, session_id);
        Err(SessionsNotSupported.into())
    }

    /// Revokes every session of `user_id` but `keep`, and returns how many tokens were revoked.
    /// Atomic with the user's concurrent rotations: once it returns, no pair of another
    /// session is alive, even one a refresh racing with it issued.
    ///
    /// # Errors
    ///
    /// [`SessionsNotSupported`] (as [`crate::Error::Configuration`]) by default;
    /// [`crate::Error::Storage`].
    async fn revoke_other_sessions(&self, user_id: &str, keep: &str) -> Result<u64> {
        let _ = (user_id, keep);
        Err(SessionsNotSupported.into())
    }

    /// Whether [`TokenBackend::revoke_token`] and [`TokenBackend::revoke_all_for_user`] really
    /// revoke anything. A JWT backend without a revocation list answers `false`: its tokens stay
    /// valid until they expire, and callers (such as `AuthService::logout_all`) say so instead of
    /// pretending.
    fn supports_revocation(&self) -> bool {
        true
    }
}

/// The rotation grace window of the built-in backends: 5 seconds. This is the one statement of
/// the invariant; the backends' `with_rotation_grace` change the window.
///
/// With reuse detection on (`AuthConfig::refresh_reuse_detection`), presenting a refresh token
/// that was already rotated revokes every token of its family (the login it descends from) —
/// but only once that rotation is at least this old, by the backend's clock. Presented again
/// within the window, the token is answered [`TokenError::Revoked`] and nothing else happens:
/// that is how the losers of N concurrent rotations of one token look (a client retrying, two
/// tabs refreshing at once), and revoking the family there would kill the winner's new pair.
/// The cost: a thief replaying a stolen token within those seconds of the owner's rotation gets
/// Revoked without revoking the family; any later replay, by either side, still revokes it. A
/// zero window treats every second presentation as a replay.
pub const DEFAULT_ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Helper used by backends: the error for a token that is not of the expected type.
#[doc(hidden)]
#[must_use]
pub fn wrong_type(expected: TokenType, got: Option<TokenType>) -> TokenError {
    TokenError::invalid(InvalidReason::WrongType { expected, got })
}
