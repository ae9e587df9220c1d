//! [`AsyncHasher`]: the async wrapper of [`PasswordHasher`], hashing off the runtime, bounded.

use std::sync::Arc;
#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use testudo_config::AuthConfig;
use tokio::sync::{OnceCell, Semaphore};

use crate::password::{check_password_length, exceeds_length};
use crate::{Error, PasswordHasher, Result, Verification};

/// How long a call waits for a hashing slot by default before [`Error::Busy`]: 10 seconds
/// (`AuthConfig::hash_queue_timeout`'s default).
pub const DEFAULT_QUEUE_TIMEOUT: Duration = Duration::from_secs(10);

/// The candidate checked by [`AsyncHasher::verify_dummy`] (and for refused inputs).
const DUMMY_PASSWORD: &str = "testudo-dummy-password";

/// Async password hashing, the async counterpart of the synchronous [`PasswordHasher`]: every
/// hash and verification runs in [`tokio::task::spawn_blocking`], at most `hash_concurrency` at a
/// time (a semaphore), so a login storm neither blocks the runtime nor holds more than
/// `hash_concurrency` Argon2 buffers.
///
/// Cloning is cheap (one `Arc`); clones share the semaphore and the dummy hash.
#[derive(Debug, Clone)]
pub struct AsyncHasher {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    hasher: PasswordHasher,
    permits: Semaphore,
    /// How long a call waits for a permit before [`Error::Busy`].
    queue_timeout: Duration,
    dummy: OnceCell<String>,
    #[cfg(feature = "test-hooks")]
    counters: Counters,
}

impl Inner {
    /// Counts one finished verification (real or dummy); nothing without `test-hooks`.
    fn record_verification(&self) {
        #[cfg(feature = "test-hooks")]
        self.counters.verifications.fetch_add(1, Ordering::SeqCst);
    }
}

/// What the `test-hooks` feature counts, shared by clones.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Default)]
struct Counters {
    verifications: AtomicU64,
    dummies: AtomicU64,
    in_flight: AtomicUsize,
    peak_in_flight: AtomicUsize,
}

/// Marks one hash or verification as running until dropped (also when the work panics).
#[cfg(feature = "test-hooks")]
struct InFlight<'a>(&'a Counters);

#[cfg(feature = "test-hooks")]
impl<'a> InFlight<'a> {
    fn enter(counters: &'a Counters) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        counters.peak_in_flight.fetch_max(now, Ordering::SeqCst);
        Self(counters)
    }
}

#[cfg(feature = "test-hooks")]
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

impl AsyncHasher {
    /// A hasher with `config`'s parameters and `hash_concurrency` permits.
    ///
    /// # Errors
    ///
    /// As [`PasswordHasher::from_config`].
    pub fn new(config: &AuthConfig) -> Result<Self> {
        Ok(Self::with_hasher(
            PasswordHasher::from_config(config)?,
            config.hash_concurrency,
        )
        .with_queue_timeout(config.hash_queue_timeout))
    }

