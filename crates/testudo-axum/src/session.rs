//! Credentials of a request (bearer or cookies), the CSRF checks, session cookies and the
//! transparent refresh.

use std::sync::{Arc, Mutex, PoisonError};

use axum::http::{HeaderMap, HeaderValue, Method, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use testudo_core::{TokenError, TokenPair, UserStore};

use crate::bearer::bearer_token;
use crate::error::{CsrfFailure, Error, Missing, Result};
use crate::state::{AuthState, HttpContext};

/// How a request was authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Transport {
    /// `Authorization: Bearer`.
    Bearer,
    /// The session cookies.
    Cookie,
}

/// The value of the cookie `name` in `headers` (the first one, as the browser sends the most
/// specific first).
#[must_use]
pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether `method` may change state (CSRF checks apply to it).
fn is_unsafe(method: &Method) -> bool {
    !matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

impl HttpContext {
    /// The CSRF token bound to the session of `access_token`: a MAC, with a key of its own,
    /// of the token's SHA-256 digest. Only the server can make it; it changes with each pair.
    pub(crate) fn csrf_token(&self, access_token: &str) -> Result<String> {
        let signer = self
            .csrf()
            .ok_or(Error::NotConfigured(Missing::CookieMode))?;
        let digest = Sha256::digest(access_token.as_bytes());
        Ok(signer.signature(&base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            digest,
        )))
    }

    /// The origin half of the CSRF checks: `Sec-Fetch-Site`, then `Origin`, against the
    /// allowed origins (or, with none configured, the request's own `Host`). A request with
    /// neither header (an old browser, a non-browser client) passes to the token check.
    ///
    /// # Errors
    ///
    /// [`Error::Csrf`] with [`CsrfFailure::CrossSite`] or [`CsrfFailure::OriginNotAllowed`].
    pub fn check_origin(&self, headers: &HeaderMap) -> Result<()> {
        let origin = headers.get(header::ORIGIN).map(HeaderValue::as_bytes);
        let allowed = |o: &[u8]| self.origin_allowed(o, headers);
        match headers.get("sec-fetch-site").map(HeaderValue::as_bytes) {
            None | Some(b"same-origin" | b"none") => {}
            // A sibling subdomain is another party unless its origin is listed.
            Some(b"same-site") if origin.is_some_and(|o| self.listed(o)) => {}
            Some(_) => return Err(Error::Csrf(CsrfFailure::CrossSite)),
        }
        match origin {
            Some(o) if !allowed(o) => Err(Error::Csrf(CsrfFailure::OriginNotAllowed)),
            _ => Ok(()),
        }
    }

    fn listed(&self, origin: &[u8]) -> bool {
        self.options()
            .allowed_origins
            .iter()
            .any(|a| a.as_bytes() == origin)
    }

    fn origin_allowed(&self, origin: &[u8], headers: &HeaderMap) -> bool {
        if !self.options().allowed_origins.is_empty() {
            return self.listed(origin);
        }
        // No list: the request's own host, whatever the scheme (a proxy may end TLS).
        let Some(host) = headers.get(header::HOST).map(HeaderValue::as_bytes) else {
            return false;
        };
        let authority = origin
            .strip_prefix(b"https://")
            .or_else(|| origin.strip_prefix(b"http://"));
        authority == Some(host)
    }

    /// Both CSRF checks for a cookie-authenticated unsafe request: the origin
    /// ([`Self::check_origin`]), then the double-submit token: `submitted` (a form field) or
    /// the CSRF header must equal the CSRF cookie and the token bound to the access cookie,
    /// compared in constant time.
    ///
    /// # Errors
    ///
    /// [`Error::Csrf`].
    pub fn check_csrf(&self, headers: &HeaderMap, submitted: Option<&str>) -> Result<()> {
        self.check_origin(headers)?;
        let o = self.options();
        let submitted = submitted
            .or_else(|| {
                headers
                    .get(o.csrf_header.as_str())
                    .and_then(|v| v.to_str().ok())
            })
            .ok_or(Error::Csrf(CsrfFailure::MissingToken))?;
        let cookie_value =
            cookie(headers, &o.csrf_cookie).ok_or(Error::Csrf(CsrfFailure::MissingToken))?;
        let access =
            cookie(headers, &o.access_cookie).ok_or(Error::Csrf(CsrfFailure::MissingToken))?;
        let expected = self.csrf_token(access)?;
        let same_cookie = submitted.as_bytes().ct_eq(cookie_value.as_bytes());
        let bound = submitted.as_bytes().ct_eq(expected.as_bytes());
        if bool::from(same_cookie & bound) {
            Ok(())
        } else {
            Err(Error::Csrf(CsrfFailure::WrongToken))
        }
    }

    fn set_cookie(
        &self,
        name: &str,
        value: &str,
        path: &str,
        max_age: u64,
        http_only: bool,
    ) -> Result<HeaderValue> {
        let mut c = format!("{name}={value}; Path={path}; Max-Age={max_age}; SameSite=Lax");
        if http_only {
            c.push_str("; HttpOnly");
        }
        if self.options().secure_cookies {
            c.push_str("; Secure");
        }
        HeaderValue::from_str(&c).map_err(|e| testudo_core::Error::internal(e).into())
    }

    /// The `Set-Cookie` values that install the session `pair` (access, refresh, CSRF), each
    /// living `max_age` seconds (the refresh token's lifetime: the access cookie outlives its
    /// token, which the server checks, so an expired access token can still be refreshed
    /// transparently and the CSRF token still checked against it).
    ///
    /// # Errors
    ///
    /// [`Error::NotConfigured`] without cookie mode.
    pub fn session_cookies(&self, pair: &TokenPair, max_age: u64) -> Result<[HeaderValue; 3]> {
        let o = self.options();
        let csrf = self.csrf_token(pair.access_token())?;
        Ok([
            self.set_cookie(&o.access_cookie, pair.access_token(), "/", max_age, true)?,
            self.set_cookie(
                &o.refresh_cookie,
                pair.refresh_token(),
                &o.refresh_cookie_path,
                max_age,
                true,
            )?,
            self.set_cookie(&o.csrf_cookie, &csrf, "/", max_age, false)?,
        ])
    }

    /// The `Set-Cookie` values that remove the session cookies.
    ///
    /// # Errors
    ///
    /// Not expected (the configured names are not valid header text).
    pub fn clear_cookies(&self) -> Result<[HeaderValue; 3]> {
        let o = self.options();
        Ok([
            self.set_cookie(&o.access_cookie, "", "/", 0, true)?,
            self.set_cookie(&o.refresh_cookie, "", &o.refresh_cookie_path, 0, true)?,
            self.set_cookie(&o.csrf_cookie, "", "/", 0, false)?,
        ])
    }
}

