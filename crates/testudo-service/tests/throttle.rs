//! Throttling through `AuthService` (issue 18): on each rate-limiter backend, N parallel wrong
//! logins against a limit of 5 let at most 5 reach the password check; a refused attempt costs
//! no hashing and says when to come back; a success resets the counter; reset requests and
//! login links have their own, stricter limit; a client address is counted on its own too.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Recorder, T0};
use testudo_core::{AuthenticationError, Claims, Error, ExposeSecret as _, FixedClock};
use testudo_events::{Event, EventEmitter};
use testudo_service::{AuthService, DbUserStore, UserStore as _};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use testudo_throttle::{DbRateLimiter, MemoryRateLimiter, RateLimiter, RedisRateLimiter};

const PASSWORD: &str = "correct horse battery staple";

fn service(
    db: &TestDb,
    clock: &Arc<FixedClock>,
    limiter: Arc<dyn RateLimiter>,
    events: &Recorder,
) -> TestResult<AuthService<DbUserStore>> {
    let config = common::config(|c| {
        c.signing_secret = Some(
            "a-signing-secret-for-the-throttle-tests-0123"
                .to_owned()
                .into(),
        );
    });
    let emitter = EventEmitter::new();
    events.attach(&emitter);
    Ok(AuthService::builder(
        config,
        DbUserStore::new(db.db().clone()).with_clock(clock.clone()),
    )
    .database(db.db().clone())
    .clock(clock.clone())
    .events(emitter)
    .rate_limiter(limiter)
    .build()?)
}

/// The limiters to run against `db`: the database's, one in memory, and Redis when
/// `TESTUDO_TEST_REDIS_URL` is set (each test under its own key prefix).
async fn limiters(
    db: &TestDb,
    clock: &Arc<FixedClock>,
) -> TestResult<Vec<(&'static str, Arc<dyn RateLimiter>)>> {
    let mut all: Vec<(&'static str, Arc<dyn RateLimiter>)> = vec![
        (
            "database",
            Arc::new(DbRateLimiter::new(db.db().clone(), clock.clone())),
        ),
        ("memory", Arc::new(MemoryRateLimiter::new(clock.clone()))),
    ];
    match std::env::var("TESTUDO_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let prefix = format!("testudo-service-test:{}:", uuid_like());
            let redis = RedisRateLimiter::connect(&url, clock.clone())
                .await?
                .with_prefix(prefix);
            all.push(("redis", Arc::new(redis)));
        }
        _ => eprintln!("throttle: Redis case skipped (set TESTUDO_TEST_REDIS_URL to run it)"),
    }
    Ok(all)
}

