//! Onboarding: a resumable registration, as tortoise-auth's pipeline (start, verify the emailed
//! code, set a password, optional steps of the application's), finished into a normal user and
//! a token pair.
//!
//! [`AuthService::start_onboarding`] creates a session and mails a six-digit code (through the
//! `verification_code_generated` event); the caller keeps the session's token and resumes
//! with it ([`AuthService::onboarding_step`], [`AuthService::finish_onboarding`]). The token
//! is stored only as its SHA-256; the code as a keyed digest; the password as its hash.
//! Each call names the step it is for, and a step out of order is refused with
//! [`OnboardingError::OutOfOrder`].
//!
//! Steps are [`OnboardingStep`]s: the built-in ones ([`VerifyEmailStep`], [`SetPasswordStep`])
//! come first, then the application's ([`crate::AuthServiceBuilder::onboarding_step`]), e.g. a
//! profile step that keeps data in the session ([`StepContext::data_mut`]) and applies it to
//! the new user when the session finishes ([`OnboardingStep::apply`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait as _, ActiveValue::Set, ColumnTrait as _, EntityTrait as _, QueryFilter as _,
};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use testudo_config::AuthConfig;
use testudo_core::{
    AuthResult, AuthUser as _, Claims, Error, OnboardingError, Result, SessionContext,
    UserStore as _, normalize_email, saturating_add,
};
use testudo_db::Database;
use testudo_events::{Event, EventUser};

use crate::entity::onboarding_session as row;
use crate::throttle::{Scope, client_ip};
use crate::{AuthService, DbUserStore, User};

/// The name of [`VerifyEmailStep`].
pub const VERIFY_EMAIL: &str = "verify_email";
/// The name of [`SetPasswordStep`].
pub const SET_PASSWORD: &str = "set_password";
/// The name of [`SetupTotpStep`].
pub const SETUP_TOTP: &str = "setup_totp";

/// Letters of a session token: `[A-Za-z0-9]`, as the reference.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// What a step is given.
#[derive(Clone)]
#[non_exhaustive]
pub enum StepInput {
    /// The emailed code ([`VerifyEmailStep`]).
    Code(String),
    /// The new password ([`SetPasswordStep`]).
    Password(SecretString),
    /// An application step's data.
    Data(Value),
    /// Skip the step (only an optional one: [`OnboardingStep::is_required`] false).
    Skip,
}

impl fmt::Debug for StepInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the code nor the password.
        f.write_str(match self {
            Self::Code(_) => "Code(..)",
            Self::Password(_) => "Password(..)",
            Self::Data(_) => "Data(..)",
            Self::Skip => "Skip",
        })
    }
}

/// One step of the onboarding pipeline. Object safe: the service keeps them as
/// `Arc<dyn OnboardingStep>`.
#[async_trait::async_trait]
pub trait OnboardingStep: Send + Sync + fmt::Debug {
    /// The step's name: unique in the pipeline, used by callers and in events.
    fn name(&self) -> &str;

    /// Whether the step must be done (otherwise [`StepInput::Skip`] skips it). Default true.
    fn is_required(&self, config: &AuthConfig) -> bool {
        let _ = config;
        true
    }

    /// Runs the step with the caller's input: `Ok` completes it (the session moves to the next
    /// step, with the data the step left in [`StepContext::data_mut`]).
    ///
    /// # Errors
    ///
    /// Whatever refuses the input, typically [`OnboardingError::StepFailed`] or
    /// [`OnboardingError::WrongInput`]; the session stays at this step.
    async fn submit(&self, ctx: &mut StepContext<'_>, input: StepInput) -> Result<()>;

    /// Applies what the step collected to the new user, once the user exists (at
    /// [`AuthService::finish_onboarding`]). Default: nothing.
    ///
    /// # Errors
    ///
    /// Any error fails the finish: the new user is deleted again and the session can finish
    /// later.
    async fn apply(&self, ctx: &FinishContext<'_>) -> Result<()> {
        let _ = ctx;
        Ok(())
    }
}

/// What a step sees while it runs.
pub struct StepContext<'a> {
    service: &'a AuthService<DbUserStore>,
    session: &'a row::Model,
    data: &'a mut Value,
    client_ip: Option<IpAddr>,
}

impl fmt::Debug for StepContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StepContext")
            .field("session_id", &self.session.id)
            .finish_non_exhaustive()
    }
}

impl StepContext<'_> {
    /// The session's public id.
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session.id
    }

    /// The (normalised) address being registered.
    #[must_use]
    pub fn email(&self) -> &str {
        &self.session.email
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &AuthConfig {
        self.service.config()
    }

    /// The client's address, when the caller gave it ([`AuthService::onboarding_step_from`]):
    /// for a step's own throttling per client.
    #[must_use]
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_ip
    }

    /// This step's data in the session (`null` until the step sets it); stored with the
    /// session when the step completes. Do not put secrets in clear here.
    pub fn data_mut(&mut self) -> &mut Value {
        self.data
    }
}

