//! The ready [`router`], its handlers (each public on its own), [`JsonBody`], and the two
//! middlewares: [`session_layer`] and [`require_auth`].

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, OriginalUri, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use testudo_core::{
    AuthResult, AuthUser, Claims, ExposeSecret, SecretString, TokenPair, UserStore,
};
use testudo_service::{DbUserStore, LoginStart, LogoutAll, SessionInfo};
use tracing::Instrument;

use crate::bearer::bearer_token;
use crate::client::ClientContext;
use crate::error::{BodyFailure, Error, Missing, Result};
use crate::extract::Authenticated;
use crate::onboarding;
use crate::session::{PendingCookies, cookie, cookie_max_age};
use crate::state::AuthState;

/// A JSON request body (`Content-Type: application/json`, within the router's size limit)
/// whose refusals are problem bodies (413, 415, 400) that never echo the input.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, St> FromRequest<St> for JsonBody<T>
where
    T: DeserializeOwned,
    St: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &St) -> Result<Self> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(Error::Body(BodyFailure::UnsupportedMediaType));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|r| {
            if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Error::Body(BodyFailure::TooLarge)
            } else {
                Error::Body(BodyFailure::Invalid)
            }
        })?;
        serde_json::from_slice(&bytes)
            .map(Self)
            .map_err(|_| Error::Body(BodyFailure::Invalid))
    }
}

/// A user as the endpoints show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct UserView {
    /// The id.
    pub id: String,
    /// The (stored) email address.
    pub email: String,
    /// Whether the address is verified.
    pub is_verified: bool,
}

impl UserView {
    /// The view of `user`.
    pub fn of<U: AuthUser>(user: &U) -> Self {
        Self {
            id: user.id(),
            email: user.email().to_owned(),
            is_verified: user.is_verified(),
        }
    }
}

/// `POST /register` and `POST /login`: an email and a password. `use_cookies` (login only)
/// asks for the session in cookies instead of the body.
#[derive(Deserialize)]
pub struct Credentials {
    /// The email address.
    pub email: String,
    /// The password.
    pub password: SecretString,
    /// Install the session as cookies (browsers) instead of returning the tokens.
    #[serde(default)]
    pub use_cookies: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("use_cookies", &self.use_cookies)
            .finish_non_exhaustive()
    }
}

/// A body holding one token (`POST /refresh`, `/email/verify`).
#[derive(Debug, Deserialize)]
pub struct TokenBody {
    /// The token.
    pub token: SecretString,
}

/// A body holding an email address (`POST /password/forgot`, `/login-link`,
/// `/onboarding/start`).
#[derive(Debug, Deserialize)]
pub struct EmailBody {
    /// The address.
    pub email: String,
}

/// `POST /password/reset`: the token of the reset link and the new password.
#[derive(Debug, Deserialize)]
pub struct ResetBody {
    /// The token from the link.
    pub token: SecretString,
    /// The new password.
    pub new_password: SecretString,
}

/// `POST /login-link/login`: the address and the token of the link.
#[derive(Debug, Deserialize)]
pub struct LinkLoginBody {
    /// The address the link was sent to.
    pub email: String,
    /// The token from the link.
    pub token: SecretString,
    /// Install the session as cookies.
    #[serde(default)]
    pub use_cookies: bool,
}

/// The tokens of a bearer-mode login or refresh (RFC 6749, section 5.1).
#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    refresh_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
}

/// The body of a cookie-mode login or refresh: the CSRF token to echo (also in its cookie).
#[derive(Serialize)]
struct CookieSessionResponse<'a> {
    user: Option<&'a UserView>,
    csrf_token: &'a str,
}

