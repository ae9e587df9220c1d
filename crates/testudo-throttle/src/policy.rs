//! [`Policy`], [`Mode`] and [`Decision`]: what to count, how to answer, and the answer.

use std::fmt;
use std::time::Duration;

use testudo_config::{AuthConfig, RateLimitMode};

use crate::error::{Error, PolicyError, Result};

/// The first delay of the escalating mode built from the configuration: one second.
pub const ESCALATION_BASE: Duration = Duration::from_secs(1);

/// The longest duration a policy is counted with: 2^52 microseconds (about 142 years); longer
/// ones are treated as this. Times and durations stay exact integers in every backend (Redis'
/// Lua computes with doubles, exact up to 2^53).
pub const MAX_DURATION: Duration = Duration::from_micros(1 << 52);

/// What to count and how to answer.
///
/// `max_attempts` attempts are allowed within `window` (counted from the first of them); what
/// happens to the attempts after those is the [`Mode`]. Build the policies of the configuration
/// with [`Policy::login`] and [`Policy::password_reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Attempts allowed in the window without a delay. At least 1.
    pub max_attempts: u32,
    /// The window the attempts are counted in, from the first attempt of the key (a fixed
    /// window: the count starts over when it has passed and the key is not blocked).
    pub window: Duration,
    /// What happens past `max_attempts`.
    pub mode: Mode,
}

/// How the attempts after the allowed ones are answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The reference's fixed lockout: after `max_attempts` in the window, refused until
    /// `lockout` has passed since the attempt that reached the limit.
    ///
    /// Refused attempts are not counted and never extend the lockout: `retry_after` is exact.
    /// When the lockout ends within the window, the next attempt is allowed and locks the key
    /// again (it is over the limit still); once the window has passed too, counting starts over.
    Lockout {
        /// How long the key stays refused.
        lockout: Duration,
    },
    /// Default: after `max_attempts` in the window, each further attempt must wait
    /// `base * 2^(excess - 1)`, capped at `max` (so whoever triggers the limit cannot lock the
    /// owner out for long, and guessing still slows down exponentially).
    ///
    /// `excess` counts every attempt past the limit, refused ones included (a client that
    /// ignores `retry_after` reaches `max` sooner), but a refused attempt never moves the end of
    /// the current wait: `retry_after` is exact. While the key escalates its window is extended
    /// to `window` past the end of the latest wait, so only a quiet `window` after it starts
    /// the count over (an attacker who keeps going stays at `max` per attempt).
    Escalating {
        /// The first wait.
        base: Duration,
        /// The longest wait.
        max: Duration,
    },
}

impl Mode {
    /// The mode `rate_limit_mode` names, with `rate_limit_lockout` as the lockout or as the
    /// longest escalating wait (the first one is [`ESCALATION_BASE`]).
    #[must_use]
    pub fn from_config(config: &AuthConfig) -> Self {
        match config.rate_limit_mode {
            RateLimitMode::Lockout => Self::Lockout {
                lockout: config.rate_limit_lockout,
            },
            _ => Self::Escalating {
                base: ESCALATION_BASE.min(config.rate_limit_lockout),
                max: config.rate_limit_lockout,
            },
        }
    }
}

impl Policy {
    /// The login policy: `rate_limit_max_attempts` in `rate_limit_window`, then
    /// [`Mode::from_config`].
    #[must_use]
    pub fn login(config: &AuthConfig) -> Self {
        Self {
            max_attempts: config.rate_limit_max_attempts,
            window: config.rate_limit_window,
            mode: Mode::from_config(config),
        }
    }

    /// The password-reset policy: `password_reset_rate_limit_max_attempts` in
    /// `password_reset_rate_limit_window`, then [`Mode::from_config`].
    #[must_use]
    pub fn password_reset(config: &AuthConfig) -> Self {
        Self {
            max_attempts: config.password_reset_rate_limit_max_attempts,
            window: config.password_reset_rate_limit_window,
            mode: Mode::from_config(config),
        }
    }

    /// Checks that the policy limits something: at least one attempt, a window and delays of
    /// at least a microsecond, an escalation whose `max` is not below its `base`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPolicy`] with the reason.
    pub fn validate(&self) -> Result<()> {
        self.params().map(|_| ())
    }

    /// The policy as the integers every backend computes with.
    pub(crate) fn params(&self) -> Result<Params> {
        let invalid = |reason| Err(Error::InvalidPolicy(reason));
        if self.max_attempts == 0 {
            return invalid(PolicyError::ZeroMaxAttempts);
        }
        let window = micros(self.window);
        if window == 0 {
            return invalid(PolicyError::ZeroWindow);
        }
        let (base, cap, refused_inc, extend) = match self.mode {
            Mode::Lockout { lockout } => (micros(lockout), micros(lockout), 0, false),
            Mode::Escalating { base, max } => (micros(base), micros(max), 1, true),
        };
        if base == 0 || cap == 0 {
            return invalid(PolicyError::ZeroDelay);
        }
        if cap < base {
            return invalid(PolicyError::MaxBelowBase);
        }
        // The smallest shift at which the doubling reaches the cap: base << shift_cap < 2^53.
        let mut shift_cap = 0;
        while (base << shift_cap) < cap {
            shift_cap += 1;
        }
        Ok(Params {
            window,
            max: i64::from(self.max_attempts),
            refused_inc,
            extend,
            base,
            shift_cap,
            cap,
        })
    }
}

