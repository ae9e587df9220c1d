//! Second factors (issue 21): TOTP enrolment with a sealed secret, login with a second
//! factor, replay refused across services and under races, recovery codes, step-up,
//! throttling; each on SQLite, PostgreSQL and MariaDB.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, T0, Tokens};
use sea_orm::{ActiveValue::Set, EntityTrait as _, IntoActiveModel as _};
use testudo_config::AuthConfig;
use testudo_core::{
    AuthenticationError, Claims, Error, ExposeSecret, FixedClock, SecondFactorError, SecretString,
    pause,
};
use testudo_db::Database;
use testudo_events::{Event, EventEmitter, SecondFactorMethod};
use testudo_service::entity::{login_challenge, totp_factor};
use testudo_service::{
    AuthService, DbUserStore, LoginChallenge, LoginStart, TotpEnrolment, User, UserStore as _,
};
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};
use testudo_throttle::MemoryRateLimiter;
use testudo_totp::{Totp, TotpParams, TotpSecret};

const EMAIL: &str = "tess@example.com";
const PASSWORD: &str = "correct horse battery staple";
const SIGNING_SECRET: &str = "a-signing-secret-for-second-factor-tests-0123";
const OTHER_SECRET: &str = "another-signing-secret-for-the-rotation-test-42";

async fn env(b: Backend) -> TestResult<Env> {
    Env::new(b, Tokens::Database, |c| {
        c.signing_secret = Some(SIGNING_SECRET.to_owned().into());
    })
    .await
}

fn second_factor_error<T>(r: &Result<T, Error>) -> Option<SecondFactorError> {
    match r {
        Err(Error::SecondFactor(e)) => Some(*e),
        _ => None,
    }
}

/// The authenticator app: a TOTP made from what enrolment showed.
fn app(enrolment: &TotpEnrolment) -> TestResult<Totp> {
    let secret = TotpSecret::from_base32(enrolment.secret_base32().expose_secret())?;
    Ok(Totp::new(&secret, TotpParams::default(), "app", "me")?)
}

fn code(app: &Totp, clock: &FixedClock) -> TestResult<String> {
    use testudo_core::Clock as _;
    Ok(app
        .code_at(clock.now().timestamp())?
        .expose_secret()
        .to_owned())
}

fn next_step(clock: &FixedClock) {
    clock.advance(Duration::from_secs(30));
}

/// A user with a confirmed factor: (user, app, recovery codes).
async fn enrolled(env: &Env) -> TestResult<(User, Totp, Vec<SecretString>)> {
    let auth = &env.auth;
    let user = auth.create_user(EMAIL, PASSWORD).await?;
    auth.reauthenticate(&user, PASSWORD).await?;
    let enrolment = auth.enroll_totp(&user).await?;
    let app = app(&enrolment)?;
    let codes = auth.confirm_totp(&user, &code(&app, &env.clock)?).await?;
    // The confirming code is used up: later logins use later steps.
    next_step(&env.clock);
    env.events.take();
    Ok((user, app, codes))
}

async fn challenge(auth: &AuthService<DbUserStore>) -> TestResult<LoginChallenge> {
    match auth
        .login_start(EMAIL, PASSWORD, Claims::new(), None)
        .await?
    {
        LoginStart::SecondFactor(ch) => Ok(ch),
        other => Err(format!("a challenge expected, got {other:?}").into()),
    }
}

fn names(events: &[Event]) -> Vec<&str> {
    events.iter().map(Event::name).collect()
}

