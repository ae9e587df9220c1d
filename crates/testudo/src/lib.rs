#![doc = include_str!("../README.md")]
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
