#![doc = include_str!("../README.md")]

mod backend;
mod cache;
pub mod email;
/// The sea-orm entities of this crate's tables. Not part of the public API (sea-orm types stay
/// out of it): testudo's own tests, benches and the service's one-query `authenticate` read the
/// rows through them; may change without notice.
#[doc(hidden)]
pub mod entity;
mod error;
#[cfg(feature = "postgres")]
mod listen;
mod token;

pub use backend::{
    DEFAULT_ROTATION_GRACE, DatabaseTokenBackend, REVOCATION_CHANNEL, StoredAccessToken,
};
pub use cache::CacheOptions;
pub use email::{AuthOutcome, EmailTokenOptions, EmailTokenStore, LOGIN_PURPOSE};
pub use error::{Error, Result};
pub use token::{generate_token, hash_token};