/// The answer to a login or refresh: the tokens in the body, or the session cookies.
fn issue<S: UserStore>(
    auth: &AuthState<S>,
    pair: &TokenPair,
    user: Option<&UserView>,
    use_cookies: bool,
) -> Result<Response> {
    let mut response = if use_cookies {
        let http = auth.http();
        let cookies = http.session_cookies(pair, cookie_max_age(auth))?;
        let csrf = http.csrf_token(pair.access_token())?;
        let mut r = Json(CookieSessionResponse {
            user,
            csrf_token: &csrf,
        })
        .into_response();
        for c in cookies {
            r.headers_mut().append(header::SET_COOKIE, c);
        }
        r
    } else {
        Json(TokenResponse {
            access_token: pair.access_token(),
            refresh_token: pair.refresh_token(),
            token_type: "Bearer",
            expires_in: auth.service().config().access_token_lifetime.as_secs(),
        })
        .into_response()
    };
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

pub(crate) fn logged_in<S: UserStore>(
    auth: &AuthState<S>,
    result: &AuthResult<S::User>,
    use_cookies: bool,
) -> Result<Response> {
    let view = UserView::of(&result.user);
    issue(auth, &result.tokens, Some(&view), use_cookies)
}

/// Refuses a cookie login before any work when cookie mode is off or the request comes from
/// another site (a forged login would sign the victim in as the attacker).
pub(crate) fn check_cookie_login<S: UserStore>(
    auth: &AuthState<S>,
    headers: &HeaderMap,
) -> Result<()> {
    if !auth.http().cookie_mode() {
        return Err(Error::NotConfigured(Missing::CookieMode));
    }
    auth.http().check_origin(headers)
}

/// `POST /register` `{email, password}`: 201 with the user; 400 with every validator message,
/// 409 when the address is taken; 429 with `Retry-After` when throttled
/// (`AuthService::register`: per address and per client, so the 409 is no enumeration oracle
/// at full speed).
///
/// # Errors
///
/// As `AuthService::register`, as problem responses.
pub async fn register(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<(StatusCode, Json<UserView>)> {
    let ip = client.ip_string();
    let user = auth
        .service()
        .register(&body.email, body.password.expose_secret(), ip.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(UserView::of(&user))))
}

/// `POST /login` `{email, password, use_cookies?}`: the tokens, or the session cookies.
///
/// # Errors
///
/// 401 for bad credentials, 429 with `Retry-After` when throttled, 403 for a cross-site
/// cookie login, 503 when hashing is saturated.
pub async fn login<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response> {
    if body.use_cookies {
        check_cookie_login(&auth, &headers)?;
    }
    let start = auth
        .service()
        .login_start_with_context(
            &body.email,
            body.password.expose_secret(),
            Claims::new(),
            &client.session_context(),
        )
        .await?;
    started(&auth, start, body.use_cookies)
}

/// The answer to a login's first step: the session, or the second-factor challenge.
fn started<S: UserStore>(
    auth: &AuthState<S>,
    start: LoginStart<S::User>,
    use_cookies: bool,
) -> Result<Response> {
    match start {
        LoginStart::Complete(result) => logged_in(auth, &result, use_cookies),
        LoginStart::SecondFactor(challenge) => {
            let expires_in = challenge
                .expires_at()
                .signed_duration_since(auth.service().clock().now())
                .num_seconds()
                .max(0);
            let mut r = Json(ChallengeResponse {
                second_factor: true,
                challenge: challenge.token().expose_secret(),
                expires_in: u64::try_from(expires_in).unwrap_or_default(),
            })
            .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(r)
        }
        _ => Err(Error::Auth(testudo_core::Error::internal(
            "unknown login step",
        ))),
    }
}

/// `POST /refresh`: with a JSON body `{token}`, the next pair in the body; with no body, the
/// refresh cookie (CSRF-checked) and the next pair as cookies. A replayed refresh token is
/// refused (401) and, with reuse detection on, ends every session of its user.
///
/// # Errors
///
/// 401 for an invalid, expired, revoked or replayed token; 403 for a failed CSRF check.
pub async fn refresh<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    request: Request,
) -> Result<Response> {
    let headers = request.headers().clone();
    let has_body = headers.contains_key(header::CONTENT_TYPE)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        let JsonBody(body) = JsonBody::<TokenBody>::from_request(request, &()).await?;
        let pair = auth.service().refresh(body.token.expose_secret()).await?;
        return issue(&auth, &pair, None, false);
    }
    let http = auth.http();
    let Some(token) = cookie(&headers, &http.options().refresh_cookie) else {
        return Err(Error::MissingCredentials);
    };
    if !http.cookie_mode() {
        return Err(Error::NotConfigured(Missing::CookieMode));
    }
    http.check_csrf(&headers, None)?;
    let pair = auth.service().refresh(token).await?;
    issue(&auth, &pair, None, true)
}

