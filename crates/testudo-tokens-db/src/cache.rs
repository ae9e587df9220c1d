//! The verification cache of [`crate::DatabaseTokenBackend`] (see
//! [`crate::DatabaseTokenBackend::with_cache`]).
//!
//! Entries are keyed by the token's digest and hold the verified payload, the token's expiry and
//! the time they were cached (both by the backend's injected clock). A hit is a read lock on one
//! of [`SHARDS`] shards; misses and invalidations follow an epoch protocol so that a verify that
//! raced with an invalidation never re-inserts a stale entry:
//!
//! - an invalidation (after the database commit) takes the `write` mutex, bumps `epoch` and
//!   removes the affected entries;
//! - a miss records `epoch` before its database read and inserts, under the same mutex, only if
//!   `epoch` has not moved.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, RwLock, RwLockWriteGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use testudo_core::{TokenPayload, TokenType};

/// Number of shards of the cache map (hits on different shards never contend).
const SHARDS: usize = 16;

/// Options of the verification cache; see [`crate::DatabaseTokenBackend::with_cache`].
///
/// ```
/// use std::time::Duration;
/// use testudo_tokens_db::CacheOptions;
///
/// let opts = CacheOptions::default().ttl(Duration::from_secs(2)).capacity(50_000);
/// assert_eq!(opts.ttl, Duration::from_secs(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheOptions {
    /// How long an entry may be served after it was verified against the database (measured
    /// with the backend's clock). This is the staleness bound across processes: a token revoked
    /// through another process (or directly in the database) may still be accepted here for up
    /// to `ttl`, unless PostgreSQL LISTEN/NOTIFY is on (see
    /// `DatabaseTokenBackend::listen_for_revocations`). Default: 5 seconds.
    pub ttl: Duration,
    /// Maximum number of cached tokens (approximate: the bound is per shard, rounded up).
    /// Default: 10 000. Zero caches nothing.
    pub capacity: u64,
}

impl Default for CacheOptions {
    /// `ttl` 5 s (a revocation elsewhere is honoured here within 5 s, while a client that makes
    /// several requests a second still hits the cache), `capacity` 10 000 tokens (a few MB).
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

/// What an invalidating write revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Key {
    /// One token, by digest.
    Token(String),
    /// Every token of a user.
    User(String),
    /// Every token of a family.
    Family(String),
}

impl Key {
    /// The notification payload (`t:`, `u:` or `f:` and the value).
    pub(crate) fn encode(&self) -> String {
        match self {
            Self::Token(d) => format!("t:{d}"),
            Self::User(u) => format!("u:{u}"),
            Self::Family(f) => format!("f:{f}"),
        }
    }

    /// Parses a notification payload.
    #[cfg_attr(
        not(any(feature = "postgres", test)),
        expect(dead_code, reason = "postgres only")
    )]
    pub(crate) fn decode(s: &str) -> Option<Self> {
        let (kind, value) = s.split_at_checked(2)?;
        let value = value.to_owned();
        match kind {
            "t:" => Some(Self::Token(value)),
            "u:" => Some(Self::User(value)),
            "f:" => Some(Self::Family(value)),
            _ => None,
        }
    }
}

/// One cached verification.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) payload: TokenPayload,
    pub(crate) family_id: String,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) cached_at: DateTime<Utc>,
}

type Shard = RwLock<HashMap<String, Entry>>;

/// The cache shared by a backend and its clones.
pub(crate) struct VerifyCache {
    ttl: chrono::Duration,
    per_shard: usize,
    shards: Box<[Shard]>,
    epoch: AtomicU64,
    write: Mutex<()>,
    /// Set while the PostgreSQL revocation listener is not connected: no hits, no inserts.
    bypass: AtomicBool,
    /// Dropping it stops the revocation listener task.
    #[cfg(feature = "postgres")]
    listener: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl std::fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCache")
            .field("ttl", &self.ttl)
            .field("per_shard", &self.per_shard)
            .field("epoch", &self.epoch.load(Ordering::Relaxed))
            .field("bypass", &self.bypass.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

fn shard_of(digest: &str) -> usize {
    // Digests are uniformly distributed hex: the first two digits pick the shard.
    digest.bytes().take(2).fold(0usize, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(usize::from(b))
    }) % SHARDS
}

impl VerifyCache {
    pub(crate) fn new(opts: &CacheOptions) -> Self {
        let cap = usize::try_from(opts.capacity).unwrap_or(usize::MAX);
        Self {
            ttl: chrono::Duration::from_std(opts.ttl).unwrap_or(chrono::Duration::MAX),
            per_shard: cap.div_ceil(SHARDS),
            shards: (0..SHARDS).map(|_| RwLock::default()).collect(),
            epoch: AtomicU64::new(0),
            write: Mutex::new(()),
            bypass: AtomicBool::new(false),
            #[cfg(feature = "postgres")]
            listener: Mutex::new(None),
        }
    }

    fn fresh(&self, e: &Entry, now: DateTime<Utc>) -> bool {
        now < e.expires_at
            && now >= e.cached_at
            && now.signed_duration_since(e.cached_at) < self.ttl
    }

    fn shard_mut(&self, i: usize) -> RwLockWriteGuard<'_, HashMap<String, Entry>> {
        self.shards[i]
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached payload for `digest` if it is a token of type `ty`, not expired and cached
    /// less than `ttl` ago at `now`.
    pub(crate) fn get(
        &self,
        digest: &str,
        ty: TokenType,
        now: DateTime<Utc>,
    ) -> Option<TokenPayload> {
        if self.bypass.load(Ordering::Acquire) {
            return None;
        }
        let shard = self.shards[shard_of(digest)]
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let e = shard.get(digest)?;
        (e.payload.token_type == ty && self.fresh(e, now)).then(|| e.payload.clone())
    }

