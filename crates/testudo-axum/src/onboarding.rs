//! The onboarding routes (`/onboarding/...`): the HTTP face of the service's resumable
//! registration (start, the emailed code, a password, an optional TOTP factor, the
//! application's own steps, finish), and the throttled calls they share with server-rendered
//! pages ([`start_onboarding_for`], [`resend_onboarding_code_for`],
//! [`verify_onboarding_code_for`], [`confirm_onboarding_totp_for`]).
//!
//! The session token travels in the JSON body's `token` or in the
//! [`ONBOARDING_TOKEN_HEADER`] header, never in a URL (URLs end up in logs, proxies and
//! browser histories). It is a bearer secret of the unfinished registration: whoever holds it
//! can finish it, so clients keep it as they keep a refresh token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use testudo_core::{ExposeSecret, SecretString};
use testudo_service::DbUserStore;
use testudo_service::onboarding::{
    OnboardingStart, OnboardingStatus, SET_PASSWORD, SETUP_TOTP, StepInput, VERIFY_EMAIL,
};

use crate::client::ClientContext;
use crate::error::{Error, Result};
use crate::routes::{
    EmailBody, JsonBody, check_cookie_login, enrolment_response, logged_in, no_store,
};
use crate::state::AuthState;

/// The header that may carry the onboarding token instead of the body's `token` (the only
/// way for `GET /onboarding/status`).
pub const ONBOARDING_TOKEN_HEADER: &str = "x-onboarding-token";

/// The throttling scope of starting a session and of mailing a new code (counted per
/// normalised address, and per client address [`CLIENT_FACTOR`](testudo_service::throttle::CLIENT_FACTOR) times more, with the
/// password-reset policy: each attempt sends a mail).
pub const START_SCOPE: &str = "onboarding_start";

/// The throttling scope of the emailed codes (the login policy, counted per normalised
/// address, and per client address [`CLIENT_FACTOR`](testudo_service::throttle::CLIENT_FACTOR) times more): the service's
/// `verification_code` scope, shared with the account's own code verification.
pub const CODE_SCOPE: &str = "verification_code";

