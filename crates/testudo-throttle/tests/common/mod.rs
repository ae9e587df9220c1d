//! The behaviour every backend shares, written once: each test file runs these against its
//! backend, with a fixed clock (nothing sleeps).

#![allow(dead_code, reason = "each test file uses the parts it needs")]

use std::io::Write as _;
use std::net::IpAddr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use testudo_core::{Clock, FixedClock};
use testudo_test_support::TestResult;
use testudo_throttle::{Decision, Mode, Policy, RateKey, RateLimiter};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The fixed start of every test's clock (µs precision), 2026-12-01T00:00:00Z.
pub(crate) const START: i64 = 1_796_083_200;

pub(crate) fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::from_unix(START).expect("in range"))
}

pub(crate) fn lockout(max_attempts: u32, window: u64, lockout: u64) -> Policy {
    Policy {
        max_attempts,
        window: Duration::from_secs(window),
        mode: Mode::Lockout {
            lockout: Duration::from_secs(lockout),
        },
    }
}

pub(crate) fn escalating(max_attempts: u32, window: u64, base: u64, max: u64) -> Policy {
    Policy {
        max_attempts,
        window: Duration::from_secs(window),
        mode: Mode::Escalating {
            base: Duration::from_secs(base),
            max: Duration::from_secs(max),
        },
    }
}

fn allowed(remaining: u32) -> Decision {
    Decision::Allowed { remaining }
}

fn limited(retry_after: Duration) -> Decision {
    Decision::Limited { retry_after }
}

const SEC: Duration = Duration::from_secs(1);
const MICRO: Duration = Duration::from_micros(1);

/// 50 parallel hits (spawned tasks, released together) against a limit of 5 allow exactly 5.
pub(crate) async fn fifty_parallel_hits_allow_exactly_five(
    limiter: Arc<dyn RateLimiter>,
) -> TestResult {
    let allowed = parallel_hits(limiter, "parallel@example.com", 50).await?;
    assert_eq!(allowed, 5, "allowed of 50 parallel hits");
    Ok(())
}

/// `n` parallel hits of one key under a lockout policy of 5; how many were allowed.
pub(crate) async fn parallel_hits(
    limiter: Arc<dyn RateLimiter>,
    identifier: &str,
    n: usize,
) -> TestResult<u32> {
    let policy = lockout(5, 300, 600);
    let key = RateKey::new("login", identifier);
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (limiter, key, barrier) = (limiter.clone(), key.clone(), barrier.clone());
            tokio::spawn(async move {
                barrier.wait().await;
                limiter.hit(&key, &policy).await
            })
        })
        .collect();
    let mut count = 0;
    for task in tasks {
        if task.await??.is_allowed() {
            count += 1;
        }
    }
    Ok(count)
}

/// Lockout: exact seconds left at any time, refused attempts change nothing, the lockout ends
/// exactly `lockout` after the attempt that reached the limit.
pub(crate) async fn lockout_retry_after_is_exact_across_the_window(
    limiter: &dyn RateLimiter,
    clock: &FixedClock,
) -> TestResult {
    let policy = lockout(5, 300, 600);
    let key = RateKey::new("login", "lockout@example.com");
    for remaining in (0..5).rev() {
        assert_eq!(limiter.hit(&key, &policy).await?, allowed(remaining));
        clock.advance(10 * SEC);
    }
    // The fifth attempt, at +40 s, reached the limit: refused until +640 s.
    assert_eq!(limiter.hit(&key, &policy).await?, limited(590 * SEC));
    clock.advance(50 * SEC);
    assert_eq!(limiter.hit(&key, &policy).await?, limited(540 * SEC));
    for _ in 0..20 {
        assert_eq!(limiter.hit(&key, &policy).await?, limited(540 * SEC));
    }
    clock.advance(540 * SEC - MICRO);
    assert_eq!(limiter.hit(&key, &policy).await?, limited(MICRO));
    assert_eq!(
        limiter.hit(&key, &policy).await?.retry_after_secs(),
        Some(1)
    );
    clock.advance(MICRO);
    // The lockout is over and so is the window: counting starts over.
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(4));
    Ok(())
}

