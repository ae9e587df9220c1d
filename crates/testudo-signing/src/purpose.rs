//! The purposes testudo's own signed values use ([`Signer::for_purpose`](crate::Signer::for_purpose)).
//!
//! Each gets its own key, derived from the signing secret, so a value signed for one never
//! verifies for another: a password-reset link is not an email-verification link, and neither
//! is a value an application signs for itself with a plain [`Signer`](crate::Signer). Use other
//! names for an application's own purposes (a `myapp.` prefix keeps them apart).

/// Password-reset links (`AuthService::request_reset`).
pub const PASSWORD_RESET: &str = "testudo.password-reset";
/// Email-verification links (`AuthService::request_email_verification`).
pub const EMAIL_VERIFICATION: &str = "testudo.email-verification";
/// Email-change links (`AuthService::request_email_change`).
pub const EMAIL_CHANGE: &str = "testudo.email-change";
/// The account fingerprints inside those links (never sent alone).
pub const ACCOUNT_STATE: &str = "testudo.account-state";
/// The keyed digests emailed verification codes are stored as.
pub const VERIFICATION_CODE: &str = "testudo.verification-code";

/// Every purpose above, for tests that check they are all distinct.
pub const ALL: [&str; 5] = [
    PASSWORD_RESET,
    EMAIL_VERIFICATION,
    EMAIL_CHANGE,
    ACCOUNT_STATE,
    VERIFICATION_CODE,
];
