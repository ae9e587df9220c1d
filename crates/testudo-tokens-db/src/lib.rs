#![doc = include_str!("../README.md")]

mod backend;
mod cache;
pub mod email;
pub mod entity;
mod error;
#[cfg(feature = "postgres")]
mod listen;
mod token;

pub use backend::{
    DEFAULT_ROTATION_GRACE, DatabaseTokenBackend, REVOCATION_CHANNEL, StoredAccessToken,
};
pub use cache::CacheOptions;
pub use email::{AuthOutcome, EmailTokenOptions, EmailTokenStore};
pub use error::{Error, Result};
pub use token::{generate_token, hash_token};
