#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use testudo_axum as axum;
pub use testudo_config as config;
pub use testudo_core as core;
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use testudo_db as db;
pub use testudo_events as events;
pub use testudo_hashers as hashers;
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use testudo_migrations as migrations;
pub use testudo_service as service;
pub use testudo_signing as signing;
pub use testudo_throttle as throttle;
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use testudo_tokens_db as tokens_db;
#[cfg(feature = "jwt")]
#[cfg_attr(docsrs, doc(cfg(feature = "jwt")))]
pub use testudo_tokens_jwt as tokens_jwt;
pub use testudo_totp as totp;
pub use testudo_validators as validators;

/// The blocking API for synchronous programs (feature `blocking`).
///
/// [`blocking::AuthService`] owns a tokio runtime and runs each call of the async
/// [`AuthService`] on it; with `db`, `blocking::EmailTokenStore` does the same for the async
/// `EmailTokenStore` (Moth's `Moth` beside `AsyncMoth`). Do not call them from inside an async
/// runtime: every call then returns an error instead of blocking the runtime.
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking {
    #[doc(inline)]
    pub use testudo_service::blocking::AuthService;
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[doc(inline)]
    pub use testudo_tokens_db::blocking::EmailTokenStore;
}

#[doc(inline)]
pub use testudo_config::{AuthConfig, configure, get_config};
#[doc(inline)]
pub use testudo_core::{
    AccountError, AuthResult, AuthUser, Claims, Clock, Error, ExposeSecret, FixedClock, Result,
    SecondFactorError, SecretString, SystemClock, TokenBackend, TokenPair, TokenPayload, TokenType,
    UserStore,
};
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
#[doc(inline)]
pub use testudo_db::Database;
#[doc(inline)]
pub use testudo_events::{Event, EventEmitter};
#[doc(inline)]
pub use testudo_hashers::{AsyncHasher, PasswordHasher, check_password, make_password};
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
#[doc(inline)]
pub use testudo_service::DbUserStore;
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
#[doc(inline)]
pub use testudo_service::TotpEnrolment;
#[doc(inline)]
pub use testudo_service::{
    AnonymousUser, AuthService, LoginChallenge, LoginStart, LogoutAll, S2SService, User,
    ValidatorPolicy,
};
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
#[doc(inline)]
pub use testudo_tokens_db::{ApiKeyOwner, ApiKeyStore, NewApiKey};
// The signed-link helpers `make_token` / `verify_token` stay in `signing` only: at the root they
// would read as the token backends' `TokenBackend::verify_token`.
#[doc(inline)]
pub use testudo_signing::{Signer, TimestampSigner};
#[doc(inline)]
pub use testudo_validators::{PasswordValidator, validate_password};
