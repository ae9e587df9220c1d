//! Injectable time source, so expiry is decided by one clock and tested without sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::{Error, Result};

/// A source of the current time.
///
/// Every place in testudo that decides expiry reads the time from a `Clock` it was given, so a
/// test can use [`FixedClock`] and move time forward instead of sleeping.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current time, in UTC.
    fn now(&self) -> DateTime<Utc>;

    /// The current time in whole seconds since the Unix epoch (floored).
    fn unix_seconds(&self) -> i64 {
        self.now().timestamp()
    }
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until told to move; for tests.
///
/// It is shared safely between tasks (`Arc<FixedClock>`), and [`FixedClock::advance`] /
/// [`FixedClock::set`] are seen by every holder at once.
pub struct FixedClock {
    micros: AtomicI64,
}

impl FixedClock {
    /// A clock fixed at `at` (microsecond precision).
    #[must_use]
    pub fn new(at: DateTime<Utc>) -> Self {
        Self {
            micros: AtomicI64::new(at.timestamp_micros()),
        }
    }

    /// A clock fixed at `seconds` after the Unix epoch.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] if the time is outside what `chrono` can represent.
    pub fn from_unix(seconds: i64) -> Result<Self> {
        DateTime::from_timestamp(seconds, 0)
            .map(Self::new)
            .ok_or_else(|| Error::configuration("clock: time out of range"))
    }

    /// Moves the clock to `at`.
    pub fn set(&self, at: DateTime<Utc>) {
        self.micros.store(at.timestamp_micros(), Ordering::SeqCst);
    }

    /// Moves the clock forward by `by` (saturating at the largest representable time).
    pub fn advance(&self, by: Duration) {
        let delta = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let _ = self
            .micros
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |m| {
                Some(m.saturating_add(delta))
            });
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        let micros = self.micros.load(Ordering::SeqCst);
        DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl fmt::Debug for FixedClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FixedClock").field(&self.now()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn fixed_clock_stands_still_until_moved() -> Result<()> {
        let clock = FixedClock::from_unix(1_700_000_000)?;
        assert_eq!(clock.unix_seconds(), 1_700_000_000);
        assert_eq!(clock.now(), clock.now());
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.unix_seconds(), 1_700_000_001);
        assert_eq!(clock.now().timestamp_subsec_millis(), 500);
        let later = DateTime::from_timestamp(1_800_000_000, 0)
            .ok_or_else(|| Error::configuration("range"))?;
        clock.set(later);
        assert_eq!(clock.now(), later);
        Ok(())
    }

    #[test]
    fn fixed_clock_is_shared_between_holders() -> Result<()> {
        let clock = Arc::new(FixedClock::from_unix(0)?);
        let other: Arc<dyn Clock> = clock.clone();
        clock.advance(Duration::from_secs(3600));
        assert_eq!(other.unix_seconds(), 3600);
        Ok(())
    }

    #[test]
    fn fixed_clock_saturates_instead_of_overflowing() -> Result<()> {
        let clock = FixedClock::from_unix(0)?;
        clock.advance(Duration::MAX);
        assert_eq!(clock.now(), DateTime::<Utc>::MAX_UTC);
        Ok(())
    }

    #[test]
    fn fixed_clock_refuses_times_out_of_range() {
        assert!(FixedClock::from_unix(i64::MAX).is_err());
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let delta = (SystemClock.now() - Utc::now()).num_seconds().abs();
        assert!(delta <= 1);
    }
}