    /// The epoch to record before a database read whose result may be inserted.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Inserts a verification read from the database after `epoch` was recorded, unless an
    /// invalidation happened since.
    pub(crate) fn insert(&self, digest: String, entry: Entry, epoch: u64) {
        if self.per_shard == 0 {
            return;
        }
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        if self.epoch.load(Ordering::Acquire) != epoch || self.bypass.load(Ordering::Acquire) {
            return;
        }
        let now = entry.cached_at;
        let mut shard = self.shard_mut(shard_of(&digest));
        if shard.len() >= self.per_shard && !shard.contains_key(&digest) {
            shard.retain(|_, e| self.fresh(e, now));
            if shard.len() >= self.per_shard {
                // Still full of live entries: drop one (not LRU; the next miss re-reads it).
                if let Some(k) = shard.keys().next().cloned() {
                    shard.remove(&k);
                }
            }
        }
        shard.insert(digest, entry);
    }

    /// Removes the entries `keys` name, after their revocation was committed.
    pub(crate) fn invalidate(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        let _w = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let scan = keys.iter().any(|k| !matches!(k, Key::Token(_)));
        for k in keys {
            if let Key::Token(d) = k {
                self.shard_mut(shard_of(d)).remove(d);
            }
        }
        if scan {
            for i in 0..SHARDS {
                self.shard_mut(i).retain(|_, e| {
                    !keys.iter().any(|k| match k {
                        Key::Token(_) => false,
                        Key::User(u) => e.payload.sub == *u,
                        Key::Family(f) => e.family_id == *f,
                    })
                });
            }
        }
    }

    /// Drops entries of tokens expired at `now` (memory only: they are never served).
    pub(crate) fn purge_expired(&self, now: DateTime<Utc>) {
        for i in 0..SHARDS {
            self.shard_mut(i).retain(|_, e| now < e.expires_at);
        }
    }

    /// Empties the cache and sets whether it is bypassed (no hits, no inserts) from now on.
    #[cfg_attr(
        not(any(feature = "postgres", test)),
        expect(dead_code, reason = "postgres only")
    )]
    pub(crate) fn clear_and_bypass(&self, bypass: bool) {
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

    /// Keeps the stop handle of the (new) revocation listener; a previous one stops.
    #[cfg(feature = "postgres")]
    pub(crate) fn set_listener(&self, stop: tokio::sync::oneshot::Sender<()>) {
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(stop);
    }

    /// Number of cached entries (tests and diagnostics).
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(PoisonError::into_inner).len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str, family: &str, at: DateTime<Utc>) -> Entry {
        Entry {
            payload: TokenPayload {
                sub: user.to_owned(),
                token_type: TokenType::Access,
                jti: "j".to_owned(),
                iat: at.timestamp(),
                exp: at.timestamp() + 900,
                extra: None,
            },
            family_id: family.to_owned(),
            expires_at: at + chrono::Duration::seconds(900),
            cached_at: at,
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }

    #[test]
    fn a_read_that_raced_an_invalidation_is_not_inserted() {
        let c = VerifyCache::new(&CacheOptions::default());
        let before = c.epoch();
        // An invalidation of anything lands between the read and the insert.
        c.invalidate(&[Key::Token("other".to_owned())]);
        c.insert("d".to_owned(), entry("u", "f", now()), before);
        assert!(c.get("d", TokenType::Access, now()).is_none());
        c.insert("d".to_owned(), entry("u", "f", now()), c.epoch());
        assert!(c.get("d", TokenType::Access, now()).is_some());
    }

    #[test]
    fn ttl_expiry_type_user_family() {
        let c = VerifyCache::new(&CacheOptions::default().ttl(Duration::from_secs(5)));
        let t = now();
        for (d, u, f) in [("a", "u1", "f1"), ("b", "u1", "f2"), ("c", "u2", "f3")] {
            c.insert(d.to_owned(), entry(u, f, t), c.epoch());
        }
        assert!(c.get("a", TokenType::Refresh, t).is_none());
        assert!(
            c.get("a", TokenType::Access, t + chrono::Duration::seconds(4))
                .is_some()
        );
        assert!(
            c.get("a", TokenType::Access, t + chrono::Duration::seconds(5))
                .is_none()
        );
        c.invalidate(&[Key::Family("f2".to_owned())]);
        assert_eq!(c.len(), 2);
        c.invalidate(&[Key::User("u1".to_owned())]);
        assert_eq!(c.len(), 1);
        assert!(c.get("c", TokenType::Access, t).is_some());
        c.purge_expired(t + chrono::Duration::seconds(900));
        assert_eq!(c.len(), 0);
    }

    #[test]
    fn capacity_and_bypass() {
        let c = VerifyCache::new(&CacheOptions::default().capacity(32));
        for i in 0..1000 {
            c.insert(format!("{i:064x}"), entry("u", "f", now()), c.epoch());
        }
        assert!(c.len() <= 32, "{}", c.len());
        c.clear_and_bypass(true);
        c.insert("d".to_owned(), entry("u", "f", now()), c.epoch());
        assert_eq!(c.len(), 0);
        c.clear_and_bypass(false);
        c.insert("d".to_owned(), entry("u", "f", now()), c.epoch());
        assert!(c.get("d", TokenType::Access, now()).is_some());
        let none = VerifyCache::new(&CacheOptions::default().capacity(0));
        none.insert("d".to_owned(), entry("u", "f", now()), none.epoch());
        assert_eq!(none.len(), 0);
        assert_eq!(
            Key::decode(&Key::User("x:y".into()).encode()),
            Some(Key::User("x:y".into()))
        );
        assert_eq!(Key::decode("zz"), None);
    }
}
