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

// The Rust example of `docs/configuration.md` (the configuration reference) runs as a doctest
// of this crate; `tests/reference_doc.rs` checks the rest of that page against the code.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/configuration.md")]
mod configuration_reference {}
