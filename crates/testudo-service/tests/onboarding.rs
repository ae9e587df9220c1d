//! Onboarding (issue 21): start, verify the emailed code, set a password, application steps,
//! finish into a user and a token pair; on every database.

mod common;

use std::sync::{Arc, Mutex, PoisonError};

use common::{Recorder, T0};
use sea_orm::EntityTrait as _;
use testudo_config::AuthConfig;
use testudo_core::{Error, ExposeSecret as _, FixedClock, OnboardingError, Result, pause};
use testudo_events::{Event, EventEmitter};
use testudo_service::onboarding::{
    FinishContext, OnboardingStep, SET_PASSWORD, SETUP_TOTP, StepContext, StepInput, VERIFY_EMAIL,
};
use testudo_service::{AuthService, AuthUser as _, DbUserStore, UserStore as _};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};

const PASSWORD: &str = "correct horse battery staple";
const EMAIL: &str = "new.user@example.com";
const SIGNING_SECRET: &str = "a-signing-secret-for-the-onboarding-tests-0123456789";

/// An application step: a display name kept in the session, applied at finish.
#[derive(Debug, Default)]
struct ProfileStep {
    applied: Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl OnboardingStep for ProfileStep {
    fn name(&self) -> &str {
        "profile"
    }

    fn is_required(&self, _config: &AuthConfig) -> bool {
        false
    }

    async fn submit(&self, ctx: &mut StepContext<'_>, input: StepInput) -> Result<()> {
        let StepInput::Data(data) = input else {
            return Err(OnboardingError::WrongInput {
                step: "profile".into(),
            }
            .into());
        };
        let Some(name) = data.get("display_name").and_then(|v| v.as_str()) else {
            return Err(OnboardingError::StepFailed {
                step: "profile".into(),
                errors: vec!["display_name is required".to_owned()].into(),
            }
            .into());
        };
        *ctx.data_mut() = serde_json::json!({ "display_name": name });
        Ok(())
    }

    async fn apply(&self, ctx: &FinishContext<'_>) -> Result<()> {
        let name = ctx.data()["display_name"].as_str().unwrap_or("").to_owned();
        self.applied
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((ctx.user().id(), name));
        Ok(())
    }
}

struct Env {
    db: TestDb,
    auth: AuthService<DbUserStore>,
    clock: Arc<FixedClock>,
    events: Recorder,
    profile: Arc<ProfileStep>,
}

async fn env_with(b: Backend, profile: bool, f: impl FnOnce(&mut AuthConfig)) -> TestResult<Env> {
    let db = TestDb::new(b).await?;
    let config = common::config(|c| {
        c.signing_secret = Some(SIGNING_SECRET.to_owned().into());
        f(c);
    });
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let emitter = EventEmitter::new();
    let events = Recorder::default();
    events.attach(&emitter);
    let store = DbUserStore::new(db.db().clone()).with_clock(clock.clone());
    let step = Arc::new(ProfileStep::default());
    let mut builder = AuthService::builder(config, store)
        .database(db.db().clone())
        .events(emitter)
        .clock(clock.clone());
    if profile {
        let dyn_step: Arc<dyn OnboardingStep> = step.clone();
        builder = builder.onboarding_step(dyn_step);
    }
    Ok(Env {
        auth: builder.build()?,
        db,
        clock,
        events,
        profile: step,
    })
}

async fn env(b: Backend) -> TestResult<Env> {
    env_with(b, false, |_| {}).await
}

/// The last code mailed.
fn mailed_code(env: &Env) -> TestResult<String> {
    env.events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::VerificationCodeGenerated { code, .. } => Some(code.expose_secret().to_owned()),
            _ => None,
        })
        .next_back()
        .ok_or_else(|| "no code mailed".into())
}

fn onboarding_error<T>(r: &std::result::Result<T, Error>) -> Option<OnboardingError> {
    match r {
        Err(Error::Onboarding(e)) => Some(e.clone()),
        _ => None,
    }
}

fn wrong(code: &str) -> TestResult<String> {
    Ok(format!("{:06}", (code.parse::<u32>()? + 1) % 1_000_000))
}

