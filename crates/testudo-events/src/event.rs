//! The events: built-in kinds with typed payloads, and application-defined ones.

use std::borrow::Cow;
use std::fmt;

use testudo_core::{AuthUser, SecretString};

/// The user an event is about: its id and email, copied out of the application's user type.
///
/// Events are not generic over the user type (one emitter serves every handler); a handler that
/// needs more loads the user by [`EventUser::id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventUser {
    /// The user's primary key, as text.
    pub id: String,
    /// The user's (normalised) email address.
    pub email: String,
}

impl EventUser {
    /// An event user with `id` and `email`.
    pub fn new(id: impl Into<String>, email: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            email: email.into(),
        }
    }

    /// Copies the id and email of any [`AuthUser`].
    pub fn from_user<U: AuthUser>(user: &U) -> Self {
        Self {
            id: user.id(),
            email: user.email().to_owned(),
        }
    }
}

/// Why a login failed, as the `reason` of `user_login_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoginFailureReason {
    /// No user with that identifier.
    NotFound,
    /// The user exists but is inactive.
    Inactive,
    /// The password was wrong.
    BadPassword,
    /// The password was right, but the user's credentials changed (a password change) while
    /// the login was in flight: its tokens were revoked (testudo only; the reference has no
    /// such case).
    CredentialsChanged,
    /// The password was right, but the address is not verified and `require_verified_email`
    /// is on (testudo only).
    Unverified,
}

impl LoginFailureReason {
    /// The reference's reason string (`not_found`, `inactive`, `bad_password`), or testudo's
    /// `credentials_changed` / `unverified`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Inactive => "inactive",
            Self::BadPassword => "bad_password",
            Self::CredentialsChanged => "credentials_changed",
            Self::Unverified => "unverified",
        }
    }
}

impl fmt::Display for LoginFailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an address is verified: by an emailed link or an emailed short code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum VerificationMethod {
    /// A link carrying a signed token.
    Link,
    /// A short numeric code the user types.
    Code,
}

/// Which kind of second factor a code was: a TOTP code or a single-use recovery code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecondFactorMethod {
    /// A code from an authenticator app.
    Totp,
    /// One of the account's recovery codes.
    RecoveryCode,
}

impl SecondFactorMethod {
    /// `totp` or `recovery_code`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Totp => "totp",
            Self::RecoveryCode => "recovery_code",
        }
    }
}

impl fmt::Display for SecondFactorMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who an API key belongs to: a user (by id) or a service (by name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ApiKeyOwner {
    /// A user, by its primary key as text.
    User(String),
    /// A service (another program), by its name.
    Service(String),
}

impl ApiKeyOwner {
    /// A user owner.
    pub fn user(id: impl Into<String>) -> Self {
        Self::User(id.into())
    }

    /// A service owner.
    pub fn service(name: impl Into<String>) -> Self {
        Self::Service(name.into())
    }

    /// `"user"` or `"service"` (as stored).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        match self {
            Self::User(_) => "user",
            Self::Service(_) => "service",
        }
    }

    /// The user id or the service name.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::User(id) | Self::Service(id) => id,
        }
    }
}

impl fmt::Display for ApiKeyOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.id())
    }
}

/// Why an API key was refused, as the `reason` of `api_key_rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ApiKeyFailure {
    /// Not the shape of a key of this deployment (prefix, length, characters, checksum).
    Malformed,
    /// Well formed, but no such key.
    NotFound,
    /// The key was revoked.
    Revoked,
    /// The key has expired.
    Expired,
    /// The key is valid but lacks a scope the caller requires.
    MissingScope,
}

impl ApiKeyFailure {
    /// `malformed`, `not_found`, `revoked`, `expired` or `missing_scope`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NotFound => "not_found",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
            Self::MissingScope => "missing_scope",
        }
    }
}

