//! # testudo
//!
//! Async authentication for Rust services. testudo is the Rust counterpart of the Python
//! library tortoise-auth: the hashes and signed tokens it wrote keep working, and everything
//! around them is safer and faster.
//!
//! This facade re-exports the testudo crates as modules, each behind a cargo feature, so an
//! application depends on one crate; a library that needs only one part (say, a token backend
//! that needs only [`core`]) can depend on that sub-crate instead.
//!
//! ## Crates and features
//!
//! | module | crate | feature | what it holds |
//! |---|---|---|---|
//! | [`core`] | `testudo-core` | always | tokens, errors, [`Clock`], the backend traits |
//! | [`config`] | `testudo-config` | always | [`AuthConfig`], validation, loading |
//!
//! More modules (hashers, validators, signing, events, database and JWT token backends, the
//! service) are added here as their crates land.
//!
//! ## Example
//!
//! ```
//! use testudo::{AuthConfig, FixedClock, Clock};
//!
//! let config = AuthConfig::builder().token_length(96).build()?;
//! assert_eq!(config.token_length, 96);
//! let clock = FixedClock::from_unix(1_700_000_000)?;
//! assert_eq!(clock.unix_seconds(), 1_700_000_000);
//! # Ok::<(), testudo::Error>(())
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub use testudo_config as config;
pub use testudo_core as core;

#[doc(inline)]
pub use testudo_config::{AuthConfig, configure, get_config};
#[doc(inline)]
pub use testudo_core::{
    AuthResult, AuthUser, Clock, Error, FixedClock, Result, SystemClock, TokenBackend, TokenPair,
    TokenPayload, TokenType, UserStore,
};
