//! The error hierarchy shared by every testudo crate.

use std::fmt;
use std::time::Duration;

use crate::TokenType;

/// A boxed error from a lower layer (a database driver, an I/O call, an event handler).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error testudo's traits and services can report.
///
/// The variants mirror the hierarchy of tortoise-auth (`TortoiseAuthError` and its subclasses),
/// so code ported from it can map errors one to one. Each leaf crate has its own, more precise
/// error type that converts into this one.
///
/// Messages never contain a password, a raw token, a secret or an email address.
///
/// # Which variant a failure lands in
///
/// Every crate's own error converts into [`Error`] by one rule, so the same failure reads the
/// same wherever it happens:
///
/// - **[`Error::Configuration`]**: only settings that are wrong (a bad value in `AuthConfig`, a
///   missing secret or key, a feature that is off). Fixing the configuration fixes it.
/// - **[`Error::Storage`]**: the database failed (the cause, a `testudo_db::Error` with its
///   kind, is the source).
/// - **[`Error::Internal`]**: something that is neither the caller's input nor the settings
///   failed: the operating system's random generator, a hashing task that panicked or was
///   cancelled, signing with a key that was accepted at build time.
/// - **[`Error::Token`], [`Error::Signature`], [`Error::InvalidPassword`],
///   [`Error::Authentication`], [`Error::EmailTaken`]**: the input was refused; the variant
///   (and its reason, which is data, not prose) says why.
/// - **[`Error::Event`]**: a handler failed while errors were set to propagate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A login or a lookup of the authenticated user failed.
    #[error(transparent)]
    Authentication(#[from] AuthenticationError),
    /// A token was expired, invalid or revoked.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A password was refused by the validators or the length limit.
    #[error(transparent)]
    InvalidPassword(#[from] InvalidPassword),
    /// A signed value did not verify or has expired.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// The configuration is inconsistent or unsafe; the message names the field.
    #[error(transparent)]
    Configuration(BoxError),
    /// An event handler failed while errors were set to propagate.
    #[error(transparent)]
    Event(#[from] EventError),
    /// The storage layer (database) failed; the cause is kept as the source.
    #[error("storage error")]
    Storage(#[source] BoxError),
    /// An internal failure that is neither bad input nor bad settings: the OS random generator,
    /// a hashing task that panicked or was cancelled, signing with an accepted key.
    #[error("internal error")]
    Internal(#[source] BoxError),
    /// A user with this email address exists already.
    #[error("email address already in use")]
    EmailTaken,
    /// The service is saturated: no password-hashing slot came free within
    /// `hash_queue_timeout`. Nothing was done; retry later (HTTP 503).
    #[error("too busy: password hashing is saturated")]
    Busy,
    /// Too many attempts for this identifier (or client): the call was refused before any
    /// work. `retry_after` is when the next attempt is allowed (HTTP 429 with `Retry-After`).
    #[error("too many attempts; retry after {} s", retry_after.as_secs())]
    RateLimited {
        /// How long until the next attempt is allowed.
        retry_after: Duration,
    },
    /// An account flow (password reset, email verification or change) refused its input.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// A second-factor operation (enrolment, a code, a login challenge, step-up) refused its
    /// input.
    #[error(transparent)]
    SecondFactor(#[from] SecondFactorError),
    /// An onboarding session refused a step (unknown or expired session, a step out of order,
    /// a wrong code...).
    #[error(transparent)]
    Onboarding(#[from] OnboardingError),
}

impl Error {
    /// Wraps a storage-layer failure (a database error, a pool timeout, ...).
    pub fn storage(source: impl Into<BoxError>) -> Self {
        Self::Storage(source.into())
    }

    /// Wraps a configuration error; `source`'s message should name the offending field.
    pub fn configuration(source: impl Into<BoxError>) -> Self {
        Self::Configuration(source.into())
    }

    /// Wraps an internal failure (see [`Error`] for the rule).
    pub fn internal(source: impl Into<BoxError>) -> Self {
        Self::Internal(source.into())
    }

    /// Returns the token error kind if this is a [`Error::Token`].
    #[must_use]
    pub fn as_token_error(&self) -> Option<&TokenError> {
        match self {
            Self::Token(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::convert::Infallible> for Error {
    fn from(never: std::convert::Infallible) -> Self {
        match never {}
    }
}

/// Why an authentication failed.
///
/// A failed login is always [`AuthenticationError::InvalidCredentials`], whether the user is
/// unknown, inactive or gave a wrong password: the real reason goes to the `user_login_failed`
/// event and to tracing only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticationError {
    /// Unknown user, inactive user or wrong password at login.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// A valid token names a user that no longer exists.
    #[error("user not found")]
    UserNotFound,
    /// The password was right but the account's email address is not verified, and
    /// `require_verified_email` is on (only a caller who knows the password learns this).
    #[error("email address not verified")]
    EmailNotVerified,
    /// A valid token names a user that has been deactivated.
    #[error("user is inactive")]
    UserInactive,
    /// The credential (an API key) is valid but lacks a scope the operation requires: the
    /// caller is known and not allowed (HTTP 403), unlike every other case here (401).
    #[error("missing a required scope")]
    MissingScope,
    /// The password was right, but the account has a second factor: no tokens were issued.
    /// Log in with `login_start` and `complete_login` instead (only a caller who knows the
    /// password learns this).
    #[error("a second factor is required")]
    SecondFactorRequired,
}

/// Why a second-factor operation was refused.
///
/// Only a caller holding a valid session, password or login challenge reaches these, so they
/// reveal nothing to someone probing for accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecondFactorError {
    /// The account has no (confirmed) second factor.
    #[error("no second factor is enrolled")]
    NotEnrolled,
    /// The account has a confirmed second factor already: remove it before enrolling another.
    #[error("a second factor is enrolled already")]
    AlreadyEnrolled,
    /// No enrolment waits for its first code.
    #[error("no enrolment is pending")]
    NoPendingEnrolment,
    /// The code is wrong, malformed, or was used already (a TOTP code is accepted once, and
    /// none older than one accepted; a recovery code once).
    #[error("wrong or already used code")]
    WrongCode,
    /// The login challenge is unknown, was used already, or its login was superseded.
    #[error("invalid login challenge")]
    InvalidChallenge,
    /// The login challenge is older than `login_challenge_lifetime`.
    #[error("login challenge expired")]
    ChallengeExpired,
    /// The operation needs an authentication within `step_up_window`
    /// (`AuthService::reauthenticate`).
    #[error("a recent authentication is required")]
    ReauthenticationRequired,
}

/// Why a password reset, an email verification or an email change was refused.
///
/// Only a caller holding a link or code testudo issued (checked first) can reach the
/// variants about the account, so they reveal nothing to someone probing for accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The link's account no longer exists.
    #[error("user not found")]
    UserNotFound,
    /// The link's account has been deactivated.
    #[error("user is inactive")]
    UserInactive,
    /// The link was genuine but the account changed since it was issued (password, credential
    /// version, last login or address): it was used already or is superseded.
    #[error("the link is no longer valid")]
    LinkUsed,
    /// The verification code was wrong; `remaining` tries are left before it dies.
    #[error("wrong verification code")]
    WrongCode {
        /// Wrong tries left for this code.
        remaining: u32,
    },
    /// No verification code is pending for the account: none was sent, it expired, it was
    /// used, or it died after too many wrong tries.
    #[error("no verification code is pending")]
    NoPendingCode,
    /// The account's address is verified already.
    #[error("email address already verified")]
    AlreadyVerified,
    /// The address given to register or to change to is not an email address (empty, no
    /// `@`, whitespace or a control character inside, or over 254 bytes).
    #[error("invalid email address")]
    InvalidEmail,
}

/// Why an onboarding session refused a call.
///
/// A step's own refusal (a weak password: [`Error::InvalidPassword`]) keeps its own variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OnboardingError {
    /// No unfinished session has this token: never issued, finished, invalidated by a newer
    /// session for the same address, or deleted by cleanup.
    #[error("onboarding session not found")]
    SessionInvalid,
    /// The session is past `onboarding_session_lifetime` (it is deleted).
    #[error("onboarding session has expired")]
    SessionExpired,
    /// The call is for another step than the session's next one.
    #[error("onboarding step {got:?} is out of order: the next step is {expected:?}")]
    OutOfOrder {
        /// The session's next step (`None`: every step is done, only `finish` is left).
        expected: Option<StepName>,
        /// The step the call was for.
        got: StepName,
    },
    /// The step cannot be skipped (it is required, e.g. TOTP with `onboarding_require_totp`).
    #[error("onboarding step {step:?} cannot be skipped")]
    NotSkippable {
        /// The step.
        step: StepName,
    },
    /// Steps are left: the session cannot finish yet.
    #[error("onboarding is not complete: the next step is {next:?}")]
    Incomplete {
        /// The next step.
        next: StepName,
    },
    /// The step does not accept this kind of input.
    #[error("onboarding step {step:?} does not accept this input")]
    WrongInput {
        /// The step.
        step: StepName,
    },
    /// The verification code was wrong; `remaining` tries are left before it dies.
    #[error("wrong verification code")]
    WrongCode {
        /// Wrong tries left.
        remaining: u32,
    },
    /// No verification code is pending: it expired, or died after too many wrong tries (start
    /// again, or ask for a new one with `resend_onboarding_code`).
    #[error("no verification code is pending")]
    NoPendingCode,
    /// The step refused its input (an application step's messages).
    #[error("onboarding step {step:?} failed: {errors}")]
    StepFailed {
        /// The step.
        step: StepName,
        /// Why, one message per problem.
        errors: StepMessages,
    },
    /// Another call is finishing this session right now, or has finished it.
    #[error("onboarding session is already being finished")]
    AlreadyFinishing,
}

/// The name of an onboarding step: a built-in one's (`verify_email`, `set_password`,
/// `setup_totp`) or an application's, as its `OnboardingStep::name` says. An identifier, not
/// a message: compare it, show it to a developer, never to decide on text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepName(Box<str>);

impl StepName {
    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for StepName {
    fn from(name: &str) -> Self {
        Self(name.into())
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for StepName {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

/// An application step's refusal: one message per problem, for the user (as
/// [`InvalidPassword`]'s). Displays as the messages joined by `"; "`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StepMessages(Vec<String>);

impl StepMessages {
    /// The messages.
    #[must_use]
    pub fn messages(&self) -> &[String] {
        &self.0
    }
}

impl From<Vec<String>> for StepMessages {
    fn from(messages: Vec<String>) -> Self {
        Self(messages)
    }
}

impl fmt::Display for StepMessages {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// A token could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is past its expiry time.
    #[error("token has expired")]
    Expired,
    /// The token was revoked (logout, rotation, revoke-all, blacklist).
    #[error("token has been revoked")]
    Revoked,
    /// The token is malformed, unknown, of the wrong type or wrongly signed.
    #[error("invalid token: {reason}")]
    Invalid {
        /// Why; match on it (its `Display` is the message). Never contains the token itself.
        reason: InvalidReason,
    },
}

impl TokenError {
    /// An [`TokenError::Invalid`] with the given reason.
    #[must_use]
    pub const fn invalid(reason: InvalidReason) -> Self {
        Self::Invalid { reason }
    }

    /// The reason when this is [`TokenError::Invalid`].
    #[must_use]
    pub const fn invalid_reason(&self) -> Option<InvalidReason> {
        match self {
            Self::Invalid { reason } => Some(*reason),
            _ => None,
        }
    }
}

/// Why a token is [`TokenError::Invalid`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// No such token (unknown, or impossible: wrong length or characters).
    #[error("token not found")]
    NotFound,
    /// The token is bound to another client address than the one presenting it.
    #[error("token not valid from this address")]
    WrongAddress,
    /// The token is of another type than the one expected.
    #[error("expected token type '{expected}', got {}", WrongTypeGot(*got))]
    WrongType {
        /// The type the caller asked for.
        expected: TokenType,
        /// The type the token says it is, if it says one testudo knows.
        got: Option<TokenType>,
    },
    /// The token names a type testudo does not know.
    #[error("unknown token type")]
    UnknownType,
    /// The token cannot be parsed (not three base64url parts, not JSON, ...).
    #[error("malformed token")]
    Malformed,
    /// The signature does not verify.
    #[error("signature verification failed")]
    BadSignature,
    /// The token's algorithm is not the configured one.
    #[error("the token's algorithm is not allowed")]
    AlgorithmNotAllowed,
    /// The token's key id names no verification key.
    #[error("unknown key id")]
    UnknownKey,
    /// The issuer is not the configured one.
    #[error("invalid issuer")]
    InvalidIssuer,
    /// The audience is not the configured one.
    #[error("audience doesn't match")]
    InvalidAudience,
    /// A required claim is absent (or empty).
    #[error("token is missing the \"{0}\" claim")]
    MissingClaim(Claim),
    /// A claim has the wrong JSON type.
    #[error("the \"{0}\" claim has the wrong type")]
    ClaimType(Claim),
    /// The token is not valid yet: its `iat` or `nbf` lies in the future.
    #[error("the token is not yet valid ({0})")]
    NotYetValid(Claim),
}

/// Shows the type a token said it had, quoted, or `none`.
struct WrongTypeGot(Option<TokenType>);

impl fmt::Display for WrongTypeGot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(t) => write!(f, "'{t}'"),
            None => f.write_str("none"),
        }
    }
}

/// A JWT claim named in an [`InvalidReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Claim {
    /// `sub`.
    Sub,
    /// `jti`.
    Jti,
    /// `iat`.
    Iat,
    /// `exp`.
    Exp,
    /// `nbf`.
    Nbf,
    /// `iss`.
    Iss,
    /// `aud`.
    Aud,
    /// `token_type`.
    TokenType,
    /// `extra`.
    Extra,
    /// Another claim.
    Other,
}

impl Claim {
    /// The claim of this name ([`Claim::Other`] for names testudo does not check).
    #[must_use]
    pub fn from_name(name: &str) -> Self {
        match name {
            "sub" => Self::Sub,
            "jti" => Self::Jti,
            "iat" => Self::Iat,
            "exp" => Self::Exp,
            "nbf" => Self::Nbf,
            "iss" => Self::Iss,
            "aud" => Self::Aud,
            "token_type" => Self::TokenType,
            "extra" => Self::Extra,
            _ => Self::Other,
        }
    }

    /// The claim's name in a token (`"other"` for [`Claim::Other`]).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sub => "sub",
            Self::Jti => "jti",
            Self::Iat => "iat",
            Self::Exp => "exp",
            Self::Nbf => "nbf",
            Self::Iss => "iss",
            Self::Aud => "aud",
            Self::TokenType => "token_type",
            Self::Extra => "extra",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for Claim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A password was refused; carries every message, in validator order.
///
/// Displays as the messages joined by `"; "`, as tortoise-auth's `InvalidPasswordError` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidPassword {
    messages: Vec<String>,
}

impl InvalidPassword {
    /// Builds the error from the messages of the validators that refused the password.
    #[must_use]
    pub fn new(messages: Vec<String>) -> Self {
        Self { messages }
    }

    /// The messages, in the order the validators ran.
    #[must_use]
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// Consumes the error and returns its messages.
    #[must_use]
    pub fn into_messages(self) -> Vec<String> {
        self.messages
    }
}

impl fmt::Display for InvalidPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.messages.join("; "))
    }
}

impl std::error::Error for InvalidPassword {}

/// A signed value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature does not verify or the value is malformed.
    #[error(transparent)]
    Bad(#[from] BadSignature),
    /// The signature is valid but too old, or dated in the future.
    #[error(transparent)]
    Expired(#[from] SignatureExpired),
}

/// Why a signed value was refused as a bad signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadSignature {
    /// The separator does not occur in the signed value.
    #[error("no separator found in signed value")]
    NoSeparator,
    /// The signature does not match the value (tampered, or another secret).
    #[error("signature does not match")]
    Mismatch,
    /// A timestamped value has no timestamp part.
    #[error("no timestamp found in signed value")]
    NoTimestamp,
    /// The timestamp part is not a valid encoded timestamp.
    #[error("invalid timestamp in signed value")]
    InvalidTimestamp,
}

/// Why a correctly signed value was refused as expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureExpired {
    /// The value is older than the maximum age.
    #[error("signature expired: age {age}s exceeds max_age {max_age}s")]
    TooOld {
        /// Age of the signature in seconds.
        age: u64,
        /// The maximum age that was asked for, in seconds.
        max_age: u64,
    },
    /// The timestamp lies in the future beyond the allowed clock skew.
    #[error("signature timestamp is in the future")]
    InFuture,
}

/// An event handler failed.
#[derive(Debug, thiserror::Error)]
#[error("handler '{handler}' for event '{event}' failed")]
pub struct EventError {
    /// The event's name, e.g. `user_login`.
    pub event: String,
    /// The name the handler was registered under (or its numeric handle).
    pub handler: String,
    /// What the handler returned (or a description of its panic).
    #[source]
    pub source: BoxError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_password_joins_messages_like_the_reference() {
        let e = InvalidPassword::new(vec!["a.".into(), "b.".into()]);
        assert_eq!(e.to_string(), "a.; b.");
        assert_eq!(Error::from(e).to_string(), "a.; b.");
    }

    #[test]
    fn storage_error_keeps_the_cause_in_source_only() {
        let io = std::io::Error::other("disk on fire");
        let e = Error::storage(io);
        assert_eq!(e.to_string(), "storage error");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }

    #[test]
    fn signature_errors_read_like_the_reference() {
        let e = Error::from(SignatureError::from(SignatureExpired::TooOld {
            age: 61,
            max_age: 60,
        }));
        assert_eq!(
            e.to_string(),
            "signature expired: age 61s exceeds max_age 60s"
        );
        let e = Error::from(SignatureError::from(BadSignature::Mismatch));
        assert_eq!(e.to_string(), "signature does not match");
    }

    #[test]
    fn failed_logins_all_read_the_same() {
        assert_eq!(
            Error::from(AuthenticationError::InvalidCredentials).to_string(),
            "invalid credentials"
        );
        assert_eq!(
            Error::from(TokenError::invalid(InvalidReason::NotFound)).to_string(),
            "invalid token: token not found"
        );
    }

    #[test]
    fn invalid_reasons_read_as_messages() {
        let wrong = InvalidReason::WrongType {
            expected: TokenType::Access,
            got: Some(TokenType::Refresh),
        };
        assert_eq!(
            wrong.to_string(),
            "expected token type 'access', got 'refresh'"
        );
        let none = InvalidReason::WrongType {
            expected: TokenType::Refresh,
            got: None,
        };
        assert_eq!(none.to_string(), "expected token type 'refresh', got none");
        assert_eq!(
            InvalidReason::MissingClaim(Claim::from_name("jti")).to_string(),
            "token is missing the \"jti\" claim"
        );
        assert_eq!(Claim::from_name("whatever"), Claim::Other);
        assert_eq!(
            TokenError::invalid(InvalidReason::Malformed).invalid_reason(),
            Some(InvalidReason::Malformed)
        );
    }

    #[test]
    fn internal_errors_keep_their_cause_in_source_only() {
        let e = Error::internal(std::io::Error::other("rng down"));
        assert_eq!(e.to_string(), "internal error");
        let source = std::error::Error::source(&e).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("rng down"));
    }
}
