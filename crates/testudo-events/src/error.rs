//! The crate's error type.

pub use testudo_core::EventError;

use crate::emitter::HandlerId;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What managing listeners can fail with. (A failing handler is an [`EventError`], returned by
/// `emit` directly.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `remove_listener` was given a handler that is not registered for that event.
    #[error("handler {id} is not registered for event '{event}'")]
    NotRegistered {
        /// The event name.
        event: String,
        /// The handle that was not found.
        id: HandlerId,
    },
    /// A handler failed while errors propagate.
    #[error(transparent)]
    Handler(#[from] EventError),
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Handler(e) => Self::Event(e),
            other @ Error::NotRegistered { .. } => Self::configuration(other),
        }
    }
}

/// The error a panicking handler is reported with.
#[derive(Debug, thiserror::Error)]
#[error("handler panicked: {message}")]
pub struct HandlerPanicked {
    /// The panic message, when it was a string.
    pub message: String,
}