/// A random hex string for key prefixes.
fn uuid_like() -> String {
    let mut bytes = [0_u8; 8];
    getrandom::fill(&mut bytes).unwrap_or_default();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn retry_after<T>(r: &Result<T, Error>) -> Option<Duration> {
    match r {
        Err(Error::RateLimited { retry_after }) => Some(*retry_after),
        _ => None,
    }
}

async fn fifty_parallel_wrong_logins_reach_the_password_check_at_most_five_times(
    b: Backend,
) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    for (name, limiter) in limiters(&db, &clock).await? {
        let events = Recorder::default();
        let auth = service(&db, &clock, limiter, &events)?;
        let email = format!("{name}@example.com");
        auth.create_user(&email, PASSWORD).await?;
        let max = auth.config().rate_limit_max_attempts;
        let before = auth.hasher().verifications();
        let guesses: Vec<_> = (0..50)
            .map(|i| {
                let (auth, email) = (auth.clone(), email.clone());
                tokio::spawn(async move {
                    auth.login(&email, &format!("wrong guess {i}"), Claims::new())
                        .await
                })
            })
            .collect();
        let (mut refused_creds, mut limited) = (0, Vec::new());
        for g in guesses {
            let r = g.await?;
            match (&r, retry_after(&r)) {
                (_, Some(wait)) => limited.push(wait),
                (Err(Error::Authentication(AuthenticationError::InvalidCredentials)), None) => {
                    refused_creds += 1;
                }
                _ => return Err(format!("{name}: unexpected {r:?}").into()),
            }
        }
        let hashed = auth.hasher().verifications() - before;
        assert_eq!(
            refused_creds, max,
            "{name}: attempts that reached the check"
        );
        assert_eq!(hashed, u64::from(max), "{name}: password verifications");
        assert_eq!(limited.len(), 50 - max as usize, "{name}");
        assert!(limited.iter().all(|w| !w.is_zero()), "{name}: {limited:?}");
        let exceeded = events
            .take()
            .into_iter()
            .filter(|e| matches!(e, Event::RateLimitExceeded { scope, .. } if scope == "login"))
            .count();
        assert_eq!(exceeded, limited.len(), "{name}: one event per refusal");

        // Limited even with the right password, and without any hashing.
        let before = auth.hasher().verifications();
        let r = auth.login(&email, PASSWORD, Claims::new()).await;
        let wait = retry_after(&r).ok_or_else(|| format!("{name}: not limited: {r:?}"))?;
        assert_eq!(auth.hasher().verifications(), before, "{name}");
        // Once the wait is over the right password logs in, and the counter starts afresh.
        clock.advance(wait);
        auth.login(&email, PASSWORD, Claims::new()).await?;
        for _ in 0..max {
            let r = auth.login(&email, "wrong again", Claims::new()).await;
            assert!(
                matches!(r, Err(Error::Authentication(_))),
                "{name}: counter not reset: {r:?}"
            );
        }
        clock.advance(auth.config().rate_limit_window + auth.config().rate_limit_lockout);
    }
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    fifty_parallel_wrong_logins_reach_the_password_check_at_most_five_times,
    sqlite_file
);