fn with_cookies(
    mut response: Response,
    cookies: impl IntoIterator<Item = HeaderValue>,
) -> Response {
    for c in cookies {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

/// `POST /logout`: revokes the session of the bearer token, or of the session cookies
/// (CSRF-checked; the cookies are cleared). 204.
///
/// # Errors
///
/// 401 without credentials; 403 for a failed CSRF check.
pub async fn logout<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    headers: HeaderMap,
) -> Result<Response> {
    if let Some(token) = bearer_token(&headers)? {
        auth.service().logout(token).await?;
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let http = auth.http();
    let o = http.options();
    let Some(access) = cookie(&headers, &o.access_cookie) else {
        return Err(Error::MissingCredentials);
    };
    if !http.cookie_mode() {
        return Err(Error::NotConfigured(Missing::CookieMode));
    }
    http.check_csrf(&headers, None)?;
    // The access token's session is its whole family, refresh tokens included.
    auth.service().logout(access).await?;
    if let Some(refresh) = cookie(&headers, &o.refresh_cookie) {
        auth.service().logout(refresh).await?;
    }
    Ok(with_cookies(
        StatusCode::NO_CONTENT.into_response(),
        http.clear_cookies()?,
    ))
}

/// What `POST /logout-all` answers.
#[derive(Serialize)]
struct LogoutAllResponse {
    /// Tokens revoked; `null` when the backend cannot revoke (stateless JWTs).
    revoked: Option<u64>,
}

/// `POST /logout-all` (authenticated): revokes every session of the user; clears the session
/// cookies when the request carried them.
///
/// # Errors
///
/// 401 when not authenticated; 403 for a failed CSRF check.
pub async fn logout_all<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    headers: HeaderMap,
    Authenticated(user): Authenticated<S>,
) -> Result<Response> {
    let revoked = match auth.service().logout_all(&user.id()).await? {
        LogoutAll::Revoked(n) => Some(n),
        _ => None,
    };
    let response = Json(LogoutAllResponse { revoked }).into_response();
    if cookie(&headers, &auth.http().options().access_cookie).is_some() {
        return Ok(with_cookies(response, auth.http().clear_cookies()?));
    }
    Ok(response)
}

/// The token the request authenticated with: its bearer token, else its access cookie.
fn presented_token<'h, S: UserStore>(
    auth: &AuthState<S>,
    headers: &'h HeaderMap,
) -> Option<&'h str> {
    match bearer_token(headers) {
        Ok(Some(token)) => Some(token),
        _ => cookie(headers, &auth.http().options().access_cookie),
    }
}

/// One session in `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SessionView {
    /// The session id, for `POST /sessions/{id}/revoke`.
    pub id: String,
    /// When the login happened (RFC 3339).
    pub created_at: String,
    /// The last login or refresh of the session (RFC 3339).
    pub last_used_at: String,
    /// The client's address at login, when known.
    pub ip: Option<String>,
    /// The client's user agent at login, when known.
    pub user_agent: Option<String>,
    /// Whether this is the session of the request's own token.
    pub current: bool,
}

impl From<SessionInfo> for SessionView {
    fn from(s: SessionInfo) -> Self {
        Self {
            id: s.id,
            created_at: s.created_at.to_rfc3339(),
            last_used_at: s.last_used_at.to_rfc3339(),
            ip: s.ip,
            user_agent: s.user_agent,
            current: s.current,
        }
    }
}

/// `GET /sessions` (authenticated): the user's live sessions, newest first, the request's own
/// marked `current`.
///
/// # Errors
///
/// 401 when not authenticated; 500 when the token backend keeps no sessions (JWTs).
pub async fn sessions<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    headers: HeaderMap,
    Authenticated(user): Authenticated<S>,
) -> Result<Json<Vec<SessionView>>> {
    let list = auth
        .service()
        .list_sessions(&user.id(), presented_token(&auth, &headers))
        .await?;
    Ok(Json(list.into_iter().map(SessionView::from).collect()))
}