async fn start_to_tokens(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let start = auth.start_onboarding(" New.User@Example.com ").await?;
    let token = start.token().expose_secret().to_owned();
    assert_eq!(token.len(), 64);
    let events = env.events.take();
    let names: Vec<&str> = events.iter().map(Event::name).collect();
    assert_eq!(names, ["onboarding_started", "verification_code_generated"]);
    let Some(Event::VerificationCodeGenerated { code, email, .. }) = events.get(1) else {
        return Err("no code".into());
    };
    assert_eq!(email, EMAIL);
    let code = code.expose_secret().to_owned();
    let status = auth.onboarding_status(&token).await?;
    assert_eq!(status.next_step.as_deref(), Some(VERIFY_EMAIL));
    assert_eq!(status.email, EMAIL);

    // Stored as digests only.
    let rows = testudo_service::entity::onboarding_session::Entity::find()
        .all(env.db.conn())
        .await?;
    let [row] = &rows[..] else {
        return Err("one session expected".into());
    };
    let dump = format!(
        "{row:?} {} {:?} {}",
        row.token_digest, row.code_digest, row.state
    );
    assert!(!dump.contains(&token) && !dump.contains(&code), "{dump}");

    let status = auth.verify_onboarding_code(&token, &code).await?;
    assert_eq!(status.next_step.as_deref(), Some(SET_PASSWORD));
    assert!(!status.next_step_skippable, "the password step is required");
    let status = auth.set_onboarding_password(&token, PASSWORD).await?;
    assert_eq!(status.next_step.as_deref(), Some(SETUP_TOTP));
    assert!(status.next_step_skippable, "TOTP is optional by default");
    let status = auth
        .onboarding_step(&token, SETUP_TOTP, StepInput::Skip)
        .await?;
    assert_eq!(status.next_step, None);
    assert!(!status.next_step_skippable);
    assert_eq!(status.completed, [VERIFY_EMAIL, SET_PASSWORD, SETUP_TOTP]);
    let row = testudo_service::entity::onboarding_session::Entity::find()
        .one(env.db.conn())
        .await?
        .ok_or("session gone")?;
    assert!(!row.state.contains(PASSWORD), "password stored in clear");

    let done = auth.finish_onboarding(&token).await?;
    assert_eq!(done.user.email, EMAIL);
    assert!(done.user.is_verified && done.user.is_active);
    let me = auth.authenticate(done.tokens.access_token()).await?;
    assert_eq!(me.id, done.user.id);
    assert!(auth.check_password(&me, PASSWORD).await?);
    let names: Vec<String> = env
        .events
        .take()
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "onboarding_step_completed",
            "onboarding_step_completed",
            "onboarding_step_skipped",
            "onboarding_completed",
            "user_login"
        ]
    );
    // The session is gone: its token does nothing any more.
    let r = auth.finish_onboarding(&token).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::SessionInvalid),
        "{r:?}"
    );
    env.db.cleanup().await
}
per_database!(start_to_tokens);

async fn wrong_codes_are_counted_and_refused_at_the_limit(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let max = auth.config().onboarding_max_verification_attempts;
    let (token, code) = started(&env, EMAIL).await?;
    let token = token.as_str();
    let bad = wrong(&code)?;
    for tried in 1..=max {
        let r = auth.verify_onboarding_code(token, &bad).await;
        assert_eq!(
            onboarding_error(&r),
            Some(OnboardingError::WrongCode {
                remaining: max - tried
            }),
            "{r:?}"
        );
    }
    let failed = env
        .events
        .take()
        .iter()
        .filter(|e| e.name() == "onboarding_step_failed")
        .count();
    assert_eq!(failed, max as usize);
    // Dead: even the right code is refused now.
    let r = auth.verify_onboarding_code(token, &code).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::NoPendingCode),
        "{r:?}"
    );
    // A new code works.
    auth.resend_onboarding_code(token).await?;
    let code = mailed_code(&env)?;
    auth.verify_onboarding_code(token, &format!(" {code} "))
        .await?;
    env.db.cleanup().await
}
per_database!(wrong_codes_are_counted_and_refused_at_the_limit);

