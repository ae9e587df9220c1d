//! Errors of configuration validation and loading.

use std::path::PathBuf;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building, validating or loading an [`crate::AuthConfig`].
///
/// Every message names the field, the file or the environment variable at fault, and never
/// shows a secret's value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field holds an inconsistent or unsafe value.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid {
        /// The field's name, as in the TOML file.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The configuration file could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration text is not valid TOML for [`crate::AuthConfig`].
    #[error("invalid configuration file{}", path.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default())]
    Parse {
        /// The file, when loading from one.
        path: Option<PathBuf>,
        /// The parser's error: it names the field and the position.
        #[source]
        source: Box<toml::de::Error>,
    },
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {var}: {reason}")]
    Env {
        /// The variable's name, e.g. `TESTUDO_ACCESS_TOKEN_LIFETIME`.
        var: String,
        /// What is wrong with its value (never the value of a secret).
        reason: String,
    },
}

impl Error {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            reason: reason.into(),
        }
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        Self::configuration(e)
    }
}
