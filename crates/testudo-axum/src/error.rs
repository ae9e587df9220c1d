//! [`Error`]: every way a request can be refused, and its one mapping to an RFC 9457 problem.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use testudo_core::{AccountError, AuthenticationError, OnboardingError, SecondFactorError};

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The media type of every error body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Why a request was refused. Its [`IntoResponse`] is the only mapping of testudo's errors to
/// HTTP: a JSON problem body (RFC 9457, `application/problem+json`) with the right status and
/// headers, and never a secret, a token or an internal cause (those go to tracing).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The service refused (see [`testudo_core::Error`] for the variants and their statuses).
    #[error(transparent)]
    Auth(#[from] testudo_core::Error),
    /// The request carries no credentials at all (401 with a bare `Bearer` challenge).
    #[error("authentication required")]
    MissingCredentials,
    /// The `Authorization` header is not exactly `Bearer <token>` (RFC 6750): another scheme,
    /// no token, two tokens, characters outside `b64token`, several headers (401,
    /// `error="invalid_request"`).
    #[error("malformed authorization header")]
    MalformedAuthorization,
    /// A cookie-authenticated unsafe request failed the CSRF checks (403).
    #[error("cross-site request refused: {0}")]
    Csrf(CsrfFailure),
    /// The request body was refused (400, 413 or 415).
    #[error("request body refused: {0}")]
    Body(BodyFailure),
    /// This server is not set up for what the request asks (an API key without an API-key
    /// store, a service token without S2S tokens, cookies without a signing secret): 500 with a
    /// generic body; the reason is logged.
    #[error("not configured: {0}")]
    NotConfigured(Missing),
    /// What the request names does not exist for this user (404), e.g. a session id that is
    /// not one of the user's live sessions.
    #[error("not found")]
    NotFound,
    /// A re-authentication of a signed-in user gave a wrong password (403 `wrong_password`,
    /// not 401: the session itself is valid, and a client must not sign out or refresh).
    #[error("wrong password")]
    WrongPassword,
    /// An onboarding route got no session token: none in the JSON body's `token`, nor in the
    /// `X-Onboarding-Token` header (400 `missing_onboarding_token`).
    #[error("missing onboarding token")]
    MissingOnboardingToken,
}

/// What an [`Error::NotConfigured`] request needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Missing {
    /// Cookie mode (the configuration has no signing secret).
    #[error("cookie mode (a signing secret)")]
    CookieMode,
    /// Service-to-service tokens ([`crate::AuthStateBuilder::s2s`]).
    #[error("S2S tokens")]
    S2sTokens,
    /// An API-key store ([`crate::AuthStateBuilder::api_keys`]).
    #[error("an API-key store")]
    ApiKeys,
}

/// Why a cookie-authenticated unsafe request was refused as cross-site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfFailure {
    /// `Sec-Fetch-Site` says `cross-site` (or `same-site` from an origin not allowed).
    #[error("the request comes from another site")]
    CrossSite,
    /// `Origin` is not an allowed origin (nor this host).
    #[error("origin not allowed")]
    OriginNotAllowed,
    /// No CSRF token in the header or the form, or no CSRF cookie.
    #[error("missing CSRF token")]
    MissingToken,
    /// The CSRF token does not match the cookie or the session.
    #[error("wrong CSRF token")]
    WrongToken,
}

/// Why a request body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyFailure {
    /// Larger than the configured limit (413).
    #[error("the body is too large")]
    TooLarge,
    /// Not `Content-Type: application/json` (415).
    #[error("expected an application/json body")]
    UnsupportedMediaType,
    /// Not JSON, or not the JSON this endpoint takes (400). Which value was wrong is not said:
    /// it could be a password.
    #[error("the body is not valid for this endpoint")]
    Invalid,
}

/// The parts of a problem response.
struct Problem {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Option<Vec<String>>,
    remaining: Option<u32>,
    next_step: Option<String>,
    challenge: Option<&'static str>,
    retry_after: Option<u64>,
}

impl Problem {
    fn new(status: StatusCode, code: &'static str, title: &'static str) -> Self {
        Self {
            status,
            code,
            title,
            detail: title.to_owned(),
            errors: None,
            remaining: None,
            next_step: None,
            challenge: None,
            retry_after: None,
        }
    }

    fn remaining(mut self, remaining: u32) -> Self {
        self.remaining = Some(remaining);
        self
    }

    fn next_step(mut self, step: impl std::fmt::Display) -> Self {
        self.next_step = Some(step.to_string());
        self
    }