/// The token of an onboarding request: the body's, else the header's.
fn session_token<'a>(body: Option<&'a SecretString>, headers: &'a HeaderMap) -> Result<&'a str> {
    body.map(ExposeSecret::expose_secret)
        .or_else(|| {
            headers
                .get(ONBOARDING_TOKEN_HEADER)
                .and_then(|v| v.to_str().ok())
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(Error::MissingOnboardingToken)
}

/// Runs the step `step` of the session of `token` with `input`, for the client `client`: the
/// service throttles the code steps per address and per client, and an application's step
/// sees the client's address (`StepContext::client_ip`).
async fn run_step(
    auth: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
    step: &str,
    input: StepInput,
) -> Result<OnboardingStatus> {
    Ok(auth
        .service()
        .onboarding_step_from(token, step, input, client.ip_string().as_deref())
        .await?)
}

/// `AuthService::start_onboarding_from` for the client `client`: the service throttles it
/// (scope [`START_SCOPE`]: per normalised address, and per client address), so that nobody
/// can have it mail codes to an address without limit. What `POST /onboarding/start` does;
/// call it from your own pages.
///
/// # Errors
///
/// As `AuthService::start_onboarding_from` (429 when throttled, 400 `invalid_email`, 500
/// without a database or a signing secret).
pub async fn start_onboarding_for(
    auth: &AuthState<DbUserStore>,
    client: &ClientContext,
    email: &str,
) -> Result<OnboardingStart> {
    Ok(auth
        .service()
        .start_onboarding_from(email, client.ip_string().as_deref())
        .await?)
}

/// `AuthService::resend_onboarding_code_from` for the client `client`, counted in the scope
/// of the start ([`START_SCOPE`], under the session's address): a resend mails a code too.
///
/// # Errors
///
/// As `AuthService::onboarding_status` (404 `invalid_onboarding_session`); 429 when
/// throttled; 409 `onboarding_out_of_order` once the address is verified.
pub async fn resend_onboarding_code_for(
    auth: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
) -> Result<()> {
    Ok(auth
        .service()
        .resend_onboarding_code_from(token, client.ip_string().as_deref())
        .await?)
}

/// The emailed code for the session of `token`, from the client `client`: the service counts
/// the tries per address and per client address ([`CODE_SCOPE`]), and the code dies after
/// `onboarding_max_verification_attempts` wrong ones.
///
/// # Errors
///
/// 429 when throttled; as `AuthService::onboarding_step` (400 `wrong_code` with
/// `remaining`, 400 `no_pending_code`, 404 `invalid_onboarding_session`, 409
/// `onboarding_out_of_order`).
pub async fn verify_onboarding_code_for(
    auth: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
    code: &str,
) -> Result<OnboardingStatus> {
    run_step(
        auth,
        client,
        token,
        VERIFY_EMAIL,
        StepInput::Code(code.to_owned()),
    )
    .await
}

/// Completes the TOTP step with a first code from the authenticator app; the service counts
/// the tries per address and per client address (scope `second_factor`).
///
/// # Errors
///
/// 429 when throttled; 400 `wrong_code`; 400 `not_enrolled` before
/// `POST /onboarding/totp`; as `AuthService::onboarding_step`.
pub async fn confirm_onboarding_totp_for(
    auth: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
    code: &str,
) -> Result<OnboardingStatus> {
    run_step(
        auth,
        client,
        token,
        SETUP_TOTP,
        StepInput::Code(code.to_owned()),
    )
    .await
}

/// Where an onboarding session is, as the routes answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct OnboardingView {
    /// The session's public id (as in the events; not a secret, and no use without the token).
    pub session_id: String,
    /// The address being registered.
    pub email: String,
    /// The next step's name; `null` when only `POST /onboarding/finish` is left.
    pub next_step: Option<String>,
    /// Whether the next step may be skipped (`POST /onboarding/skip`); `false` when none is
    /// left.
    pub next_step_skippable: bool,
    /// The completed steps, in order (skipped ones included).
    pub completed: Vec<String>,
    /// When the session expires (RFC 3339).
    pub expires_at: String,
}

impl From<OnboardingStatus> for OnboardingView {
    fn from(s: OnboardingStatus) -> Self {
        Self {
            session_id: s.session_id,
            email: s.email,
            next_step: s.next_step,
            next_step_skippable: s.next_step_skippable,
            completed: s.completed,
            expires_at: s.expires_at.to_rfc3339(),
        }
    }
}

fn view(status: OnboardingStatus) -> Response {
    no_store(Json(OnboardingView::from(status)).into_response())
}

/// What `POST /onboarding/start` answers (202, `no-store`).
#[derive(Serialize)]
struct StartResponse<'a> {
    token: &'a str,
    session_id: &'a str,
    next_step: Option<&'a str>,
    steps: Vec<String>,
}

/// A body carrying only the onboarding token (`POST /onboarding/resend`,
/// `/onboarding/totp`); `{}` with the token in the header.
#[derive(Debug, Default, Deserialize)]
pub struct OnboardingTokenBody {
    /// The session token (or in the [`ONBOARDING_TOKEN_HEADER`] header).
    #[serde(default)]
    pub token: Option<SecretString>,
}

/// `POST /onboarding/verify` and `/onboarding/totp/confirm`: the token and a code.
#[derive(Deserialize)]
pub struct OnboardingCodeBody {
    /// The session token (or in the [`ONBOARDING_TOKEN_HEADER`] header).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The emailed code, or the authenticator app's.
    pub code: SecretString,
}

impl std::fmt::Debug for OnboardingCodeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnboardingCodeBody").finish_non_exhaustive()
    }
}

/// `POST /onboarding/password`: the token and the password.
#[derive(Deserialize)]
pub struct OnboardingPasswordBody {
    /// The session token (or in the [`ONBOARDING_TOKEN_HEADER`] header).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The password.
    pub password: SecretString,
}

impl std::fmt::Debug for OnboardingPasswordBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnboardingPasswordBody")
            .finish_non_exhaustive()
    }
}

/// `POST /onboarding/skip`: the token and the (optional) step to skip.
#[derive(Debug, Deserialize)]
pub struct SkipBody {
    /// The session token (or in the [`ONBOARDING_TOKEN_HEADER`] header).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The step's name (the session's next one).
    pub step: String,
}

/// `POST /onboarding/step`: the token, an application step's name and its JSON input.
#[derive(Deserialize)]
pub struct StepBody {
    /// The session token (or in the [`ONBOARDING_TOKEN_HEADER`] header).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// The step's name (the session's next one).
    pub step: String,
    /// What the step takes (given to it as `StepInput::Data`).
    #[serde(default)]
    pub input: Value,
}

