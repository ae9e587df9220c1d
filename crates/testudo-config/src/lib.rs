#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod global;
mod load;
mod secret;
mod validators;

pub use config::{AuthConfig, AuthConfigBuilder, JwtAlgorithm, TokenBackendKind};
pub use error::{Error, Result};
pub use global::{configure, get_config};
pub use validators::PasswordValidatorConfig;