/// `d` in whole microseconds, at most [`MAX_DURATION`].
fn micros(d: Duration) -> i64 {
    let us = d.min(MAX_DURATION).as_micros();
    i64::try_from(us).unwrap_or(1 << 52)
}

/// A [`Policy`] as integers (microseconds): what the memory backend, the SQL statement and the
/// Lua script compute with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    /// The window.
    pub(crate) window: i64,
    /// `max_attempts`.
    pub(crate) max: i64,
    /// What a refused attempt adds to the count: 1 when escalating, 0 for a lockout.
    pub(crate) refused_inc: i64,
    /// Whether a wait extends the window to `window` past its end (escalating).
    pub(crate) extend: bool,
    /// The first wait (the lockout for [`Mode::Lockout`]).
    pub(crate) base: i64,
    /// The largest doubling exponent that matters (0 for a lockout).
    pub(crate) shift_cap: i64,
    /// The longest wait.
    pub(crate) cap: i64,
}

/// One key's state: what every backend stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct State {
    /// Attempts counted since the window started (refused ones too when escalating).
    pub(crate) attempts: i64,
    /// When the window ends (microseconds since the Unix epoch).
    pub(crate) window_end: i64,
    /// Until when attempts are refused (at or before `now`: not blocked).
    pub(crate) blocked_until: i64,
}

impl State {
    /// When the state can be forgotten: its window has ended and it is not blocked.
    pub(crate) fn expires_at(&self) -> i64 {
        self.window_end.max(self.blocked_until)
    }
}

impl Params {
    /// The wait after an allowed attempt that brought the count to `attempts` (>= max).
    pub(crate) fn delay(&self, attempts: i64) -> i64 {
        let shift = attempts.saturating_sub(self.max).clamp(0, self.shift_cap);
        (self.base << shift).min(self.cap)
    }

    /// One attempt at `now` on a key in state `old` (`None`: unknown or forgotten): the new
    /// state and whether the attempt was allowed.
    ///
    /// This is the reference of the algorithm; the SQL statements of the database backend and
    /// the Lua script of the Redis backend compute exactly this, and the shared test suite runs
    /// every backend against it.
    pub(crate) fn hit(&self, old: Option<State>, now: i64) -> (State, bool) {
        let old = old.unwrap_or(State {
            attempts: 0,
            window_end: now,
            blocked_until: now,
        });
        if old.blocked_until > now {
            let state = State {
                attempts: old.attempts.saturating_add(self.refused_inc),
                ..old
            };
            return (state, false);
        }
        let expired = old.window_end <= now;
        let attempts = if expired {
            1
        } else {
            old.attempts.saturating_add(1)
        };
        let fresh_window = if expired {
            now.saturating_add(self.window)
        } else {
            old.window_end
        };
        let state = if attempts >= self.max {
            let blocked_until = now.saturating_add(self.delay(attempts));
            State {
                attempts,
                window_end: if self.extend {
                    blocked_until.saturating_add(self.window)
                } else {
                    fresh_window
                },
                blocked_until,
            }
        } else {
            State {
                attempts,
                window_end: fresh_window,
                blocked_until: now,
            }
        };
        (state, true)
    }

    /// The decision for a key left in `state` by an attempt at `now` that was `allowed`.
    pub(crate) fn decision(&self, state: &State, allowed: bool, now: i64) -> Decision {
        if allowed {
            let remaining = self.max.saturating_sub(state.attempts).max(0);
            Decision::Allowed {
                remaining: u32::try_from(remaining).unwrap_or(u32::MAX),
            }
        } else {
            let us = state.blocked_until.saturating_sub(now).max(0);
            Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(us).unwrap_or(0)),
            }
        }
    }
}

/// The answer to one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The attempt may go ahead (and was counted).
    Allowed {
        /// Attempts still allowed in this window without a delay (0 once the limit is reached:
        /// the next attempt then has to wait).
        remaining: u32,
    },
    /// The attempt is refused.
    Limited {
        /// How long until the next attempt of this key is allowed: exact (microseconds), never
        /// extended by refused attempts. Round it up for an HTTP `Retry-After`
        /// ([`Decision::retry_after_secs`]).
        retry_after: Duration,
    },
}

impl Decision {
    /// Whether the attempt may go ahead.
    #[must_use]
    pub const fn is_allowed(&self) -> bool {
        matches!(self, Self::Allowed { .. })
    }

    /// For a refused attempt, the wait in whole seconds, rounded up (so a client that waits
    /// that long is allowed); `None` when allowed.
    #[must_use]
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Self::Allowed { .. } => None,
            Self::Limited { retry_after } => Some(ceil_secs(*retry_after)),
        }
    }
}

