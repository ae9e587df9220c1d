#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod account;
#[cfg(feature = "blocking")]
#[cfg_attr(docsrs, doc(cfg(feature = "blocking")))]
pub mod blocking;
#[cfg(feature = "db")]
mod codes;
/// The sea-orm entity of `testudo_users`: private (sea-orm types stay out of the public API),
/// public only with the unpublished `test-hooks` feature, for testudo's own tests; may change
/// without notice.
#[cfg(all(feature = "db", feature = "test-hooks"))]
#[doc(hidden)]
pub mod entity;
#[cfg(all(feature = "db", not(feature = "test-hooks")))]
#[allow(
    unreachable_pub,
    reason = "its items are public with the test-hooks feature"
)]
pub(crate) mod entity;
mod error;
mod flows;
#[cfg(feature = "db")]
mod joined;
mod login_step;
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub mod onboarding;
mod s2s;
#[cfg(feature = "db")]
mod second_factor;
mod service;
mod sessions;
#[cfg(feature = "db")]
mod store;
pub mod throttle;
mod user;

pub use error::Error;
pub use login_step::{LoginChallenge, LoginStart};
pub use s2s::{MAX_CLAIMED_SERVICE_CHARS, S2SService, S2sError, S2sVarName};
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use second_factor::TotpEnrolment;
pub use service::{AuthService, AuthServiceBuilder, LogoutAll, ValidatorPolicy};
pub use sessions::SessionInfo;
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use store::DbUserStore;
pub use testudo_core::{AuthResult, AuthUser, Claims, TokenPair, UserStore};
pub use testudo_core::{SessionContext, SessionsNotSupported};
#[cfg(feature = "db")]
#[cfg_attr(docsrs, doc(cfg(feature = "db")))]
pub use testudo_db::CacheOptions;
pub use user::{AnonymousUser, User, normalize_email};
