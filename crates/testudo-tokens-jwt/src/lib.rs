#![doc = include_str!("../README.md")]

mod backend;
/// The sea-orm entities of this crate's tables. Not part of the public API (sea-orm types stay
/// out of it), public only with the unpublished `test-hooks` feature, for testudo's own tests
/// and benches; may change without notice.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod entity;
#[cfg(not(feature = "test-hooks"))]
#[allow(
    unreachable_pub,
    reason = "its items are public with the test-hooks feature"
)]
pub(crate) mod entity;
mod error;
mod jwks;
mod keys;
mod revocation;

pub use backend::{DEFAULT_ROTATION_GRACE, JwtBackend, MAX_TOKEN_LEN};
pub use error::{Error, JwksReason, KeyId, Result};
pub use keys::JwtKeys;