/// `d` in whole seconds, rounded up.
fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allowed { remaining } => write!(f, "allowed, {remaining} remaining"),
            Self::Limited { retry_after } => {
                write!(f, "limited, retry after {} s", ceil_secs(*retry_after))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn lockout() -> Params {
        let p = Policy {
            max_attempts: 3,
            window: Duration::from_secs(300),
            mode: Mode::Lockout {
                lockout: Duration::from_secs(600),
            },
        };
        p.params().expect("valid")
    }

    fn escalating() -> Params {
        let p = Policy {
            max_attempts: 3,
            window: Duration::from_secs(300),
            mode: Mode::Escalating {
                base: Duration::from_secs(1),
                max: Duration::from_secs(10),
            },
        };
        p.params().expect("valid")
    }

    #[test]
    fn the_escalating_delay_doubles_from_the_base_and_stops_at_the_cap() {
        let p = escalating();
        let delays: Vec<i64> = (3..=9).map(|a| p.delay(a) / S).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10, 10]);
        assert_eq!(p.delay(i64::MAX), 10 * S);
        assert_eq!(lockout().delay(3), 600 * S);
        assert_eq!(lockout().delay(1000), 600 * S);
    }

    #[test]
    fn a_lockout_refuses_without_counting_until_it_ends() {
        let p = lockout();
        let mut state = None;
        for i in 0..3 {
            let (s, allowed) = p.hit(state, i);
            assert!(allowed);
            state = Some(s);
        }
        let s = state.expect("set");
        assert_eq!(s.blocked_until, 2 + 600 * S);
        let (after, allowed) = p.hit(Some(s), 100 * S);
        assert!(!allowed);
        assert_eq!(after, s, "a refused attempt changes nothing");
        assert_eq!(
            p.decision(&after, false, 100 * S),
            Decision::Limited {
                retry_after: Duration::from_micros(u64::try_from(500 * S + 2).expect("fits"))
            }
        );
        // The lockout has ended and so has the window: counting starts over.
        let (fresh, allowed) = p.hit(Some(s), 2 + 600 * S);
        assert!(allowed);
        assert_eq!(fresh.attempts, 1);
    }

    #[test]
    fn invalid_policies_are_refused_with_their_reason() {
        let base = Policy {
            max_attempts: 1,
            window: Duration::from_secs(1),
            mode: Mode::Escalating {
                base: Duration::from_secs(2),
                max: Duration::from_secs(1),
            },
        };
        let reason = |p: Policy| match p.validate() {
            Err(Error::InvalidPolicy(r)) => Some(r),
            _ => None,
        };
        assert_eq!(reason(base), Some(PolicyError::MaxBelowBase));
        assert_eq!(
            reason(Policy {
                max_attempts: 0,
                ..base
            }),
            Some(PolicyError::ZeroMaxAttempts)
        );
        assert_eq!(
            reason(Policy {
                window: Duration::from_nanos(10),
                ..base
            }),
            Some(PolicyError::ZeroWindow)
        );
        assert_eq!(
            reason(Policy {
                mode: Mode::Lockout {
                    lockout: Duration::ZERO
                },
                ..base
            }),
            Some(PolicyError::ZeroDelay)
        );
        let huge = Policy {
            max_attempts: u32::MAX,
            window: Duration::MAX,
            mode: Mode::Escalating {
                base: Duration::from_micros(1),
                max: Duration::MAX,
            },
        };
        let p = huge.params().expect("valid");
        assert_eq!(p.cap, 1 << 52);
        assert_eq!(p.delay(i64::MAX), 1 << 52);
    }

    #[test]
    fn the_configuration_gives_the_login_and_reset_policies() {
        let config = AuthConfig::default();
        let login = Policy::login(&config);
        assert_eq!(login.max_attempts, 5);
        assert_eq!(login.window, Duration::from_secs(300));
        assert_eq!(
            login.mode,
            Mode::Escalating {
                base: Duration::from_secs(1),
                max: Duration::from_secs(600)
            }
        );
        let reset = Policy::password_reset(&config);
        assert_eq!((reset.max_attempts, reset.window.as_secs()), (3, 300));
        let lockout = AuthConfig::builder()
            .rate_limit_mode(RateLimitMode::Lockout)
            .build_unchecked();
        assert_eq!(
            Policy::login(&lockout).mode,
            Mode::Lockout {
                lockout: Duration::from_secs(600)
            }
        );
        assert!(login.validate().is_ok() && reset.validate().is_ok());
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let limited = |us| Decision::Limited {
            retry_after: Duration::from_micros(us),
        };
        assert_eq!(limited(1).retry_after_secs(), Some(1));
        assert_eq!(limited(2_000_000).retry_after_secs(), Some(2));
        assert_eq!(limited(2_000_001).retry_after_secs(), Some(3));
        assert_eq!(Decision::Allowed { remaining: 2 }.retry_after_secs(), None);
        assert_eq!(limited(1_500_000).to_string(), "limited, retry after 2 s");
    }
}
