#![doc = include_str!("../README.md")]

mod emitter;
mod error;
mod event;
mod global;

pub use emitter::{EventEmitter, EventHandler, HandlerId, handler_fn};
pub use error::{Error, EventError, HandlerPanicked, Result};
pub use event::{
    ApiKeyFailure, ApiKeyOwner, Event, EventKind, EventUser, LoginFailureReason,
    SecondFactorMethod, VerificationMethod,
};
pub use futures::future::BoxFuture;
pub use global::{add_listener, emit, emitter, on, remove_listener};
pub use testudo_core::{BoxError, async_trait};
