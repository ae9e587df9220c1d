//! `S2SService`: rotation with two tokens, exact comparison, events with the service name as
//! claimed, configuration errors naming the variable. No test changes the process environment.

use std::sync::{Arc, Mutex};

use testudo_config::AuthConfig;
use testudo_core::{AuthenticationError, Error};
use testudo_events::{Event, EventEmitter, EventKind};
use testudo_service::{MAX_CLAIMED_SERVICE_CHARS, S2SService, S2sError};
use testudo_test_support::TestResult;

type Log = Arc<Mutex<Vec<(String, Option<String>)>>>;

fn enabled() -> TestResult<AuthConfig> {
    Ok(AuthConfig::builder()
        .s2s_enabled(true)
        .s2s_token_env_var("TESTUDO_TEST_S2S_TOKENS")
        .build()?)
}

fn recording() -> (EventEmitter, Log) {
    let emitter = EventEmitter::new();
    let log: Log = Arc::default();
    for kind in [EventKind::S2sAuthSuccess, EventKind::S2sAuthFailed] {
        let log = log.clone();
        emitter.on(kind, move |event: &Event| {
            let entry = match event {
                Event::S2sAuthSuccess { claimed_service }
                | Event::S2sAuthFailed { claimed_service } => {
                    (event.name().to_owned(), claimed_service.clone())
                }
                other => (other.name().to_owned(), None),
            };
            let log = log.clone();
            Box::pin(async move {
                log.lock().map_err(|e| e.to_string())?.push(entry);
                Ok(())
            })
        });
    }
    (emitter, log)
}

fn taken(log: &Log) -> TestResult<Vec<(String, Option<String>)>> {
    Ok(std::mem::take(&mut *log.lock().map_err(|e| e.to_string())?))
}

fn s2s_err(result: Result<S2SService, Error>) -> Option<String> {
    match result {
        Err(Error::Configuration(e)) => e.downcast_ref::<S2sError>().map(ToString::to_string),
        _ => None,
    }
}

fn refused(result: &Result<(), Error>) -> bool {
    matches!(
        result,
        Err(Error::Authentication(
            AuthenticationError::InvalidCredentials
        ))
    )
}

#[tokio::test]
async fn during_a_rotation_both_tokens_are_accepted_and_nothing_else() -> TestResult {
    let config = enabled()?;
    let (events, log) = recording();
    // The variable as deployed during a rotation: the old token and the new one.
    let s2s = S2SService::from_lookup(&config, |name| {
        (name == "TESTUDO_TEST_S2S_TOKENS")
            .then(|| " old-token-0123456789 , new-token-9876543210 ,".to_owned())
    })?
    .with_events(events);
    assert_eq!(s2s.token_count(), 2);
    s2s.authenticate("old-token-0123456789", Some("billing"))
        .await?;
    s2s.authenticate("new-token-9876543210", Some("billing"))
        .await?;
    for wrong in [
        "",
        "old-token-012345678",
        "old-token-01234567890",
        " old-token-0123456789",
        "old-token-0123456789,new-token-9876543210",
        "OLD-TOKEN-0123456789",
        "old-token-0123456789\0",
    ] {
        assert!(
            refused(&s2s.authenticate(wrong, Some("billing")).await),
            "{wrong:?}"
        );
    }
    let log = taken(&log)?;
    assert_eq!(log.len(), 9);
    assert!(
        log[..2]
            .iter()
            .all(|(name, service)| name == "s2s_auth_success"
                && service.as_deref() == Some("billing"))
    );
    assert!(log[2..].iter().all(|(name, _)| name == "s2s_auth_failed"));
    // After the rotation only the new token is deployed.
    let rotated = S2SService::with_tokens(&config, ["new-token-9876543210"])?;
    assert!(refused(
        &rotated.authenticate("old-token-0123456789", None).await
    ));
    rotated.authenticate("new-token-9876543210", None).await?;
    Ok(())
}

#[tokio::test]
async fn the_service_name_is_reported_as_claimed_and_bounded() -> TestResult {
    let config = enabled()?;
    let (events, log) = recording();
    let s2s = S2SService::with_tokens(&config, ["token-a"])?.with_events(events);
    // Any holder of the token can claim any name: it is passed on, not checked.
    s2s.authenticate("token-a", Some("payments")).await?;
    s2s.authenticate("token-a", None).await?;
    let long = "x".repeat(10_000);
    assert!(refused(&s2s.authenticate("nope", Some(&long)).await));
    let log = taken(&log)?;
    assert_eq!(log[0], ("s2s_auth_success".into(), Some("payments".into())));
    assert_eq!(log[1], ("s2s_auth_success".into(), None));
    assert_eq!(log[2].0, "s2s_auth_failed");
    assert_eq!(
        log[2].1.as_ref().map(String::len),
        Some(MAX_CLAIMED_SERVICE_CHARS)
    );
    Ok(())
}

#[test]
fn disabled_or_without_tokens_is_a_configuration_error_naming_the_variable() -> TestResult {
    let off = AuthConfig::default();
    assert!(!off.s2s_enabled);
    let disabled = Some(S2sError::Disabled.to_string());
    assert_eq!(s2s_err(S2SService::from_env(&off)), disabled);
    assert_eq!(
        s2s_err(S2SService::from_lookup(&off, |_| Some("t".into()))),
        disabled
    );
    assert_eq!(s2s_err(S2SService::with_tokens(&off, ["t"])), disabled);

    let on = enabled()?;
    let expected = Some(
        "s2s token environment variable 'TESTUDO_TEST_S2S_TOKENS' is not set or empty".to_owned(),
    );
    assert_eq!(s2s_err(S2SService::from_lookup(&on, |_| None)), expected);
    assert_eq!(
        s2s_err(S2SService::from_lookup(&on, |_| Some(" , ,".into()))),
        expected
    );
    assert_eq!(
        s2s_err(S2SService::with_tokens(&on, ["", "  "])),
        Some(S2sError::NoTokensGiven.to_string())
    );
    // The process environment, read but not changed: a variable nobody sets.
    let unset = AuthConfig::builder()
        .s2s_enabled(true)
        .s2s_token_env_var("TESTUDO_TEST_S2S_SURELY_UNSET_3F1A")
        .build()?;
    let message = s2s_err(S2SService::from_env(&unset)).unwrap_or_default();
    assert!(
        message.contains("'TESTUDO_TEST_S2S_SURELY_UNSET_3F1A'"),
        "{message}"
    );
    Ok(())
}

#[tokio::test]
async fn from_env_reads_the_configured_variable() -> TestResult {
    // Cargo sets CARGO_PKG_NAME for the test process: a variable read without being written.
    let config = AuthConfig::builder()
        .s2s_enabled(true)
        .s2s_token_env_var("CARGO_PKG_NAME")
        .build()?;
    let s2s = S2SService::from_env(&config)?;
    assert_eq!(s2s.token_count(), 1);
    s2s.authenticate(env!("CARGO_PKG_NAME"), None).await?;
    assert!(refused(&s2s.authenticate("testudo", None).await));
    Ok(())
}

#[test]
fn debug_shows_no_token() -> TestResult {
    let s2s = S2SService::with_tokens(&enabled()?, ["very-secret-s2s-token"])?;
    let shown = format!("{s2s:?}");
    assert!(!shown.contains("very-secret"), "{shown}");
    assert!(
        shown.contains("TESTUDO_TEST_S2S_TOKENS") && shown.contains("tokens: 1"),
        "{shown}"
    );
    Ok(())
}
