//! [`EpochCache`]: an exact in-process cache of database reads, shared by testudo's token
//! verification cache and its user cache.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Number of shards of the map: hits on different shards never contend.
const SHARDS: usize = 16;

/// Options of a cache of database reads: how long an entry may be served, how many are kept.
///
/// ```
/// use std::time::Duration;
/// use testudo_db::CacheOptions;
///
/// let opts = CacheOptions::default().ttl(Duration::from_secs(2)).capacity(50_000);
/// assert_eq!(opts.ttl, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheOptions {
    /// How long an entry may be served after it was read from the database (measured with the
    /// injected clock). This is the staleness bound across processes: a change made by another
    /// process (or directly in the database) may go unseen here for up to `ttl`. Default: 5
    /// seconds.
    pub ttl: Duration,
    /// Maximum number of entries (approximate: the bound is per shard, rounded up). Default:
    /// 10 000. Zero caches nothing.
    pub capacity: u64,
}

impl Default for CacheOptions {
    /// `ttl` 5 s (a change elsewhere is honoured here within 5 s, while a client that makes
    /// several requests a second still hits the cache), `capacity` 10 000 entries.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(5),
            capacity: 10_000,
        }
    }
}

impl CacheOptions {
    /// Options with the given `ttl` and `capacity`.
    #[must_use]
    pub fn new(ttl: Duration, capacity: u64) -> Self {
        Self { ttl, capacity }
    }

    /// Replaces `ttl`.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Replaces `capacity`.
    #[must_use]
    pub fn capacity(mut self, capacity: u64) -> Self {
        self.capacity = capacity;
        self
    }
}

/// One cached value with its times.
#[derive(Debug)]
struct Slot<V> {
    value: V,
    cached_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

type Shard<K, V> = RwLock<HashMap<K, Slot<V>>>;

/// A cache of values read from the database that a write made in this process can never leave
/// stale, by the epoch protocol:
///
/// - a write, after its commit, calls [`EpochCache::invalidate`] (or a variant), which bumps the
///   epoch and removes the affected entries under one mutex;
/// - a read that missed takes [`EpochCache::epoch`] *before* its database query, and
///   [`EpochCache::insert`] (under the same mutex) stores the result only if the epoch has not
///   moved since.
///
/// So a read that raced a write cannot put the old value back. Entries are served for at most
/// `ttl` after they were read, and never at or after their own expiry; a capacity bound drops
/// expired entries first, then an arbitrary one. Hits take a read lock on one of 16 shards.
///
/// ```
/// use std::time::Duration;
/// use testudo_db::{CacheOptions, EpochCache};
///
/// let cache: EpochCache<i64, &str> = EpochCache::new(&CacheOptions::new(Duration::from_secs(5), 100));
/// let now = chrono::Utc::now();
/// let epoch = cache.epoch(); // before the query
/// cache.invalidate(&[&7]); // a write committed meanwhile
/// cache.insert(7, "old row", now, None, epoch); // refused: the epoch moved
/// assert_eq!(cache.get(&7, now), None);
/// let epoch = cache.epoch();
/// cache.insert(7, "new row", now, None, epoch);
/// assert_eq!(cache.get(&7, now), Some("new row"));
/// ```
pub struct EpochCache<K, V> {
    ttl: chrono::Duration,
    per_shard: usize,
    shards: Box<[Shard<K, V>]>,
    /// Picks the shard (foldhash: a few nanoseconds for a 64-character digest).
    hasher: foldhash::fast::RandomState,
    epoch: AtomicU64,
    write: Mutex<()>,
    /// Set while invalidations may be missed (e.g. a lost notification channel): no hits, no
    /// inserts.
    bypass: AtomicBool,
}

impl<K, V> std::fmt::Debug for EpochCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpochCache")
            .field("ttl", &self.ttl)
            .field("per_shard", &self.per_shard)
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("bypass", &self.bypass.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl<K: Hash + Eq + Clone, V: Clone> EpochCache<K, V> {
    /// An empty cache with `options`' ttl and capacity.
    #[must_use]
    pub fn new(options: &CacheOptions) -> Self {
        let cap = usize::try_from(options.capacity).unwrap_or(usize::MAX);
        Self {
            ttl: testudo_core::saturating_chrono(options.ttl),
            per_shard: cap.div_ceil(SHARDS),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
            epoch: AtomicU64::new(0),
            write: Mutex::new(()),
            bypass: AtomicBool::new(false),
        }
    }

    fn shard_of<Q: Hash + ?Sized>(&self, key: &Q) -> usize {
        let h = self.hasher.hash_one(key);
        // SHARDS is a power of two: the low bits pick the shard.
        usize::from(u8::try_from(h & (SHARDS as u64 - 1)).unwrap_or(0))
    }

    fn shard_mut(&self, i: usize) -> RwLockWriteGuard<'_, HashMap<K, Slot<V>>> {
        self.shards[i]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self, slot: &Slot<V>, now: DateTime<Utc>) -> bool {
        now < slot.expires_at
            && now >= slot.cached_at
            && now.signed_duration_since(slot.cached_at) < self.ttl
    }

    /// The value cached for `key`, if it was read less than `ttl` before `now` and has not
    /// expired at `now`.
    pub fn get<Q>(&self, key: &Q, now: DateTime<Utc>) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_if(key, now, |_| true)
    }