async fn enrolment_shows_the_secret_once_and_stores_it_sealed(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    let user = auth.create_user(EMAIL, PASSWORD).await?;
    let no_step_up = auth.enroll_totp(&user).await;
    assert_eq!(
        second_factor_error(&no_step_up),
        Some(SecondFactorError::ReauthenticationRequired),
        "{name}"
    );
    auth.reauthenticate(&user, PASSWORD).await?;
    let enrolment = auth.enroll_totp(&user).await?;
    let secret = enrolment.secret_base32().expose_secret().to_owned();
    assert_eq!(secret.len(), 32, "{name}: 160 bits in base32");
    let uri = enrolment.uri().expose_secret();
    assert!(
        uri.starts_with("otpauth://totp/testudo:tess%40example.com?"),
        "{name}: {uri}"
    );
    assert!(uri.contains(&format!("secret={secret}")), "{name}");
    assert!(
        enrolment.qr_svg().expose_secret().contains("<svg"),
        "{name}"
    );
    assert!(!format!("{enrolment:?}").contains(&secret), "{name}");

    // At rest: sealed, never the secret in any form.
    let row = totp_factor::Entity::find_by_id(user.id.to_string())
        .one(env.db.conn())
        .await?
        .ok_or("no factor row")?;
    let raw = TotpSecret::from_base32(&secret)?;
    let hex: String = raw.as_bytes().iter().map(|b| format!("{b:02x}")).collect();
    for form in [secret.as_str(), hex.as_str(), &secret.to_lowercase()] {
        assert!(!row.secret.contains(form), "{name}: stored {form}");
    }
    assert!(row.secret.starts_with("v1."), "{name}");
    assert_eq!(row.confirmed_at, None, "{name}: pending until a first code");

    // Pending: the password alone still logs in.
    auth.login(EMAIL, PASSWORD, Claims::new()).await?;
    assert!(!auth.has_second_factor(&user).await?, "{name}");

    let app = app(&enrolment)?;
    let wrong = auth.confirm_totp(&user, "000000").await;
    let wrong_again = auth.confirm_totp(&user, "12345").await;
    for r in [&wrong, &wrong_again] {
        assert_eq!(
            second_factor_error(r),
            Some(SecondFactorError::WrongCode),
            "{name}"
        );
    }
    env.events.take();
    let codes = auth.confirm_totp(&user, &code(&app, &env.clock)?).await?;
    assert_eq!(codes.len(), 10, "{name}");
    assert_eq!(auth.recovery_codes_remaining(&user).await?, 10, "{name}");
    assert!(auth.has_second_factor(&user).await?, "{name}");
    assert_eq!(
        names(&env.events.take()),
        ["second_factor_enrolled"],
        "{name}"
    );
    let again = auth.confirm_totp(&user, &code(&app, &env.clock)?).await;
    assert_eq!(
        second_factor_error(&again),
        Some(SecondFactorError::NoPendingEnrolment),
        "{name}"
    );
    let second = auth.enroll_totp(&user).await;
    assert_eq!(
        second_factor_error(&second),
        Some(SecondFactorError::AlreadyEnrolled),
        "{name}"
    );
    env.cleanup().await
}
per_database!(enrolment_shows_the_secret_once_and_stores_it_sealed);

async fn login_with_a_factor_issues_tokens_only_after_a_code(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    let (user, app, _) = enrolled(&env).await?;

    // Existing callers of `login` cannot skip the factor.
    let plain = auth.login(EMAIL, PASSWORD, Claims::new()).await;
    assert!(
        matches!(
            plain,
            Err(Error::Authentication(
                AuthenticationError::SecondFactorRequired
            ))
        ),
        "{name}: {plain:?}"
    );
    // A wrong password says what it always says, factor or not.
    let bad = auth
        .login_start(EMAIL, "wrong password", Claims::new(), None)
        .await;
    assert!(
        matches!(
            bad,
            Err(Error::Authentication(
                AuthenticationError::InvalidCredentials
            ))
        ),
        "{name}"
    );
    assert_eq!(names(&env.events.take()), ["user_login_failed"], "{name}");

    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    let LoginStart::SecondFactor(ch) = auth.login_start(EMAIL, PASSWORD, extra, None).await? else {
        return Err(format!("{name}: a challenge expected").into());
    };
    assert!(
        !format!("{ch:?}").contains(ch.token().expose_secret()),
        "{name}"
    );
    assert_eq!(
        ch.expires_at().timestamp(),
        T0 + 30 + 300,
        "{name}: login_challenge_lifetime"
    );
    let stored = login_challenge::Entity::find().all(env.db.conn()).await?;
    assert_eq!(stored.len(), 1, "{name}");
    assert_ne!(
        stored[0].digest,
        ch.token().expose_secret(),
        "{name}: stored as a digest"
    );

    let wrong = auth
        .complete_login(ch.token().expose_secret(), "000000", None)
        .await;
    assert_eq!(
        second_factor_error(&wrong),
        Some(SecondFactorError::WrongCode),
        "{name}"
    );
    let done = auth
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await?;
    assert_eq!(done.user.id, user.id, "{name}");
    let payload = auth
        .backend()
        .verify_token(done.tokens.access_token(), testudo_core::TokenType::Access)
        .await?;
    assert_eq!(
        payload.extra.and_then(|e| e.get("role").cloned()),
        Some("admin".into()),
        "{name}: the claims of login_start"
    );
    auth.authenticate(done.tokens.access_token()).await?;
    let events = env.events.take();
    assert_eq!(
        names(&events),
        ["second_factor_failed", "second_factor_used", "user_login"],
        "{name}"
    );
    assert!(
        matches!(
            &events[1],
            Event::SecondFactorUsed {
                method: SecondFactorMethod::Totp,
                recovery_codes_left: None,
                ..
            }
        ),
        "{name}"
    );

    // The challenge works once, even with a fresh code.
    next_step(&env.clock);
    let replay = auth
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await;
    assert_eq!(
        second_factor_error(&replay),
        Some(SecondFactorError::InvalidChallenge),
        "{name}"
    );
    env.cleanup().await
}
per_database!(login_with_a_factor_issues_tokens_only_after_a_code);

