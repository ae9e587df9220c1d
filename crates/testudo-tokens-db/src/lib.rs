#![doc = include_str!("../README.md")]

mod backend;
mod cache;
mod connect;
pub mod email;
pub mod entity;
mod error;
#[cfg(feature = "postgres")]
mod listen;
mod retry;
mod token;

pub use backend::{DEFAULT_ROTATION_GRACE, DatabaseTokenBackend, REVOCATION_CHANNEL};
pub use cache::CacheOptions;
pub use connect::{
    SERVER_PING_IF_IDLE_FOR, SQLITE_BUSY_TIMEOUT, SQLITE_STATEMENT_CACHE, connect, connect_options,
    sqlite_pool_size,
};
pub use email::{AuthOutcome, EmailTokenOptions, EmailTokenStore};
pub use error::{Error, Result};
pub use token::{generate_token, hash_token};