/// What a step sees when the session finishes.
pub struct FinishContext<'a> {
    user: &'a User,
    session_id: &'a str,
    data: &'a Value,
}

impl fmt::Debug for FinishContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FinishContext")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl FinishContext<'_> {
    /// The new user.
    #[must_use]
    pub fn user(&self) -> &User {
        self.user
    }

    /// The session's public id.
    #[must_use]
    pub fn session_id(&self) -> &str {
        self.session_id
    }

    /// The data this step left in the session.
    #[must_use]
    pub fn data(&self) -> &Value {
        self.data
    }
}

/// The first built-in step: the six-digit code mailed at start. Wrong codes are counted
/// (`onboarding_max_verification_attempts`, then the code dies), the code expires after
/// `onboarding_verification_code_ttl`, it is compared in constant time as a keyed digest, and
/// tries are throttled per address like the other code flows.
#[derive(Debug, Clone, Copy, Default)]
pub struct VerifyEmailStep;

/// The second built-in step: the password, checked against the length limit and the
/// configured validators (with the address for the similarity check), and kept as its hash
/// until the user is created.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetPasswordStep;

/// The third built-in step: a TOTP factor. [`AuthService::onboarding_totp_enrolment`] makes
/// the secret (kept sealed in the session, never in clear), then a first valid code from the
/// app ([`StepInput::Code`]) completes the step; the factor is stored, confirmed, with the
/// new user. Required when `onboarding_require_totp` is on, otherwise it can be skipped.
#[derive(Debug, Clone, Copy, Default)]
pub struct SetupTotpStep;

#[async_trait::async_trait]
impl OnboardingStep for SetupTotpStep {
    fn name(&self) -> &str {
        SETUP_TOTP
    }

    fn is_required(&self, config: &AuthConfig) -> bool {
        config.onboarding_require_totp
    }

    async fn submit(&self, ctx: &mut StepContext<'_>, input: StepInput) -> Result<()> {
        let StepInput::Code(code) = input else {
            return Err(OnboardingError::WrongInput {
                step: SETUP_TOTP.into(),
            }
            .into());
        };
        let service = ctx.service;
        let factors = service.factors()?;
        service
            .throttle(Scope::SecondFactor, &ctx.session.email, ctx.client_ip)
            .await?;
        let state = parse_state(ctx.session)?;
        let Some(sealed) = state.pending_totp else {
            return Err(testudo_core::SecondFactorError::NoPendingEnrolment.into());
        };
        let plain = factors.open_totp(&sealed, &code_subject(&ctx.session.id))?;
        let totp = onboarding_totp(service, &plain, &ctx.session.email)?;
        let now = service.clock().now().timestamp();
        let Some(step) = totp.verify(&code, now, None)? else {
            return Err(testudo_core::SecondFactorError::WrongCode.into());
        };
        *ctx.data_mut() = serde_json::json!({ "sealed": sealed, "step": step });
        Ok(())
    }
}

/// The TOTP of an onboarding secret, labelled with the address.
fn onboarding_totp(
    service: &AuthService<DbUserStore>,
    secret: &[u8],
    email: &str,
) -> Result<testudo_totp::Totp> {
    let params = testudo_totp::TotpParams::from_config(service.config());
    let account = if email.contains(':') { "user" } else { email };
    Ok(testudo_totp::Totp::new(
        &testudo_totp::TotpSecret::from_bytes(secret.to_vec()),
        params,
        &service.config().totp_issuer,
        account,
    )?)
}

#[async_trait::async_trait]
impl OnboardingStep for VerifyEmailStep {
    fn name(&self) -> &str {
        VERIFY_EMAIL
    }

    async fn submit(&self, ctx: &mut StepContext<'_>, input: StepInput) -> Result<()> {
        let StepInput::Code(code) = input else {
            return Err(OnboardingError::WrongInput {
                step: VERIFY_EMAIL.into(),
            }
            .into());
        };
        ctx.service
            .check_onboarding_code(ctx.session, &code, ctx.client_ip)
            .await
    }
}

#[async_trait::async_trait]
impl OnboardingStep for SetPasswordStep {
    fn name(&self) -> &str {
        SET_PASSWORD
    }

    async fn submit(&self, ctx: &mut StepContext<'_>, input: StepInput) -> Result<()> {
        let StepInput::Password(password) = input else {
            return Err(OnboardingError::WrongInput {
                step: SET_PASSWORD.into(),
            }
            .into());
        };
        let service = ctx.service;
        let password = password.expose_secret();
        testudo_hashers::check_password_length(password, service.config().max_password_length)?;
        let attributes =
            std::collections::HashMap::from([("email".to_owned(), ctx.email().to_owned())]);
        service.validators.validate(password, Some(&attributes))?;
        let hash = service.hasher.hash(SecretString::from(password)).await?;
        *ctx.data_mut() = serde_json::json!({ "hash": hash });
        Ok(())
    }
}

