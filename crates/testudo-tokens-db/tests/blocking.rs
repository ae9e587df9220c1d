//! `blocking::EmailTokenStore` (Moth's `Moth` beside `AsyncMoth`): the same methods as the
//! async store, on its own runtime, and a clear error inside an async runtime.

use std::sync::Arc;
use std::time::Duration;

use testudo_config::AuthConfig;
use testudo_core::{FixedClock, TokenError};
use testudo_test_support::TestResult;
use testudo_tokens_db::blocking::EmailTokenStore;
use testudo_tokens_db::{AuthOutcome, EmailTokenOptions, Error};

fn store() -> Result<(EmailTokenStore, Arc<FixedClock>), Error> {
    let clock = Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
    ));
    let store = EmailTokenStore::connect("sqlite::memory:", Arc::new(AuthConfig::default()))?
        .with_clock(clock.clone());
    Ok((store, clock))
}

fn token_err<T: std::fmt::Debug>(result: Result<T, Error>) -> Option<TokenError> {
    match result {
        Err(Error::Token(t)) => Some(t),
        _ => None,
    }
}

#[test]
fn every_method_of_the_async_store_works_blocking() -> TestResult {
    let (store, clock) = store()?;
    let multi = store.create_token(
        " Ann@Example.com",
        EmailTokenOptions::new().single_use(false),
    )?;
    assert_eq!(
        store.auth_token("ann@example.com", &multi, None)?,
        AuthOutcome::Success
    );
    store.set_retval("ann@example.com", "user-7")?;
    assert_eq!(
        store.fetch_retval("ANN@example.com")?.as_deref(),
        Some("user-7")
    );
    assert_eq!(
        store.auth_token("ann@example.com", &multi, None)?,
        AuthOutcome::Retval("user-7".into())
    );
    // Purpose-bound tokens.
    let verify = store.create_token(
        "ann@example.com",
        EmailTokenOptions::new().purpose("email_verification"),
    )?;
    assert!(matches!(
        token_err(store.auth_token("ann@example.com", &verify, None)),
        Some(TokenError::Invalid { .. })
    ));
    assert_eq!(
        store.auth_token_for("email_verification", "ann@example.com", &verify, None)?,
        AuthOutcome::Retval("user-7".into())
    );
    // IP binding.
    let bound = store.create_token("ann@example.com", EmailTokenOptions::new().ip("10.0.0.1"))?;
    assert!(matches!(
        token_err(store.auth_token("ann@example.com", &bound, Some("10.0.0.2"))),
        Some(TokenError::Invalid { .. })
    ));
    // Removal.
    assert!(store.remove_token("ann@example.com", &multi)?);
    assert!(!store.remove_token("ann@example.com", &multi)?);
    store.create_token("ann@example.com", EmailTokenOptions::new())?;
    store.create_token("ann@example.com", EmailTokenOptions::new())?;
    assert_eq!(store.remove_tokens("ann@example.com")?, 2);
    assert_eq!(
        store.fetch_retval("ann@example.com")?.as_deref(),
        Some("user-7")
    );
    store.create_token("ann@example.com", EmailTokenOptions::new())?;
    assert_eq!(
        store.remove_user("ann@example.com")?,
        2,
        "a token and the retval"
    );
    assert_eq!(store.fetch_retval("ann@example.com")?, None);
    // Expiry by the injected clock, and cleanup.
    let short = store.create_token(
        "bob@example.com",
        EmailTokenOptions::new().expires_in(Duration::from_secs(60)),
    )?;
    store.create_token(
        "bob@example.com",
        EmailTokenOptions::new().expires_in(Duration::from_secs(60)),
    )?;
    clock.advance(Duration::from_secs(60));
    assert_eq!(
        token_err(store.auth_token("bob@example.com", &short, None)),
        Some(TokenError::Expired)
    );
    assert_eq!(
        store.cleanup_expired()?,
        1,
        "the refused one was deleted already"
    );
    Ok(())
}

#[test]
fn block_on_runs_the_async_store_on_the_same_connection() -> TestResult {
    let (store, _clock) = store()?;
    let token = store.create_token("cy@example.com", EmailTokenOptions::new())?;
    let outcome = store.block_on(store.inner().auth_token("cy@example.com", &token, None))??;
    assert_eq!(outcome, AuthOutcome::Success);
    Ok(())
}

#[test]
fn a_failing_constructor_returns_its_error() {
    let result = EmailTokenStore::connect(
        "sqlite:///no-such-directory-for-testudo/x.db?mode=rwc",
        Arc::new(AuthConfig::default()),
    );
    assert!(matches!(result, Err(Error::Storage(_))), "{result:?}");
}

#[tokio::test]
async fn inside_an_async_runtime_every_call_is_refused_without_panicking() -> TestResult {
    let made = EmailTokenStore::connect("sqlite::memory:", Arc::new(AuthConfig::default()));
    assert!(matches!(made, Err(Error::InsideRuntime)), "{made:?}");
    // A store made outside, used inside.
    let (store, _clock) = std::thread::spawn(store)
        .join()
        .map_err(|_| "constructor thread panicked")??;
    let refused = store.create_token("dee@example.com", EmailTokenOptions::new());
    assert!(matches!(refused, Err(Error::InsideRuntime)), "{refused:?}");
    let core = testudo_core::Error::from(Error::InsideRuntime);
    assert!(matches!(core, testudo_core::Error::Configuration(_)));
    // Dropping it inside a runtime does not panic either.
    drop(store);
    Ok(())
}