impl fmt::Display for ApiKeyFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kinds of built-in event, each with its reference name.
///
/// Handlers can be registered by kind or by name: `EventKind::UserLogin` and `"user_login"` are
/// the same event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// `user_login`: a successful login.
    UserLogin,
    /// `user_login_failed`: a failed login.
    UserLoginFailed,
    /// `user_logout`: a logout or logout-all.
    UserLogout,
    /// `password_changed`: a password was set (not on automatic re-hash).
    PasswordChanged,
    /// `email_token_created` (testudo): an email token (verification, reset) was created.
    EmailTokenCreated,
    /// `password_reset_requested`: a reset link was made for an active user (the handler mails it).
    PasswordResetRequested,
    /// `password_reset_completed`: a password was reset with a link.
    PasswordResetCompleted,
    /// `email_verification_requested` (testudo): a verification link or code was made (the handler mails it).
    EmailVerificationRequested,
    /// `email_verified` (testudo): an address was verified.
    EmailVerified,
    /// `email_change_requested` (testudo): a link to confirm a new address was made (the handler mails it to the new address, and tells the old one).
    EmailChangeRequested,
    /// `email_changed` (testudo): an account's address was changed.
    EmailChanged,
    /// `rate_limit_exceeded`: an attempt was refused by throttling.
    RateLimitExceeded,
    /// `api_key_created` (testudo): an API key was created.
    ApiKeyCreated,
    /// `api_key_revoked` (testudo): an API key was revoked.
    ApiKeyRevoked,
    /// `api_key_used` (testudo): an API key was verified.
    ApiKeyUsed,
    /// `api_key_rejected` (testudo): an API key was refused.
    ApiKeyRejected,
    /// `s2s_auth_success`: a service-to-service token was accepted.
    S2sAuthSuccess,
    /// `s2s_auth_failed`: a service-to-service token was refused.
    S2sAuthFailed,
    /// `second_factor_enrolled` (testudo): a TOTP factor was confirmed by its first code.
    SecondFactorEnrolled,
    /// `second_factor_removed` (testudo): a TOTP factor (and its recovery codes) was removed.
    SecondFactorRemoved,
    /// `second_factor_used` (testudo): a TOTP or recovery code was accepted.
    SecondFactorUsed,
    /// `second_factor_failed` (testudo): a TOTP or recovery code was refused.
    SecondFactorFailed,
    /// `onboarding_started`: an onboarding session was started (its verification code is sent with `verification_code_generated`).
    OnboardingStarted,
    /// `onboarding_step_completed`: a step of an onboarding session was completed.
    OnboardingStepCompleted,
    /// `onboarding_step_skipped`: an optional step of an onboarding session was skipped.
    OnboardingStepSkipped,
    /// `onboarding_step_failed`: a step of an onboarding session refused its input.
    OnboardingStepFailed,
    /// `onboarding_completed`: an onboarding session finished into a new user.
    OnboardingCompleted,
    /// `onboarding_session_expired`: an expired onboarding session was used.
    OnboardingSessionExpired,
    /// `verification_code_generated`: an onboarding verification code was made (the handler mails it).
    VerificationCodeGenerated,
}

impl EventKind {
    /// Every built-in kind.
    pub const ALL: [Self; 29] = [
        Self::UserLogin,
        Self::UserLoginFailed,
        Self::UserLogout,
        Self::PasswordChanged,
        Self::EmailTokenCreated,
        Self::PasswordResetRequested,
        Self::PasswordResetCompleted,
        Self::EmailVerificationRequested,
        Self::EmailVerified,
        Self::EmailChangeRequested,
        Self::EmailChanged,
        Self::RateLimitExceeded,
        Self::ApiKeyCreated,
        Self::ApiKeyRevoked,
        Self::ApiKeyUsed,
        Self::ApiKeyRejected,
        Self::S2sAuthSuccess,
        Self::S2sAuthFailed,
        Self::SecondFactorEnrolled,
        Self::SecondFactorRemoved,
        Self::SecondFactorUsed,
        Self::SecondFactorFailed,
        Self::OnboardingStarted,
        Self::OnboardingStepCompleted,
        Self::OnboardingStepSkipped,
        Self::OnboardingStepFailed,
        Self::OnboardingCompleted,
        Self::OnboardingSessionExpired,
        Self::VerificationCodeGenerated,
    ];