/// `POST /sessions/{id}/revoke` (authenticated, CSRF-checked with cookies): signs that session
/// out. 204; 404 when it is not a live session of the user (another user's id included).
///
/// # Errors
///
/// 401 when not authenticated; 403 for a failed CSRF check; 404 as above.
pub async fn revoke_session<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Path(id): Path<String>,
    Authenticated(user): Authenticated<S>,
) -> Result<StatusCode> {
    if auth.service().revoke_session(&user.id(), &id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Error::NotFound)
    }
}

/// `POST /logout-others` (authenticated, CSRF-checked with cookies): "sign out everywhere
/// else": every session of the user but the request's own is revoked, atomically with
/// concurrent refreshes. `{revoked}`: how many tokens.
///
/// # Errors
///
/// 401 when not authenticated; 403 for a failed CSRF check.
pub async fn logout_others<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    headers: HeaderMap,
    Authenticated(_user): Authenticated<S>,
) -> Result<Response> {
    let token = presented_token(&auth, &headers).ok_or(Error::MissingCredentials)?;
    let revoked = auth.service().logout_others(token).await?;
    Ok(Json(LogoutAllResponse {
        revoked: Some(revoked),
    })
    .into_response())
}

/// `GET /me` (authenticated): the user.
///
/// # Errors
///
/// 401 when not authenticated.
pub async fn me<S: UserStore + 'static>(Authenticated(user): Authenticated<S>) -> Json<UserView> {
    Json(UserView::of(&user))
}

/// `POST /password/forgot` `{email}`: 202 whether or not the address has an account (the
/// `password_reset_requested` event carries the link's token for the mailer).
///
/// # Errors
///
/// 429 with `Retry-After` when throttled; 500 without a signing secret.
pub async fn forgot_password<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    client: ClientContext,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<StatusCode> {
    let ip = client.ip_string();
    auth.service()
        .request_reset(&body.email, ip.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /password/reset` `{token, new_password}`: sets the password (every session ends).
///
/// # Errors
///
/// 400 for a bad or used link, or a refused password (with every message).
pub async fn reset_password<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    JsonBody(body): JsonBody<ResetBody>,
) -> Result<Json<UserView>> {
    let user = auth
        .service()
        .confirm_reset(
            body.token.expose_secret(),
            body.new_password.expose_secret(),
        )
        .await?;
    Ok(Json(UserView::of(&user)))
}

/// `POST /email/verify` `{token}`: marks the address verified.
///
/// # Errors
///
/// 400 for a bad or used link.
pub async fn verify_email<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Json<UserView>> {
    let user = auth
        .service()
        .verify_email(body.token.expose_secret())
        .await?;
    Ok(Json(UserView::of(&user)))
}

/// `POST /login-link` `{email}`: 202 whether or not the address has an account (the
/// `email_token_created` event carries the token for the mailer).
///
/// # Errors
///
/// 429 with `Retry-After` when throttled.
pub async fn request_login_link<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    client: ClientContext,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<StatusCode> {
    let ip = client.ip_string();
    auth.service()
        .request_login_link(&body.email, ip.as_deref())
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /login-link/login` `{email, token, use_cookies?}`: logs in with the link's token.
///
/// # Errors
///
/// 401 for an unknown, expired, used or wrong-address token.
pub async fn login_with_link<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LinkLoginBody>,
) -> Result<Response> {
    if body.use_cookies {
        check_cookie_login(&auth, &headers)?;
    }
    let start = auth
        .service()
        .login_with_email_token_start_with_context(
            &body.email,
            body.token.expose_secret(),
            &client.session_context(),
        )
        .await?;
    started(&auth, start, body.use_cookies)
}

/// What a login answers when the account has a second factor (200, `Cache-Control:
/// no-store`): no session yet; `POST /login/complete` with the challenge and a code.
#[derive(Serialize)]
struct ChallengeResponse<'a> {
    second_factor: bool,
    challenge: &'a str,
    expires_in: u64,
}

