#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "db")]
mod db;
mod error;
mod key;
mod limiter;
mod memory;
mod policy;
#[cfg(feature = "redis")]
mod redis;

#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use db::DbRateLimiter;
pub use error::{Error, PolicyError, Result};
pub use key::RateKey;
pub use limiter::RateLimiter;
pub use memory::{DEFAULT_MAX_KEYS, MemoryRateLimiter};
pub use policy::{Decision, ESCALATION_BASE, MAX_DURATION, Mode, Policy};
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::{DEFAULT_PREFIX, RedisRateLimiter};
