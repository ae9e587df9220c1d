//! Errors of configuration validation and loading.

use std::fmt;
use std::path::PathBuf;

use crate::config::JwtAlgorithm;
use crate::setting::Setting;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong building, validating or loading an [`crate::AuthConfig`].
///
/// Every message names the field, the file or the environment variable at fault, and never
/// shows a secret's value. The reasons are data ([`InvalidReason`], [`EnvReason`]): match on
/// them rather than on the text.
///
/// Converts into [`testudo_core::Error::Configuration`]: every case is a wrong setting.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A field holds an inconsistent or unsafe value.
    #[error("invalid configuration: {field}: {reason}")]
    Invalid {
        /// The field at fault.
        field: Setting,
        /// What is wrong with it.
        reason: InvalidReason,
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
        /// What the parser refused, with the key and the position.
        #[source]
        source: ParseError,
    },
    /// An environment variable named after a setting holds a value that cannot be used.
    #[error("environment variable {}: {reason}", setting.env_var())]
    Env {
        /// The setting the variable is named after ([`Setting::env_var`] is its name).
        setting: Setting,
        /// What is wrong with its value (never the value itself).
        reason: EnvReason,
    },
    /// A `TESTUDO_*` environment variable that names no setting.
    #[error("environment variable {var}: not a testudo setting")]
    UnknownEnv {
        /// The variable's name, e.g. `TESTUDO_ACESS_TOKEN_LIFETIME`.
        var: EnvVarName,
    },
}

impl Error {
    pub(crate) const fn invalid(field: Setting, reason: InvalidReason) -> Self {
        Self::Invalid { field, reason }
    }
}

/// Why a setting was refused by [`AuthConfig::validate`](crate::AuthConfig::validate), as
/// [`Error::Invalid`]'s `reason`. Its `Display` is the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum InvalidReason {
    /// A lifetime is zero.
    #[error("must be at least one second")]
    ZeroDuration,
    /// A number is below its smallest accepted value.
    #[error("must be at least {min}")]
    TooSmall {
        /// The smallest accepted value.
        min: u64,
    },
    /// A number is outside its accepted range.
    #[error("must be between {min} and {max}")]
    OutOfRange {
        /// The smallest accepted value.
        min: u64,
        /// The largest accepted value.
        max: u64,
    },
    /// A lifetime is shorter than another setting's, which it must not be.
    #[error("must not be shorter than {than}")]
    ShorterThan {
        /// The setting it must not be shorter than.
        than: Setting,
    },
    /// A duration is not shorter than another setting's, which it must be.
    #[error("must be shorter than {than}")]
    NotShorterThan {
        /// The setting it must be shorter than.
        than: Setting,
    },
    /// `argon2_memory_cost` gives less memory than Argon2 needs per lane.
    #[error("must be at least {kib_per_lane} KiB per lane ({kib_per_lane} x argon2_parallelism)")]
    MemoryPerLane {
        /// The least memory per lane, in KiB.
        kib_per_lane: u32,
    },
    /// A `minimum_length` validator asks for more characters than `max_password_length` allows.
    #[error("minimum_length.min_length exceeds max_password_length")]
    MinLengthAboveMax,
    /// A `user_attribute_similarity` validator's `max_similarity` is outside 0.1..=1.0 (or not
    /// a number).
    #[error("user_attribute_similarity.max_similarity must be between 0.1 and 1.0")]
    MaxSimilarityOutOfRange,
    /// A secret is shorter than the algorithm using it requires.
    #[error("must be at least {min_bytes} bytes long")]
    SecretTooShort {
        /// The least length, in bytes.
        min_bytes: usize,
    },
    /// The JWT backend with an HMAC algorithm, and neither `jwt_secret` nor `signing_secret`.
    #[error("{algorithm} needs a secret: set jwt_secret or signing_secret")]
    MissingSecret {
        /// The configured algorithm.
        algorithm: JwtAlgorithm,
    },
    /// A text setting is empty while the setting that needs it is on (`s2s_token_env_var`
    /// with `s2s_enabled`).
    #[error("must not be empty when {by} is on")]
    EmptyWhenEnabled {
        /// The setting that needs it.
        by: Setting,
    },
    /// `api_key_prefix` is empty, too long, or has a character other than `[a-z0-9]` (the key
    /// separator `_` included).
    #[error("must be 1 to {max} characters of [a-z0-9]")]
    BadKeyPrefix {
        /// The longest accepted prefix.
        max: usize,
    },
    /// Not the name of a [`JwtAlgorithm`].
    #[error("unknown algorithm (expected one of HS256, HS384, HS512, RS256, ES256, EdDSA)")]
    UnknownAlgorithm,
    /// Not the name of a [`TokenBackendKind`](crate::TokenBackendKind).
    #[error("unknown backend (expected \"database\" or \"jwt\")")]
    UnknownBackend,
    /// Not the name of a [`RateLimitMode`](crate::RateLimitMode).
    #[error("unknown rate-limit mode (expected \"escalating\" or \"lockout\")")]
    UnknownRateLimitMode,
    /// Not the name of a [`TotpAlgorithm`](crate::TotpAlgorithm).
    #[error("unknown TOTP algorithm (expected one of SHA1, SHA256, SHA512)")]
    UnknownTotpAlgorithm,
    /// `totp_issuer` is empty, too long, or has a `:` or a control character (authenticator
    /// apps split the label at `:`).
    #[error("must be 1 to {max} characters, without ':' or control characters")]
    BadTotpIssuer {
        /// The longest accepted issuer, in characters.
        max: usize,
    },
}

