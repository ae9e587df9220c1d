//! Sessions of a user: the list (with each one's device context), revoking one, "sign out
//! everywhere else", and a password change that keeps the current session.
//!
//! A session is a token family: one login and every pair rotation made of it. The token
//! backend keeps them ([`TokenBackend::supports_sessions`]): the database backend and the JWT
//! backend with its revocation list do; a stateless JWT backend (no revocation list: it has
//! nowhere to keep them, nor a way to revoke) and custom backends that do not implement the
//! session methods answer [`SessionsNotSupported`] (as [`Error::Configuration`]), never an
//! empty list that would pretend there is nothing to revoke.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use testudo_core::{
    AuthUser, Error, Result, SessionRef, SessionsNotSupported, TokenError, TokenPair, TokenPayload,
    TokenType, UserStore,
};
use testudo_events::{Event, EventUser};
use testudo_hashers::check_password_length;

use crate::service::bind_version;
use crate::{AuthService, ValidatorPolicy};

#[cfg(doc)]
use testudo_core::TokenBackend;

/// One live session of a user, as [`AuthService::list_sessions`] lists it.
///
/// "Last used" is the last login or refresh of the session: verifying an access token does not
/// move it (authentication stays one query).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The session id (stable across refreshes): what [`AuthService::revoke_session`] takes.
    pub id: String,
    /// When the login happened.
    pub created_at: DateTime<Utc>,
    /// The last login or refresh of the session.
    pub last_used_at: DateTime<Utc>,
    /// The client's IP address at login, when known.
    pub ip: Option<String>,
    /// The client's user agent at login, when known.
    pub user_agent: Option<String>,
    /// Whether this is the session of the token passed to [`AuthService::list_sessions`].
    pub current: bool,
}

impl<S: UserStore> AuthService<S> {
    /// The backend's sessions, or the typed refusal when it keeps none.
    fn require_sessions(&self) -> Result<()> {
        if self.backend.supports_sessions() {
            Ok(())
        } else {
            Err(SessionsNotSupported.into())
        }
    }

    /// The payload of `token`, valid as an access token or else as a refresh token.
    async fn verify_any(&self, token: &str) -> Result<TokenPayload> {
        match self.backend.verify_token(token, TokenType::Access).await {
            Ok(payload) => Ok(payload),
            Err(Error::Token(_)) => self.backend.verify_token(token, TokenType::Refresh).await,
            Err(e) => Err(e),
        }
    }

    /// The session of a valid token (access or refresh) of an active user whose credentials
    /// did not change since it was issued.
    async fn current_session(&self, token: &str) -> Result<(S::User, SessionRef)> {
        let payload = self.verify_any(token).await?;
        let user = self.active_user(&payload.sub).await?;
        crate::service::check_version(&payload, &user)?;
        let session = self
            .backend
            .session_of(token)
            .await?
            .filter(|s| s.user_id == payload.sub)
            .ok_or_else(|| Error::from(TokenError::Revoked))?;
        Ok((user, session))
    }

    /// The live sessions of `user_id`, newest first, each with its device context;
    /// `current_token` (an access or a refresh token, e.g. the caller's own) marks its session
    /// [`SessionInfo::current`] when it belongs to `user_id` (an unknown, foreign or invalid
    /// token marks none).
    ///
    /// # Errors
    ///
    /// [`SessionsNotSupported`] (as [`Error::Configuration`]) when the token backend keeps no
    /// sessions (a JWT backend without its revocation list, or a custom backend without the
    /// session methods);
    /// [`Error::Storage`].
    #[tracing::instrument(name = "testudo.list_sessions", skip_all, fields(user_id = user_id))]
    pub async fn list_sessions(
        &self,
        user_id: &str,
        current_token: Option<&str>,
    ) -> Result<Vec<SessionInfo>> {
        self.bounded(async move {
            self.require_sessions()?;
            let current = match current_token {
                Some(token) => self
                    .backend
                    .session_of(token)
                    .await?
                    .filter(|s| s.user_id == user_id)
                    .map(|s| s.session_id),
                None => None,
            };
            let sessions = self.backend.list_sessions(user_id).await?;
            Ok(sessions
                .into_iter()
                .map(|s| SessionInfo {
                    current: current.as_deref() == Some(s.id.as_str()),
                    id: s.id,
                    created_at: s.created_at,
                    last_used_at: s.last_used_at,
                    ip: s.ip,
                    user_agent: s.user_agent,
                })
                .collect())
        })
        .await
    }

