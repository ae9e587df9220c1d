//! The extractors: [`Authenticated`], [`MaybeAuthenticated`], [`ServiceIdentity`],
//! [`ApiKey`].

use std::marker::PhantomData;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use testudo_core::{AuthenticationError, UserStore};
use testudo_service::DbUserStore;

use crate::bearer::bearer_token;
use crate::error::{Error, Missing, Result};
use crate::session::{PendingCookies, cookie_max_age};
use crate::state::{AuthState, HttpContext};

/// The authenticated user of the request, by bearer token or session cookie (with the CSRF
/// checks for unsafe methods, and a transparent refresh under [`crate::session_layer`]).
/// Rejects with 401 (or 403 for CSRF) as a problem body.
///
/// `S` is the user store of the service in [`AuthState`] (the built-in one by default): the
/// user type alone cannot pick the service out of the state.
pub struct Authenticated<S: UserStore = DbUserStore>(pub S::User);

impl<S: UserStore> Clone for Authenticated<S> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<S: UserStore> std::fmt::Debug for Authenticated<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Authenticated").field(&self.0).finish()
    }
}

impl<S: UserStore + 'static> Authenticated<S> {
    /// As the extractor, from the parts of a request.
    pub(crate) async fn extract(parts: &Parts, auth: &AuthState<S>) -> Result<Self> {
        if let Some(done) = parts.extensions.get::<Self>() {
            return Ok(done.clone());
        }
        let pending = parts.extensions.get::<PendingCookies>().cloned();
        let session = auth
            .authenticate_request(&parts.headers, &parts.method, None, pending.is_some())
            .await?;
        if let (Some(pair), Some(pending)) = (&session.refreshed, pending) {
            pending.push(auth.http().session_cookies(pair, cookie_max_age(auth))?);
        }
        Ok(Self(session.user))
    }
}

impl<St, S> FromRequestParts<St> for Authenticated<S>
where
    St: Send + Sync,
    S: UserStore + 'static,
    AuthState<S>: FromRef<St>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self> {
        Self::extract(parts, &AuthState::from_ref(state)).await
    }
}

/// The user when the request authenticates, `None` when it carries no credentials or ones
/// that are no good (expired, revoked, unknown): for pages that show more to signed-in users.
/// Still rejects a malformed `Authorization` header, a failed CSRF check and server errors.
pub struct MaybeAuthenticated<S: UserStore = DbUserStore>(pub Option<S::User>);

impl<S: UserStore> std::fmt::Debug for MaybeAuthenticated<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("MaybeAuthenticated").field(&self.0).finish()
    }
}

impl<St, S> FromRequestParts<St> for MaybeAuthenticated<S>
where
    St: Send + Sync,
    S: UserStore + 'static,
    AuthState<S>: FromRef<St>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self> {
        match Authenticated::<S>::extract(parts, &AuthState::from_ref(state)).await {
            Ok(Authenticated(user)) => Ok(Self(Some(user))),
            Err(
                Error::MissingCredentials
                | Error::Auth(
                    testudo_core::Error::Token(_)
                    | testudo_core::Error::Authentication(
                        AuthenticationError::UserNotFound | AuthenticationError::UserInactive,
                    ),
                ),
            ) => Ok(Self(None)),
            Err(e) => Err(e),
        }
    }
}

/// The header a calling service may name itself in (claimed, proves nothing).
pub const SERVICE_NAME_HEADER: &str = "x-service-name";

/// A request from another service, authenticated by one of the configured S2S tokens
/// ([`crate::AuthStateBuilder::s2s`]) as `Authorization: Bearer`. Rejects with 401.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceIdentity {
    /// The name the caller gave in [`SERVICE_NAME_HEADER`], as claimed (passed to the events,
    /// cut to `MAX_CLAIMED_SERVICE_CHARS`).
    pub claimed_service: Option<String>,
}

impl<St> FromRequestParts<St> for ServiceIdentity
where
    St: Send + Sync,
    HttpContext: FromRef<St>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self> {
        let http = HttpContext::from_ref(state);
        let s2s = http.s2s().ok_or(Error::NotConfigured(Missing::S2sTokens))?;
        let token = bearer_token(&parts.headers)?.ok_or(Error::MissingCredentials)?;
        let claimed = parts
            .headers
            .get(SERVICE_NAME_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        s2s.authenticate(token, claimed.as_deref()).await?;
        Ok(Self {
            claimed_service: claimed,
        })
    }
}

/// The scopes an [`ApiKey`] extractor requires: implement it on a marker type per route.
///
/// ```
/// use testudo_axum::{ApiKey, RequiredScopes};
///
/// struct ReadInvoices;
/// impl RequiredScopes for ReadInvoices {
///     const SCOPES: &'static [&'static str] = &["invoices:read"];
/// }
///
/// async fn export(key: ApiKey<ReadInvoices>) -> String {
///     format!("key {} may read invoices", key.key.id)
/// }
/// ```
pub trait RequiredScopes: Send + Sync + 'static {
    /// Every scope the key must have.
    const SCOPES: &'static [&'static str];
}

/// No scope required.
impl RequiredScopes for () {
    const SCOPES: &'static [&'static str] = &[];
}

/// A request authenticated by an API key (`Authorization: Bearer tdo_...`) that has every
/// scope of `R`. Rejects with 401 for a missing, unknown, expired or revoked key and with 403
/// (`insufficient_scope`) when the key is valid but lacks a scope.
pub struct ApiKey<R: RequiredScopes = ()> {
    /// The key (its id, owner, scopes; never the secret).
    pub key: testudo_tokens_db::ApiKey,
    scopes: PhantomData<fn() -> R>,
}

impl<R: RequiredScopes> std::fmt::Debug for ApiKey<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKey").field("key", &self.key).finish()
    }
}

impl<St, R> FromRequestParts<St> for ApiKey<R>
where
    St: Send + Sync,
    R: RequiredScopes,
    HttpContext: FromRef<St>,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self> {
        let http = HttpContext::from_ref(state);
        let keys = http
            .api_keys()
            .ok_or(Error::NotConfigured(Missing::ApiKeys))?;
        let raw = bearer_token(&parts.headers)?.ok_or(Error::MissingCredentials)?;
        let key = keys
            .verify(raw, R::SCOPES)
            .await
            .map_err(testudo_core::Error::from)?;
        Ok(Self {
            key,
            scopes: PhantomData,
        })
    }
}
