//! The one bounded, jittered retry of transactions the database aborted.

use std::time::Duration;

/// How many times [`retrying`] runs a transaction at most.
pub const MAX_ATTEMPTS: u32 = 8;

/// An error that can say whether running the whole transaction again can succeed.
///
/// Implemented by [`crate::Error`] ([`crate::Error::is_transient`]); a crate whose own error
/// wraps a [`crate::Error`] implements it by asking the wrapped one.
pub trait Retryable {
    /// Whether the database aborted the transaction with a
    /// [transient](crate::ErrorKind::Transient) error.
    fn is_transient(&self) -> bool;
}

impl Retryable for crate::Error {
    fn is_transient(&self) -> bool {
        crate::Error::is_transient(self)
    }
}

/// Runs `op` (one whole transaction, begun and committed inside it) and runs it again while it
/// fails with a transient error (deadlock, serialization failure, lock timeout, busy SQLite), at
/// most [`MAX_ATTEMPTS`] times in all, sleeping a random delay in `[0, 10 * attempt)`
/// milliseconds before each new attempt so the retried transactions spread out. Any other
/// result, and the last transient error, is returned as is.
///
/// Safe because an aborted transaction leaves nothing behind; `op` must not have effects
/// outside the transaction that a second run would repeat.
///
/// # Errors
///
/// Whatever the last run of `op` returned.
pub async fn retrying<T, E, F, Fut>(mut op: F) -> Result<T, E>
where
    E: Retryable,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(e) if attempt < MAX_ATTEMPTS && e.is_transient() => {
                tracing::debug!(
                    attempt,
                    "transaction aborted by a deadlock or lock wait: retrying"
                );
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A random delay in `[0, 10 * attempt)` milliseconds.
fn backoff(attempt: u32) -> Duration {
    let span = 10 * u64::from(attempt.max(1));
    let jitter = getrandom::u32().map_or(span / 2, |r| u64::from(r) % span);
    Duration::from_millis(jitter)
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn backoff_stays_within_its_span() {
        for attempt in 0..MAX_ATTEMPTS {
            assert!(backoff(attempt) < Duration::from_millis(10 * u64::from(attempt.max(1))));
        }
    }

    #[derive(Debug, PartialEq)]
    struct Fails(bool);

    impl Retryable for Fails {
        fn is_transient(&self) -> bool {
            self.0
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_errors_are_retried_a_bounded_number_of_times() {
        let runs = Cell::new(0);
        let r: Result<(), Fails> = retrying(|| {
            runs.set(runs.get() + 1);
            async { Err(Fails(true)) }
        })
        .await;
        assert_eq!(r, Err(Fails(true)));
        assert_eq!(runs.get(), MAX_ATTEMPTS);
    }

    #[tokio::test(start_paused = true)]
    async fn other_errors_and_successes_are_returned_at_once() {
        let runs = Cell::new(0);
        let r: Result<(), Fails> = retrying(|| {
            runs.set(runs.get() + 1);
            async { Err(Fails(false)) }
        })
        .await;
        assert_eq!(r, Err(Fails(false)));
        assert_eq!(runs.get(), 1);
        let r: Result<u32, Fails> = retrying(|| {
            runs.set(runs.get() + 1);
            let n = runs.get();
            async move { if n < 4 { Err(Fails(true)) } else { Ok(n) } }
        })
        .await;
        assert_eq!(r, Ok(4));
    }
}