async fn a_code_is_accepted_once_even_by_another_service_on_the_database(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let (_, app, _) = enrolled(&env).await?;
    // A second node: its own pool on the same database, its own clock at the same time.
    let other_db = Database::connect(env.db.url()).await?;
    let other = AuthService::builder(
        Arc::clone(env.auth.config()),
        DbUserStore::new(other_db.clone()).with_clock(env.clock.clone()),
    )
    .database(other_db)
    .events(EventEmitter::new())
    .clock(env.clock.clone())
    .build()?;
    let here = challenge(&env.auth).await?;
    let there = challenge(&other).await?;
    let now = code(&app, &env.clock)?;
    env.auth
        .complete_login(here.token().expose_secret(), &now, None)
        .await?;
    let replayed = other
        .complete_login(there.token().expose_secret(), &now, None)
        .await;
    assert_eq!(
        second_factor_error(&replayed),
        Some(SecondFactorError::WrongCode),
        "{name}: replay on another node"
    );
    // No code older than the one used either (the previous step is still within the skew).
    env.clock.advance(Duration::from_secs(30));
    let older = app.code_at(T0 + 30)?;
    let r = other
        .complete_login(there.token().expose_secret(), older.expose_secret(), None)
        .await;
    assert_eq!(
        second_factor_error(&r),
        Some(SecondFactorError::WrongCode),
        "{name}"
    );
    other
        .complete_login(
            there.token().expose_secret(),
            &code(&app, &env.clock)?,
            None,
        )
        .await?;
    env.cleanup().await
}
per_database!(
    a_code_is_accepted_once_even_by_another_service_on_the_database,
    sqlite_file
);

async fn one_code_used_twice_at_the_worst_moment_logs_in_once(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let (_, app, codes) = enrolled(&env).await?;
    let totp_code = code(&app, &env.clock)?;
    let recovery = codes[0].expose_secret().to_owned();
    for code in [totp_code, recovery] {
        let (a, b) = (challenge(&env.auth).await?, challenge(&env.auth).await?);
        let paused = pause::arm("service.second_factor.before_write");
        let first = {
            let (auth, ch, code) = (
                env.auth.clone(),
                a.token().expose_secret().to_owned(),
                code.clone(),
            );
            tokio::spawn(async move { auth.complete_login(&ch, &code, None).await })
        };
        paused.reached().await;
        // The second use starts while the first has checked the code and recorded nothing (it
        // then waits for the user's transaction; in either order one of them must lose).
        let second = {
            let (auth, ch, code) = (
                env.auth.clone(),
                b.token().expose_secret().to_owned(),
                code.clone(),
            );
            tokio::spawn(async move { auth.complete_login(&ch, &code, None).await })
        };
        paused.release();
        let (first, second) = (first.await?, second.await?);
        assert!(first.is_ok(), "{name}: {:?}", first.err());
        assert_eq!(
            second_factor_error(&second),
            Some(SecondFactorError::WrongCode),
            "{name}: the second use of {code:.5}"
        );
    }
    assert_eq!(
        env.auth
            .recovery_codes_remaining(&enrolled_user(&env).await?)
            .await?,
        9,
        "{name}"
    );
    env.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    one_code_used_twice_at_the_worst_moment_logs_in_once,
    sqlite_file
);

