//! [`RateLimiter`]: the trait every backend implements.

use testudo_core::{Result, async_trait};

use crate::{Decision, Policy, RateKey};

/// Counts attempts per [`RateKey`] and says whether the next one may go ahead.
///
/// Held as `Arc<dyn RateLimiter>`. The built-in backends are [`MemoryRateLimiter`] (one
/// process), `DbRateLimiter` (feature `db`: every node sharing the database) and
/// `RedisRateLimiter` (feature `redis`). They share one algorithm (see [`Mode`]) and take the
/// time from an injected `Clock`.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use testudo_core::FixedClock;
/// use testudo_throttle::{Decision, MemoryRateLimiter, Mode, Policy, RateKey, RateLimiter};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> testudo_core::Result<()> {
/// let clock = Arc::new(FixedClock::from_unix(1_700_000_000)?);
/// let limiter: Arc<dyn RateLimiter> = Arc::new(MemoryRateLimiter::new(clock.clone()));
/// let policy = Policy {
///     max_attempts: 2,
///     window: Duration::from_secs(300),
///     mode: Mode::Lockout { lockout: Duration::from_secs(600) },
/// };
/// let key = RateKey::new("login", "alice@example.com");
/// assert_eq!(limiter.hit(&key, &policy).await?, Decision::Allowed { remaining: 1 });
/// assert_eq!(limiter.hit(&key, &policy).await?, Decision::Allowed { remaining: 0 });
/// clock.advance(Duration::from_secs(100));
/// assert_eq!(
///     limiter.hit(&key, &policy).await?,
///     Decision::Limited { retry_after: Duration::from_secs(500) }
/// );
/// limiter.reset(&key).await?; // a successful login
/// assert!(limiter.hit(&key, &policy).await?.is_allowed());
/// # Ok(()) }
/// ```
///
/// [`MemoryRateLimiter`]: crate::MemoryRateLimiter
/// [`Mode`]: crate::Mode
#[async_trait]
pub trait RateLimiter: Send + Sync + std::fmt::Debug {
    /// Checks and records one attempt of `key` under `policy`, as one atomic step: of N
    /// parallel attempts (on any number of nodes sharing the backend) at most the allowed
    /// number get [`Decision::Allowed`].
    ///
    /// An allowed attempt is counted. A refused one never extends the wait that refused it (so
    /// `retry_after` is exact, and no flood of refused attempts locks a key forever); the
    /// escalating mode counts it towards the next wait, the lockout does not count it at all.
    /// `hit` is about one key: to limit an identifier and an (identifier, address) pair, hit
    /// both.
    ///
    /// # Errors
    ///
    /// [`Configuration`](testudo_core::Error::Configuration) for a policy that fails
    /// [`Policy::validate`]; [`Storage`](testudo_core::Error::Storage) when the backend fails.
    async fn hit(&self, key: &RateKey, policy: &Policy) -> Result<Decision>;

    /// Forgets `key` (a successful login resets the identifier's counter).
    ///
    /// # Errors
    ///
    /// [`Storage`](testudo_core::Error::Storage) when the backend fails.
    async fn reset(&self, key: &RateKey) -> Result<()>;

    /// Deletes the state of every key whose window has ended and that is not blocked (what a
    /// later attempt would start afresh anyway); returns how many keys went.
    ///
    /// Each key's state carries its own end (set by the policy of its attempts), so one call
    /// cleans up every scope whatever its policy. Redis expires its keys by itself: there this
    /// returns 0.
    ///
    /// # Errors
    ///
    /// [`Storage`](testudo_core::Error::Storage) when the backend fails.
    async fn cleanup(&self) -> Result<u64>;
}
