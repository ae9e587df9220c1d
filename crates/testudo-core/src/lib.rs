#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod backend;
mod clock;
mod email;
mod error;
pub mod pause;
mod session;
mod token;
mod user;
mod validator;

pub use async_trait::async_trait;
pub use backend::{DEFAULT_ROTATION_GRACE, TokenBackend, wrong_type};
pub use clock::{
    Clock, FixedClock, SystemClock, saturating_add, saturating_chrono, saturating_from_unix,
    saturating_sub,
};
pub use email::normalize_email;
pub use error::{
    AccountError, AuthenticationError, BadSignature, BoxError, Claim, Error, EventError,
    InvalidPassword, InvalidReason, OnboardingError, Result, SecondFactorError, SignatureError,
    SignatureExpired, StepMessages, StepName, TokenError,
};
pub use secrecy::{ExposeSecret, SecretString};
pub use session::{
    MAX_SESSION_IP_CHARS, MAX_SESSION_USER_AGENT_CHARS, Session, SessionContext, SessionRef,
    SessionsNotSupported,
};
pub use token::{AuthResult, CREDENTIAL_VERSION_CLAIM, Claims, TokenPair, TokenPayload, TokenType};
pub use user::{AuthUser, UserAttributes, UserStore};
pub use validator::PasswordValidator;
