//! The crate's error type.

use std::fmt;

pub use testudo_core::EventError;

use crate::emitter::HandlerId;
use crate::event::EventKind;

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What managing listeners can fail with. (A failing handler is an [`EventError`], returned by
/// `emit` directly.)
///
/// Converts into [`testudo_core::Error`]: [`Error::Handler`] is an
/// [`Event`](testudo_core::Error::Event) error; [`Error::NotRegistered`] is a
/// [`Configuration`](testudo_core::Error::Configuration) error (the application wired its
/// handlers wrong, which, like a wrong setting, is fixed in its set-up).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `remove_listener` was given a handler that is not registered for that event.
    #[error("handler {id} is not registered for {}", EventOf(*event))]
    NotRegistered {
        /// The event, when it is a built-in one; `None` for an application's own event name
        /// (the caller has it: it passed it to `remove_listener`).
        event: Option<EventKind>,
        /// The handle that was not found.
        id: HandlerId,
    },
    /// A handler failed while errors propagate.
    #[error(transparent)]
    Handler(#[from] EventError),
}

/// Shows the event of [`Error::NotRegistered`]: `event 'user_login'`, or `that event`.
struct EventOf(Option<EventKind>);

impl fmt::Display for EventOf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(kind) => write!(f, "event '{kind}'"),
            None => f.write_str("that event"),
        }
    }
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