/// A lockout shorter than the window: once it ends, the next attempt is allowed and, still
/// over the limit in the window, locks again; after the window counting starts over.
pub(crate) async fn a_lockout_inside_the_window_locks_again_until_the_window_ends(
    limiter: &dyn RateLimiter,
    clock: &FixedClock,
) -> TestResult {
    let policy = lockout(2, 300, 60);
    let key = RateKey::new("login", "short-lockout@example.com");
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(1));
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(0));
    assert_eq!(limiter.hit(&key, &policy).await?, limited(60 * SEC));
    clock.advance(60 * SEC);
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(0));
    assert_eq!(limiter.hit(&key, &policy).await?, limited(60 * SEC));
    clock.advance(240 * SEC);
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(1));
    Ok(())
}

/// Escalating: each wait doubles per counted attempt past the limit (refused ones count, but
/// never move the current wait), capped; a quiet window after the last wait starts over.
pub(crate) async fn escalating_waits_double_and_stop_at_the_cap(
    limiter: &dyn RateLimiter,
    clock: &FixedClock,
) -> TestResult {
    let policy = escalating(3, 300, 1, 8);
    let key = RateKey::new("login", "escalating@example.com");
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(2));
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(1));
    // The third attempt reaches the limit: the next waits the base, 1 s.
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(0));
    assert_eq!(limiter.hit(&key, &policy).await?, limited(SEC));
    clock.advance(SEC / 2);
    // Refused attempts never move the end of the wait.
    assert_eq!(limiter.hit(&key, &policy).await?, limited(SEC / 2));
    clock.advance(SEC / 2);
    // Allowed: count 6 (two refused counted), so the next wait is 1 s * 2^3 = 8 s (the cap).
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(0));
    assert_eq!(limiter.hit(&key, &policy).await?, limited(8 * SEC));
    clock.advance(8 * SEC);
    assert_eq!(limiter.hit(&key, &policy).await?, allowed(0));
    assert_eq!(
        limiter.hit(&key, &policy).await?,
        limited(8 * SEC),
        "capped"
    );

    // A key that waits out every delay without a refused attempt: 1, 2, 4, 8, 8 s.
    let patient = RateKey::new("login", "patient@example.com");
    for _ in 0..3 {
        limiter.hit(&patient, &policy).await?;
    }
    for wait in [1, 2, 4, 8, 8] {
        clock.advance(wait * SEC);
        assert_eq!(
            limiter.hit(&patient, &policy).await?,
            allowed(0),
            "allowed once the {wait} s wait is over"
        );
    }
    // The latest wait (8 s) ends, then a quiet window: counting starts over.
    clock.advance(8 * SEC + 300 * SEC);
    assert_eq!(limiter.hit(&patient, &policy).await?, allowed(2));
    Ok(())
}

/// The window ends `window` after the first attempt, and then counting starts over.
pub(crate) async fn the_window_ends_and_lets_attempts_through_again(
    limiter: &dyn RateLimiter,
    clock: &FixedClock,
) -> TestResult {
    for policy in [lockout(5, 300, 600), escalating(5, 300, 1, 600)] {
        let key = RateKey::new("login", format!("window-{:?}@example.com", policy.mode));
        for remaining in [4, 3, 2] {
            assert_eq!(limiter.hit(&key, &policy).await?, allowed(remaining));
        }
        clock.advance(300 * SEC - MICRO);
        assert_eq!(limiter.hit(&key, &policy).await?, allowed(1));
        clock.advance(MICRO);
        assert_eq!(limiter.hit(&key, &policy).await?, allowed(4));
    }
    Ok(())
}

