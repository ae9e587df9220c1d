//! [`AuthState`] (the service, once, for `State` / `FromRef`), [`HttpContext`] and
//! [`HttpOptions`].

use std::sync::Arc;

use axum::extract::FromRef;
use testudo_core::UserStore;
use testudo_service::{AuthService, DbUserStore, S2SService};
use testudo_signing::Signer;
use testudo_tokens_db::ApiKeyStore;

use crate::client::TrustedProxy;

/// The purpose the CSRF tokens' key is derived for (no other mechanism signs with it).
const CSRF_PURPOSE: &str = "testudo.axum.csrf";

/// How the HTTP layer behaves: cookies, allowed origins, the trusted proxy, body limits.
///
/// The defaults suit a service behind HTTPS at its own origin, with the router nested at
/// `/auth`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpOptions {
    /// Whether cookies carry `Secure` (default `true`; turn off only for `http://localhost`).
    pub secure_cookies: bool,
    /// Name of the access-token cookie (`HttpOnly`, `Path=/`).
    pub access_cookie: String,
    /// Name of the refresh-token cookie (`HttpOnly`, `Path=`[`Self::refresh_cookie_path`]).
    pub refresh_cookie: String,
    /// Name of the CSRF cookie (readable by scripts, so they can echo it).
    pub csrf_cookie: String,
    /// The header a script echoes the CSRF token in (default `x-csrf-token`).
    pub csrf_header: String,
    /// The form field an HTML form echoes the CSRF token in (default `csrf_token`).
    pub csrf_field: String,
    /// The path of the refresh cookie: the refresh endpoint as the browser sees it (default
    /// `/auth/refresh`), so the long-lived token travels only there. Transparent refresh
    /// happens on requests that carry it: widen it (e.g. `/`) to refresh server-rendered pages
    /// transparently, at the cost of sending the refresh token with each of their requests.
    pub refresh_cookie_path: String,
    /// Origins (`scheme://host[:port]`) allowed to make cookie-authenticated unsafe requests.
    /// Empty (the default): only the request's own host.
    pub allowed_origins: Vec<String>,
    /// The proxy whose forwarding header gives the client address (default: none, the socket).
    pub trusted_proxy: Option<TrustedProxy>,
    /// Largest request body accepted by the router, in bytes (default 16 KiB).
    pub max_body_bytes: usize,
}

impl Default for HttpOptions {
    fn default() -> Self {
        Self {
            secure_cookies: true,
            access_cookie: "testudo_access".into(),
            refresh_cookie: "testudo_refresh".into(),
            csrf_cookie: "testudo_csrf".into(),
            csrf_header: "x-csrf-token".into(),
            csrf_field: "csrf_token".into(),
            refresh_cookie_path: "/auth/refresh".into(),
            allowed_origins: Vec::new(),
            trusted_proxy: None,
            max_body_bytes: 16 * 1024,
        }
    }
}

impl HttpOptions {
    /// Sets [`Self::secure_cookies`].
    #[must_use]
    pub fn secure_cookies(mut self, secure: bool) -> Self {
        self.secure_cookies = secure;
        self
    }

    /// Sets [`Self::refresh_cookie_path`].
    #[must_use]
    pub fn refresh_cookie_path(mut self, path: impl Into<String>) -> Self {
        self.refresh_cookie_path = path.into();
        self
    }

    /// Adds an allowed origin (see [`Self::allowed_origins`]).
    #[must_use]
    pub fn allow_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Sets [`Self::trusted_proxy`].
    #[must_use]
    pub fn trusted_proxy(mut self, proxy: TrustedProxy) -> Self {
        self.trusted_proxy = Some(proxy);
        self
    }

    /// Sets [`Self::max_body_bytes`].
    #[must_use]
    pub fn max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// The parts of the HTTP layer that do not depend on the user store: options, the CSRF key,
/// S2S tokens, API keys, the published JWKS. Cheap to clone.
///
/// [`ServiceIdentity`](crate::ServiceIdentity), [`ApiKey`](crate::ApiKey) and
/// [`ClientContext`](crate::ClientContext) take it through `FromRef`: an application with its
/// own state implements `FromRef<AppState>` for it with [`AuthState::http`].
#[derive(Clone)]
pub struct HttpContext {
    inner: Arc<HttpInner>,
}

struct HttpInner {
    options: HttpOptions,
    csrf: Option<Signer>,
    s2s: Option<S2SService>,
    api_keys: Option<ApiKeyStore>,
    jwks: Option<String>,
}

impl std::fmt::Debug for HttpContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpContext")
            .field("options", &self.inner.options)
            .field("cookie_mode", &self.inner.csrf.is_some())
            .field("s2s", &self.inner.s2s.is_some())
            .field("api_keys", &self.inner.api_keys.is_some())
            .field("jwks", &self.inner.jwks.is_some())
            .finish_non_exhaustive()
    }
}

