#![doc = include_str!("../README.md")]

mod backend;
pub mod entity;
mod error;
mod keys;
mod revocation;

pub use backend::{DEFAULT_ROTATION_GRACE, JwtBackend};
pub use error::{Error, Result};
pub use keys::JwtKeys;