async fn enrolled_user(env: &Env) -> TestResult<User> {
    Ok(env
        .auth
        .store()
        .find_by_email(EMAIL)
        .await?
        .ok_or("no user")?)
}

async fn a_challenge_expires_and_dies_with_a_password_change(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    let (user, app, _) = enrolled(&env).await?;
    let ch = challenge(auth).await?;
    env.clock.advance(Duration::from_secs(300));
    let late = auth
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await;
    assert_eq!(
        second_factor_error(&late),
        Some(SecondFactorError::ChallengeExpired),
        "{name}"
    );
    let gone = auth
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await;
    assert_eq!(
        second_factor_error(&gone),
        Some(SecondFactorError::InvalidChallenge),
        "{name}: an expired challenge is deleted"
    );

    let ch = challenge(auth).await?;
    auth.set_password(
        &user,
        "a whole new passphrase",
        testudo_service::ValidatorPolicy::Skip,
    )
    .await?;
    let stale = auth
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await;
    assert_eq!(
        second_factor_error(&stale),
        Some(SecondFactorError::InvalidChallenge),
        "{name}: the password changed after the challenge"
    );
    for hostile in [
        String::new(),
        "x".repeat(100_000),
        "\0".into(),
        ch.token().expose_secret().to_uppercase(),
    ] {
        let r = auth.complete_login(&hostile, "123456", None).await;
        assert_eq!(
            second_factor_error(&r),
            Some(SecondFactorError::InvalidChallenge),
            "{name}: {hostile:.10}"
        );
    }
    env.cleanup().await
}
per_database!(a_challenge_expires_and_dies_with_a_password_change);

async fn recovery_codes_work_once_and_regeneration_kills_the_old_ones(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    let (user, _, codes) = enrolled(&env).await?;
    // Typed leniently: lower case, no hyphen.
    let typed = codes[0].expose_secret().replace('-', "").to_lowercase();
    let ch = challenge(auth).await?;
    auth.complete_login(ch.token().expose_secret(), &typed, None)
        .await?;
    let events = env.events.take();
    assert!(
        events.iter().any(|e| matches!(
            e,
            Event::SecondFactorUsed {
                method: SecondFactorMethod::RecoveryCode,
                recovery_codes_left: Some(9),
                ..
            }
        )),
        "{name}: {events:?}"
    );
    assert_eq!(auth.recovery_codes_remaining(&user).await?, 9, "{name}");
    let ch = challenge(auth).await?;
    let twice = auth
        .complete_login(ch.token().expose_secret(), codes[0].expose_secret(), None)
        .await;
    assert_eq!(
        second_factor_error(&twice),
        Some(SecondFactorError::WrongCode),
        "{name}"
    );
    let made_up = auth
        .complete_login(ch.token().expose_secret(), "ABCDE-FGHJK", None)
        .await;
    assert_eq!(
        second_factor_error(&made_up),
        Some(SecondFactorError::WrongCode),
        "{name}"
    );

    // Regeneration needs a recent authentication; enrolment's is too old by now.
    env.clock.advance(Duration::from_secs(301));
    let r = auth.regenerate_recovery_codes(&user).await;
    assert_eq!(
        second_factor_error(&r),
        Some(SecondFactorError::ReauthenticationRequired),
        "{name}"
    );
    auth.reauthenticate(&user, PASSWORD).await?;
    let fresh = auth.regenerate_recovery_codes(&user).await?;
    assert_eq!(fresh.len(), 10, "{name}");
    assert_eq!(auth.recovery_codes_remaining(&user).await?, 10, "{name}");
    let ch = challenge(auth).await?;
    let old = auth
        .complete_login(ch.token().expose_secret(), codes[1].expose_secret(), None)
        .await;
    assert_eq!(
        second_factor_error(&old),
        Some(SecondFactorError::WrongCode),
        "{name}"
    );
    auth.complete_login(ch.token().expose_secret(), fresh[3].expose_secret(), None)
        .await?;
    env.cleanup().await
}
per_database!(recovery_codes_work_once_and_regeneration_kills_the_old_ones);