async fn expired_codes_and_sessions_are_refused(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let (token, code) = started(&env, EMAIL).await?;
    let token = token.as_str();
    env.clock
        .advance(auth.config().onboarding_verification_code_ttl);
    let r = auth.verify_onboarding_code(token, &code).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::NoPendingCode),
        "{r:?}"
    );

    env.clock.advance(auth.config().onboarding_session_lifetime);
    env.events.take();
    let r = auth.onboarding_status(token).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::SessionExpired),
        "{r:?}"
    );
    let names: Vec<String> = env
        .events
        .take()
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    assert_eq!(names, ["onboarding_session_expired"]);
    // Deleted with it.
    let r = auth.onboarding_status(token).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::SessionInvalid),
        "{r:?}"
    );

    // Cleanup deletes expired sessions only.
    auth.start_onboarding("a@example.com").await?;
    env.clock.advance(auth.config().onboarding_session_lifetime);
    auth.start_onboarding("b@example.com").await?;
    assert_eq!(auth.cleanup_onboarding_sessions().await?, 1);
    let left = testudo_service::entity::onboarding_session::Entity::find()
        .all(env.db.conn())
        .await?;
    assert_eq!(left.len(), 1);
    env.db.cleanup().await
}
per_database!(expired_codes_and_sessions_are_refused);

async fn steps_out_of_order_are_refused(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let (token, code) = started(&env, EMAIL).await?;
    let token = token.as_str();
    let r = auth.set_onboarding_password(token, PASSWORD).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::OutOfOrder {
            expected: Some(VERIFY_EMAIL.into()),
            got: SET_PASSWORD.into()
        }),
        "{r:?}"
    );
    let r = auth.finish_onboarding(token).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::Incomplete {
            next: VERIFY_EMAIL.into()
        }),
        "{r:?}"
    );
    let r = auth
        .onboarding_step(token, VERIFY_EMAIL, StepInput::Skip)
        .await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::NotSkippable {
            step: VERIFY_EMAIL.into()
        }),
        "{r:?}"
    );
    auth.verify_onboarding_code(token, &code).await?;
    // Done steps cannot be redone.
    let r = auth.verify_onboarding_code(token, &code).await;
    assert!(
        matches!(
            onboarding_error(&r),
            Some(OnboardingError::OutOfOrder { .. })
        ),
        "{r:?}"
    );
    // A weak password is refused with the validators' messages; the step stays next.
    let r = auth.set_onboarding_password(token, "123").await;
    assert!(matches!(r, Err(Error::InvalidPassword(_))), "{r:?}");
    assert_eq!(
        auth.onboarding_status(token).await?.next_step.as_deref(),
        Some(SET_PASSWORD)
    );
    assert_eq!(auth.store().find_by_email(EMAIL).await?, None);
    env.db.cleanup().await
}
per_database!(steps_out_of_order_are_refused);

async fn previous_sessions_are_invalidated(b: Backend) -> TestResult {
    let env = env(b.clone()).await?;
    let auth = &env.auth;
    let first = auth.start_onboarding(EMAIL).await?;
    let second = auth.start_onboarding(EMAIL).await?;
    let r = auth.onboarding_status(first.token().expose_secret()).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::SessionInvalid),
        "{r:?}"
    );
    auth.onboarding_status(second.token().expose_secret())
        .await?;
    env.db.cleanup().await?;

    // Off: both live.
    let env = env_with(b, false, |c| {
        c.onboarding_invalidate_previous_sessions = false
    })
    .await?;
    let first = env.auth.start_onboarding(EMAIL).await?;
    let second = env.auth.start_onboarding(EMAIL).await?;
    env.auth
        .onboarding_status(first.token().expose_secret())
        .await?;
    env.auth
        .onboarding_status(second.token().expose_secret())
        .await?;
    env.db.cleanup().await
}
per_database!(previous_sessions_are_invalidated);

/// A session started for `email`: its token and the code mailed for it.
async fn started(env: &Env, email: &str) -> TestResult<(String, String)> {
    let start = env.auth.start_onboarding(email).await?;
    let token = start.token().expose_secret().to_owned();
    Ok((token, mailed_code(env)?))
}

