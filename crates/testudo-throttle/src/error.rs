//! The crate's error type.

/// What the rate limiters can fail with.
///
/// Converts into [`testudo_core::Error`]: a [`Error::InvalidPolicy`] is a
/// [`Configuration`](testudo_core::Error::Configuration) error (the settings are wrong), a
/// failing database or Redis server a [`Storage`](testudo_core::Error::Storage) error with the
/// cause as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`Policy`](crate::Policy) cannot limit anything; the reason says which part.
    #[error("invalid rate-limit policy: {0}")]
    InvalidPolicy(PolicyError),
    /// The database failed; its [`kind`](testudo_db::Error::kind) says how, the driver's error
    /// is its source.
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[error(transparent)]
    Storage(#[from] testudo_db::Error),
    /// The Redis server failed or could not be reached; the client's error is the source.
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error("redis command failed")]
    Redis(#[source] testudo_core::BoxError),
    /// The Redis script answered something it never returns (another program wrote the key).
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    #[error("unexpected answer from the rate-limit script")]
    UnexpectedReply,
}

/// Why a [`Policy`](crate::Policy) was refused, as [`Error::InvalidPolicy`]'s reason. Its
/// `Display` is the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// `max_attempts` is zero.
    #[error("max_attempts must be at least 1")]
    ZeroMaxAttempts,
    /// `window` is shorter than a microsecond.
    #[error("window must be at least one microsecond")]
    ZeroWindow,
    /// A lockout, an escalation base or an escalation maximum is shorter than a microsecond.
    #[error("delays must be at least one microsecond")]
    ZeroDelay,
    /// The escalation's `max` is shorter than its `base`.
    #[error("the escalation's max must not be shorter than its base")]
    MaxBelowBase,
}

/// `Result` with this crate's [`enum@Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            e @ Error::InvalidPolicy(_) => Self::configuration(e),
            #[cfg(feature = "db")]
            Error::Storage(e) => e.into(),
            #[cfg(feature = "redis")]
            e @ (Error::Redis(_) | Error::UnexpectedReply) => Self::storage(e),
        }
    }
}

#[cfg(feature = "db")]
impl testudo_db::Retryable for Error {
    fn is_transient(&self) -> bool {
        matches!(self, Self::Storage(e) if e.is_transient())
    }
}

#[cfg(feature = "db")]
impl From<sea_orm::DbErr> for Error {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Storage(e.into())
    }
}

#[cfg(feature = "redis")]
impl From<redis::RedisError> for Error {
    fn from(e: redis::RedisError) -> Self {
        Self::Redis(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_policy_is_a_configuration_error_with_its_reason_as_data() {
        let e = Error::InvalidPolicy(PolicyError::ZeroWindow);
        assert_eq!(
            e.to_string(),
            "invalid rate-limit policy: window must be at least one microsecond"
        );
        let core = testudo_core::Error::from(e);
        assert!(
            matches!(core, testudo_core::Error::Configuration(_)),
            "{core:?}"
        );
    }

    #[cfg(feature = "db")]
    #[test]
    fn a_database_failure_is_a_storage_error_with_the_cause_in_source_only() {
        let e = Error::from(sea_orm::DbErr::Custom("select secret".into()));
        assert_eq!(e.to_string(), "database error");
        let core = testudo_core::Error::from(e);
        assert_eq!(core.to_string(), "storage error");
        assert!(matches!(core, testudo_core::Error::Storage(_)));
    }
}
