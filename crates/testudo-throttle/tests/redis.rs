//! The shared behaviour on [`RedisRateLimiter`], against the server named by
//! `TESTUDO_TEST_REDIS_URL` (each test under its own random key prefix), and two processes
//! sharing it. Without the variable each test prints one line and passes.

mod common;

use std::sync::Arc;

use testudo_core::{Clock, FixedClock};
use testudo_test_support::TestResult;
use testudo_throttle::{RateKey, RateLimiter, RedisRateLimiter};

/// The variable naming a Redis server for these tests.
const REDIS_URL_ENV: &str = "TESTUDO_TEST_REDIS_URL";

fn url() -> Option<String> {
    std::env::var(REDIS_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// A key prefix no other test uses.
fn prefix() -> TestResult<String> {
    Ok(format!("testudo:test:{:016x}:", getrandom::u64()?))
}

/// A limiter under a fresh prefix with a fixed clock, or `None` (after one line on stderr)
/// when no server is configured.
async fn setup(test: &str) -> TestResult<Option<(RedisRateLimiter, Arc<FixedClock>, String)>> {
    let Some(url) = url() else {
        eprintln!("skipped redis::{test}: set {REDIS_URL_ENV} to a Redis URL to run it");
        return Ok(None);
    };
    let clock = common::clock();
    let prefix = prefix()?;
    let limiter = RedisRateLimiter::connect(&url, clock.clone())
        .await?
        .with_prefix(prefix.clone());
    Ok(Some((limiter, clock, prefix)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_hits_against_a_limit_of_five_allow_exactly_five() -> TestResult {
    let Some((limiter, _, _)) = setup("fifty_parallel_hits").await? else {
        return Ok(());
    };
    common::fifty_parallel_hits_allow_exactly_five(Arc::new(limiter)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_sharing_the_server_allow_exactly_five() -> TestResult {
    if common::is_child() {
        let url = std::env::var(common::CHILD_URL_ENV)?;
        let prefix = std::env::var(common::CHILD_PREFIX_ENV)?;
        let limiter = RedisRateLimiter::connect(&url, common::child_clock()?)
            .await?
            .with_prefix(prefix);
        return common::child(Arc::new(limiter)).await;
    }
    let Some((_, clock, prefix)) = setup("two_processes").await? else {
        return Ok(());
    };
    let envs = [
        (common::CHILD_URL_ENV, url().unwrap_or_default()),
        (common::CHILD_PREFIX_ENV, prefix),
    ];
    common::two_processes_allow_exactly_five(
        "two_processes_sharing_the_server_allow_exactly_five",
        &envs,
        &clock,
    )
    .await
}

#[tokio::test]
async fn lockout_retry_after_is_exact_across_the_window() -> TestResult {
    let Some((limiter, clock, _)) = setup("lockout_retry_after").await? else {
        return Ok(());
    };
    common::lockout_retry_after_is_exact_across_the_window(&limiter, &clock).await
}

#[tokio::test]
async fn a_lockout_inside_the_window_locks_again_until_the_window_ends() -> TestResult {
    let Some((limiter, clock, _)) = setup("a_lockout_inside_the_window").await? else {
        return Ok(());
    };
    common::a_lockout_inside_the_window_locks_again_until_the_window_ends(&limiter, &clock).await
}

#[tokio::test]
async fn escalating_waits_double_and_stop_at_the_cap() -> TestResult {
    let Some((limiter, clock, _)) = setup("escalating_waits").await? else {
        return Ok(());
    };
    common::escalating_waits_double_and_stop_at_the_cap(&limiter, &clock).await
}

#[tokio::test]
async fn the_window_ends_and_lets_attempts_through_again() -> TestResult {
    let Some((limiter, clock, _)) = setup("the_window_ends").await? else {
        return Ok(());
    };
    common::the_window_ends_and_lets_attempts_through_again(&limiter, &clock).await
}

#[tokio::test]
async fn reset_clears_the_key_and_only_it() -> TestResult {
    let Some((limiter, _, _)) = setup("reset_clears").await? else {
        return Ok(());
    };
    common::reset_clears_the_key_and_only_it(&limiter).await
}

#[tokio::test]
async fn cleanup_is_left_to_the_keys_expiry() -> TestResult {
    let Some((limiter, clock, prefix)) = setup("cleanup").await? else {
        return Ok(());
    };
    common::cleanup_removes_ended_state_and_counts_it(&limiter, &clock, false).await?;
    // Each key expires by itself when its state ends. The server's clock did not move with the
    // test's: all three keys are there, each with the time its state had left when last hit
    // (300 s for the first two, 3000 s for the one with a 3600 s window hit at +600 s).
    let url = url().unwrap_or_default();
    let mut conn = redis::Client::open(url)?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    assert_eq!(keys.len(), 3, "{keys:?}");
    let mut ttls = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL").arg(&key).query_async(&mut conn).await?;
        ttls.push((ttl + 30_000) / 60_000); // minutes, rounded
    }
    ttls.sort_unstable();
    assert_eq!(ttls, [5, 5, 50]);
    Ok(())
}

#[tokio::test]
async fn odd_and_long_keys_are_keys_like_any_other() -> TestResult {
    let Some((limiter, _, prefix)) = setup("odd_and_long_keys").await? else {
        return Ok(());
    };
    common::odd_and_long_keys_are_keys_like_any_other(&limiter).await?;
    let mut conn = redis::Client::open(url().unwrap_or_default())?
        .get_multiplexed_async_connection()
        .await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await?;
    assert_eq!(keys.len(), 9);
    assert!(
        keys.iter().all(|k| k.len() == prefix.len() + 64),
        "{keys:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_invalid_policy_is_a_configuration_error() -> TestResult {
    let Some((limiter, _, _)) = setup("an_invalid_policy").await? else {
        return Ok(());
    };
    common::an_invalid_policy_is_a_configuration_error(&limiter).await
}

#[tokio::test]
async fn an_unreachable_server_is_a_storage_error() -> TestResult {
    let clock: Arc<dyn Clock> = common::clock();
    // Nothing listens on port 1; the connection is refused at once.
    let result = RedisRateLimiter::connect("redis://127.0.0.1:1/", clock.clone()).await;
    assert!(
        matches!(result, Err(testudo_core::Error::Storage(_))),
        "{result:?}"
    );
    let result = RedisRateLimiter::connect("no-such-scheme://x", clock).await;
    assert!(matches!(result, Err(testudo_core::Error::Storage(_))));
    Ok(())
}

#[tokio::test]
async fn the_limiter_shows_neither_url_nor_password() -> TestResult {
    let Some((limiter, _, prefix)) = setup("debug").await? else {
        return Ok(());
    };
    let shown = format!("{limiter:?}");
    assert!(
        shown.contains(&prefix) && !shown.contains("redis://"),
        "{shown}"
    );
    let key = RateKey::new("login", "debug@example.com");
    assert!(
        limiter
            .hit(&key, &common::lockout(5, 1, 1))
            .await?
            .is_allowed()
    );
    Ok(())
}