/// A session started for `email` with its address verified; returns its token.
async fn verified(env: &Env, email: &str) -> TestResult<String> {
    let (token, code) = started(env, email).await?;
    env.auth.verify_onboarding_code(&token, &code).await?;
    Ok(token)
}

/// A session with every step done; returns its token.
async fn ready(env: &Env, email: &str) -> TestResult<String> {
    let token = verified(env, email).await?;
    env.auth.set_onboarding_password(&token, PASSWORD).await?;
    env.auth
        .onboarding_step(&token, SETUP_TOTP, StepInput::Skip)
        .await?;
    Ok(token)
}

/// Where the first finish waits while a second one runs to its end.
#[derive(Debug, Clone, Copy)]
enum FinishRace {
    /// The first has read the unfinished session and not claimed it yet: the second claims,
    /// creates the user and deletes the session; the first's claim then finds nothing.
    BeforeClaim,
    /// The first has claimed the session and not created the user yet: the second has read
    /// the session and must lose the claim (an unconditional claim would let it create the
    /// user and the first fail on the taken address).
    AfterClaim,
}

/// Two finishes of one session, the first held at a pause point while the second runs: one
/// user, one pair, and the loser answered `AlreadyFinishing` (or `SessionInvalid` once the
/// winner deleted the session), in both orders, 5 rounds each.
async fn concurrent_finishes_create_one_user(b: Backend) -> TestResult {
    let env = env(b).await?;
    for round in 0..10 {
        let race = if round % 2 == 0 {
            FinishRace::BeforeClaim
        } else {
            FinishRace::AfterClaim
        };
        let email = format!("user{round}@example.com");
        let token = ready(&env, &email).await?;
        let paused = pause::arm(match race {
            FinishRace::BeforeClaim => "onboarding.finish.before_claim",
            FinishRace::AfterClaim => "onboarding.finish.after_claim",
        });
        let auth = env.auth.clone();
        let first_token = token.clone();
        let first = tokio::spawn(async move { auth.finish_onboarding(&first_token).await });
        paused.reached().await;
        let second = env.auth.finish_onboarding(&token).await;
        paused.release();
        let first = first.await?;
        let (winner, loser) = match race {
            FinishRace::BeforeClaim => (second, first),
            FinishRace::AfterClaim => (first, second),
        };
        let tokens = winner
            .map_err(|e| format!("{race:?}: the finish that should win failed: {e:?}"))?
            .tokens;
        assert!(
            matches!(
                loser,
                Err(Error::Onboarding(
                    OnboardingError::AlreadyFinishing | OnboardingError::SessionInvalid
                ))
            ),
            "{race:?}: {loser:?}"
        );
        env.auth.authenticate(tokens.access_token()).await?;
        assert!(env.auth.store().find_by_email(&email).await?.is_some());
    }
    let users = testudo_service::entity::user::Entity::find()
        .all(env.db.conn())
        .await?;
    assert_eq!(users.len(), 10);
    env.db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    concurrent_finishes_create_one_user,
    sqlite_file
);

/// Two password submissions for one session, the first held after it has run its step and
/// before it saves: the second saves first, and the first's save (conditional on the state it
/// read) is refused, so the account gets the second password and never a mix.
async fn a_step_racing_another_keeps_the_one_saved_first(b: Backend) -> TestResult {
    let env = env(b).await?;
    let token = verified(&env, EMAIL).await?;
    const FIRST: &str = "the first password, held back 1!";
    let paused = pause::arm("onboarding.step.before_save");
    let auth = env.auth.clone();
    let held = token.clone();
    let first = tokio::spawn(async move { auth.set_onboarding_password(&held, FIRST).await });
    paused.reached().await;
    env.auth.set_onboarding_password(&token, PASSWORD).await?;
    paused.release();
    let first = first.await?;
    assert!(
        matches!(
            first,
            Err(Error::Onboarding(OnboardingError::AlreadyFinishing))
        ),
        "{first:?}"
    );
    env.auth
        .onboarding_step(&token, SETUP_TOTP, StepInput::Skip)
        .await?;
    env.auth.finish_onboarding(&token).await?;
    env.auth
        .login(EMAIL, PASSWORD, testudo_core::Claims::new())
        .await?;
    let r = env
        .auth
        .login(EMAIL, FIRST, testudo_core::Claims::new())
        .await;
    assert!(matches!(r, Err(Error::Authentication(_))), "{r:?}");
    env.db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_step_racing_another_keeps_the_one_saved_first,
    sqlite_file
);