/// `Set-Cookie` values an extractor wants on the response (a transparent refresh), collected
/// by [`crate::session_layer`].
#[derive(Debug, Clone, Default)]
pub(crate) struct PendingCookies(pub(crate) Arc<Mutex<Vec<HeaderValue>>>);

impl PendingCookies {
    pub(crate) fn push(&self, values: impl IntoIterator<Item = HeaderValue>) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(values);
    }

    pub(crate) fn take(&self) -> Vec<HeaderValue> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// An authenticated request: the user, how, and the new pair of a transparent refresh.
#[derive(Debug)]
#[non_exhaustive]
pub struct Session<U> {
    /// The user.
    pub user: U,
    /// How the request authenticated.
    pub transport: Transport,
    /// Set when the access cookie's token had expired and the refresh cookie was rotated:
    /// the new pair, to install with [`HttpContext::session_cookies`].
    pub refreshed: Option<TokenPair>,
    /// With cookies: the session's CSRF token (of the new pair after a refresh), for the
    /// hidden field of the forms a page renders.
    pub csrf_token: Option<String>,
}

/// The lifetime of the session cookies, in seconds.
pub(crate) fn cookie_max_age<S: UserStore>(state: &AuthState<S>) -> u64 {
    state.service().config().refresh_token_lifetime.as_secs()
}

impl<S: UserStore> AuthState<S> {
    /// Authenticates a request from its headers: a bearer token when there is an
    /// `Authorization` header (no CSRF check: it is not an ambient credential), else the
    /// access cookie, with both CSRF checks for unsafe methods (`csrf_field`: the token an
    /// HTML form submitted; else the CSRF header is read). When the access cookie's token has
    /// expired and `refresh` is on, the refresh cookie (if the request carries it) is
    /// rotated and [`Session::refreshed`] set: the caller must install the new cookies.
    ///
    /// # Errors
    ///
    /// [`Error::MissingCredentials`]; [`Error::MalformedAuthorization`]; [`Error::Csrf`];
    /// [`Error::Auth`] from the service (an invalid, expired or revoked token, a refresh
    /// replay, a storage failure).
    pub async fn authenticate_request(
        &self,
        headers: &HeaderMap,
        method: &Method,
        csrf_field: Option<&str>,
        refresh: bool,
    ) -> Result<Session<S::User>> {
        if let Some(token) = bearer_token(headers)? {
            let user = self.service().authenticate(token).await?;
            return Ok(Session {
                user,
                transport: Transport::Bearer,
                refreshed: None,
                csrf_token: None,
            });
        }
        let http = self.http();
        let o = http.options();
        let Some(access) = cookie(headers, &o.access_cookie) else {
            return Err(Error::MissingCredentials);
        };
        if !http.cookie_mode() {
            return Err(Error::NotConfigured(Missing::CookieMode));
        }
        if is_unsafe(method) {
            http.check_csrf(headers, csrf_field)?;
        }
        match self.service().authenticate(access).await {
            Ok(user) => Ok(Session {
                user,
                transport: Transport::Cookie,
                refreshed: None,
                csrf_token: Some(http.csrf_token(access)?),
            }),
            Err(testudo_core::Error::Token(TokenError::Expired)) if refresh => {
                let Some(refresh_token) = cookie(headers, &o.refresh_cookie) else {
                    return Err(testudo_core::Error::Token(TokenError::Expired).into());
                };
                let pair = self.service().refresh(refresh_token).await?;
                let user = self.service().authenticate(pair.access_token()).await?;
                tracing::debug!("session cookies refreshed transparently");
                Ok(Session {
                    user,
                    transport: Transport::Cookie,
                    csrf_token: Some(http.csrf_token(pair.access_token())?),
                    refreshed: Some(pair),
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}
