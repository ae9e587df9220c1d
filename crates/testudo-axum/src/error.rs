//! [`Error`]: every way a request can be refused, and its one mapping to an RFC 9457 problem.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use testudo_core::{AccountError, AuthenticationError, SecondFactorError};

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
            challenge: None,
            retry_after: None,
        }
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
        AccountError::WrongCode { .. } => Problem::new(bad, "wrong_code", "wrong code").detail(e),
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
        ];
        for (e, status) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
        }
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