/// `POST /login/complete`: the challenge a login answered, and a TOTP or recovery code.
#[derive(Deserialize)]
pub struct CompleteLoginBody {
    /// The challenge from `POST /login` (or `/login-link/login`).
    pub challenge: SecretString,
    /// A TOTP code or one of the user's recovery codes.
    pub code: SecretString,
    /// Install the session as cookies.
    #[serde(default)]
    pub use_cookies: bool,
}

impl std::fmt::Debug for CompleteLoginBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompleteLoginBody")
            .field("use_cookies", &self.use_cookies)
            .finish_non_exhaustive()
    }
}

/// `POST /reauthenticate`: the user's password.
#[derive(Deserialize)]
pub struct PasswordBody {
    /// The password.
    pub password: SecretString,
}

impl std::fmt::Debug for PasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordBody").finish_non_exhaustive()
    }
}

/// `POST /second-factor/totp/confirm`: the first code from the authenticator app.
#[derive(Deserialize)]
pub struct CodeBody {
    /// The code.
    pub code: SecretString,
}

impl std::fmt::Debug for CodeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CodeBody").finish_non_exhaustive()
    }
}

/// `POST /login/complete` `{challenge, code, use_cookies?}`: the second step of a login that
/// answered `{"second_factor": true, "challenge": ...}`; the tokens, or the session cookies.
/// A challenge completes once; a TOTP code is accepted once (a replayed one is a wrong code).
///
/// # Errors
///
/// 400 `wrong_code` for a wrong, replayed or used code (the challenge stays pending until it
/// expires); 401 `invalid_challenge` for an unknown, used or expired challenge; 429 when
/// throttled; 403 for a cross-site cookie login.
pub async fn complete_login<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<CompleteLoginBody>,
) -> Result<Response> {
    if body.use_cookies {
        check_cookie_login(&auth, &headers)?;
    }
    let result = auth
        .service()
        .complete_login_with_context(
            body.challenge.expose_secret(),
            body.code.expose_secret(),
            &client.session_context(),
        )
        .await?;
    logged_in(&auth, &result, body.use_cookies)
}

/// `POST /reauthenticate` (authenticated) `{password}`: checks the password again (step-up);
/// for `step_up_window` the user may then enrol or remove a factor and regenerate recovery
/// codes. 204.
///
/// # Errors
///
/// 403 `wrong_password` for a wrong password (not 401: the session itself is fine); 429 when
/// throttled; 401 when not authenticated; 403 for a failed CSRF check.
pub async fn reauthenticate<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Authenticated(user): Authenticated<S>,
    JsonBody(body): JsonBody<PasswordBody>,
) -> Result<StatusCode> {
    auth.service()
        .reauthenticate(&user, body.password.expose_secret())
        .await
        .map_err(|e| match e {
            testudo_core::Error::Authentication(
                testudo_core::AuthenticationError::InvalidCredentials,
            ) => Error::WrongPassword,
            e => e.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// What `GET /second-factor` answers.
#[derive(Serialize)]
struct SecondFactorStatus {
    enrolled: bool,
    recovery_codes_remaining: u64,
}

/// `GET /second-factor` (authenticated): `{enrolled, recovery_codes_remaining}`.
///
/// # Errors
///
/// 401 when not authenticated.
pub async fn second_factor_status<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Authenticated(user): Authenticated<S>,
) -> Result<Response> {
    let enrolled = auth.service().has_second_factor(&user).await?;
    let recovery_codes_remaining = auth.service().recovery_codes_remaining(&user).await?;
    Ok(no_store(
        Json(SecondFactorStatus {
            enrolled,
            recovery_codes_remaining,
        })
        .into_response(),
    ))
}

pub(crate) fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What `POST /second-factor/totp` answers (every field contains the secret).
#[derive(Serialize)]
pub(crate) struct EnrolmentResponse<'a> {
    pub(crate) secret: &'a str,
    pub(crate) otpauth_uri: &'a str,
    pub(crate) qr_svg: &'a str,
}

/// `POST /second-factor/totp` (authenticated, after `POST /reauthenticate`): starts a TOTP
/// enrolment; `{secret, otpauth_uri, qr_svg}` (`no-store`; show once). Nothing changes at
/// login until `POST /second-factor/totp/confirm`.
///
/// # Errors
///
/// 403 `reauthentication_required` without a recent re-authentication; 409
/// `already_enrolled`; 401 when not authenticated; 403 for a failed CSRF check.
pub async fn enroll_totp<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Authenticated(user): Authenticated<S>,
) -> Result<Response> {
    let e = auth.service().enroll_totp(&user).await?;
    Ok(enrolment_response(&e))
}