async fn removing_a_factor_needs_a_recent_authentication(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    let (user, _, _) = enrolled(&env).await?;
    env.clock.advance(Duration::from_secs(300));
    let r = auth.remove_totp(&user).await;
    assert_eq!(
        second_factor_error(&r),
        Some(SecondFactorError::ReauthenticationRequired),
        "{name}"
    );
    let wrong = auth.reauthenticate(&user, "not the password").await;
    assert!(
        matches!(
            wrong,
            Err(Error::Authentication(
                AuthenticationError::InvalidCredentials
            ))
        ),
        "{name}"
    );
    let r = auth.remove_totp(&user).await;
    assert_eq!(
        second_factor_error(&r),
        Some(SecondFactorError::ReauthenticationRequired),
        "{name}: a wrong password records nothing"
    );
    auth.reauthenticate(&user, PASSWORD).await?;
    env.clock.advance(Duration::from_secs(299));
    auth.remove_totp(&user).await?;
    assert_eq!(
        names(&env.events.take()),
        ["second_factor_removed"],
        "{name}"
    );
    assert!(!auth.has_second_factor(&user).await?, "{name}");
    assert_eq!(auth.recovery_codes_remaining(&user).await?, 0, "{name}");
    auth.login(EMAIL, PASSWORD, Claims::new()).await?;
    let again = auth.remove_totp(&user).await;
    assert_eq!(
        second_factor_error(&again),
        Some(SecondFactorError::NotEnrolled),
        "{name}"
    );
    env.cleanup().await
}
per_database!(removing_a_factor_needs_a_recent_authentication);

async fn wrong_codes_are_throttled(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let (_, app, _) = enrolled(&env).await?;
    let limiter = Arc::new(MemoryRateLimiter::new(env.clock.clone()));
    let auth = AuthService::builder(
        Arc::clone(env.auth.config()),
        DbUserStore::new(env.db.db().clone()).with_clock(env.clock.clone()),
    )
    .database(env.db.db().clone())
    .events(EventEmitter::new())
    .clock(env.clock.clone())
    .rate_limiter(limiter)
    .build()?;
    let ch = challenge(&auth).await?;
    for _ in 0..5 {
        let r = auth
            .complete_login(ch.token().expose_secret(), "000000", Some("10.0.0.9"))
            .await;
        assert_eq!(
            second_factor_error(&r),
            Some(SecondFactorError::WrongCode),
            "{name}"
        );
    }
    let limited = auth
        .complete_login(
            ch.token().expose_secret(),
            &code(&app, &env.clock)?,
            Some("10.0.0.9"),
        )
        .await;
    assert!(
        matches!(limited, Err(Error::RateLimited { .. })),
        "{name}: {limited:?}"
    );
    env.cleanup().await
}
per_database!(wrong_codes_are_throttled);