/// The onboarding sessions' store and the pipeline.
#[derive(Clone)]
pub(crate) struct Onboarding {
    db: Database,
    steps: Arc<[Arc<dyn OnboardingStep>]>,
}

impl fmt::Debug for Onboarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Onboarding")
            .field("steps", &self.steps)
            .finish_non_exhaustive()
    }
}

impl Onboarding {
    /// The built-in steps, then `extra`.
    pub(crate) fn new(db: Database, extra: Vec<Arc<dyn OnboardingStep>>) -> Self {
        let mut steps: Vec<Arc<dyn OnboardingStep>> = vec![
            Arc::new(VerifyEmailStep),
            Arc::new(SetPasswordStep),
            Arc::new(SetupTotpStep),
        ];
        steps.extend(extra);
        Self {
            db,
            steps: steps.into(),
        }
    }
}

/// The session's state column.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
struct State {
    /// Index of the next step in the pipeline (the pipeline's length: all done).
    next: usize,
    /// Each completed step's data.
    data: BTreeMap<String, Value>,
    /// The skipped steps.
    skipped: Vec<String>,
    /// The TOTP secret being set up, sealed to the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_totp: Option<String>,
}

/// What [`AuthService::start_onboarding`] returns. `Debug` hides the token.
#[derive(Clone)]
pub struct OnboardingStart {
    token: SecretString,
    session_id: String,
}

impl fmt::Debug for OnboardingStart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnboardingStart")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl OnboardingStart {
    /// The session's token: give it back to resume the session (keep it secret: it is the
    /// only proof of the session).
    #[must_use]
    pub fn token(&self) -> &SecretString {
        &self.token
    }

    /// The session's public id (in events).
    #[must_use]
    pub fn session_id(&self) -> &str {
        &self.session_id
    }
}

/// Where a session is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OnboardingStatus {
    /// The session's public id.
    pub session_id: String,
    /// The address being registered.
    pub email: String,
    /// The next step's name; `None` when only [`AuthService::finish_onboarding`] is left.
    pub next_step: Option<String>,
    /// Whether the next step may be skipped ([`StepInput::Skip`]): it is not required
    /// ([`OnboardingStep::is_required`] under the configuration). `false` when no step is
    /// left.
    pub next_step_skippable: bool,
    /// The completed steps, in order (skipped ones included).
    pub completed: Vec<String>,
    /// When the session expires.
    pub expires_at: DateTime<Utc>,
}

