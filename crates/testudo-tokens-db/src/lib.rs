#![doc = include_str!("../README.md")]

mod backend;
mod connect;
pub mod email;
pub mod entity;
mod error;
mod retry;
mod token;

pub use backend::{DEFAULT_ROTATION_GRACE, DatabaseTokenBackend};
pub use connect::{connect, connect_options};
pub use email::{AuthOutcome, EmailTokenOptions, EmailTokenStore};
pub use error::{Error, Result};
pub use token::{generate_token, hash_token};