async fn a_login_link_does_not_stand_in_for_the_second_factor(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    let (user, app, _) = enrolled(&env).await?;
    // A verified address: its first verification would remove the factor (see below).
    auth.store().mark_verified(&user.id.to_string()).await?;
    auth.request_login_link(EMAIL, None).await?;
    let token = env
        .events
        .take()
        .into_iter()
        .find_map(|e| match e {
            Event::EmailTokenCreated { token, .. } => Some(token.expose_secret().to_owned()),
            _ => None,
        })
        .ok_or("no login link")?;
    let r = auth.login_with_email_token(EMAIL, &token, None).await;
    assert!(
        matches!(
            r,
            Err(Error::Authentication(
                AuthenticationError::SecondFactorRequired
            ))
        ),
        "{name}: {r:?}"
    );
    // With the start variant, the link leads to a challenge, and a code finishes the login.
    auth.request_login_link(EMAIL, None).await?;
    let token = env
        .events
        .take()
        .into_iter()
        .find_map(|e| match e {
            Event::EmailTokenCreated { token, .. } => Some(token.expose_secret().to_owned()),
            _ => None,
        })
        .ok_or("no login link")?;
    let LoginStart::SecondFactor(ch) = auth
        .login_with_email_token_start(EMAIL, &token, None)
        .await?
    else {
        return Err(format!("{name}: a challenge expected").into());
    };
    let done = auth
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await?;
    assert_eq!(done.user.email, EMAIL, "{name}");
    let reused = auth.login_with_email_token_start(EMAIL, &token, None).await;
    assert!(
        matches!(reused, Err(Error::Token(_))),
        "{name}: the link is used up"
    );
    env.cleanup().await
}
per_database!(a_login_link_does_not_stand_in_for_the_second_factor);

async fn the_first_verification_of_the_address_removes_a_factor_enrolled_before_it(
    b: Backend,
) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let auth = &env.auth;
    // Whoever registered the address without owning it enrolled a factor...
    let (user, _, _) = enrolled(&env).await?;
    assert!(!user.is_verified, "{name}");
    // ...and the owner's first login link takes the account back, factor included.
    auth.request_login_link(EMAIL, None).await?;
    let token = env
        .events
        .take()
        .into_iter()
        .find_map(|e| match e {
            Event::EmailTokenCreated { token, .. } => Some(token.expose_secret().to_owned()),
            _ => None,
        })
        .ok_or("no login link")?;
    let done = auth.login_with_email_token(EMAIL, &token, None).await?;
    assert!(done.user.is_verified, "{name}");
    assert!(!auth.has_second_factor(&done.user).await?, "{name}");
    assert_eq!(
        auth.recovery_codes_remaining(&done.user).await?,
        0,
        "{name}"
    );
    env.cleanup().await
}
per_database!(the_first_verification_of_the_address_removes_a_factor_enrolled_before_it);

async fn a_rotated_signing_secret_keeps_factors_and_reseals_them(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let (user, app, codes) = enrolled(&env).await?;
    let before = totp_factor::Entity::find_by_id(user.id.to_string())
        .one(env.db.conn())
        .await?
        .ok_or("no factor")?;
    let service = |f: &dyn Fn(&mut AuthConfig)| -> TestResult<AuthService<DbUserStore>> {
        let mut config = (**env.auth.config()).clone();
        f(&mut config);
        Ok(AuthService::builder(
            Arc::new(config),
            DbUserStore::new(env.db.db().clone()).with_clock(env.clock.clone()),
        )
        .database(env.db.db().clone())
        .events(EventEmitter::new())
        .clock(env.clock.clone())
        .build()?)
    };
    let rotated = service(&|c| {
        c.signing_secret = Some(OTHER_SECRET.to_owned().into());
        c.signing_fallback_secrets = vec![SIGNING_SECRET.to_owned().into()];
    })?;
    let ch = challenge(&rotated).await?;
    rotated
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await?;
    let after = totp_factor::Entity::find_by_id(user.id.to_string())
        .one(env.db.conn())
        .await?
        .ok_or("no factor")?;
    assert_ne!(
        after.secret, before.secret,
        "{name}: sealed again under the new key"
    );
    // The old key can go now: the factor opens with the new one alone, and recovery codes
    // made under the old key are still found while it is a fallback.
    let ch = challenge(&rotated).await?;
    rotated
        .complete_login(ch.token().expose_secret(), codes[0].expose_secret(), None)
        .await?;
    let new_only = service(&|c| c.signing_secret = Some(OTHER_SECRET.to_owned().into()))?;
    next_step(&env.clock);
    let ch = challenge(&new_only).await?;
    new_only
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await?;
    // A sealed secret moved to another user's row does not open there.
    let other = env.auth.create_user("other@example.com", PASSWORD).await?;
    let mut stolen = after.clone().into_active_model();
    stolen.user_id = Set(other.id.to_string());
    totp_factor::Entity::insert(stolen)
        .exec(env.db.conn())
        .await?;
    let ch = match new_only
        .login_start("other@example.com", PASSWORD, Claims::new(), None)
        .await?
    {
        LoginStart::SecondFactor(ch) => ch,
        other => return Err(format!("{name}: {other:?}").into()),
    };
    next_step(&env.clock);
    let r = new_only
        .complete_login(ch.token().expose_secret(), &code(&app, &env.clock)?, None)
        .await;
    assert!(matches!(r, Err(Error::Internal(_))), "{name}: {r:?}");
    env.cleanup().await
}
per_database!(a_rotated_signing_secret_keeps_factors_and_reseals_them);