    /// Wraps `hasher`, allowing `concurrency` hashes at once (at least one), each call waiting
    /// at most [`DEFAULT_QUEUE_TIMEOUT`] for its turn.
    #[must_use]
    pub fn with_hasher(hasher: PasswordHasher, concurrency: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                hasher,
                queue_timeout: DEFAULT_QUEUE_TIMEOUT,
                permits: Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS)),
                dummy: OnceCell::new(),
                #[cfg(feature = "test-hooks")]
                counters: Counters::default(),
            }),
        }
    }

    /// Replaces how long a call waits for a hashing slot before failing with [`Error::Busy`]
    /// (so a login storm gets a fast, typed refusal instead of an unbounded queue). Call it
    /// before cloning: clones made earlier keep the old value.
    #[must_use]
    pub fn with_queue_timeout(mut self, timeout: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.queue_timeout = timeout;
        } else {
            tracing::warn!("with_queue_timeout on a shared AsyncHasher: ignored");
        }
        self
    }

    /// The synchronous hasher inside.
    #[must_use]
    pub fn password_hasher(&self) -> &PasswordHasher {
        &self.inner.hasher
    }

    async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
    {
        let acquire = self.inner.permits.acquire();
        let _permit = tokio::time::timeout(self.inner.queue_timeout, acquire)
            .await
            .map_err(|_| Error::Busy)?
            .map_err(|e| Error::Task(Box::new(e)))?;
        testudo_core::pause::point("hashers.slot_taken").await;
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            #[cfg(feature = "test-hooks")]
            let _running = InFlight::enter(&inner.counters);
            work(&inner.hasher)
        })
        .await
        .map_err(|e| Error::Task(Box::new(e)))
    }

    /// Hashes `password` with Argon2id (see [`PasswordHasher::hash`]).
    ///
    /// # Errors
    ///
    /// As [`PasswordHasher::hash`], plus [`Error::Task`] if the blocking task fails.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn hash(&self, password: SecretString) -> Result<String> {
        // Refused before taking a hashing slot or a blocking thread (as `verify` does).
        check_password_length(
            password.expose_secret(),
            self.inner.hasher.max_password_length(),
        )?;
        self.run(move |h| h.hash(password.expose_secret())).await?
    }

    /// Verifies `password` against `stored` (see [`PasswordHasher::verify`]).
    ///
    /// To keep timing uniform, a stored value that is unusable (empty or `!...`), in no known
    /// format, malformed or over the stored-cost budget
    /// ([`PasswordHasher::accepts_stored`]), or a password longer than `max_password_length`,
    /// still costs one dummy Argon2 verification with the current parameters, and answers
    /// `valid: false`.
    ///
    /// # Errors
    ///
    /// [`Error::Task`] if the blocking task fails (never because of the inputs).
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify(&self, password: SecretString, stored: String) -> Result<Verification> {
        let refusal = self.inner.hasher.check_stored(&stored).err();
        if let Some(reason) = refusal {
            // The reason is data (format, part, measure), never the stored string.
            tracing::debug!(%reason, "stored password hash refused without verifying");
        }
        let refused = refusal.is_some()
            || exceeds_length(
                password.expose_secret(),
                self.inner.hasher.max_password_length(),
            );
        if refused {
            self.verify_dummy().await?;
            return Ok(Verification::invalid());
        }
        let verification = self
            .run(move |h| h.verify(password.expose_secret(), &stored))
            .await?;
        self.inner.record_verification();
        Ok(verification)
    }

    /// A verification that costs the same as a real Argon2 verification with the current
    /// parameters (for logins of unknown users). Its result is meaningless and discarded.
    ///
    /// The dummy hash is made once per `AsyncHasher` (shared by clones) on first use.
    ///
    /// # Errors
    ///
    /// [`Error::Task`] if the blocking task fails; [`Error::Hashing`] if making the dummy hash
    /// fails.
    #[tracing::instrument(level = "debug", skip_all)]
    pub async fn verify_dummy(&self) -> Result<()> {
        let dummy = self
            .inner
            .dummy
            .get_or_try_init(|| async { self.run(|h| h.hash(DUMMY_PASSWORD)).await? })
            .await?
            .clone();
        self.run(move |h| {
            // The candidate differs from the dummy password, so this never verifies and never
            // produces an upgrade: exactly the work of a failed login.
            let v = h.verify("testudo-not-the-dummy-password", &dummy);
            drop(v);
        })
        .await?;
        #[cfg(feature = "test-hooks")]
        self.inner.counters.dummies.fetch_add(1, Ordering::SeqCst);
        self.inner.record_verification();
        Ok(())
    }

    /// Test hook (feature `test-hooks`; not part of the public API, may change without notice):
    /// how many verifications (real and dummy) this hasher and its clones have finished. testudo's
    /// tests use it to show that unknown-user and wrong-password logins do the same work.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    #[must_use]
    pub fn verifications(&self) -> u64 {
        self.inner.counters.verifications.load(Ordering::SeqCst)
    }

    /// Test hook (feature `test-hooks`; not part of the public API, may change without notice):
    /// how many of [`AsyncHasher::verifications`] were dummy verifications.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    #[must_use]
    pub fn dummy_verifications(&self) -> u64 {
        self.inner.counters.dummies.load(Ordering::SeqCst)
    }

    /// Test hook (feature `test-hooks`; not part of the public API, may change without notice):
    /// the highest number of hashes / verifications that ran at the same time so far (never more
    /// than `hash_concurrency`).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    #[must_use]
    pub fn peak_in_flight(&self) -> usize {
        self.inner.counters.peak_in_flight.load(Ordering::SeqCst)
    }
}