/// The SHA-256 hex of a token.
fn token_digest(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut hex = String::with_capacity(64);
    for b in digest {
        use fmt::Write as _;
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

/// `len` letters and digits from the OS random generator, uniformly (rejection sampling).
fn random_token(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0_u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| Error::internal(RandomFailed(e)))?;
        for &b in &buf {
            // 248 = 4 * 62: bytes above are rejected, so each letter is equally likely.
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// The OS random generator failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random generator failed")]
struct RandomFailed(#[source] getrandom::Error);

fn storage(e: sea_orm::DbErr) -> Error {
    testudo_db::Error::from(e).into()
}

fn parse_state(session: &row::Model) -> Result<State> {
    serde_json::from_str(&session.state).map_err(Error::internal)
}

fn write_state(state: &State) -> Result<String> {
    serde_json::to_string(state).map_err(Error::internal)
}

/// The code's digest key: the session id, under a prefix no user id has.
fn code_subject(session_id: &str) -> String {
    format!("onboarding:{session_id}")
}

impl AuthService<DbUserStore> {
    fn onboarding(&self) -> Result<&Onboarding> {
        self.onboarding
            .as_ref()
            .ok_or_else(|| crate::Error::NoCodeStore.into())
    }

    /// The names of the onboarding steps, in order.
    #[must_use]
    pub fn onboarding_pipeline(&self) -> Vec<String> {
        self.onboarding.as_ref().map_or_else(Vec::new, |o| {
            o.steps.iter().map(|s| s.name().to_owned()).collect()
        })
    }

    /// Starts onboarding `email`: creates a session valid for `onboarding_session_lifetime`
    /// (ending that address's unfinished sessions when `onboarding_invalidate_previous_sessions`
    /// is on), emits `onboarding_started` and `verification_code_generated` with a six-digit
    /// code for the handler to mail. Returns the session's token (of
    /// `onboarding_session_token_length` characters, stored only as its SHA-256).
    ///
    /// Whether an account has the address already is not checked here (that would reveal
    /// it): the finish refuses it with [`Error::EmailTaken`].
    ///
    /// Throttled as [`Self::start_onboarding_from`] says, per address only.
    ///
    /// # Errors
    ///
    /// [`testudo_core::AccountError::InvalidEmail`]; [`Error::RateLimited`];
    /// [`crate::Error::NoCodeStore`] without a database; [`crate::Error::NoSigningSecret`];
    /// [`Error::Storage`]; [`Error::Event`]; [`Error::Internal`] if the OS random generator
    /// fails.
    pub async fn start_onboarding(&self, email: &str) -> Result<OnboardingStart> {
        self.start_onboarding_from(email, None).await
    }

    /// [`Self::start_onboarding`] for the client at `ip` (e.g. the request's peer address):
    /// the throttling counts the attempt per client as well as per address.
    ///
    /// Every start mails a code, so starts are throttled (with a rate limiter configured) like
    /// password-reset requests: scope `onboarding_start`, the `password_reset_rate_limit_*`
    /// policy, per normalised address and per client; a refused start sends nothing.
    ///
    /// # Errors
    ///
    /// As [`Self::start_onboarding`]; [`Error::RateLimited`].
    #[tracing::instrument(name = "testudo.start_onboarding", skip_all, fields(session_id = tracing::field::Empty))]
    pub async fn start_onboarding_from(
        &self,
        email: &str,
        ip: Option<&str>,
    ) -> Result<OnboardingStart> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let signers = self.flow_signers()?;
            let email = normalize_email(email);
            if !crate::flows::plausible_email(&email) {
                return Err(testudo_core::AccountError::InvalidEmail.into());
            }
            self.throttle(Scope::OnboardingStart, &email, client_ip(ip))
                .await?;
            let token = random_token(self.config.onboarding_session_token_length)?;
            let session_id = random_token(32)?;
            tracing::Span::current().record("session_id", session_id.as_str());
            let code = crate::account::new_code()?;
            let now = self.clock().now();
            let db = onboarding.db.as_sea_orm();
            if self.config.onboarding_invalidate_previous_sessions {
                let gone = row::Entity::delete_many()
                    .filter(row::Column::Email.eq(email.as_str()))
                    .filter(row::Column::FinishingAt.is_null())
                    .exec(db)
                    .await
                    .map_err(storage)?;
                tracing::debug!(
                    invalidated = gone.rows_affected,
                    "previous onboarding sessions ended"
                );
            }
            row::ActiveModel {
                id: Set(session_id.clone()),
                token_digest: Set(token_digest(&token)),
                email: Set(email.clone()),
                state: Set(write_state(&State::default())?),
                code_digest: Set(Some(signers.code_digest(
                    &code_subject(&session_id),
                    &email,
                    &code,
                ))),
                code_attempts: Set(0),
                code_expires_at: Set(Some(saturating_add(
                    now,
                    self.config.onboarding_verification_code_ttl,
                ))),
                finishing_at: Set(None),
                expires_at: Set(saturating_add(now, self.config.onboarding_session_lifetime)),
                created_at: Set(now),
            }
            .insert(db)
            .await
            .map_err(storage)?;
            self.emit(Event::OnboardingStarted {
                email: email.clone(),
                session_id: session_id.clone(),
                pipeline: self.onboarding_pipeline(),
            })
            .await?;
            self.emit(Event::VerificationCodeGenerated {
                email,
                session_id: session_id.clone(),
                code: SecretString::from(code),
            })
            .await?;
            Ok(OnboardingStart {
                token: SecretString::from(token),
                session_id,
            })
        })
        .await
    }

    /// Sends a new code for the session's verification step (the old one dies, and its wrong
    /// tries with it: the throttling per address still counts them).
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_status`]; [`OnboardingError::OutOfOrder`] once the address is
    /// verified; [`Error::RateLimited`] (counted with the starts, per address).
    pub async fn resend_onboarding_code(&self, token: &str) -> Result<()> {
        self.resend_onboarding_code_from(token, None).await
    }

    /// [`Self::resend_onboarding_code`] for the client at `ip`: counted with the starts
    /// (scope `onboarding_start`, per address and per client), since it mails a code too.
    ///
    /// # Errors
    ///
    /// As [`Self::resend_onboarding_code`].
    #[tracing::instrument(name = "testudo.resend_onboarding_code", skip_all, fields(session_id = tracing::field::Empty))]
    pub async fn resend_onboarding_code_from(&self, token: &str, ip: Option<&str>) -> Result<()> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let signers = self.flow_signers()?;
            let session = self.live_session(token).await?;
            tracing::Span::current().record("session_id", session.id.as_str());
            let state = parse_state(&session)?;
            self.expect_step(onboarding, &state, VERIFY_EMAIL)?;
            self.throttle(Scope::OnboardingStart, &session.email, client_ip(ip))
                .await?;
            let code = crate::account::new_code()?;
            let now = self.clock().now();
            let updated = row::Entity::update_many()
                .col_expr(
                    row::Column::CodeDigest,
                    Expr::value(signers.code_digest(
                        &code_subject(&session.id),
                        &session.email,
                        &code,
                    )),
                )
                .col_expr(row::Column::CodeAttempts, Expr::value(0))
                .col_expr(
                    row::Column::CodeExpiresAt,
                    Expr::value(saturating_add(
                        now,
                        self.config.onboarding_verification_code_ttl,
                    )),
                )
                .filter(row::Column::Id.eq(session.id.as_str()))
                .filter(row::Column::FinishingAt.is_null())
                .exec(onboarding.db.as_sea_orm())
                .await
                .map_err(storage)?;
            if updated.rows_affected == 0 {
                return Err(OnboardingError::SessionInvalid.into());
            }
            self.emit(Event::VerificationCodeGenerated {
                email: session.email.clone(),
                session_id: session.id.clone(),
                code: SecretString::from(code),
            })
            .await
        })
        .await
    }

    /// Where the session of `token` is.
    ///
    /// # Errors
    ///
    /// [`OnboardingError::SessionInvalid`] for an unknown token (or a finished or invalidated
    /// session); [`OnboardingError::SessionExpired`] (the session is then deleted, and
    /// `onboarding_session_expired` emitted); [`crate::Error::NoCodeStore`];
    /// [`Error::Storage`].
    #[tracing::instrument(name = "testudo.onboarding_status", skip_all)]
    pub async fn onboarding_status(&self, token: &str) -> Result<OnboardingStatus> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let session = self.live_session(token).await?;
            let state = parse_state(&session)?;
            Ok(status(onboarding, &self.config, &session, &state))
        })
        .await
    }

    /// Runs the step `step` of the session of `token` with `input` ([`StepInput::Skip`] skips
    /// an optional step); emits `onboarding_step_completed` (or `_skipped`), or
    /// `onboarding_step_failed` when the step refuses the input. Returns where the session is
    /// afterwards.
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_status`]; [`OnboardingError::OutOfOrder`] when `step` is not the
    /// next one; [`OnboardingError::NotSkippable`]; the step's own errors (for the built-in
    /// steps: [`OnboardingError::WrongCode`], [`OnboardingError::NoPendingCode`],
    /// [`Error::RateLimited`], [`Error::InvalidPassword`]); [`OnboardingError::AlreadyFinishing`]
    /// when another call changed the session meanwhile (retry).
    pub async fn onboarding_step(
        &self,
        token: &str,
        step: &str,
        input: StepInput,
    ) -> Result<OnboardingStatus> {
        self.onboarding_step_from(token, step, input, None).await
    }

    /// [`Self::onboarding_step`] for the client at `ip`: the built-in code steps count their
    /// tries per client as well as per address, and an application's step can read the
    /// address ([`StepContext::client_ip`]).
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_step`].
    #[tracing::instrument(name = "testudo.onboarding_step", skip_all, fields(session_id = tracing::field::Empty, step = step))]
    pub async fn onboarding_step_from(
        &self,
        token: &str,
        step: &str,
        input: StepInput,
        ip: Option<&str>,
    ) -> Result<OnboardingStatus> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let session = self.live_session(token).await?;
            tracing::Span::current().record("session_id", session.id.as_str());
            let mut state = parse_state(&session)?;
            let handler = Arc::clone(self.expect_step(onboarding, &state, step)?);
            let skipped = matches!(input, StepInput::Skip);
            let mut data = Value::Null;
            if skipped {
                if handler.is_required(&self.config) {
                    return Err(OnboardingError::NotSkippable { step: step.into() }.into());
                }
                state.skipped.push(step.to_owned());
            } else {
                let mut ctx = StepContext {
                    service: self,
                    session: &session,
                    data: &mut data,
                    client_ip: client_ip(ip),
                };
                if let Err(e) = handler.submit(&mut ctx, input).await {
                    self.emit(Event::OnboardingStepFailed {
                        session_id: session.id.clone(),
                        step_name: step.to_owned(),
                        errors: step_errors(&e),
                    })
                    .await?;
                    return Err(e);
                }
                state.data.insert(step.to_owned(), data);
            }
            state.next += 1;
            let new_state = write_state(&state)?;
            testudo_core::pause::point("onboarding.step.before_save").await;
            // Only if nobody changed the session meanwhile (a concurrent step, or a finish).
            let updated = row::Entity::update_many()
                .col_expr(row::Column::State, Expr::value(new_state.clone()))
                .filter(row::Column::Id.eq(session.id.as_str()))
                .filter(row::Column::State.eq(session.state.as_str()))
                .filter(row::Column::FinishingAt.is_null())
                .exec(onboarding.db.as_sea_orm())
                .await
                .map_err(storage)?;
            if updated.rows_affected == 0 {
                return Err(OnboardingError::AlreadyFinishing.into());
            }
            let event = if skipped {
                Event::OnboardingStepSkipped {
                    session_id: session.id.clone(),
                    step_name: step.to_owned(),
                }
            } else {
                Event::OnboardingStepCompleted {
                    session_id: session.id.clone(),
                    step_name: step.to_owned(),
                }
            };
            self.emit(event).await?;
            Ok(status(onboarding, &self.config, &session, &state))
        })
        .await
    }

    /// [`Self::onboarding_step`] for [`VerifyEmailStep`] with the emailed `code`.
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_step`].
    pub async fn verify_onboarding_code(
        &self,
        token: &str,
        code: &str,
    ) -> Result<OnboardingStatus> {
        self.onboarding_step(token, VERIFY_EMAIL, StepInput::Code(code.to_owned()))
            .await
    }

    /// [`Self::onboarding_step`] for [`SetPasswordStep`] with `password`.
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_step`].
    pub async fn set_onboarding_password(
        &self,
        token: &str,
        password: &str,
    ) -> Result<OnboardingStatus> {
        self.onboarding_step(
            token,
            SET_PASSWORD,
            StepInput::Password(SecretString::from(password)),
        )
        .await
    }

    /// Finishes the session of `token` once every step is done: creates the user (active,
    /// address verified, with the password of [`SetPasswordStep`]), runs each step's
    /// [`OnboardingStep::apply`], deletes the session, emits `onboarding_completed` and logs
    /// the user in (`user_login`, a token pair). Of concurrent calls for one session exactly
    /// one creates the user (the session is claimed by a conditional update); the others get
    /// [`OnboardingError::AlreadyFinishing`].
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_status`]; [`OnboardingError::Incomplete`];
    /// [`OnboardingError::AlreadyFinishing`]; [`Error::EmailTaken`] when an account got the
    /// address meanwhile (the session is deleted); a step's `apply` error (the user is deleted
    /// again, the session kept); the login's errors.
    #[tracing::instrument(name = "testudo.finish_onboarding", skip_all, fields(session_id = tracing::field::Empty, user_id = tracing::field::Empty))]
    pub async fn finish_onboarding(&self, token: &str) -> Result<AuthResult<User>> {
        self.finish_onboarding_with_context(token, &SessionContext::new())
            .await
    }

    /// [`Self::finish_onboarding`] from the client `client`: the first session of the new
    /// user records that device context (see [`Self::list_sessions`]).
    ///
    /// # Errors
    ///
    /// As [`Self::finish_onboarding`].
    pub async fn finish_onboarding_with_context(
        &self,
        token: &str,
        client: &SessionContext,
    ) -> Result<AuthResult<User>> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let session = self.live_session(token).await?;
            tracing::Span::current().record("session_id", session.id.as_str());
            let state = parse_state(&session)?;
            if let Some(next) = onboarding.steps.get(state.next) {
                return Err(OnboardingError::Incomplete {
                    next: next.name().into(),
                }
                .into());
            }
            let hash = state
                .data
                .get(SET_PASSWORD)
                .and_then(|d| d.get("hash"))
                .and_then(Value::as_str)
                .ok_or_else(|| Error::internal(MissingPassword))?
                .to_owned();
            let db = onboarding.db.as_sea_orm();
            // A second finish may have read the same unfinished session by now: the
            // conditional claim below decides which one creates the user.
            testudo_core::pause::point("onboarding.finish.before_claim").await;
            let claimed = row::Entity::update_many()
                .col_expr(row::Column::FinishingAt, Expr::value(self.clock().now()))
                .filter(row::Column::Id.eq(session.id.as_str()))
                .filter(row::Column::FinishingAt.is_null())
                .exec(db)
                .await
                .map_err(storage)?;
            if claimed.rows_affected == 0 {
                return Err(OnboardingError::AlreadyFinishing.into());
            }
            testudo_core::pause::point("onboarding.finish.after_claim").await;
            let user = match self.store.insert_user(&session.email, &hash).await {
                Ok(user) => user,
                Err(Error::EmailTaken) => {
                    self.delete_session(&session.id).await?;
                    return Err(Error::EmailTaken);
                }
                Err(e) => {
                    self.release_session(&session.id).await?;
                    return Err(e);
                }
            };
            let id = user.id();
            tracing::Span::current().record("user_id", id.as_str());
            self.store.mark_verified(&id).await?;
            let with_totp = match self.onboarded_totp(&state, &session, &id).await {
                Ok(stored) => stored,
                Err(e) => {
                    self.store.delete_user(&id).await?;
                    self.release_session(&session.id).await?;
                    return Err(e);
                }
            };
            for step in onboarding.steps.iter() {
                let data = state.data.get(step.name()).unwrap_or(&Value::Null);
                let ctx = FinishContext {
                    user: &user,
                    session_id: &session.id,
                    data,
                };
                if let Err(e) = step.apply(&ctx).await {
                    self.store.delete_user(&id).await?;
                    self.release_session(&session.id).await?;
                    return Err(e);
                }
            }
            self.delete_session(&session.id).await?;
            let user = crate::account::link_user(self.store.find_by_id(&id).await?)?;
            if with_totp {
                self.emit(Event::SecondFactorEnrolled {
                    user: EventUser::from_user(&user),
                })
                .await?;
            }
            self.emit(Event::OnboardingCompleted {
                user: EventUser::from_user(&user),
                session_id: session.id.clone(),
            })
            .await?;
            self.finish_login(user, Claims::default(), &session.email, client)
                .await
        })
        .await
    }

    /// Deletes the expired onboarding sessions; returns how many.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoCodeStore`]; [`Error::Storage`].
    pub async fn cleanup_onboarding_sessions(&self) -> Result<u64> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let gone = row::Entity::delete_many()
                .filter(row::Column::ExpiresAt.lte(self.clock().now()))
                .exec(onboarding.db.as_sea_orm())
                .await
                .map_err(storage)?;
            Ok(gone.rows_affected)
        })
        .await
    }

    /// Makes the TOTP secret of the session's [`SetupTotpStep`] (replacing one made before)
    /// and returns what the authenticator app needs; the step is then completed with a first
    /// code from the app.
    ///
    /// # Errors
    ///
    /// As [`Self::onboarding_status`]; [`OnboardingError::OutOfOrder`] unless TOTP is the
    /// next step; [`OnboardingError::AlreadyFinishing`] when the session changed meanwhile;
    /// [`crate::Error::NoSigningSecret`]; [`Error::Internal`] if the OS random generator fails.
    #[tracing::instrument(name = "testudo.onboarding_totp_enrolment", skip_all, fields(session_id = tracing::field::Empty))]
    pub async fn onboarding_totp_enrolment(&self, token: &str) -> Result<crate::TotpEnrolment> {
        self.bounded(async move {
            let onboarding = self.onboarding()?;
            let factors = self.factors()?;
            let session = self.live_session(token).await?;
            tracing::Span::current().record("session_id", session.id.as_str());
            let mut state = parse_state(&session)?;
            self.expect_step(onboarding, &state, SETUP_TOTP)?;
            let params = testudo_totp::TotpParams::from_config(&self.config);
            let secret = testudo_totp::TotpSecret::generate(params.secret_len())?;
            let totp = onboarding_totp(self, secret.as_bytes(), &session.email)?;
            let enrolment =
                crate::TotpEnrolment::new(secret.to_base32(), totp.uri()?, totp.qr_svg()?);
            state.pending_totp =
                Some(factors.seal_totp(secret.as_bytes(), &code_subject(&session.id))?);
            let updated = row::Entity::update_many()
                .col_expr(row::Column::State, Expr::value(write_state(&state)?))
                .filter(row::Column::Id.eq(session.id.as_str()))
                .filter(row::Column::State.eq(session.state.as_str()))
                .filter(row::Column::FinishingAt.is_null())
                .exec(onboarding.db.as_sea_orm())
                .await
                .map_err(storage)?;
            if updated.rows_affected == 0 {
                return Err(OnboardingError::AlreadyFinishing.into());
            }
            Ok(enrolment)
        })
        .await
    }

    /// Stores the factor [`SetupTotpStep`] confirmed, for the new user `user_id`; returns
    /// whether there was one.
    async fn onboarded_totp(
        &self,
        state: &State,
        session: &row::Model,
        user_id: &str,
    ) -> Result<bool> {
        let Some(data) = state.data.get(SETUP_TOTP) else {
            return Ok(false);
        };
        let (Some(sealed), Some(step)) = (
            data.get("sealed").and_then(Value::as_str),
            data.get("step").and_then(Value::as_u64),
        ) else {
            return Ok(false);
        };
        let factors = self.factors()?;
        let plain = factors.open_totp(sealed, &code_subject(&session.id))?;
        let params = testudo_totp::TotpParams::from_config(&self.config);
        factors
            .insert_confirmed_totp(user_id, &plain, params, step, self.clock().now())
            .await?;
        Ok(true)
    }

    /// The unfinished, unexpired session of `token`.
    async fn live_session(&self, token: &str) -> Result<row::Model> {
        let onboarding = self.onboarding()?;
        let found = row::Entity::find()
            .filter(row::Column::TokenDigest.eq(token_digest(token.trim())))
            .one(onboarding.db.as_sea_orm())
            .await
            .map_err(storage)?;
        let Some(session) = found.filter(|s| s.finishing_at.is_none()) else {
            return Err(OnboardingError::SessionInvalid.into());
        };
        if session.expires_at <= self.clock().now() {
            self.delete_session(&session.id).await?;
            self.emit(Event::OnboardingSessionExpired {
                session_id: session.id.clone(),
                email: session.email.clone(),
            })
            .await?;
            return Err(OnboardingError::SessionExpired.into());
        }
        Ok(session)
    }

    /// The step named `step`, if it is the session's next one.
    fn expect_step<'o>(
        &self,
        onboarding: &'o Onboarding,
        state: &State,
        step: &str,
    ) -> Result<&'o Arc<dyn OnboardingStep>> {
        match onboarding.steps.get(state.next) {
            Some(next) if next.name() == step => Ok(next),
            next => Err(OnboardingError::OutOfOrder {
                expected: next.map(|s| s.name().into()),
                got: step.into(),
            }
            .into()),
        }
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        row::Entity::delete_by_id(id.to_owned())
            .exec(self.onboarding()?.db.as_sea_orm())
            .await
            .map_err(storage)?;
        Ok(())
    }

    async fn release_session(&self, id: &str) -> Result<()> {
        row::Entity::update_many()
            .col_expr(
                row::Column::FinishingAt,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(row::Column::Id.eq(id))
            .exec(self.onboarding()?.db.as_sea_orm())
            .await
            .map_err(storage)?;
        Ok(())
    }

    /// Checks the session's pending code, the try counted (and throttled per address and per
    /// client at `ip`) first. A try is counted *before* the comparison, by a conditional
    /// update from the count read: of parallel tries each one claims its own count, so no more
    /// than `onboarding_max_verification_attempts` are ever compared. A try whose count
    /// another took meanwhile reads the session again and claims the next one.
    async fn check_onboarding_code(
        &self,
        session: &row::Model,
        code: &str,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        use subtle::ConstantTimeEq as _;
        let onboarding = self.onboarding()?;
        let signers = self.flow_signers()?;
        self.throttle(Scope::VerificationCode, &session.email, ip)
            .await?;
        let max = self.config.onboarding_max_verification_attempts;
        let db = onboarding.db.as_sea_orm();
        let mut current = session.clone();
        // Each lost claim means another try was counted (or a resend reset the count), so
        // this ends; bounded all the same.
        for _ in 0..=max {
            let now = self.clock().now();
            let (Some(stored), Some(expires_at)) = (&current.code_digest, current.code_expires_at)
            else {
                return Err(OnboardingError::NoPendingCode.into());
            };
            let tried = u32::try_from(current.code_attempts).unwrap_or(u32::MAX);
            if expires_at <= now || tried >= max {
                return Err(OnboardingError::NoPendingCode.into());
            }
            testudo_core::pause::point("onboarding.code.before_claim").await;
            let claimed = row::Entity::update_many()
                .col_expr(
                    row::Column::CodeAttempts,
                    Expr::value(i32::try_from(tried + 1).unwrap_or(i32::MAX)),
                )
                .filter(row::Column::Id.eq(current.id.as_str()))
                .filter(row::Column::CodeAttempts.eq(current.code_attempts))
                .filter(row::Column::CodeDigest.eq(stored.as_str()))
                .filter(row::Column::FinishingAt.is_null())
                .exec(db)
                .await
                .map_err(storage)?;
            if claimed.rows_affected == 0 {
                current = row::Entity::find_by_id(current.id.clone())
                    .one(db)
                    .await
                    .map_err(storage)?
                    .filter(|r| r.finishing_at.is_none())
                    .ok_or(OnboardingError::SessionInvalid)?;
                continue;
            }
            let expected =
                signers.code_digest(&code_subject(&current.id), &current.email, code.trim());
            let right: bool = expected.as_bytes().ct_eq(stored.as_bytes()).into();
            if right {
                // Used up: the code cannot be tried again.
                row::Entity::update_many()
                    .col_expr(row::Column::CodeDigest, Expr::value(Option::<String>::None))
                    .filter(row::Column::Id.eq(current.id.as_str()))
                    .exec(db)
                    .await
                    .map_err(storage)?;
                self.throttle_reset(Scope::VerificationCode, &current.email)
                    .await?;
                return Ok(());
            }
            let remaining = max - (tried + 1);
            tracing::info!(remaining, "wrong onboarding code");
            return Err(OnboardingError::WrongCode { remaining }.into());
        }
        Err(OnboardingError::AlreadyFinishing.into())
    }
}