    fn detail(mut self, detail: impl std::fmt::Display) -> Self {
        self.detail = detail.to_string();
        self
    }

    fn challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "internal error",
        )
    }
}

/// The body of a problem response.
#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [String]>,
    /// Wrong tries left for a code (`wrong_code`).
    #[serde(skip_serializing_if = "Option::is_none")]
    remaining: Option<u32>,
    /// The onboarding step the session expects (or the step concerned).
    #[serde(skip_serializing_if = "Option::is_none")]
    next_step: Option<&'a str>,
}

const INVALID_TOKEN: &str = "Bearer error=\"invalid_token\"";
const BEARER: &str = "Bearer";

/// Whole seconds, rounded up, at least one (a `Retry-After: 0` invites a hot loop).
fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

fn account_problem(e: AccountError) -> Problem {
    let bad = StatusCode::BAD_REQUEST;
    match e {
        AccountError::UserNotFound | AccountError::UserInactive | AccountError::LinkUsed => {
            Problem::new(bad, "invalid_link", "the link is invalid or has expired")
        }
        AccountError::WrongCode { remaining } => Problem::new(bad, "wrong_code", "wrong code")
            .detail(e)
            .remaining(remaining),
        AccountError::NoPendingCode => Problem::new(bad, "no_pending_code", "no pending code"),
        AccountError::AlreadyVerified => Problem::new(
            StatusCode::CONFLICT,
            "already_verified",
            "email address already verified",
        ),
        AccountError::InvalidEmail => Problem::new(bad, "invalid_email", "invalid email address"),
        _ => Problem::new(bad, "invalid_request", "request refused"),
    }
}

fn second_factor_problem(e: SecondFactorError) -> Problem {
    let bad = StatusCode::BAD_REQUEST;
    match e {
        SecondFactorError::WrongCode => Problem::new(bad, "wrong_code", "wrong code"),
        SecondFactorError::InvalidChallenge | SecondFactorError::ChallengeExpired => Problem::new(
            StatusCode::UNAUTHORIZED,
            "invalid_challenge",
            "the login challenge is invalid or has expired",
        )
        .challenge(BEARER),
        SecondFactorError::ReauthenticationRequired => Problem::new(
            StatusCode::FORBIDDEN,
            "reauthentication_required",
            "a recent authentication is required",
        ),
        SecondFactorError::AlreadyEnrolled => Problem::new(
            StatusCode::CONFLICT,
            "already_enrolled",
            "a second factor is enrolled already",
        ),
        SecondFactorError::NotEnrolled | SecondFactorError::NoPendingEnrolment => Problem::new(
            bad,
            "not_enrolled",
            "no second factor is enrolled or pending",
        ),
        _ => Problem::new(bad, "invalid_request", "request refused"),
    }
}