    /// The event name, as in tortoise-auth.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::UserLogin => "user_login",
            Self::UserLoginFailed => "user_login_failed",
            Self::UserLogout => "user_logout",
            Self::PasswordChanged => "password_changed",
            Self::EmailTokenCreated => "email_token_created",
            Self::PasswordResetRequested => "password_reset_requested",
            Self::PasswordResetCompleted => "password_reset_completed",
            Self::EmailVerificationRequested => "email_verification_requested",
            Self::EmailVerified => "email_verified",
            Self::EmailChangeRequested => "email_change_requested",
            Self::EmailChanged => "email_changed",
            Self::RateLimitExceeded => "rate_limit_exceeded",
            Self::ApiKeyCreated => "api_key_created",
            Self::ApiKeyRevoked => "api_key_revoked",
            Self::ApiKeyUsed => "api_key_used",
            Self::ApiKeyRejected => "api_key_rejected",
            Self::S2sAuthSuccess => "s2s_auth_success",
            Self::S2sAuthFailed => "s2s_auth_failed",
            Self::SecondFactorEnrolled => "second_factor_enrolled",
            Self::SecondFactorRemoved => "second_factor_removed",
            Self::SecondFactorUsed => "second_factor_used",
            Self::SecondFactorFailed => "second_factor_failed",
            Self::OnboardingStarted => "onboarding_started",
            Self::OnboardingStepCompleted => "onboarding_step_completed",
            Self::OnboardingStepSkipped => "onboarding_step_skipped",
            Self::OnboardingStepFailed => "onboarding_step_failed",
            Self::OnboardingCompleted => "onboarding_completed",
            Self::OnboardingSessionExpired => "onboarding_session_expired",
            Self::VerificationCodeGenerated => "verification_code_generated",
        }
    }

    /// The kind with this name, if it is a built-in one.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl AsRef<str> for EventKind {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event, delivered by reference to every handler registered under its [`Event::name`].
