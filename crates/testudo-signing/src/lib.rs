#![doc = include_str!("../README.md")]

mod error;
pub mod purpose;
mod signer;
mod timestamp;
mod token;

pub use error::{Error, Result, SeparatorReason};
pub use signer::{DEFAULT_SEPARATOR, MIN_SECRET_BYTES, SALT_PREFIX, Signer, check_separator};
pub use testudo_core::{BadSignature, SignatureError, SignatureExpired};
pub use timestamp::TimestampSigner;
pub use token::{MaxAge, make_token, verify_token};
