//! The verification cache of [`crate::DatabaseTokenBackend`] (see
//! [`crate::DatabaseTokenBackend::with_cache`]).
//!
//! An [`EpochCache`] keyed by the token's digest, holding the verified payload and its family, with
//! the token's expiry and the time it was read (both by the backend's injected clock); the epoch
//! protocol (see [`EpochCache`]) keeps a verify that raced an invalidation from re-inserting a
//! stale entry. On top of it: invalidation by user and by family, and the PostgreSQL listener's
//! stop handle.

#[cfg(feature = "postgres")]
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use testudo_core::{TokenPayload, TokenType};
pub use testudo_db::CacheOptions;
use testudo_db::EpochCache;

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
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) payload: TokenPayload,
    pub(crate) family_id: String,
    pub(crate) expires_at: DateTime<Utc>,
    pub(crate) cached_at: DateTime<Utc>,
}

/// The cache shared by a backend and its clones.
pub(crate) struct VerifyCache {
    entries: EpochCache<String, Entry>,
    /// Dropping it stops the revocation listener task.
    #[cfg(feature = "postgres")]
    listener: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl std::fmt::Debug for VerifyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyCache")
            .field("entries", &self.entries)
            .finish_non_exhaustive()
    }
}

impl VerifyCache {
    pub(crate) fn new(opts: &CacheOptions) -> Self {
        Self {
            entries: EpochCache::new(opts),
            #[cfg(feature = "postgres")]
            listener: Mutex::new(None),
        }
    }

    /// The cached payload for `digest` if it is a token of type `ty`, not expired and cached
    /// less than `ttl` ago at `now`.
    pub(crate) fn get(
        &self,
        digest: &str,
        ty: TokenType,
        now: DateTime<Utc>,
    ) -> Option<TokenPayload> {
        self.entries
            .get_if(digest, now, |e| e.payload.token_type == ty)
            .map(|e| e.payload)
    }

    /// The epoch to record before a database read whose result may be inserted.
    pub(crate) fn epoch(&self) -> u64 {
        self.entries.epoch()
    }

    /// Inserts a verification read from the database after `epoch` was recorded, unless an
    /// invalidation happened since.
    pub(crate) fn insert(&self, digest: String, entry: Entry, epoch: u64) {
        let (read_at, expires_at) = (entry.cached_at, entry.expires_at);
        self.entries
            .insert(digest, entry, read_at, Some(expires_at), epoch);
    }

    /// Removes the entries `keys` name, after their revocation was committed.
    pub(crate) fn invalidate(&self, keys: &[Key]) {
        if keys.is_empty() {
            return;
        }
        let tokens: Vec<&str> = keys
            .iter()
            .filter_map(|k| match k {
                Key::Token(d) => Some(d.as_str()),
                _ => None,
            })
            .collect();
        let scan = keys.iter().any(|k| !matches!(k, Key::Token(_)));
        self.entries.invalidate_where(
            &tokens,
            scan.then_some(|_: &String, e: &Entry| {
                keys.iter().any(|k| match k {
                    Key::Token(_) => false,
                    Key::User(u) => e.payload.sub == *u,
                    Key::Family(f) => e.family_id == *f,
                })
            }),
        );
    }

    /// Drops entries of tokens expired at `now` (memory only: they are never served).
    pub(crate) fn purge_expired(&self, now: DateTime<Utc>) {
        self.entries.purge_expired(now);
    }

    /// Empties the cache and sets whether it is bypassed (no hits, no inserts) from now on.
    #[cfg_attr(
        not(any(feature = "postgres", test)),
        expect(dead_code, reason = "postgres only")
    )]
    pub(crate) fn clear_and_bypass(&self, bypass: bool) {
        self.entries.clear_and_bypass(bypass);
    }

    /// Keeps the stop handle of the (new) revocation listener; a previous one stops.
    #[cfg(feature = "postgres")]
    pub(crate) fn set_listener(&self, stop: tokio::sync::oneshot::Sender<()>) {
        *self.listener.lock().unwrap_or_else(PoisonError::into_inner) = Some(stop);
    }

    /// Number of cached entries (tests and diagnostics).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
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
        use std::time::Duration;
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
