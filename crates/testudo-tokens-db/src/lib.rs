#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod api_keys;
mod backend;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
mod cache;
pub mod email;
/// The sea-orm entities of this crate's tables: private (sea-orm types stay out of the public
/// API), public only with the unpublished `test-hooks` feature, for testudo's own tests and
/// benches; may change without notice.
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
#[cfg(feature = "postgres")]
mod listen;
mod token;

pub use api_keys::{
    ApiKey, ApiKeyError, ApiKeyId, ApiKeyOwner, ApiKeyStore, InvalidKeyReason, IssuedApiKey,
    KeyRefusal, NewApiKey,
};
pub use backend::{
    DEFAULT_ROTATION_GRACE, DatabaseTokenBackend, REVOCATION_CHANNEL, StoredAccessToken,
};
pub use cache::CacheOptions;
pub use email::{AuthOutcome, EmailTokenOptions, EmailTokenStore, LOGIN_PURPOSE};
pub use error::{Error, Result};
pub use token::{generate_token, hash_token};