/// The answer to a TOTP enrolment (account or onboarding): the secret, its URI and QR code,
/// `no-store` (shown once).
pub(crate) fn enrolment_response(e: &testudo_service::TotpEnrolment) -> Response {
    no_store(
        Json(EnrolmentResponse {
            secret: e.secret_base32().expose_secret(),
            otpauth_uri: e.uri().expose_secret(),
            qr_svg: e.qr_svg().expose_secret(),
        })
        .into_response(),
    )
}

/// What confirming a factor or regenerating the codes answers: shown once.
#[derive(Serialize)]
struct RecoveryCodesResponse<'a> {
    recovery_codes: Vec<&'a str>,
}

fn recovery_codes(codes: &[SecretString]) -> Response {
    no_store(
        Json(RecoveryCodesResponse {
            recovery_codes: codes.iter().map(|c| c.expose_secret()).collect(),
        })
        .into_response(),
    )
}

/// `POST /second-factor/totp/confirm` (authenticated) `{code}`: confirms the pending
/// enrolment with a first code; `{recovery_codes}` (shown once, `no-store`).
///
/// # Errors
///
/// 400 `wrong_code`; 400 `not_enrolled` without a pending enrolment; 429 when throttled; 401
/// when not authenticated; 403 for a failed CSRF check.
pub async fn confirm_totp<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Authenticated(user): Authenticated<S>,
    JsonBody(body): JsonBody<CodeBody>,
) -> Result<Response> {
    let codes = auth
        .service()
        .confirm_totp(&user, body.code.expose_secret())
        .await?;
    Ok(recovery_codes(&codes))
}

