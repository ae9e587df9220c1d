//! The process-wide default emitter and its module-level functions, as in tortoise-auth.

use std::sync::LazyLock;

use futures::future::BoxFuture;
use testudo_core::BoxError;

use crate::emitter::{EventEmitter, EventHandler, HandlerId};
use crate::error::{EventError, Result};
use crate::event::Event;

static EMITTER: LazyLock<EventEmitter> = LazyLock::new(EventEmitter::new);

/// The process-wide emitter, used by services not given one of their own.
#[must_use]
pub fn emitter() -> &'static EventEmitter {
    &EMITTER
}

/// [`EventEmitter::on`] on the process-wide emitter.
pub fn on<F>(event: impl AsRef<str>, handler: F) -> HandlerId
where
    F: for<'a> Fn(&'a Event) -> BoxFuture<'a, std::result::Result<(), BoxError>>
        + Send
        + Sync
        + 'static,
{
    emitter().on(event, handler)
}

/// [`EventEmitter::add_listener`] on the process-wide emitter.
pub fn add_listener(event: impl AsRef<str>, handler: impl EventHandler) -> HandlerId {
    emitter().add_listener(event, handler)
}

/// [`EventEmitter::remove_listener`] on the process-wide emitter.
///
/// # Errors
///
/// As [`EventEmitter::remove_listener`].
pub fn remove_listener(event: impl AsRef<str>, id: HandlerId) -> Result<()> {
    emitter().remove_listener(event, id)
}

/// [`EventEmitter::emit`] on the process-wide emitter.
///
/// # Errors
///
/// As [`EventEmitter::emit`].
pub async fn emit(event: &Event) -> std::result::Result<(), EventError> {
    emitter().emit(event).await
}