async fn deleting_a_user_deletes_their_factor(b: Backend) -> TestResult {
    let env = env(b).await?;
    let name = env.name.clone();
    let (user, _, _) = enrolled(&env).await?;
    assert!(env.auth.delete_user(&user.id.to_string()).await?, "{name}");
    let left = totp_factor::Entity::find().all(env.db.conn()).await?;
    assert!(left.is_empty(), "{name}: {left:?}");
    env.cleanup().await
}
per_database!(deleting_a_user_deletes_their_factor);

/// The pair a completed challenge issues starts a session with the device context given to
/// `complete_login_with_context` (the one the tokens are issued for), on both backends that
/// keep sessions.
async fn completing_a_login_records_the_device_context(b: Backend) -> TestResult {
    for tokens in [Tokens::Database, Tokens::JwtRevocable] {
        let env = Env::new(b.clone(), tokens, |c| {
            c.signing_secret = Some(SIGNING_SECRET.to_owned().into());
        })
        .await?;
        let name = env.name.clone();
        let (user, app, _) = enrolled(&env).await?;
        let ch = challenge(&env.auth).await?;
        let device = testudo_core::SessionContext::new()
            .with_ip(Some("203.0.113.5"))
            .with_user_agent(Some("Phone/3 <b>"));
        let done = env
            .auth
            .complete_login_with_context(
                ch.token().expose_secret(),
                &code(&app, &env.clock)?,
                &device,
            )
            .await?;
        let listed = env
            .auth
            .list_sessions(&user.id.to_string(), Some(done.tokens.access_token()))
            .await?;
        assert_eq!(listed.len(), 1, "{name}: {listed:?}");
        assert!(listed[0].current, "{name}");
        assert_eq!(listed[0].ip.as_deref(), Some("203.0.113.5"), "{name}");
        assert_eq!(
            listed[0].user_agent.as_deref(),
            Some("Phone/3 <b>"),
            "{name}"
        );
        assert_eq!(listed[0].created_at.timestamp(), T0 + 30, "{name}");
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(completing_a_login_records_the_device_context);

#[test]
fn the_blocking_api_logs_in_with_a_second_factor() -> TestResult {
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let config = common::config(|c| c.signing_secret = Some(SIGNING_SECRET.to_owned().into()));
    let auth = {
        let clock = clock.clone();
        testudo_service::blocking::AuthService::build(|| async move {
            let db = Database::connect("sqlite::memory:").await?;
            db.migrate().await?;
            AuthService::builder(
                config,
                DbUserStore::new(db.clone()).with_clock(clock.clone()),
            )
            .database(db)
            .events(EventEmitter::new())
            .clock(clock)
            .build()
        })?
    };
    let user = auth.create_user(EMAIL, PASSWORD)?;
    auth.reauthenticate(&user, PASSWORD)?;
    let enrolment = auth.enroll_totp(&user)?;
    let app = app(&enrolment)?;
    auth.confirm_totp(&user, &code(&app, &clock)?)?;
    next_step(&clock);
    let LoginStart::SecondFactor(ch) = auth.login_start(EMAIL, PASSWORD, Claims::new(), None)?
    else {
        return Err("a challenge expected".into());
    };
    let done = auth.complete_login(ch.token().expose_secret(), &code(&app, &clock)?, None)?;
    assert_eq!(done.user.id, user.id);
    assert_eq!(auth.recovery_codes_remaining(&user)?, 10);
    Ok(())
}
