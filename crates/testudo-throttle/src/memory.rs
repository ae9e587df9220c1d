//! [`MemoryRateLimiter`]: the in-process backend.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use foldhash::fast::RandomState;
use testudo_core::{Clock, Result, async_trait};

use crate::policy::State;
use crate::{Decision, Policy, RateKey, RateLimiter};

/// How many keys a [`MemoryRateLimiter`] keeps by default: 100 000 (about 10 MB).
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// The number of independently locked shards.
const SHARDS: usize = 64;

type Shard = HashMap<[u8; 32], State, RandomState>;

/// Rate limiting in this process's memory: exact and fast (no I/O), but each process counts
/// alone, so use it for a single node (several nodes share a `DbRateLimiter` or a
/// `RedisRateLimiter`).
///
/// Keys are kept by their SHA-256 digest in 64 shards, each behind its own mutex and hashed
/// with a per-process random seed (a client cannot aim its keys at one shard). Memory is
/// bounded: at most `max_keys` keys (default [`DEFAULT_MAX_KEYS`]). When a shard is full, the
/// keys it no longer needs go first, then the key whose state ends soonest (the one that
/// protects the least), so a flood of new keys can cost a blocked key its state only after it
/// pushed out every key ending sooner. Call [`RateLimiter::cleanup`] now and then to free
/// forgotten keys early.
pub struct MemoryRateLimiter {
    shards: Box<[Mutex<Shard>]>,
    /// Chooses the shard of a digest (seeded per limiter).
    seed: RandomState,
    per_shard: usize,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for MemoryRateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryRateLimiter")
            .field("max_keys", &(self.per_shard * SHARDS))
            .finish_non_exhaustive()
    }
}

impl MemoryRateLimiter {
    /// An empty limiter reading the time from `clock`, keeping at most [`DEFAULT_MAX_KEYS`].
    #[must_use]
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self::with_max_keys(clock, DEFAULT_MAX_KEYS)
    }

    /// As [`MemoryRateLimiter::new`], keeping at most about `max_keys` keys (rounded up to a
    /// multiple of the 64 shards).
    #[must_use]
    pub fn with_max_keys(clock: Arc<dyn Clock>, max_keys: usize) -> Self {
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(HashMap::with_hasher(RandomState::default())))
                .collect(),
            seed: RandomState::default(),
            per_shard: max_keys.div_ceil(SHARDS).max(1),
            clock,
        }
    }

    /// How many keys are kept now.
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| lock(s).len()).sum()
    }

    /// Whether no key is kept.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, digest: &[u8; 32]) -> MutexGuard<'_, Shard> {
        let h = self.seed.hash_one(digest);
        let index = usize::try_from(h >> 58).unwrap_or(0) % SHARDS;
        lock(&self.shards[index])
    }
}

/// The shard's map; a panic while it was held cannot leave it inconsistent (every update is
/// one insert), so a poisoned lock is used as it is.
fn lock(shard: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    shard.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Makes room for one more key in a shard holding `limit` keys: drops the states that have
/// ended, then, if that freed nothing, the state that ends soonest.
fn make_room(shard: &mut Shard, limit: usize, now: i64) {
    shard.retain(|_, s| s.expires_at() > now);
    if shard.len() < limit {
        return;
    }
    if let Some(victim) = shard
        .iter()
        .min_by_key(|(_, s)| s.expires_at())
        .map(|(k, _)| *k)
    {
        shard.remove(&victim);
        tracing::debug!("memory rate limiter full: dropped the state that ends soonest");
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &RateKey, policy: &Policy) -> Result<Decision> {
        let params = policy.params()?;
        let digest = key.digest();
        let now = self.clock.now().timestamp_micros();
        let mut shard = self.shard(&digest);
        let old = shard.get(&digest).copied();
        if old.is_none() && shard.len() >= self.per_shard {
            make_room(&mut shard, self.per_shard, now);
        }
        let (state, allowed) = params.hit(old, now);
        shard.insert(digest, state);
        drop(shard);
        Ok(params.decision(&state, allowed, now))
    }

    async fn reset(&self, key: &RateKey) -> Result<()> {
        let digest = key.digest();
        self.shard(&digest).remove(&digest);
        Ok(())
    }

    async fn cleanup(&self) -> Result<u64> {
        let now = self.clock.now().timestamp_micros();
        let mut removed = 0u64;
        for shard in &self.shards {
            let mut shard = lock(shard);
            let before = shard.len();
            shard.retain(|_, s| s.expires_at() > now);
            removed += (before - shard.len()) as u64;
        }
        Ok(removed)
    }
}