impl std::fmt::Debug for StepBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the input: it may be personal data.
        f.debug_struct("StepBody")
            .field("step", &self.step)
            .finish_non_exhaustive()
    }
}

/// `POST /onboarding/finish`: the token, and whether to install the session as cookies.
#[derive(Debug, Default, Deserialize)]
pub struct FinishBody {
    /// The session token (or in the [`ONBOARDING_TOKEN_HEADER`] header).
    #[serde(default)]
    pub token: Option<SecretString>,
    /// Install the new user's session as cookies (browsers) instead of returning the tokens.
    #[serde(default)]
    pub use_cookies: bool,
}

/// `POST /onboarding/start` `{email}`: 202 `{token, session_id, next_step, steps}`
/// (`no-store`): a new session, and a six-digit code for the address, handed to the mailer
/// by the `verification_code_generated` event (the code is never in the response). Whether
/// the address has an account is not said here (the finish refuses a taken one).
///
/// # Errors
///
/// 429 with `Retry-After` when throttled ([`START_SCOPE`]); 400 `invalid_email`; 500 without
/// a database or a signing secret.
pub async fn onboarding_start(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    JsonBody(body): JsonBody<EmailBody>,
) -> Result<Response> {
    let started = start_onboarding_for(&auth, &client, &body.email).await?;
    let steps = auth.service().onboarding_pipeline();
    let next_step = steps.first().cloned();
    let response = Json(StartResponse {
        token: started.token().expose_secret(),
        session_id: started.session_id(),
        next_step: next_step.as_deref(),
        steps,
    });
    Ok(no_store((StatusCode::ACCEPTED, response).into_response()))
}

