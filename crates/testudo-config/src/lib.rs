#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod error;
mod global;
mod load;
mod secret;
mod setting;
mod validators;

pub use config::{
    AuthConfig, AuthConfigBuilder, JwtAlgorithm, RateLimitMode, TokenBackendKind, TotpAlgorithm,
};
pub use error::{EnvReason, EnvVarName, Error, InvalidReason, ParseError, Result};
pub use global::{configure, get_config};
pub use setting::Setting;
pub use validators::PasswordValidatorConfig;