/// `reset` forgets one key, and only that one.
pub(crate) async fn reset_clears_the_key_and_only_it(limiter: &dyn RateLimiter) -> TestResult {
    let policy = lockout(2, 300, 600);
    let a = RateKey::new("login", "reset-a@example.com");
    let b = RateKey::new("login", "reset-b@example.com");
    limiter.hit(&a, &policy).await?;
    limiter.hit(&a, &policy).await?;
    assert!(!limiter.hit(&a, &policy).await?.is_allowed());
    assert_eq!(limiter.hit(&b, &policy).await?, allowed(1));
    limiter.reset(&a).await?;
    assert_eq!(limiter.hit(&a, &policy).await?, allowed(1));
    assert_eq!(limiter.hit(&b, &policy).await?, allowed(0));
    limiter
        .reset(&RateKey::new("login", "never-seen@example.com"))
        .await?;
    Ok(())
}

/// `cleanup` removes the state of keys whose window ended and that are not blocked, whatever
/// policy each was hit with, and says how many (`counts`: false for Redis, whose keys expire by
/// themselves and whose cleanup returns 0).
pub(crate) async fn cleanup_removes_ended_state_and_counts_it(
    limiter: &dyn RateLimiter,
    clock: &FixedClock,
    counts: bool,
) -> TestResult {
    let short = lockout(5, 300, 600);
    let long = lockout(5, 3600, 600);
    let ends_at_300 = RateKey::new("login", "cleanup-1@example.com");
    let blocked_to_600 = RateKey::new("login", "cleanup-2@example.com");
    let ends_at_3600 = RateKey::new("reset", "cleanup-3@example.com");
    limiter.hit(&ends_at_300, &short).await?;
    for _ in 0..5 {
        limiter.hit(&blocked_to_600, &short).await?;
    }
    limiter.hit(&ends_at_3600, &long).await?;
    assert_eq!(limiter.cleanup().await?, 0, "nothing has ended yet");
    clock.advance(300 * SEC);
    assert_eq!(limiter.cleanup().await?, u64::from(counts));
    assert!(!limiter.hit(&blocked_to_600, &short).await?.is_allowed());
    clock.advance(300 * SEC);
    assert_eq!(limiter.cleanup().await?, u64::from(counts));
    // What cleanup removed starts afresh, what it kept keeps counting.
    assert_eq!(limiter.hit(&blocked_to_600, &short).await?, allowed(4));
    assert_eq!(limiter.hit(&ends_at_3600, &long).await?, allowed(3));
    Ok(())
}

/// An empty identifier and a 1 MiB one are keys like any other (stored as digests), distinct
/// from their neighbours; scopes and addresses make other keys.
pub(crate) async fn odd_and_long_keys_are_keys_like_any_other(
    limiter: &dyn RateLimiter,
) -> TestResult {
    let policy = lockout(1, 300, 600);
    let huge = "x".repeat(1 << 20);
    let mut huge_neighbour = huge.clone();
    huge_neighbour.pop();
    huge_neighbour.push('y');
    let ip = IpAddr::from([192, 0, 2, 1]);
    let keys = [
        RateKey::new("login", ""),
        RateKey::new("", ""),
        RateKey::new("login", huge.clone()),
        RateKey::new("login", huge_neighbour),
        RateKey::new("login", huge).with_ip(ip),
        RateKey::new("login", "ab").with_ip(ip),
        RateKey::new("reset", "ab").with_ip(ip),
        RateKey::new("login", "ab"),
        RateKey::new("login", "a\u{0}b"),
    ];
    for key in &keys {
        assert_eq!(limiter.hit(key, &policy).await?, allowed(0), "{key:?}");
    }
    for key in &keys {
        assert!(!limiter.hit(key, &policy).await?.is_allowed(), "{key:?}");
    }
    Ok(())
}