    /// As [`EpochCache::get`], for a value `accept` says yes to.
    pub fn get_if<Q>(
        &self,
        key: &Q,
        now: DateTime<Utc>,
        accept: impl FnOnce(&V) -> bool,
    ) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if self.bypass.load(Ordering::Acquire) {
            return None;
        }
        let shard = self.shards[self.shard_of(key)]
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let slot = shard.get(key)?;
        (self.fresh(slot, now) && accept(&slot.value)).then(|| slot.value.clone())
    }

    /// The epoch to take before a database read whose result may be [inserted](Self::insert).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Caches `value`, read at `read_at` by a query that started at `epoch`, unless an
    /// invalidation happened since (or the cache is bypassed, or its capacity is zero).
    /// `expires_at` is the value's own expiry (`None`: only `ttl` bounds it).
    pub fn insert(
        &self,
        key: K,
        value: V,
        read_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        epoch: u64,
    ) {
        if self.per_shard == 0 {
            return;
        }
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != epoch || self.bypass.load(Ordering::Acquire) {
            return;
        }
        let mut shard = self.shard_mut(self.shard_of(&key));
        if shard.len() >= self.per_shard && !shard.contains_key(&key) {
            shard.retain(|_, s| self.fresh(s, read_at));
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop one (not LRU; its next miss re-reads it).
                if let Some(victim) = shard.keys().next().cloned() {
                    shard.remove(&victim);
                }
            }
        }
        shard.insert(
            key,
            Slot {
                value,
                cached_at: read_at,
                expires_at: expires_at.unwrap_or(DateTime::<Utc>::MAX_UTC),
            },
        );
    }

    /// Removes the entries of `keys`, after the write that changed them was committed.
    pub fn invalidate<Q>(&self, keys: &[&Q])
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.invalidate_where(keys, None::<fn(&K, &V) -> bool>);
    }

    /// Removes the entries of `keys` and, when `matching` is given, every entry it says yes to
    /// (a scan of the whole cache), in one invalidation.
    pub fn invalidate_where<Q>(&self, keys: &[&Q], matching: Option<impl Fn(&K, &V) -> bool>)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if keys.is_empty() && matching.is_none() {
            return;
        }
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for k in keys {
            self.shard_mut(self.shard_of(*k)).remove(*k);
        }
        if let Some(matching) = matching {
            for i in 0..SHARDS {
                self.shard_mut(i).retain(|k, s| !matching(k, &s.value));
            }
        }
    }

    /// Empties the cache (an invalidation of everything).
    pub fn clear(&self) {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for i in 0..SHARDS {
            self.shard_mut(i).clear();
        }
    }

    /// Empties the cache and sets whether it is bypassed from now on (no hits, no inserts):
    /// for the time invalidations may be missed.
    pub fn clear_and_bypass(&self, bypass: bool) {
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        if bypass {
            self.bypass.store(true, Ordering::Release);
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for i in 0..SHARDS {
            self.shard_mut(i).clear();
        }
        if !bypass {
            self.bypass.store(false, Ordering::Release);
        }
    }

    /// Drops the entries expired at `now` (memory only: they are never served).
    pub fn purge_expired(&self, now: DateTime<Utc>) {
        for i in 0..SHARDS {
            self.shard_mut(i).retain(|_, s| now < s.expires_at);
        }
    }

    /// Number of entries (expired ones not yet dropped included).
    #[must_use]
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }

    /// Whether the cache holds no entry.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    fn cache(ttl: u64, capacity: u64) -> EpochCache<String, u32> {
        EpochCache::new(&CacheOptions::new(Duration::from_secs(ttl), capacity))
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_inserted() {
        let c = cache(5, 100);
        let before = c.epoch();
        c.invalidate(&["other"]);
        c.insert("k".to_owned(), 1, now(), None, before);
        assert_eq!(c.get("k", now()), None);
        c.insert("k".to_owned(), 2, now(), None, c.epoch());
        assert_eq!(c.get("k", now()), Some(2));
    }

    #[test]
    fn entries_are_served_within_ttl_and_before_their_expiry() {
        let c = cache(5, 100);
        let t = now();
        let secs = chrono::Duration::seconds;
        c.insert("a".to_owned(), 1, t, None, c.epoch());
        c.insert("b".to_owned(), 2, t, Some(t + secs(2)), c.epoch());
        assert_eq!(c.get("a", t + secs(4)), Some(1));
        assert_eq!(c.get("a", t + secs(5)), None);
        assert_eq!(c.get("a", t - secs(1)), None, "read in the future of now");
        assert_eq!(c.get("b", t + secs(1)), Some(2));
        assert_eq!(c.get("b", t + secs(2)), None);
        assert_eq!(c.get_if("a", t, |v| *v == 2), None);
        c.purge_expired(t + secs(2));
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn invalidations_by_key_and_by_predicate() {
        let c = cache(5, 100);
        for (k, v) in [("a", 1), ("b", 2), ("c", 2)] {
            c.insert(k.to_owned(), v, now(), None, c.epoch());
        }
        c.invalidate_where(&["a"], Some(|_: &String, v: &u32| *v == 2));
        assert!(c.is_empty());
        c.insert("d".to_owned(), 4, now(), None, c.epoch());
        c.clear();
        assert!(c.is_empty());
    }

    #[test]
    fn capacity_and_bypass_bound_what_is_kept() {
        let c = cache(5, 32);
        for i in 0..1000 {
            c.insert(format!("{i}"), i, now(), None, c.epoch());
        }
        assert!(c.len() <= 32, "{}", c.len());
        c.clear_and_bypass(true);
        c.insert("d".to_owned(), 1, now(), None, c.epoch());
        assert!(c.is_empty());
        c.clear_and_bypass(false);
        c.insert("d".to_owned(), 1, now(), None, c.epoch());
        assert_eq!(c.get("d", now()), Some(1));
        let none = cache(5, 0);
        none.insert("d".to_owned(), 1, now(), None, none.epoch());
        assert!(none.is_empty());
    }
}
