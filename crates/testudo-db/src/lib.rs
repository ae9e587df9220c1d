#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod cache;
mod database;
mod dialect;
mod error;
mod options;
mod retry;

pub use cache::{CacheOptions, EpochCache};
pub use database::{Database, UserTransaction};
pub use dialect::Dialect;
pub use error::{Error, ErrorKind, Result};
pub use options::{
    PoolOptions, SERVER_PING_IF_IDLE_FOR, SQLITE_BUSY_TIMEOUT, SQLITE_STATEMENT_CACHE,
    sqlite_pool_size,
};
pub use retry::{MAX_ATTEMPTS, Retryable, retrying};
