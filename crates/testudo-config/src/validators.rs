//! Which password validators run, as configuration.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use testudo_core::PasswordValidator;

/// One entry of [`crate::AuthConfig::password_validators`].
///
/// The built-in validators are described by their settings, so they can be written in a TOML
/// file; `testudo-validators` turns each entry into a validator. Applications add their own rules
/// with [`PasswordValidatorConfig::Custom`].
///
/// In TOML:
///
/// ```toml
/// [[password_validators]]
/// name = "minimum_length"
/// min_length = 12
///
/// [[password_validators]]
/// name = "common_password"
/// path = "/etc/myapp/extra-common-passwords.txt.gz"   # optional
///
/// [[password_validators]]
/// name = "numeric_password"
///
/// [[password_validators]]
/// name = "user_attribute_similarity"
/// user_attributes = ["email", "username"]
/// max_similarity = 0.7
/// ```
#[derive(Clone, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case", deny_unknown_fields)]
#[non_exhaustive]
pub enum PasswordValidatorConfig {
    /// At least `min_length` characters (Unicode code points). Default 8.
    MinimumLength {
        /// The minimum number of characters.
        #[serde(default = "default_min_length")]
        min_length: usize,
    },
    /// Not in a list of common passwords (compared lower-cased).
    CommonPassword {
        /// A list file (one password per line, plain UTF-8 or gzip) used instead of the bundled
        /// one; `None` uses the bundled list.
        #[serde(default)]
        path: Option<PathBuf>,
    },
    /// Not made of digits only.
    NumericPassword,
    /// Not too similar to the user's attributes.
    UserAttributeSimilarity {
        /// Attribute names to compare with. Default `["email"]`.
        #[serde(default = "default_user_attributes")]
        user_attributes: Vec<String>,
        /// Ratio at or above which the password is refused. Default 0.7.
        #[serde(default = "default_max_similarity")]
        max_similarity: f64,
    },
    /// An application's own validator.
    #[serde(skip)]
    Custom(Arc<dyn PasswordValidator>),
}

fn default_min_length() -> usize {
    8
}

fn default_user_attributes() -> Vec<String> {
    vec!["email".to_owned()]
}

fn default_max_similarity() -> f64 {
    0.7
}

impl PasswordValidatorConfig {
    /// `MinimumLength` with the default of 8 characters.
    #[must_use]
    pub fn minimum_length() -> Self {
        Self::MinimumLength {
            min_length: default_min_length(),
        }
    }

    /// `CommonPassword` with the bundled list.
    #[must_use]
    pub fn common_password() -> Self {
        Self::CommonPassword { path: None }
    }

    /// `UserAttributeSimilarity` on `email` with a maximum similarity of 0.7.
    #[must_use]
    pub fn user_attribute_similarity() -> Self {
        Self::UserAttributeSimilarity {
            user_attributes: default_user_attributes(),
            max_similarity: default_max_similarity(),
        }
    }

    /// An application's own validator.
    pub fn custom(validator: impl PasswordValidator + 'static) -> Self {
        Self::Custom(Arc::new(validator))
    }

    /// The reference's default list: minimum length, common password, numeric, similarity.
    #[must_use]
    pub fn defaults() -> Vec<Self> {
        vec![
            Self::minimum_length(),
            Self::common_password(),
            Self::NumericPassword,
            Self::user_attribute_similarity(),
        ]
    }
}

impl fmt::Debug for PasswordValidatorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MinimumLength { min_length } => f
                .debug_struct("MinimumLength")
                .field("min_length", min_length)
                .finish(),
            Self::CommonPassword { path } => f
                .debug_struct("CommonPassword")
                .field("path", path)
                .finish(),
            Self::NumericPassword => f.write_str("NumericPassword"),
            Self::UserAttributeSimilarity {
                user_attributes,
                max_similarity,
            } => f
                .debug_struct("UserAttributeSimilarity")
                .field("user_attributes", user_attributes)
                .field("max_similarity", max_similarity)
                .finish(),
            Self::Custom(v) => f.debug_tuple("Custom").field(v).finish(),
        }
    }
}
