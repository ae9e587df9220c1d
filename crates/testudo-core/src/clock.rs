//! Injectable time source, so expiry is decided by one clock and tested without sleeping, and
//! the saturating time arithmetic every expiry computation shares.

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

/// `d` as a [`chrono::Duration`], saturating at [`chrono::Duration::MAX`] (about 292 million
/// years) when it is longer.
///
/// For comparing a configured lifetime or grace window (a [`std::time::Duration`]) with the
/// difference of two times.
#[must_use]
pub fn saturating_chrono(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `at + d`, saturating at [`DateTime::<Utc>::MAX_UTC`] when the sum is not representable.
///
/// For expiry times: a lifetime too long to represent never expires rather than failing.
#[must_use]
pub fn saturating_add(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    at.checked_add_signed(saturating_chrono(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `at - d`, saturating at [`DateTime::<Utc>::MIN_UTC`] when the difference is not
/// representable.
///
/// For cut-offs in the past ("expired for longer than `d`").
#[must_use]
pub fn saturating_sub(at: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    at.checked_sub_signed(saturating_chrono(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// The time `seconds` after the Unix epoch (before it when negative), saturating at
/// [`DateTime::<Utc>::MIN_UTC`] or [`DateTime::<Utc>::MAX_UTC`] outside the representable
/// range.
///
/// For times read from outside, such as a JWT's `exp`; [`FixedClock::from_unix`] refuses such
/// times instead.
#[must_use]
pub fn saturating_from_unix(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(seconds, 0).unwrap_or(if seconds < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
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

    /// A time from Unix seconds, for the tests.
    fn at(seconds: i64) -> Result<DateTime<Utc>> {
        DateTime::from_timestamp(seconds, 0).ok_or_else(|| Error::configuration("range"))
    }

    #[test]
    fn durations_convert_exactly_up_to_chrono_s_maximum_then_saturate() {
        assert_eq!(saturating_chrono(Duration::ZERO), chrono::Duration::zero());
        assert_eq!(
            saturating_chrono(Duration::new(90, 5)),
            chrono::Duration::seconds(90) + chrono::Duration::nanoseconds(5)
        );
        let max = chrono::Duration::MAX;
        let max_std = max.to_std().unwrap_or(Duration::MAX);
        assert_eq!(saturating_chrono(max_std), max);
        assert_eq!(saturating_chrono(max_std + Duration::from_nanos(1)), max);
        assert_eq!(saturating_chrono(Duration::MAX), max);
    }

    #[test]
    fn adding_a_duration_saturates_at_the_latest_time() -> Result<()> {
        let t = at(1_700_000_000)?;
        assert_eq!(saturating_add(t, Duration::ZERO), t);
        assert_eq!(
            saturating_add(t, Duration::from_secs(900)),
            at(1_700_000_900)?
        );
        let max = DateTime::<Utc>::MAX_UTC;
        assert_eq!(saturating_add(max, Duration::ZERO), max);
        assert_eq!(saturating_add(max, Duration::from_nanos(1)), max);
        let near = max - chrono::Duration::seconds(1);
        assert_eq!(saturating_add(near, Duration::from_secs(2)), max);
        assert_eq!(saturating_add(t, Duration::MAX), max);
        assert_eq!(saturating_add(DateTime::<Utc>::MIN_UTC, Duration::MAX), max);
        Ok(())
    }

    #[test]
    fn subtracting_a_duration_saturates_at_the_earliest_time() -> Result<()> {
        let t = at(1_700_000_000)?;
        assert_eq!(saturating_sub(t, Duration::ZERO), t);
        assert_eq!(
            saturating_sub(t, Duration::from_secs(900)),
            at(1_699_999_100)?
        );
        let min = DateTime::<Utc>::MIN_UTC;
        assert_eq!(saturating_sub(min, Duration::ZERO), min);
        assert_eq!(saturating_sub(min, Duration::from_nanos(1)), min);
        let near = min + chrono::Duration::seconds(1);
        assert_eq!(saturating_sub(near, Duration::from_secs(2)), min);
        assert_eq!(saturating_sub(t, Duration::MAX), min);
        assert_eq!(saturating_sub(DateTime::<Utc>::MAX_UTC, Duration::MAX), min);
        Ok(())
    }

    #[test]
    fn unix_seconds_saturate_at_either_end_of_the_range() -> Result<()> {
        assert_eq!(saturating_from_unix(0), DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!(saturating_from_unix(1_700_000_000), at(1_700_000_000)?);
        assert_eq!(saturating_from_unix(-1), at(-1)?);
        let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
        assert_eq!(saturating_from_unix(min.timestamp()), min);
        assert_eq!(saturating_from_unix(min.timestamp() - 1), min);
        assert_eq!(saturating_from_unix(i64::MIN), min);
        // The last representable whole second, then beyond it.
        assert_eq!(saturating_from_unix(max.timestamp()), at(max.timestamp())?);
        assert_eq!(saturating_from_unix(max.timestamp() + 1), max);
        assert_eq!(saturating_from_unix(i64::MAX), max);
        Ok(())
    }

    #[test]
    fn system_clock_is_close_to_now() {
        let delta = (SystemClock.now() - Utc::now()).num_seconds().abs();
        assert!(delta <= 1);
    }
}
