#![doc = include_str!("../README.md")]

mod backend;
/// The sea-orm entities of this crate's tables. Not part of the public API (sea-orm types stay
/// out of it): testudo's own tests, benches and the service's one-query `authenticate` read the
/// rows through them; may change without notice.
#[doc(hidden)]
pub mod entity;
mod error;
mod keys;
mod revocation;

pub use backend::{DEFAULT_ROTATION_GRACE, JwtBackend};
pub use error::{Error, KeyId, Result};
pub use keys::JwtKeys;