/// The onboarding refusals. Only a caller holding a session token reaches them (the token is
/// 64 random characters by default, stored as its SHA-256), so none reveals anything about
/// accounts; still:
///
/// - **Unknown and expired sessions answer alike**: 404 `invalid_onboarding_session`, "the
///   onboarding session is invalid or has expired". A token that was never issued, one whose
///   session finished, one superseded by a newer session for the address, and an expired one
///   are not told apart: otherwise whoever found an old token (in a log, a browser history)
///   could learn whether its owner went on to create the account. 404 rather than 401: the
///   token names a resource (the session), it authenticates nobody, and a client must not
///   take it as "sign out / refresh"; the remedy is the same for every case (start again).
/// - **The pipeline's order**: 409 `onboarding_out_of_order` (a step other than the next one;
///   `next_step` names it, absent when only the finish is left), 409 `onboarding_incomplete`
///   (a finish with steps left; `next_step`), 409 `step_not_skippable` (a required step;
///   `next_step`), 400 `wrong_step_input` (the step takes another kind of input: a client
///   bug, not a state conflict; `next_step`).
/// - **The code**: 400 `wrong_code` with `remaining` (tries left), then 400
///   `no_pending_code` (expired, died of wrong tries, or used: ask for a new one).
/// - **An application step's refusal**: 400 `onboarding_step_failed` with its messages in
///   `errors` (as `invalid_password` carries the validators' messages).
/// - **A concurrent change**: 409 `already_finishing` (another request is finishing the
///   session or changed it meanwhile: read its status, or retry the step).
fn onboarding_problem(e: &OnboardingError) -> Problem {
    let bad = StatusCode::BAD_REQUEST;
    let conflict = StatusCode::CONFLICT;
    match e {
        OnboardingError::SessionInvalid | OnboardingError::SessionExpired => Problem::new(
            StatusCode::NOT_FOUND,
            "invalid_onboarding_session",
            "the onboarding session is invalid or has expired",
        ),
        OnboardingError::OutOfOrder { expected, got } => {
            let p = Problem::new(
                conflict,
                "onboarding_out_of_order",
                "the onboarding step is out of order",
            );
            match expected {
                Some(next) => p
                    .detail(format_args!(
                        "step {got} is out of order: the next step is {next}"
                    ))
                    .next_step(next),
                None => p.detail(format_args!(
                    "step {got} is out of order: every step is done, only the finish is left"
                )),
            }
        }
        OnboardingError::Incomplete { next } => Problem::new(
            conflict,
            "onboarding_incomplete",
            "the onboarding is not complete",
        )
        .detail(format_args!(
            "the onboarding is not complete: the next step is {next}"
        ))
        .next_step(next),
        OnboardingError::NotSkippable { step } => Problem::new(
            conflict,
            "step_not_skippable",
            "the onboarding step cannot be skipped",
        )
        .detail(format_args!(
            "step {step} is required and cannot be skipped"
        ))
        .next_step(step),
        OnboardingError::WrongInput { step } => Problem::new(
            bad,
            "wrong_step_input",
            "the onboarding step does not accept this input",
        )
        .detail(format_args!("step {step} does not accept this input"))
        .next_step(step),
        OnboardingError::WrongCode { remaining } => Problem::new(bad, "wrong_code", "wrong code")
            .detail(format_args!("wrong code; {remaining} tries left"))
            .remaining(*remaining),
        OnboardingError::NoPendingCode => Problem::new(bad, "no_pending_code", "no pending code")
            .detail("no code is pending: it expired, was used or had too many wrong tries"),
        OnboardingError::StepFailed { step, errors } => {
            let mut p = Problem::new(
                bad,
                "onboarding_step_failed",
                "the onboarding step refused its input",
            )
            .detail(format_args!("step {step} refused its input"))
            .next_step(step);
            p.errors = Some(errors.messages().to_vec());
            p
        }
        OnboardingError::AlreadyFinishing => Problem::new(
            conflict,
            "already_finishing",
            "the onboarding session is being finished or changed by another request",
        ),
        _ => Problem::new(bad, "invalid_request", "request refused"),
    }
}

fn core_problem(e: &testudo_core::Error) -> Problem {
    use testudo_core::Error as E;
    match e {
        E::Authentication(a) => match a {
            AuthenticationError::InvalidCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "invalid credentials",
            )
            .challenge(BEARER),
            AuthenticationError::EmailNotVerified => Problem::new(
                StatusCode::FORBIDDEN,
                "email_not_verified",
                "email address not verified",
            ),
            AuthenticationError::MissingScope => Problem::new(
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "missing a required scope",
            )
            .challenge("Bearer error=\"insufficient_scope\""),
            // The password was right; the account wants its second factor (the router's
            // logins answer a challenge instead; an application calling `login` gets this).
            AuthenticationError::SecondFactorRequired => Problem::new(
                StatusCode::UNAUTHORIZED,
                "second_factor_required",
                "a second factor is required",
            )
            .challenge(BEARER),
            // A valid token of a deleted or deactivated user: the token is no good any more.
            _ => Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", "invalid token")
                .challenge(INVALID_TOKEN),
        },
        E::Token(t) => Problem::new(StatusCode::UNAUTHORIZED, "invalid_token", "invalid token")
            .detail(t)
            .challenge(INVALID_TOKEN),
        E::InvalidPassword(p) => {
            let mut problem = Problem::new(
                StatusCode::BAD_REQUEST,
                "invalid_password",
                "the password was refused",
            );
            problem.errors = Some(p.messages().to_vec());
            problem
        }
        E::Signature(_) => Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_link",
            "the link is invalid or has expired",
        ),
        E::Account(a) => account_problem(*a),
        E::SecondFactor(f) => second_factor_problem(*f),
        E::Onboarding(o) => onboarding_problem(o),
        E::EmailTaken => Problem::new(
            StatusCode::CONFLICT,
            "email_taken",
            "email address already in use",
        ),
        E::Busy => {
            let mut p = Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too busy, retry later",
            );
            p.retry_after = Some(1);
            p
        }
        E::RateLimited { retry_after } => {
            let secs = retry_after_secs(*retry_after);
            let mut p = Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many attempts",
            )
            .detail(format_args!("too many attempts; retry after {secs} s"));
            p.retry_after = Some(secs);
            p
        }
        // Storage, internal, configuration and event failures: the cause is for the logs
        // (written once, by `into_response`).
        _ => Problem::internal(),
    }
}