/// Why an environment variable's value was refused, as [`Error::Env`]'s `reason`. Its
/// `Display` is the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EnvReason {
    /// A count was expected.
    #[error("expected a non-negative whole number")]
    NotAWholeNumber,
    /// A lifetime in seconds was expected.
    #[error("expected a whole number of seconds")]
    NotSeconds,
    /// A boolean was expected (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`).
    #[error("expected true or false")]
    NotABoolean,
    /// The value is not one the setting accepts (an unknown algorithm, backend or mode).
    #[error("{0}")]
    Invalid(InvalidReason),
    /// The value is not valid UTF-8.
    #[error("not valid UTF-8")]
    NotUtf8,
    /// The setting is read from code or a TOML file only (`password_validators`).
    #[error("cannot be set from the environment (use code or a TOML file)")]
    NotFromEnvironment,
}

/// The name of a `TESTUDO_*` environment variable that is not a testudo setting, as in
/// [`Error::UnknownEnv`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvVarName(Box<str>);

impl EnvVarName {
    pub(crate) fn new(name: &str) -> Self {
        Self(name.into())
    }

    /// The variable's name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EnvVarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a TOML document does not describe an [`AuthConfig`](crate::AuthConfig): the parser's
/// message, the key at fault and the position, as the source of [`Error::Parse`].
///
/// The TOML parser's own error stays inside (it is not part of this crate's API). Unlike it,
/// neither `Display` nor `Debug` quotes the document, nor a string value the parser's message
/// quotes (`invalid type: string "..."`): the offending line may hold a secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ParseError {
    error: Box<toml::de::Error>,
    /// 1-based line and column (in characters) where the parser stopped.
    position: Option<(usize, usize)>,
}

impl ParseError {
    /// Wraps `error`, raised while parsing `text`, dropping its copy of the document.
    pub(crate) fn new(mut error: toml::de::Error, text: &str) -> Self {
        let position = error
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| {
                let line_start = before.rfind('\n').map_or(0, |nl| nl + 1);
                let line = before.matches('\n').count() + 1;
                let column = before[line_start..].chars().count() + 1;
                (line, column)
            });
        error.set_input(None);
        Self {
            error: Box::new(error),
            position,
        }
    }
}

/// `message` with the contents of every `string "..."` it quotes (serde's way of naming a
/// string value of the wrong type) replaced by `...`.
fn redact_strings(message: &str) -> String {
    const QUOTED: &str = "string \"";
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find(QUOTED) {
        out.push_str(&rest[..at + QUOTED.len()]);
        let value = &rest[at + QUOTED.len()..];
        // The value is written with `{:?}`: it ends at the first quote not escaped.
        let mut escaped = false;
        let end = value
            .char_indices()
            .find(|&(_, c)| {
                let end = c == '"' && !escaped;
                escaped = c == '\\' && !escaped;
                end
            })
            .map_or(value.len(), |(i, _)| i);
        out.push_str("...");
        rest = &value[end..];
    }
    out.push_str(rest);
    out
}

impl fmt::Debug for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseError")
            .field("message", &redact_strings(self.error.message()))
            .field("position", &self.position)
            .finish_non_exhaustive()
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.position {
            write!(f, "line {line}, column {column}: ")?;
        }
        // Without the document, the parser's text is its message, then `in `key`` when it
        // knows the key: one line here.
        let text = redact_strings(&self.error.to_string());
        let mut parts = text.lines().map(str::trim).filter(|l| !l.is_empty());
        if let Some(first) = parts.next() {
            f.write_str(first)?;
        }
        for part in parts {
            write!(f, " {part}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ParseError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        Self::configuration(e)
    }
}