/// Two wrong tries of one code, the first held after reading the count and before claiming
/// it: the second claims that count; the first then reads the session again and claims the
/// next one, so both are counted and answered `wrong_code` (never a spurious refusal), and
/// the right code still works within the limit.
async fn a_code_try_that_loses_its_count_takes_the_next(b: Backend) -> TestResult {
    let env = env(b).await?;
    let max = env.auth.config().onboarding_max_verification_attempts;
    let (token, code) = started(&env, EMAIL).await?;
    let bad = wrong(&code)?;
    let paused = pause::arm("onboarding.code.before_claim");
    let auth = env.auth.clone();
    let (held, held_bad) = (token.clone(), bad.clone());
    let first = tokio::spawn(async move { auth.verify_onboarding_code(&held, &held_bad).await });
    paused.reached().await;
    let second = env.auth.verify_onboarding_code(&token, &bad).await;
    assert_eq!(
        onboarding_error(&second),
        Some(OnboardingError::WrongCode { remaining: max - 1 }),
        "{second:?}"
    );
    paused.release();
    let first = first.await?;
    assert_eq!(
        onboarding_error(&first),
        Some(OnboardingError::WrongCode { remaining: max - 2 }),
        "{first:?}"
    );
    env.auth.verify_onboarding_code(&token, &code).await?;
    env.db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_code_try_that_loses_its_count_takes_the_next,
    sqlite_file
);

async fn an_address_taken_meanwhile_is_a_typed_error(b: Backend) -> TestResult {
    let env = env(b).await?;
    let token = ready(&env, EMAIL).await?;
    env.auth.create_user(EMAIL, PASSWORD).await?;
    let r = env.auth.finish_onboarding(&token).await;
    assert!(matches!(r, Err(Error::EmailTaken)), "{r:?}");
    env.db.cleanup().await
}
per_database!(an_address_taken_meanwhile_is_a_typed_error);

async fn a_custom_step_keeps_its_data_and_applies_it_at_finish(b: Backend) -> TestResult {
    let env = env_with(b, true, |_| {}).await?;
    let auth = &env.auth;
    assert_eq!(
        auth.onboarding_pipeline(),
        [VERIFY_EMAIL, SET_PASSWORD, SETUP_TOTP, "profile"]
    );
    let token = ready(&env, EMAIL).await?;
    let r = auth.finish_onboarding(&token).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::Incomplete {
            next: "profile".into()
        }),
        "{r:?}"
    );
    env.events.take();
    let r = auth
        .onboarding_step(&token, "profile", StepInput::Data(serde_json::json!({})))
        .await;
    assert!(
        matches!(
            onboarding_error(&r),
            Some(OnboardingError::StepFailed { .. })
        ),
        "{r:?}"
    );
    let failed = env.events.take();
    assert!(
        matches!(&failed[..], [Event::OnboardingStepFailed { errors, .. }] if errors == &["display_name is required"]),
        "{failed:?}"
    );
    auth.onboarding_step(
        &token,
        "profile",
        StepInput::Data(serde_json::json!({ "display_name": "Léa" })),
    )
    .await?;
    let done = auth.finish_onboarding(&token).await?;
    let applied = env
        .profile
        .applied
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    assert_eq!(applied, [(done.user.id(), "Léa".to_owned())]);

    // Optional: it can be skipped.
    let token = ready(&env, "other@example.com").await?;
    auth.onboarding_step(&token, "profile", StepInput::Skip)
        .await?;
    auth.finish_onboarding(&token).await?;
    let names: Vec<String> = env
        .events
        .take()
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    assert!(
        names.contains(&"onboarding_step_skipped".to_owned()),
        "{names:?}"
    );
    env.db.cleanup().await
}
per_database!(a_custom_step_keeps_its_data_and_applies_it_at_finish);

