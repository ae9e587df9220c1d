#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bearer;
mod client;
mod error;
mod extract;
mod routes;
mod session;
mod state;

pub use bearer::{MAX_BEARER_LEN, bearer_token};
pub use client::{ClientContext, MAX_USER_AGENT_CHARS, TrustedProxy};
pub use error::{BodyFailure, CsrfFailure, Error, Missing, PROBLEM_JSON, Result};
pub use extract::{
    ApiKey, Authenticated, MaybeAuthenticated, RequiredScopes, SERVICE_NAME_HEADER, ServiceIdentity,
};
pub use routes::{
    Credentials, EmailBody, JsonBody, LinkLoginBody, ResetBody, SessionView, TokenBody, UserView,
    forgot_password, jwks, login, login_with_link, logout, logout_all, logout_others, me, refresh,
    register, request_login_link, require_auth, reset_password, revoke_session, router, routes,
    session_layer, sessions, verify_email,
};
pub use session::{Session, Transport, cookie};
pub use state::{AuthState, AuthStateBuilder, HttpContext, HttpOptions};