    /// Revokes session `session_id` (every token of it) if it is a live session of `user_id`:
    /// `true` when it was revoked, `false` when `user_id` has no such live session (a user
    /// cannot revoke another's session by its id; nothing is revoked then).
    ///
    /// # Errors
    ///
    /// [`SessionsNotSupported`] (as [`Error::Configuration`]); [`Error::Storage`].
    #[tracing::instrument(name = "testudo.revoke_session", skip_all, fields(user_id = user_id))]
    pub async fn revoke_session(&self, user_id: &str, session_id: &str) -> Result<bool> {
        self.bounded(async move {
            self.require_sessions()?;
            let revoked = self
                .backend
                .revoke_user_session(user_id, session_id)
                .await?;
            tracing::info!(revoked, "session revoked");
            Ok(revoked)
        })
        .await
    }

    /// "Sign out everywhere else": the session of `current_token` (a valid access or refresh
    /// token) survives, every other session of its user is revoked; returns how many tokens
    /// were revoked and emits `user_logout`.
    ///
    /// Atomic with concurrent refreshes: the revocation is one transaction serialized with the
    /// user's token writes, so a refresh of another session racing with it ends revoked (its
    /// new pair revoked here, or its token found revoked), never with a surviving pair.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] when `current_token` is not a valid token (nothing is revoked);
    /// [`testudo_core::AuthenticationError::UserNotFound`] /
    /// [`testudo_core::AuthenticationError::UserInactive`]; [`SessionsNotSupported`] (as
    /// [`Error::Configuration`]); [`Error::Storage`]; [`Error::Event`] (after the revocation).
    #[tracing::instrument(name = "testudo.logout_others", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn logout_others(&self, current_token: &str) -> Result<u64> {
        self.bounded(async move {
            self.require_sessions()?;
            let (user, session) = self.current_session(current_token).await?;
            tracing::Span::current().record("user_id", session.user_id.as_str());
            let revoked = self
                .backend
                .revoke_other_sessions(&session.user_id, &session.session_id)
                .await?;
            tracing::info!(revoked, "other sessions revoked");
            self.emit(Event::UserLogout {
                user: EventUser::from_user(&user),
            })
            .await?;
            Ok(revoked)
        })
        .await
    }

    /// [`Self::set_password`] keeping the caller's session: `refresh_token` (the caller's own,
    /// valid, of `user`) names it. Every other session is revoked (whatever
    /// `revoke_tokens_on_password_change` says), and the kept session is rotated into a new
    /// pair bound to the new credentials, returned with the updated user: the session keeps
    /// its id and device context, and its old pair stops working, as every token issued before
    /// a password change does.
    ///
    /// A refresh token is needed (not an access token) because the kept session must be
    /// re-issued under the new credential version, which only a rotation does.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] when `refresh_token` is not a valid refresh token of `user` (nothing is
    /// changed); as [`Self::set_password`]; [`SessionsNotSupported`] (as
    /// [`Error::Configuration`]).
    #[tracing::instrument(name = "testudo.set_password_keeping_session", skip_all, fields(user_id = tracing::field::Empty))]
    pub async fn set_password_keeping_session(
        &self,
        user: &S::User,
        password: &str,
        policy: ValidatorPolicy,
        refresh_token: &str,
    ) -> Result<(S::User, TokenPair)> {
        self.bounded(async move {
            self.require_sessions()?;
            let id = user.id();
            tracing::Span::current().record("user_id", id.as_str());
            let payload = self
                .backend
                .verify_token(refresh_token, TokenType::Refresh)
                .await?;
            if payload.sub != id {
                return Err(TokenError::Revoked.into());
            }
            let (_, session) = self.current_session(refresh_token).await?;
            check_password_length(password, self.config.max_password_length)?;
            if policy == ValidatorPolicy::Run {
                self.validators.validate(password, Some(user))?;
            }
            let hash = self.hasher.hash(SecretString::from(password)).await?;
            // Bumps the credential version: every token issued before stops authenticating.
            self.store.set_password_hash(&id, &hash).await?;
            let updated = self
                .store
                .find_by_id(&id)
                .await?
                .ok_or(testudo_core::AuthenticationError::UserNotFound)?;
            let n = self
                .backend
                .revoke_other_sessions(&id, &session.session_id)
                .await?;
            tracing::info!(
                revoked = n,
                "other sessions revoked after a password change"
            );
            let mut extra = payload.extra.clone().unwrap_or_default();
            bind_version(&mut extra, updated.credential_version());
            let (_, pair) = self
                .backend
                .rotate_with_claims(refresh_token, extra)
                .await?;
            self.clear_email_tokens(&updated).await?;
            self.emit(Event::PasswordChanged {
                user: EventUser::from_user(&updated),
            })
            .await?;
            Ok((updated, pair))
        })
        .await
    }
}