///
/// `Debug` never shows a raw token ([`SecretString`] redacts it).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// `user_login`: emitted after a successful login (tokens issued, `last_login` saved).
    UserLogin {
        /// Who logged in.
        user: EventUser,
    },
    /// `user_login_failed`: emitted before a failed login returns its (uniform) error.
    UserLoginFailed {
        /// What was typed as the login (e.g. the email).
        identifier: String,
        /// The real reason, which the login error itself never reveals.
        reason: LoginFailureReason,
    },
    /// `user_logout`: emitted on logout and logout-all.
    UserLogout {
        /// Who logged out.
        user: EventUser,
    },
    /// `password_changed`: emitted when a password is set.
    PasswordChanged {
        /// Whose password changed.
        user: EventUser,
    },
    /// `email_token_created` (testudo): an email token was created; the handler mails it.
    EmailTokenCreated {
        /// Where to send it.
        email: String,
        /// The raw token the application must mail (read it with
        /// [`ExposeSecret::expose_secret`](testudo_core::ExposeSecret::expose_secret); never
        /// shown by `Debug`).
        token: SecretString,
        /// What the token is for (e.g. `password_reset`, `email_verification`).
        purpose: Cow<'static, str>,
        /// The user it belongs to, when known.
        user: Option<EventUser>,
    },
    /// `password_reset_requested`: a reset link was made for an active user; the handler mails
    /// it. Never emitted for an unknown or inactive address (the caller's answer is the same).
    PasswordResetRequested {
        /// Whose password the link resets.
        user: EventUser,
        /// Where to send it: the account's *stored* address.
        email: String,
        /// The raw link token (never shown by `Debug`).
        token: SecretString,
    },
    /// `password_reset_completed`: a password was reset with a link (sessions ended).
    PasswordResetCompleted {
        /// Whose password was reset.
        user: EventUser,
    },
    /// `email_verification_requested` (testudo): a verification link or code was made; the
    /// handler mails it.
    EmailVerificationRequested {
        /// Whose address it verifies.
        user: EventUser,
        /// Where to send it: the account's stored address.
        email: String,
        /// The raw link token or code (never shown by `Debug`).
        secret: SecretString,
        /// Whether `secret` is a link token or a short code.
        method: VerificationMethod,
    },
    /// `email_verified` (testudo): an address was verified (by link, code or login link).
    EmailVerified {
        /// Whose address.
        user: EventUser,
    },
    /// `email_change_requested` (testudo): a link confirming a new address was made; the
    /// handler mails it to `new_email` and should tell the old address.
    EmailChangeRequested {
        /// Who asked (with the current address).
        user: EventUser,
        /// The address to confirm, where the link goes.
        new_email: String,
        /// The raw link token (never shown by `Debug`).
        token: SecretString,
    },
    /// `email_changed` (testudo): an account's address was changed (after confirmation).
    EmailChanged {
        /// The user, with the new address.
        user: EventUser,
        /// The address it had before.
        old_email: String,
    },
    /// `rate_limit_exceeded`: an attempt was refused by throttling.
    RateLimitExceeded {
        /// What was throttled: `login`, `password_reset`, `login_link`, `verification_code`...
        scope: Cow<'static, str>,
        /// The identifier (normalised email) the attempts were counted under.
        identifier: String,
        /// How long until the next attempt is allowed.
        retry_after: std::time::Duration,
    },
    /// `api_key_created` (testudo): an API key was created (the raw key is never in an event).
    ApiKeyCreated {
        /// The key's id.
        key_id: i64,
        /// Who it belongs to.
        owner: ApiKeyOwner,
        /// Its name.
        name: String,
    },
    /// `api_key_revoked` (testudo): an API key was revoked.
    ApiKeyRevoked {
        /// The key's id.
        key_id: i64,
        /// Who it belonged to.
        owner: ApiKeyOwner,
    },
    /// `api_key_used` (testudo): an API key was verified (with every scope the caller required).
    ApiKeyUsed {
        /// The key's id.
        key_id: i64,
        /// Who it belongs to.
        owner: ApiKeyOwner,
    },
    /// `api_key_rejected` (testudo): an API key was refused.
    ApiKeyRejected {
        /// The key's id, when the key exists (revoked, expired, missing a scope).
        key_id: Option<i64>,
        /// Why.
        reason: ApiKeyFailure,
    },
    /// `s2s_auth_success`: a service-to-service token matched one of the configured tokens.
    S2sAuthSuccess {
        /// The service name the caller *claims* (e.g. an `X-Service-Name` header). It is not
        /// authenticated: every service holding the shared token can claim any name (the
        /// reference reports it as the service's identity).
        claimed_service: Option<String>,
    },
    /// `s2s_auth_failed`: a service-to-service token matched none of the configured tokens.
    S2sAuthFailed {
        /// The service name the caller *claims*; not authenticated.
        claimed_service: Option<String>,
    },
    /// `second_factor_enrolled` (testudo): a TOTP factor was confirmed by its first code (the
    /// user now needs it to log in with a password).
    SecondFactorEnrolled {
        /// Whose factor.
        user: EventUser,
    },
    /// `second_factor_removed` (testudo): the user's TOTP factor and recovery codes were
    /// removed.
    SecondFactorRemoved {
        /// Whose factor.
        user: EventUser,
    },
    /// `second_factor_used` (testudo): a code was accepted (a login completed, or a factor
    /// confirmed).
    SecondFactorUsed {
        /// Whose code.
        user: EventUser,
        /// Which kind of code.
        method: SecondFactorMethod,
        /// Recovery codes left (for a recovery code: tell the user when few are left).
        recovery_codes_left: Option<u64>,
    },
    /// `second_factor_failed` (testudo): a code was refused (wrong, malformed or replayed).
    SecondFactorFailed {
        /// Whose code.
        user: EventUser,
        /// Which kind of code it looked like.
        method: SecondFactorMethod,
    },
    /// `onboarding_started`: an onboarding session was started for `email`.
    OnboardingStarted {
        /// The address being registered.
        email: String,
        /// The session's public id (not its token).
        session_id: String,
        /// The names of the session's steps, in order.
        pipeline: Vec<String>,
    },
    /// `onboarding_step_completed`: a step of an onboarding session was completed.
    OnboardingStepCompleted {
        /// The session's public id.
        session_id: String,
        /// The step.
        step_name: String,
    },
    /// `onboarding_step_skipped`: an optional step was skipped.
    OnboardingStepSkipped {
        /// The session's public id.
        session_id: String,
        /// The step.
        step_name: String,
    },
    /// `onboarding_step_failed`: a step refused its input (a wrong code, a weak password...).
    OnboardingStepFailed {
        /// The session's public id.
        session_id: String,
        /// The step.
        step_name: String,
        /// Why, one message per problem (never the input itself).
        errors: Vec<String>,
    },
    /// `onboarding_completed`: an onboarding session finished into a new user.
    OnboardingCompleted {
        /// The new user.
        user: EventUser,
        /// The session's public id.
        session_id: String,
    },
    /// `onboarding_session_expired`: an expired onboarding session was used (and deleted).
    OnboardingSessionExpired {
        /// The session's public id.
        session_id: String,
        /// The address it was registering.
        email: String,
    },
    /// `verification_code_generated`: an onboarding verification code was made; the handler
    /// mails `code` to `email`.
    VerificationCodeGenerated {
        /// Where to send it.
        email: String,
        /// The session's public id.
        session_id: String,
        /// The six-digit code (redacted in `Debug`).
        code: SecretString,
    },
    /// An application's own event.
    Custom {
        /// The event name handlers are registered under.
        name: Cow<'static, str>,
        /// Arbitrary data.
        payload: serde_json::Value,
    },
}

impl Event {
    /// An application-defined event.
    pub fn custom(name: impl Into<Cow<'static, str>>, payload: serde_json::Value) -> Self {
        Self::Custom {
            name: name.into(),
            payload,
        }
    }