#[tokio::test]
async fn the_raw_token_and_code_never_reach_tracing() -> TestResult {
    testudo_test_support::capture::install();
    let env = env(Backend::Sqlite { file: false }).await?;
    let start = env.auth.start_onboarding(EMAIL).await?;
    let token = start.token().expose_secret().to_owned();
    let code = mailed_code(&env)?;
    let _ = env
        .auth
        .verify_onboarding_code(&token, &wrong(&code)?)
        .await;
    env.auth.verify_onboarding_code(&token, &code).await?;
    env.auth.set_onboarding_password(&token, PASSWORD).await?;
    env.auth
        .onboarding_step(&token, SETUP_TOTP, StepInput::Skip)
        .await?;
    env.auth.finish_onboarding(&token).await?;
    let logs = testudo_test_support::capture::captured();
    assert!(
        logs.contains("testudo.finish_onboarding"),
        "spans are captured"
    );
    assert!(!logs.contains(&token), "token in the logs");
    assert!(!logs.contains(&code), "code in the logs");
    assert!(!logs.contains(PASSWORD), "password in the logs");
    assert!(!format!("{start:?}").contains(&token));
    env.db.cleanup().await
}

async fn totp_is_set_up_when_required(b: Backend) -> TestResult {
    use testudo_service::LoginStart;
    let env = env_with(b, false, |c| c.onboarding_require_totp = true).await?;
    let auth = &env.auth;
    let token = verified(&env, EMAIL).await?;
    let status = auth.set_onboarding_password(&token, PASSWORD).await?;
    assert!(!status.next_step_skippable, "onboarding_require_totp");
    let r = auth
        .onboarding_step(&token, SETUP_TOTP, StepInput::Skip)
        .await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::NotSkippable {
            step: SETUP_TOTP.into()
        }),
        "{r:?}"
    );
    let r = auth.finish_onboarding(&token).await;
    assert_eq!(
        onboarding_error(&r),
        Some(OnboardingError::Incomplete {
            next: SETUP_TOTP.into()
        }),
        "{r:?}"
    );
    let enrolment = auth.onboarding_totp_enrolment(&token).await?;
    let secret = enrolment.secret_base32().expose_secret().to_owned();
    // Sealed in the session, never in clear.
    let row = testudo_service::entity::onboarding_session::Entity::find()
        .one(env.db.conn())
        .await?
        .ok_or("session gone")?;
    assert!(!row.state.contains(&secret), "TOTP secret in clear");
    let totp = testudo_totp::Totp::new(
        &testudo_totp::TotpSecret::from_base32(&secret)?,
        testudo_totp::TotpParams::from_config(auth.config()),
        "testudo",
        "x",
    )?;
    let right = totp.code_at(T0)?.expose_secret().to_owned();
    let bad = wrong(&right)?;
    let r = auth
        .onboarding_step(&token, SETUP_TOTP, StepInput::Code(bad))
        .await;
    assert!(
        matches!(
            r,
            Err(Error::SecondFactor(
                testudo_core::SecondFactorError::WrongCode
            ))
        ),
        "{r:?}"
    );
    auth.onboarding_step(&token, SETUP_TOTP, StepInput::Code(right.clone()))
        .await?;
    env.events.take();
    let done = auth.finish_onboarding(&token).await?;
    assert!(auth.has_second_factor(&done.user).await?);
    let names: Vec<String> = env
        .events
        .take()
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "second_factor_enrolled",
            "onboarding_completed",
            "user_login"
        ]
    );
    // The password alone no longer logs in; the code used at onboarding is spent.
    let LoginStart::SecondFactor(challenge) = auth
        .login_start(EMAIL, PASSWORD, testudo_core::Claims::default(), None)
        .await?
    else {
        return Err("a challenge expected".into());
    };
    let r = auth
        .complete_login(challenge.token().expose_secret(), &right, None)
        .await;
    assert!(r.is_err(), "a spent code logged in: {r:?}");
    env.db.cleanup().await
}
per_database!(totp_is_set_up_when_required);