/// The messages of a step's error, for `onboarding_step_failed`.
fn step_errors(e: &Error) -> Vec<String> {
    match e {
        Error::InvalidPassword(p) => p.messages().to_vec(),
        Error::Onboarding(OnboardingError::StepFailed { errors, .. }) => errors.messages().to_vec(),
        other => vec![other.to_string()],
    }
}

fn status(
    onboarding: &Onboarding,
    config: &AuthConfig,
    session: &row::Model,
    state: &State,
) -> OnboardingStatus {
    let next = onboarding.steps.get(state.next);
    OnboardingStatus {
        session_id: session.id.clone(),
        email: session.email.clone(),
        next_step: next.map(|s| s.name().to_owned()),
        next_step_skippable: next.is_some_and(|s| !s.is_required(config)),
        completed: onboarding
            .steps
            .iter()
            .take(state.next)
            .map(|s| s.name().to_owned())
            .collect(),
        expires_at: session.expires_at,
    }
}

/// A finished session without a password hash (cannot happen: the step is built in).
#[derive(Debug, thiserror::Error)]
#[error("the onboarding session has no password")]
struct MissingPassword;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_the_length_and_alphabet_asked_for() -> Result<()> {
        let t = random_token(64)?;
        assert_eq!(t.len(), 64);
        assert!(t.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(t, random_token(64)?);
        Ok(())
    }

    #[test]
    fn the_digest_is_sha256_hex() {
        assert_eq!(
            token_digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