/// `DELETE /second-factor/totp` (authenticated, after `POST /reauthenticate`): removes the
/// factor and its recovery codes. 204.
///
/// # Errors
///
/// 403 `reauthentication_required`; 400 `not_enrolled`; 401 when not authenticated; 403 for a
/// failed CSRF check.
pub async fn remove_totp<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Authenticated(user): Authenticated<S>,
) -> Result<StatusCode> {
    auth.service().remove_totp(&user).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /second-factor/recovery-codes` (authenticated, after `POST /reauthenticate`): new
/// recovery codes replace the old ones; `{recovery_codes}` (shown once, `no-store`).
///
/// # Errors
///
/// 403 `reauthentication_required`; 400 `not_enrolled`; 401 when not authenticated; 403 for a
/// failed CSRF check.
pub async fn regenerate_recovery_codes<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    Authenticated(user): Authenticated<S>,
) -> Result<Response> {
    let codes = auth.service().regenerate_recovery_codes(&user).await?;
    Ok(recovery_codes(&codes))
}

/// `GET /.well-known/jwks.json`: the JWT backend's public keys, when published
/// ([`crate::AuthStateBuilder::jwks`]); 404 otherwise.
pub async fn jwks<S: UserStore + 'static>(State(auth): State<AuthState<S>>) -> Response {
    match auth.http().jwks() {
        Some(json) => (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json.to_owned(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// A span per request (`testudo.http`: method, path and status; never the query string,
/// headers or body, where tokens travel), and the `Set-Cookie` values of transparent
/// refreshes made by the extractors (unless the handler set cookies itself, e.g. cleared
/// the session). The [`router`] has it; put it on your own routes that
/// use [`Authenticated`] with cookies (`.layer(middleware::from_fn(session_layer))`).
pub async fn session_layer(mut request: Request, next: Next) -> Response {
    // The path as the client sent it (a nested router sees it without its prefix).
    let span = {
        let path = request
            .extensions()
            .get::<OriginalUri>()
            .map_or_else(|| request.uri().path(), |o| o.0.path());
        tracing::info_span!(
            "testudo.http",
            method = %request.method(),
            path,
            status = tracing::field::Empty,
        )
    };
    // Only a request with cookies can be refreshed transparently: a bearer request pays for
    // no cookie bookkeeping.
    let pending = request
        .headers()
        .contains_key(header::COOKIE)
        .then(PendingCookies::default);
    if let Some(pending) = &pending {
        request.extensions_mut().insert(pending.clone());
    }
    let response = next.run(request).instrument(span.clone()).await;
    span.record("status", response.status().as_u16());
    let Some(pending) = pending else {
        return response;
    };
    if response.headers().contains_key(header::SET_COOKIE) {
        // The handler set (or cleared) the session itself, after the refresh: its word wins.
        return response;
    }
    with_cookies(response, pending.take())
}

/// A middleware for routes that only need an authenticated user:
/// `.route_layer(middleware::from_fn_with_state(state, require_auth::<DbUserStore>))`.
/// It authenticates (bearer or cookies, with CSRF and transparent refresh), refuses with the
/// problem response, and leaves the user for the handlers' [`Authenticated`].
///
/// # Errors
///
/// As [`Authenticated`].
pub async fn require_auth<S: UserStore + 'static>(
    State(auth): State<AuthState<S>>,
    request: Request,
    next: Next,
) -> Result<Response> {
    let (mut parts, body) = request.into_parts();
    let session = auth
        .authenticate_request(&parts.headers, &parts.method, None, true)
        .await?;
    parts.extensions.insert(Authenticated::<S>(session.user));
    let response = next.run(Request::from_parts(parts, body)).await;
    match session.refreshed {
        Some(pair) => Ok(with_cookies(
            response,
            auth.http().session_cookies(&pair, cookie_max_age(&auth))?,
        )),
        None => Ok(response),
    }
}

/// The auth endpoints for any user store, without `/register` and `/onboarding/...` (which
/// need the built-in store): see [`router`] for the list. The state is applied, so the result nests into a
/// router of any state.
pub fn routes<S: UserStore + 'static, T: Clone + Send + Sync + 'static>(
    state: AuthState<S>,
) -> Router<T> {
    base::<S>(&state).with_state(state)
}

fn base<S: UserStore + 'static>(state: &AuthState<S>) -> Router<AuthState<S>> {
    Router::new()
        .route("/login", post(login::<S>))
        .route("/login/complete", post(complete_login::<S>))
        .route("/reauthenticate", post(reauthenticate::<S>))
        .route("/second-factor", get(second_factor_status::<S>))
        .route(
            "/second-factor/totp",
            post(enroll_totp::<S>).delete(remove_totp::<S>),
        )
        .route("/second-factor/totp/confirm", post(confirm_totp::<S>))
        .route(
            "/second-factor/recovery-codes",
            post(regenerate_recovery_codes::<S>),
        )
        .route("/refresh", post(refresh::<S>))
        .route("/logout", post(logout::<S>))
        .route("/logout-all", post(logout_all::<S>))
        .route("/me", get(me::<S>))
        .route("/sessions", get(sessions::<S>))
        .route("/sessions/{id}/revoke", post(revoke_session::<S>))
        .route("/logout-others", post(logout_others::<S>))
        .route("/password/forgot", post(forgot_password::<S>))
        .route("/password/reset", post(reset_password::<S>))
        .route("/email/verify", post(verify_email::<S>))
        .route("/login-link", post(request_login_link::<S>))
        .route("/login-link/login", post(login_with_link::<S>))
        .route("/.well-known/jwks.json", get(jwks::<S>))
        .layer(DefaultBodyLimit::max(state.http().options().max_body_bytes))
        .layer(middleware::from_fn(session_layer))
}

/// The ready router of auth endpoints on the built-in user store, to `nest` (e.g. at
/// `/auth`, the default refresh-cookie path assumes it):
///
/// | route | |
/// |---|---|
/// | `POST /register` | `{email, password}` → 201 user |
/// | `POST /login` | `{email, password, use_cookies?}` → tokens or cookies, or (second factor) `{second_factor: true, challenge, expires_in}` |
/// | `POST /login/complete` | `{challenge, code, use_cookies?}` → tokens or cookies |
/// | `POST /reauthenticate` | `{password}` → 204 (step-up for the routes below) |
/// | `GET /second-factor` | `{enrolled, recovery_codes_remaining}` |
/// | `POST /second-factor/totp` | (step-up) → `{secret, otpauth_uri, qr_svg}` |
/// | `POST /second-factor/totp/confirm` | `{code}` → `{recovery_codes}` (shown once) |
/// | `DELETE /second-factor/totp` | (step-up) → 204 |
/// | `POST /second-factor/recovery-codes` | (step-up) → `{recovery_codes}` |
/// | `POST /refresh` | `{token}` → tokens; no body → refresh cookie → cookies |
/// | `POST /logout`, `POST /logout-all` | revoke the session / every session |
/// | `GET /me` | the user |
/// | `GET /sessions` | the user's sessions (device, created, last used, `current`) |
/// | `POST /sessions/{id}/revoke` | sign one session out (404 if not the user's) |
/// | `POST /logout-others` | sign out everywhere else |
/// | `POST /password/forgot`, `POST /password/reset` | `{email}`; `{token, new_password}` |
/// | `POST /email/verify` | `{token}` |
/// | `POST /login-link`, `POST /login-link/login` | `{email}`; `{email, token, use_cookies?}` → as `/login` |
/// | `GET /.well-known/jwks.json` | public JWT keys, when published |
/// | `POST /onboarding/start` | `{email}` → 202 `{token, session_id, next_step, steps}`; the code goes to the mailer |
/// | `POST /onboarding/resend` | `{token}` → 202, a new code mailed |
/// | `GET /onboarding/status` | (`X-Onboarding-Token`) → `{session_id, email, next_step, next_step_skippable, completed, expires_at}` |
/// | `POST /onboarding/verify` | `{token, code}` → the status |
/// | `POST /onboarding/password` | `{token, password}` → the status |
/// | `POST /onboarding/totp` | `{token}` → `{secret, otpauth_uri, qr_svg}` |
/// | `POST /onboarding/totp/confirm` | `{token, code}` → the status |
/// | `POST /onboarding/skip` | `{token, step}` → the status (optional steps only) |
/// | `POST /onboarding/step` | `{token, step, input}` → the status (application steps) |
/// | `POST /onboarding/finish` | `{token, use_cookies?}` → the new user's tokens or cookies, as `/login` |
///
/// The onboarding token travels in the JSON body's `token` or the `X-Onboarding-Token`
/// header, never in a URL; its refusals are listed with [`Error`].
pub fn router<T: Clone + Send + Sync + 'static>(state: AuthState<DbUserStore>) -> Router<T> {
    let limit = state.http().options().max_body_bytes;
    // The routes that need the built-in store, under the same layers as the others (body
    // limit, the request span and cookie bookkeeping).
    let own_store = Router::new()
        .route("/register", post(register))
        .route("/onboarding/start", post(onboarding::onboarding_start))
        .route("/onboarding/resend", post(onboarding::onboarding_resend))
        .route("/onboarding/status", get(onboarding::onboarding_status))
        .route("/onboarding/verify", post(onboarding::onboarding_verify))
        .route(
            "/onboarding/password",
            post(onboarding::onboarding_password),
        )
        .route("/onboarding/totp", post(onboarding::onboarding_totp))
        .route(
            "/onboarding/totp/confirm",
            post(onboarding::onboarding_totp_confirm),
        )
        .route("/onboarding/skip", post(onboarding::onboarding_skip))
        .route("/onboarding/step", post(onboarding::onboarding_submit))
        .route("/onboarding/finish", post(onboarding::onboarding_finish))
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(session_layer));
    base::<DbUserStore>(&state)
        .merge(own_store)
        .with_state(state)
}
