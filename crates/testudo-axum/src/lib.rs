#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bearer;
mod client;
mod error;
mod extract;
mod onboarding;
mod routes;
mod session;
mod state;

pub use bearer::{MAX_BEARER_LEN, bearer_token};
pub use client::{ClientContext, MAX_USER_AGENT_CHARS, TrustedProxy};
pub use error::{BodyFailure, CsrfFailure, Error, Missing, PROBLEM_JSON, Result};
pub use extract::{
    ApiKey, Authenticated, MaybeAuthenticated, RequiredScopes, SERVICE_NAME_HEADER, ServiceIdentity,
};
pub use onboarding::{
    CODE_SCOPE, FinishBody, ONBOARDING_TOKEN_HEADER, OnboardingCodeBody, OnboardingPasswordBody,
    OnboardingTokenBody, OnboardingView, START_SCOPE, SkipBody, StepBody,
    confirm_onboarding_totp_for, onboarding_finish, onboarding_password, onboarding_resend,
    onboarding_skip, onboarding_start, onboarding_status, onboarding_submit, onboarding_totp,
    onboarding_totp_confirm, onboarding_verify, resend_onboarding_code_for, start_onboarding_for,
    verify_onboarding_code_for,
};
pub use routes::{
    CodeBody, CompleteLoginBody, Credentials, EmailBody, JsonBody, LinkLoginBody, PasswordBody,
    ResetBody, SessionView, TokenBody, UserView, complete_login, confirm_totp, enroll_totp,
    forgot_password, jwks, login, login_with_link, logout, logout_all, logout_others, me,
    reauthenticate, refresh, regenerate_recovery_codes, register, remove_totp, request_login_link,
    require_auth, reset_password, revoke_session, router, routes, second_factor_status,
    session_layer, sessions, verify_email,
};
pub use session::{Session, Transport, cookie};
pub use state::{AuthState, AuthStateBuilder, HttpContext, HttpOptions};