impl HttpContext {
    /// The options.
    #[must_use]
    pub fn options(&self) -> &HttpOptions {
        &self.inner.options
    }

    /// The CSRF signer (`None` without a signing secret: cookie mode is then off).
    pub(crate) fn csrf(&self) -> Option<&Signer> {
        self.inner.csrf.as_ref()
    }

    pub(crate) fn s2s(&self) -> Option<&S2SService> {
        self.inner.s2s.as_ref()
    }

    pub(crate) fn api_keys(&self) -> Option<&ApiKeyStore> {
        self.inner.api_keys.as_ref()
    }

    pub(crate) fn jwks(&self) -> Option<&str> {
        self.inner.jwks.as_deref()
    }

    /// Whether cookie mode is on (the configuration has a signing secret).
    #[must_use]
    pub fn cookie_mode(&self) -> bool {
        self.inner.csrf.is_some()
    }
}

/// The application state of the HTTP layer: the [`AuthService`] once, and the
/// [`HttpContext`]. Cheap to clone. Use it as the router's state, or hold it in yours and
/// implement `FromRef<YourState>` for it (and for [`HttpContext`]).
pub struct AuthState<S: UserStore = DbUserStore> {
    // Behind one `Arc`: extractors take the state by `FromRef` on every request, and a
    // service clone is a dozen reference-count updates.
    service: Arc<AuthService<S>>,
    http: HttpContext,
}

impl<S: UserStore> Clone for AuthState<S> {
    fn clone(&self) -> Self {
        Self {
            service: Arc::clone(&self.service),
            http: self.http.clone(),
        }
    }
}

impl<S: UserStore> std::fmt::Debug for AuthState<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthState")
            .field("service", &self.service)
            .field("http", &self.http)
            .finish()
    }
}

impl<S: UserStore> AuthState<S> {
    /// A builder around `service`.
    pub fn builder(service: AuthService<S>) -> AuthStateBuilder<S> {
        AuthStateBuilder {
            service,
            options: HttpOptions::default(),
            s2s: None,
            api_keys: None,
            jwks: None,
        }
    }

    /// The service.
    #[must_use]
    pub fn service(&self) -> &AuthService<S> {
        &self.service
    }

    /// The store-independent part.
    #[must_use]
    pub fn http(&self) -> &HttpContext {
        &self.http
    }
}

impl<S: UserStore> FromRef<AuthState<S>> for HttpContext {
    fn from_ref(state: &AuthState<S>) -> Self {
        state.http.clone()
    }
}

/// Builds an [`AuthState`]; see [`AuthState::builder`].
pub struct AuthStateBuilder<S: UserStore> {
    service: AuthService<S>,
    options: HttpOptions,
    s2s: Option<S2SService>,
    api_keys: Option<ApiKeyStore>,
    jwks: Option<String>,
}

impl<S: UserStore> std::fmt::Debug for AuthStateBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthStateBuilder")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<S: UserStore> AuthStateBuilder<S> {
    /// The HTTP options (default: [`HttpOptions::default`]).
    #[must_use]
    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    /// The service-to-service tokens [`ServiceIdentity`](crate::ServiceIdentity) accepts.
    #[must_use]
    pub fn s2s(mut self, s2s: S2SService) -> Self {
        self.s2s = Some(s2s);
        self
    }

    /// The API keys [`ApiKey`](crate::ApiKey) verifies.
    #[must_use]
    pub fn api_keys(mut self, keys: ApiKeyStore) -> Self {
        self.api_keys = Some(keys);
        self
    }

    /// Publishes the JWT backend's public keys at `/.well-known/jwks.json` (see
    /// [`crate::router`]).
    ///
    /// # Errors
    ///
    /// As `JwtBackend::jwk_set_json` (an HMAC backend has no public keys).
    #[cfg(feature = "jwt")]
    #[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
    pub fn jwks(mut self, backend: &testudo_tokens_jwt::JwtBackend) -> testudo_core::Result<Self> {
        self.jwks = Some(backend.jwk_set_json()?);
        Ok(self)
    }

    /// The state. Cookie mode is on when the service's configuration has a signing secret
    /// (the CSRF tokens' key is derived from it for this purpose alone).
    ///
    /// # Errors
    ///
    /// [`testudo_core::Error::Configuration`] when the signing secret is unusable.
    pub fn build(self) -> testudo_core::Result<AuthState<S>> {
        let config = self.service.config();
        let csrf = if config.signing_secret.is_some() {
            Some(Signer::for_purpose(config, CSRF_PURPOSE)?)
        } else {
            None
        };
        Ok(AuthState {
            service: Arc::new(self.service),
            http: HttpContext {
                inner: Arc::new(HttpInner {
                    options: self.options,
                    csrf,
                    s2s: self.s2s,
                    api_keys: self.api_keys,
                    jwks: self.jwks,
                }),
            },
        })
    }
}