    /// The name handlers are registered under (`user_login`, ..., or the custom name).
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Custom { name, .. } => name,
            other => other.kind().map_or("", EventKind::name),
        }
    }

    /// The built-in kind, or `None` for a custom event.
    #[must_use]
    pub fn kind(&self) -> Option<EventKind> {
        match self {
            Self::UserLogin { .. } => Some(EventKind::UserLogin),
            Self::UserLoginFailed { .. } => Some(EventKind::UserLoginFailed),
            Self::UserLogout { .. } => Some(EventKind::UserLogout),
            Self::PasswordChanged { .. } => Some(EventKind::PasswordChanged),
            Self::EmailTokenCreated { .. } => Some(EventKind::EmailTokenCreated),
            Self::PasswordResetRequested { .. } => Some(EventKind::PasswordResetRequested),
            Self::PasswordResetCompleted { .. } => Some(EventKind::PasswordResetCompleted),
            Self::EmailVerificationRequested { .. } => Some(EventKind::EmailVerificationRequested),
            Self::EmailVerified { .. } => Some(EventKind::EmailVerified),
            Self::EmailChangeRequested { .. } => Some(EventKind::EmailChangeRequested),
            Self::EmailChanged { .. } => Some(EventKind::EmailChanged),
            Self::RateLimitExceeded { .. } => Some(EventKind::RateLimitExceeded),
            Self::ApiKeyCreated { .. } => Some(EventKind::ApiKeyCreated),
            Self::ApiKeyRevoked { .. } => Some(EventKind::ApiKeyRevoked),
            Self::ApiKeyUsed { .. } => Some(EventKind::ApiKeyUsed),
            Self::ApiKeyRejected { .. } => Some(EventKind::ApiKeyRejected),
            Self::S2sAuthSuccess { .. } => Some(EventKind::S2sAuthSuccess),
            Self::S2sAuthFailed { .. } => Some(EventKind::S2sAuthFailed),
            Self::SecondFactorEnrolled { .. } => Some(EventKind::SecondFactorEnrolled),
            Self::SecondFactorRemoved { .. } => Some(EventKind::SecondFactorRemoved),
            Self::SecondFactorUsed { .. } => Some(EventKind::SecondFactorUsed),
            Self::SecondFactorFailed { .. } => Some(EventKind::SecondFactorFailed),
            Self::OnboardingStarted { .. } => Some(EventKind::OnboardingStarted),
            Self::OnboardingStepCompleted { .. } => Some(EventKind::OnboardingStepCompleted),
            Self::OnboardingStepSkipped { .. } => Some(EventKind::OnboardingStepSkipped),
            Self::OnboardingStepFailed { .. } => Some(EventKind::OnboardingStepFailed),
            Self::OnboardingCompleted { .. } => Some(EventKind::OnboardingCompleted),
            Self::OnboardingSessionExpired { .. } => Some(EventKind::OnboardingSessionExpired),
            Self::VerificationCodeGenerated { .. } => Some(EventKind::VerificationCodeGenerated),
            Self::Custom { .. } => None,
        }
    }

    /// The user the event is about, if any.
    #[must_use]
    pub fn user(&self) -> Option<&EventUser> {
        match self {
            Self::UserLogin { user }
            | Self::UserLogout { user }
            | Self::PasswordChanged { user }
            | Self::PasswordResetRequested { user, .. }
            | Self::PasswordResetCompleted { user }
            | Self::EmailVerificationRequested { user, .. }
            | Self::EmailVerified { user }
            | Self::EmailChangeRequested { user, .. }
            | Self::EmailChanged { user, .. }
            | Self::SecondFactorEnrolled { user }
            | Self::SecondFactorRemoved { user }
            | Self::SecondFactorUsed { user, .. }
            | Self::SecondFactorFailed { user, .. }
            | Self::OnboardingCompleted { user, .. } => Some(user),
            Self::EmailTokenCreated { user, .. } => user.as_ref(),
            Self::UserLoginFailed { .. }
            | Self::RateLimitExceeded { .. }
            | Self::ApiKeyCreated { .. }
            | Self::ApiKeyRevoked { .. }
            | Self::ApiKeyUsed { .. }
            | Self::ApiKeyRejected { .. }
            | Self::S2sAuthSuccess { .. }
            | Self::S2sAuthFailed { .. }
            | Self::OnboardingStarted { .. }
            | Self::OnboardingStepCompleted { .. }
            | Self::OnboardingStepSkipped { .. }
            | Self::OnboardingStepFailed { .. }
            | Self::OnboardingSessionExpired { .. }
            | Self::VerificationCodeGenerated { .. }
            | Self::Custom { .. } => None,
        }
    }
}
