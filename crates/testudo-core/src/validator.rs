//! The password-validator port.

use crate::user::UserAttributes;

/// One password rule, such as a minimum length.
///
/// Object-safe, so an application can mix its own rules with testudo's built-in ones in a
/// `Vec<Arc<dyn PasswordValidator>>` (see `testudo-validators` and `AuthConfig`).
///
/// ```
/// use testudo_core::{PasswordValidator, UserAttributes};
///
/// #[derive(Debug)]
/// struct NoSpaces;
///
/// impl PasswordValidator for NoSpaces {
///     fn validate(&self, password: &str, _user: Option<&dyn UserAttributes>) -> Result<(), String> {
///         if password.contains(' ') {
///             Err("This password contains a space.".into())
///         } else {
///             Ok(())
///         }
///     }
///     fn help_text(&self) -> String {
///         "Your password can't contain spaces.".into()
///     }
/// }
///
/// assert!(NoSpaces.validate("a b", None).is_err());
/// assert!(NoSpaces.validate("ab", None).is_ok());
/// ```
pub trait PasswordValidator: Send + Sync + std::fmt::Debug {
    /// Checks `password` (for `user`, when known).
    ///
    /// # Errors
    ///
    /// The message to show when the password breaks the rule.
    fn validate(&self, password: &str, user: Option<&dyn UserAttributes>) -> Result<(), String>;

    /// A sentence describing the rule, for sign-up forms.
    fn help_text(&self) -> String;
}