/// A policy that limits nothing is refused as a configuration error, before any I/O.
pub(crate) async fn an_invalid_policy_is_a_configuration_error(
    limiter: &dyn RateLimiter,
) -> TestResult {
    let key = RateKey::new("login", "policy@example.com");
    for policy in [
        lockout(0, 300, 600),
        lockout(5, 0, 600),
        escalating(5, 300, 2, 1),
    ] {
        let result = limiter.hit(&key, &policy).await;
        assert!(
            matches!(result, Err(testudo_core::Error::Configuration(_))),
            "{policy:?}: {result:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Two processes sharing one backend.

/// Set in a child process: the role it plays.
pub(crate) const CHILD_ENV: &str = "TESTUDO_THROTTLE_CHILD";
/// The backend's URL, for the child.
pub(crate) const CHILD_URL_ENV: &str = "TESTUDO_THROTTLE_CHILD_URL";
/// The Redis key prefix, for the child.
pub(crate) const CHILD_PREFIX_ENV: &str = "TESTUDO_THROTTLE_CHILD_PREFIX";
/// The child's fixed clock, in Unix seconds.
pub(crate) const CHILD_NOW_ENV: &str = "TESTUDO_THROTTLE_CHILD_NOW";
/// The identifier both processes hit.
pub(crate) const SHARED_IDENTIFIER: &str = "two-processes@example.com";

/// Whether this process is a child of [`two_processes_allow_exactly_five`].
pub(crate) fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The child's part: say ready, wait for the go on stdin, do 25 parallel hits, say how many
/// were allowed.
pub(crate) async fn child(limiter: Arc<dyn RateLimiter>) -> TestResult {
    let mut out = std::io::stdout();
    writeln!(out, "throttle-child ready")?;
    out.flush()?;
    let mut go = String::new();
    BufReader::new(tokio::io::stdin())
        .read_line(&mut go)
        .await?;
    let allowed = parallel_hits(limiter, SHARED_IDENTIFIER, 25).await?;
    writeln!(out, "throttle-child allowed={allowed}")?;
    out.flush()?;
    Ok(())
}

/// Runs this test binary's test `test` twice as child processes (with `envs` and the clock's
/// time), releases both at once when both are ready, and returns the sum of their allowed hits.
pub(crate) async fn two_processes_allow_exactly_five(
    test: &str,
    envs: &[(&str, String)],
    clock: &FixedClock,
) -> TestResult {
    let exe = std::env::current_exe()?;
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut cmd = tokio::process::Command::new(&exe);
        cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, "1")
            .env(CHILD_NOW_ENV, clock.unix_seconds().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        children.push(cmd.spawn()?);
    }
    let work = async {
        let mut lines = Vec::new();
        for child in &mut children {
            let stdout = child.stdout.take().ok_or("no stdout")?;
            let mut reader = BufReader::new(stdout).lines();
            loop {
                let line = reader
                    .next_line()
                    .await?
                    .ok_or("child ended before ready")?;
                // libtest writes `test NAME ... ` before the test's own output, on that line.
                if line.ends_with("throttle-child ready") {
                    break;
                }
            }
            lines.push(reader);
        }
        for child in &mut children {
            let mut stdin = child.stdin.take().ok_or("no stdin")?;
            stdin.write_all(b"go\n").await?;
        }
        let mut total = 0u32;
        for mut reader in lines {
            loop {
                let line = reader
                    .next_line()
                    .await?
                    .ok_or("child ended without a count")?;
                if let Some((_, n)) = line.split_once("throttle-child allowed=") {
                    total += n.parse::<u32>()?;
                    break;
                }
            }
            // Read the rest (libtest's summary), so the child never writes to a closed pipe.
            while reader.next_line().await?.is_some() {}
        }
        for child in &mut children {
            let status = child.wait().await?;
            assert!(status.success(), "child failed: {status}");
        }
        TestResult::Ok(total)
    };
    let total = tokio::time::timeout(Duration::from_secs(120), work)
        .await
        .map_err(|_| "the child processes did not finish within 120 s")??;
    assert_eq!(total, 5, "allowed of 2 x 25 hits in two processes");
    Ok(())
}

/// The child's fixed clock.
pub(crate) fn child_clock() -> TestResult<Arc<dyn Clock>> {
    let now: i64 = std::env::var(CHILD_NOW_ENV)?.parse()?;
    Ok(Arc::new(FixedClock::from_unix(now)?))
}
