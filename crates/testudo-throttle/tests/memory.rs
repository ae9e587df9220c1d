//! The shared behaviour on [`MemoryRateLimiter`], and its bound on memory.

mod common;

use std::sync::Arc;
use std::time::Duration;

use testudo_test_support::TestResult;
use testudo_throttle::{MemoryRateLimiter, RateKey, RateLimiter};

fn limiter(clock: &Arc<testudo_core::FixedClock>) -> MemoryRateLimiter {
    MemoryRateLimiter::new(clock.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_parallel_hits_against_a_limit_of_five_allow_exactly_five() -> TestResult {
    let clock = common::clock();
    common::fifty_parallel_hits_allow_exactly_five(Arc::new(limiter(&clock))).await
}

#[tokio::test]
async fn lockout_retry_after_is_exact_across_the_window() -> TestResult {
    let clock = common::clock();
    common::lockout_retry_after_is_exact_across_the_window(&limiter(&clock), &clock).await
}

#[tokio::test]
async fn a_lockout_inside_the_window_locks_again_until_the_window_ends() -> TestResult {
    let clock = common::clock();
    common::a_lockout_inside_the_window_locks_again_until_the_window_ends(&limiter(&clock), &clock)
        .await
}

#[tokio::test]
async fn escalating_waits_double_and_stop_at_the_cap() -> TestResult {
    let clock = common::clock();
    common::escalating_waits_double_and_stop_at_the_cap(&limiter(&clock), &clock).await
}

#[tokio::test]
async fn the_window_ends_and_lets_attempts_through_again() -> TestResult {
    let clock = common::clock();
    common::the_window_ends_and_lets_attempts_through_again(&limiter(&clock), &clock).await
}

#[tokio::test]
async fn reset_clears_the_key_and_only_it() -> TestResult {
    let clock = common::clock();
    common::reset_clears_the_key_and_only_it(&limiter(&clock)).await
}

#[tokio::test]
async fn cleanup_removes_ended_state_and_counts_it() -> TestResult {
    let clock = common::clock();
    let limiter = limiter(&clock);
    common::cleanup_removes_ended_state_and_counts_it(&limiter, &clock, true).await?;
    assert_eq!(limiter.len(), 2);
    Ok(())
}

#[tokio::test]
async fn odd_and_long_keys_are_keys_like_any_other() -> TestResult {
    let clock = common::clock();
    common::odd_and_long_keys_are_keys_like_any_other(&limiter(&clock)).await
}

#[tokio::test]
async fn an_invalid_policy_is_a_configuration_error() -> TestResult {
    let clock = common::clock();
    common::an_invalid_policy_is_a_configuration_error(&limiter(&clock)).await
}

#[tokio::test]
async fn a_full_limiter_drops_ended_state_first_then_what_ends_soonest() -> TestResult {
    let clock = common::clock();
    // 16 keys in each of the 64 shards; 10 000 distinct keys overflow every shard many times.
    let limiter = MemoryRateLimiter::with_max_keys(clock.clone(), 1024);
    let policy = common::lockout(1, 300, 600);
    let blocked = RateKey::new("login", "victim@example.com");
    assert!(limiter.hit(&blocked, &policy).await?.is_allowed());
    clock.advance(Duration::from_secs(1));
    for i in 0..10_000 {
        let key = RateKey::new("login", format!("flood-{i}@example.com"));
        limiter.hit(&key, &common::lockout(5, 30, 600)).await?;
    }
    assert_eq!(limiter.len(), 1024, "bounded");
    // The flood's states end after 30 s, the victim's lockout after 600 s: it was kept.
    assert!(!limiter.hit(&blocked, &policy).await?.is_allowed());
    clock.advance(Duration::from_secs(30));
    assert_eq!(limiter.cleanup().await?, 1023);
    assert_eq!(limiter.len(), 1);
    assert!(!limiter.is_empty());
    Ok(())
}
