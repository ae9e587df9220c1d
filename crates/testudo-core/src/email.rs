//! Email addresses as testudo stores and looks them up.

/// Normalises an email address the way testudo stores and looks it up: surrounding whitespace
/// trimmed (as [`str::trim`]: Unicode `White_Space`), then lower-cased (as
/// [`str::to_lowercase`]: full Unicode lower-casing, the domain and the local part alike).
///
/// This is testudo's rule, not the reference's: tortoise-auth looks users up by the exact
/// string, so whether `Alice@Example.com` and `alice@example.com` are one account depends on the
/// database collation. testudo normalises every address before it is stored or looked up (the
/// user store, email tokens, `AuthService`), so a [`UserStore`](crate::UserStore) is always
/// handed a normalised address.
///
/// ```
/// use testudo_core::normalize_email;
///
/// assert_eq!(normalize_email("  Alice@Example.COM \n"), "alice@example.com");
/// assert_eq!(normalize_email("ÉMILE@exemple.fr"), "émile@exemple.fr");
/// assert_eq!(normalize_email("bob@example.com"), "bob@example.com");
/// ```
#[must_use]
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}