async fn reset_requests_and_login_links_have_their_own_stricter_limit(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let limiter = Arc::new(DbRateLimiter::new(db.db().clone(), clock.clone()));
    let events = Recorder::default();
    let auth = service(&db, &clock, limiter, &events)?;
    auth.create_user("rue@example.com", PASSWORD).await?;
    let max = auth.config().password_reset_rate_limit_max_attempts;
    for _ in 0..max {
        auth.request_reset("rue@example.com", None).await?;
    }
    let r = auth.request_reset("RUE@example.com ", None).await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    // An unknown address is limited the same way (nothing tells them apart).
    for _ in 0..max {
        auth.request_reset("nobody@example.com", None).await?;
    }
    let r = auth.request_reset("nobody@example.com", None).await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    // Login links count apart from resets.
    for _ in 0..max {
        auth.request_login_link("rue@example.com", None).await?;
    }
    let r = auth.request_login_link("rue@example.com", None).await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    let scopes: Vec<String> = events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::RateLimitExceeded { scope, .. } => Some(scope.into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(scopes, ["password_reset", "password_reset", "login_link"]);
    // After the window, requests go through again.
    clock
        .advance(auth.config().password_reset_rate_limit_window + auth.config().rate_limit_lockout);
    auth.request_reset("rue@example.com", None).await?;
    db.cleanup().await
}
per_database!(reset_requests_and_login_links_have_their_own_stricter_limit);

#[tokio::test]
async fn a_client_address_is_counted_across_accounts_too() -> TestResult {
    let db = TestDb::new(Backend::Sqlite { file: false }).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let events = Recorder::default();
    let auth = service(
        &db,
        &clock,
        Arc::new(MemoryRateLimiter::new(clock.clone())),
        &events,
    )?;
    let per_client =
        auth.config().rate_limit_max_attempts * testudo_service::throttle::CLIENT_FACTOR;
    // One guess per address, each from the same client: every address stays under its limit,
    // the client does not.
    for i in 0..per_client {
        let r = auth
            .login_from(
                &format!("user{i}@example.com"),
                "guess",
                Claims::new(),
                Some("203.0.113.9"),
            )
            .await;
        assert!(
            matches!(r, Err(Error::Authentication(_))),
            "attempt {i}: {r:?}"
        );
    }
    let r = auth
        .login_from(
            "fresh@example.com",
            "guess",
            Claims::new(),
            Some("203.0.113.9"),
        )
        .await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    // Another client is not affected; an unparsable address only counts the identifier.
    let r = auth
        .login_from(
            "fresh@example.com",
            "guess",
            Claims::new(),
            Some("198.51.100.7"),
        )
        .await;
    assert!(matches!(r, Err(Error::Authentication(_))), "{r:?}");
    let r = auth
        .login_from(
            "fresh2@example.com",
            "guess",
            Claims::new(),
            Some("not an address"),
        )
        .await;
    assert!(matches!(r, Err(Error::Authentication(_))), "{r:?}");
    db.cleanup().await
}

#[tokio::test]
async fn the_default_service_throttles_on_its_database() -> TestResult {
    let db = TestDb::new(Backend::Sqlite { file: false }).await?;
    let auth = AuthService::new(common::config(|_| {}), db.db().clone())?;
    assert!(auth.rate_limiter().is_some());
    auth.create_user("sam@example.com", PASSWORD).await?;
    let max = auth.config().rate_limit_max_attempts;
    for _ in 0..max {
        let r = auth.login("sam@example.com", "wrong", Claims::new()).await;
        assert!(matches!(r, Err(Error::Authentication(_))), "{r:?}");
    }
    let r = auth.login("sam@example.com", PASSWORD, Claims::new()).await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    db.cleanup().await
}

/// Registration and onboarding starts are throttled by the service itself (not only over
/// HTTP): `register` with the login policy per address, `start_onboarding` and its resends
/// with the reset policy per address; a refused start mails nothing, a refused registration
/// hashes nothing and creates no user.
async fn registration_and_onboarding_starts_are_throttled_by_the_service(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let limiter = Arc::new(MemoryRateLimiter::new(clock.clone()));
    let events = Recorder::default();
    let auth = service(&db, &clock, limiter, &events)?;
    let logins = auth.config().rate_limit_max_attempts;
    auth.register("una@example.com", PASSWORD, Some("192.0.2.7"))
        .await?;
    for _ in 1..logins {
        let r = auth.register("una@example.com", PASSWORD, None).await;
        assert!(matches!(r, Err(Error::EmailTaken)), "{r:?}");
    }
    let r = auth.register("UNA@example.com", PASSWORD, None).await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    let users = auth.store().find_by_email("una@example.com").await?;
    assert!(users.is_some());

    let resets = auth.config().password_reset_rate_limit_max_attempts;
    events.take();
    let start = auth.start_onboarding("vic@example.com").await?;
    for _ in 1..resets {
        auth.resend_onboarding_code(start.token().expose_secret())
            .await?;
    }
    let r = auth
        .start_onboarding_from("VIC@example.com", Some("192.0.2.8"))
        .await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    let r = auth
        .resend_onboarding_code(start.token().expose_secret())
        .await;
    assert!(retry_after(&r).is_some(), "{r:?}");
    let taken = events.take();
    let mailed = taken
        .iter()
        .filter(|e| e.name() == "verification_code_generated")
        .count();
    assert_eq!(
        mailed,
        usize::try_from(resets)?,
        "a refused start or resend mailed a code"
    );
    let scopes: Vec<String> = taken
        .into_iter()
        .filter_map(|e| match e {
            Event::RateLimitExceeded { scope, .. } => Some(scope.into_owned()),
            _ => None,
        })
        .collect();
    assert_eq!(scopes, ["onboarding_start", "onboarding_start"]);
    db.cleanup().await
}
per_database!(registration_and_onboarding_starts_are_throttled_by_the_service);
