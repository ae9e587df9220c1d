#![doc = include_str!("../README.md")]

mod backend;
mod error;
mod keys;

pub use backend::JwtBackend;
pub use error::{Error, Result};
pub use keys::JwtKeys;