/// `POST /onboarding/resend` `{token}`: 202, a new code mailed (the old one dies); throttled
/// with the start.
///
/// # Errors
///
/// As [`resend_onboarding_code_for`]; 400 `missing_onboarding_token`.
pub async fn onboarding_resend(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OnboardingTokenBody>,
) -> Result<StatusCode> {
    let token = session_token(body.token.as_ref(), &headers)?;
    resend_onboarding_code_for(&auth, &client, token).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `GET /onboarding/status` (token in the [`ONBOARDING_TOKEN_HEADER`] header): 200
/// [`OnboardingView`].
///
/// # Errors
///
/// 400 `missing_onboarding_token`; 404 `invalid_onboarding_session` for an unknown, finished
/// or expired session.
pub async fn onboarding_status(
    State(auth): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
) -> Result<Response> {
    let token = session_token(None, &headers)?;
    Ok(view(auth.service().onboarding_status(token).await?))
}

/// `POST /onboarding/verify` `{token, code}`: the emailed code; 200 [`OnboardingView`].
///
/// # Errors
///
/// As [`verify_onboarding_code_for`]; 400 `missing_onboarding_token`.
pub async fn onboarding_verify(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OnboardingCodeBody>,
) -> Result<Response> {
    let token = session_token(body.token.as_ref(), &headers)?;
    let status =
        verify_onboarding_code_for(&auth, &client, token, body.code.expose_secret()).await?;
    Ok(view(status))
}

/// `POST /onboarding/password` `{token, password}`: the password (length limit and the
/// validators, as `/register`); 200 [`OnboardingView`].
///
/// # Errors
///
/// 400 `invalid_password` with every message; 409 `onboarding_out_of_order` before the code;
/// 404 `invalid_onboarding_session`; 400 `missing_onboarding_token`; 503 when hashing is
/// saturated.
pub async fn onboarding_password(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OnboardingPasswordBody>,
) -> Result<Response> {
    let token = session_token(body.token.as_ref(), &headers)?;
    let input = StepInput::Password(body.password);
    Ok(view(
        run_step(&auth, &client, token, SET_PASSWORD, input).await?,
    ))
}

/// `POST /onboarding/totp` `{token}`: makes the TOTP secret of the `setup_totp` step (a new
/// one replaces an earlier one); `{secret, otpauth_uri, qr_svg}` (`no-store`, show once).
/// The step is then completed by `POST /onboarding/totp/confirm`, or skipped by
/// `POST /onboarding/skip` unless `onboarding_require_totp` is on.
///
/// # Errors
///
/// 409 `onboarding_out_of_order` unless TOTP is the next step; 404
/// `invalid_onboarding_session`; 400 `missing_onboarding_token`.
pub async fn onboarding_totp(
    State(auth): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OnboardingTokenBody>,
) -> Result<Response> {
    let token = session_token(body.token.as_ref(), &headers)?;
    let e = auth.service().onboarding_totp_enrolment(token).await?;
    Ok(enrolment_response(&e))
}

/// `POST /onboarding/totp/confirm` `{token, code}`: a first code from the app completes the
/// `setup_totp` step (the factor is stored, confirmed, with the new user); 200
/// [`OnboardingView`].
///
/// # Errors
///
/// As [`confirm_onboarding_totp_for`]; 400 `missing_onboarding_token`.
pub async fn onboarding_totp_confirm(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<OnboardingCodeBody>,
) -> Result<Response> {
    let token = session_token(body.token.as_ref(), &headers)?;
    let status =
        confirm_onboarding_totp_for(&auth, &client, token, body.code.expose_secret()).await?;
    Ok(view(status))
}

/// `POST /onboarding/skip` `{token, step}`: skips the next step when it is optional (TOTP
/// without `onboarding_require_totp`, an application step that is not required); 200
/// [`OnboardingView`].
///
/// # Errors
///
/// 409 `step_not_skippable`; 409 `onboarding_out_of_order` when `step` is not the next one;
/// 404 `invalid_onboarding_session`; 400 `missing_onboarding_token`.
pub async fn onboarding_skip(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<SkipBody>,
) -> Result<Response> {
    let token = session_token(body.token.as_ref(), &headers)?;
    Ok(view(
        run_step(&auth, &client, token, &body.step, StepInput::Skip).await?,
    ))
}

/// `POST /onboarding/step` `{token, step, input}`: an application step's JSON input (the
/// built-in steps have their own routes and refuse it with 400 `wrong_step_input`); 200
/// [`OnboardingView`].
///
/// # Errors
///
/// 400 `onboarding_step_failed` with the step's messages; 400 `wrong_step_input`; 409
/// `onboarding_out_of_order`; 404 `invalid_onboarding_session`; 400
/// `missing_onboarding_token`; whatever else the step refuses with.
pub async fn onboarding_submit(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<StepBody>,
) -> Result<Response> {
    let token = session_token(body.token.as_ref(), &headers)?;
    let input = StepInput::Data(body.input);
    Ok(view(
        run_step(&auth, &client, token, &body.step, input).await?,
    ))
}

/// `POST /onboarding/finish` `{token, use_cookies?}`: once every step is done, creates the
/// user (active, address verified) and signs them in as `/login` does: the tokens, or (with
/// `use_cookies`, same-origin only) the session cookies and the CSRF token; the session's
/// device context is recorded. A session finishes once: a second finish with the same token
/// is 404 `invalid_onboarding_session`, a concurrent one 409 `already_finishing`.
///
/// # Errors
///
/// 409 `onboarding_incomplete` with `next_step`; 409 `email_taken` when an account got the
/// address meanwhile; 403 for a cross-site cookie finish (refused before any work); 404
/// `invalid_onboarding_session`; 400 `missing_onboarding_token`.
pub async fn onboarding_finish(
    State(auth): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    JsonBody(body): JsonBody<FinishBody>,
) -> Result<Response> {
    if body.use_cookies {
        check_cookie_login(&auth, &headers)?;
    }
    let token = session_token(body.token.as_ref(), &headers)?;
    let result = auth
        .service()
        .finish_onboarding_with_context(token, &client.session_context())
        .await?;
    logged_in(&auth, &result, body.use_cookies)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn the_token_comes_from_the_body_else_the_header() {
        let mut headers = HeaderMap::new();
        assert!(matches!(
            session_token(None, &headers),
            Err(Error::MissingOnboardingToken)
        ));
        headers.insert(ONBOARDING_TOKEN_HEADER, HeaderValue::from_static(" abc "));
        assert_eq!(session_token(None, &headers).ok(), Some("abc"));
        let body = SecretString::from("from-body");
        assert_eq!(session_token(Some(&body), &headers).ok(), Some("from-body"));
        let empty = SecretString::from("  ");
        assert!(session_token(Some(&empty), &HeaderMap::new()).is_err());
    }
}