impl Error {
    fn problem(&self) -> Problem {
        match self {
            Self::Auth(e) => core_problem(e),
            Self::MissingCredentials => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "authentication required",
            )
            .challenge(BEARER),
            Self::MalformedAuthorization => Problem::new(
                StatusCode::UNAUTHORIZED,
                "invalid_request",
                "malformed authorization header",
            )
            .challenge("Bearer error=\"invalid_request\""),
            Self::Csrf(f) => {
                Problem::new(StatusCode::FORBIDDEN, "csrf", "cross-site request refused").detail(f)
            }
            Self::Body(b) => {
                let status = match b {
                    BodyFailure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
                    BodyFailure::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    _ => StatusCode::BAD_REQUEST,
                };
                Problem::new(status, "invalid_body", "request body refused").detail(b)
            }
            Self::NotConfigured(_) => Problem::internal(),
            Self::NotFound => Problem::new(StatusCode::NOT_FOUND, "not_found", "not found"),
            Self::WrongPassword => {
                Problem::new(StatusCode::FORBIDDEN, "wrong_password", "wrong password")
            }
            Self::MissingOnboardingToken => Problem::new(
                StatusCode::BAD_REQUEST,
                "missing_onboarding_token",
                "missing onboarding token",
            )
            .detail(
                "give the onboarding token in the body's `token` or the X-Onboarding-Token header",
            ),
        }
    }

    /// The HTTP status this error maps to.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        self.problem().status
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let p = self.problem();
        if p.status == StatusCode::INTERNAL_SERVER_ERROR {
            // The whole chain, for operators; never in the body.
            tracing::error!(error = &self as &dyn std::error::Error, "request failed");
        } else if p.status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!("request refused: password hashing is saturated");
        }
        let body = ProblemBody {
            kind: "about:blank",
            title: p.title,
            status: p.status.as_u16(),
            detail: &p.detail,
            code: p.code,
            errors: p.errors.as_deref(),
            remaining: p.remaining,
            next_step: p.next_step.as_deref(),
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = (p.status, json).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(challenge) = p.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        if let Some(secs) = p.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_and_is_never_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(60)), 60);
    }

    #[test]
    fn each_error_has_its_status() {
        use testudo_core::{InvalidPassword, TokenError};
        let cases: Vec<(Error, u16)> = vec![
            (testudo_core::Error::EmailTaken.into(), 409),
            (
                testudo_core::Error::from(AuthenticationError::SecondFactorRequired).into(),
                401,
            ),
            (
                testudo_core::Error::from(SecondFactorError::WrongCode).into(),
                400,
            ),
            (
                testudo_core::Error::from(SecondFactorError::ChallengeExpired).into(),
                401,
            ),
            (
                testudo_core::Error::from(SecondFactorError::ReauthenticationRequired).into(),
                403,
            ),
            (
                testudo_core::Error::from(SecondFactorError::AlreadyEnrolled).into(),
                409,
            ),
            (testudo_core::Error::Busy.into(), 503),
            (TokenError::Expired.into_core().into(), 401),
            (
                testudo_core::Error::from(InvalidPassword::new(vec!["short".into()])).into(),
                400,
            ),
            (
                testudo_core::Error::from(AuthenticationError::MissingScope).into(),
                403,
            ),
            (testudo_core::Error::storage("db down").into(), 500),
            (Error::Csrf(CsrfFailure::WrongToken), 403),
            (Error::Body(BodyFailure::TooLarge), 413),
            (Error::MalformedAuthorization, 401),
            (Error::WrongPassword, 403),
            (Error::MissingOnboardingToken, 400),
        ];
        for (e, status) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
        }
    }

    /// Every onboarding refusal: its status and its code.
    fn onboarding_cases() -> Vec<(OnboardingError, u16, &'static str)> {
        use testudo_core::StepMessages;
        vec![
            (
                OnboardingError::SessionInvalid,
                404,
                "invalid_onboarding_session",
            ),
            (
                OnboardingError::SessionExpired,
                404,
                "invalid_onboarding_session",
            ),
            (
                OnboardingError::OutOfOrder {
                    expected: Some("verify_email".into()),
                    got: "set_password".into(),
                },
                409,
                "onboarding_out_of_order",
            ),
            (
                OnboardingError::OutOfOrder {
                    expected: None,
                    got: "set_password".into(),
                },
                409,
                "onboarding_out_of_order",
            ),
            (
                OnboardingError::Incomplete {
                    next: "set_password".into(),
                },
                409,
                "onboarding_incomplete",
            ),
            (
                OnboardingError::NotSkippable {
                    step: "setup_totp".into(),
                },
                409,
                "step_not_skippable",
            ),
            (
                OnboardingError::WrongInput {
                    step: "verify_email".into(),
                },
                400,
                "wrong_step_input",
            ),
            (
                OnboardingError::WrongCode { remaining: 2 },
                400,
                "wrong_code",
            ),
            (OnboardingError::NoPendingCode, 400, "no_pending_code"),
            (
                OnboardingError::StepFailed {
                    step: "profile".into(),
                    errors: StepMessages::from(vec!["name is required".to_owned()]),
                },
                400,
                "onboarding_step_failed",
            ),
            (OnboardingError::AlreadyFinishing, 409, "already_finishing"),
        ]
    }

    /// The problem body of an onboarding refusal.
    fn body_of(e: OnboardingError) -> serde_json::Value {
        let problem = Error::from(testudo_core::Error::from(e)).problem();
        let body = ProblemBody {
            kind: "about:blank",
            title: problem.title,
            status: problem.status.as_u16(),
            detail: &problem.detail,
            code: problem.code,
            errors: problem.errors.as_deref(),
            remaining: problem.remaining,
            next_step: problem.next_step.as_deref(),
        };
        serde_json::to_value(&body).unwrap_or_default()
    }

    #[test]
    fn each_onboarding_error_has_its_status_and_code() {
        for (e, status, code) in onboarding_cases() {
            let error = Error::from(testudo_core::Error::from(e.clone()));
            assert_eq!(error.status().as_u16(), status, "{e:?}");
            assert_eq!(body_of(e.clone())["code"], code, "{e:?}");
        }
    }

    #[test]
    fn an_unknown_and_an_expired_onboarding_session_answer_the_same_body() {
        let unknown = body_of(OnboardingError::SessionInvalid);
        let expired = body_of(OnboardingError::SessionExpired);
        assert_eq!(unknown, expired);
    }

    #[test]
    fn onboarding_bodies_name_the_expected_step_the_tries_left_and_the_messages() {
        let out_of_order = body_of(OnboardingError::OutOfOrder {
            expected: Some("verify_email".into()),
            got: "set_password".into(),
        });
        assert_eq!(out_of_order["next_step"], "verify_email");
        assert!(
            out_of_order["detail"]
                .as_str()
                .is_some_and(|d| d.contains("verify_email")),
            "{out_of_order}"
        );
        let done = body_of(OnboardingError::OutOfOrder {
            expected: None,
            got: "set_password".into(),
        });
        assert!(done.get("next_step").is_none(), "{done}");
        assert!(
            done["detail"]
                .as_str()
                .is_some_and(|d| d.contains("finish")),
            "{done}"
        );
        let incomplete = body_of(OnboardingError::Incomplete {
            next: "set_password".into(),
        });
        assert_eq!(incomplete["next_step"], "set_password");
        let wrong = body_of(OnboardingError::WrongCode { remaining: 2 });
        assert_eq!(wrong["remaining"], 2);
        let failed = body_of(OnboardingError::StepFailed {
            step: "profile".into(),
            errors: vec!["name is required".to_owned(), "too long".to_owned()].into(),
        });
        assert_eq!(
            failed["errors"],
            serde_json::json!(["name is required", "too long"])
        );
        assert_eq!(failed["next_step"], "profile");
        let no_code = body_of(OnboardingError::NoPendingCode);
        assert!(no_code.get("remaining").is_none(), "{no_code}");
    }

    #[test]
    fn saturation_and_throttling_say_when_to_retry() {
        let busy = Error::from(testudo_core::Error::Busy).into_response();
        assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            busy.headers()
                .get(header::RETRY_AFTER)
                .map(HeaderValue::as_bytes),
            Some(&b"1"[..])
        );
        let limited = Error::from(testudo_core::Error::RateLimited {
            retry_after: Duration::from_millis(90_001),
        })
        .into_response();
        assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            limited
                .headers()
                .get(header::RETRY_AFTER)
                .map(HeaderValue::as_bytes),
            Some(&b"91"[..])
        );
        assert_eq!(
            limited
                .headers()
                .get(header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            Some(PROBLEM_JSON.as_bytes())
        );
    }

    trait IntoCore {
        fn into_core(self) -> testudo_core::Error;
    }
    impl IntoCore for testudo_core::TokenError {
        fn into_core(self) -> testudo_core::Error {
            self.into()
        }
    }
}
