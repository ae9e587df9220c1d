//! [`EventEmitter`]: async handlers run in order over a snapshot of the listener list.

use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use testudo_core::{BoxError, async_trait};

use crate::error::{Error, EventError, HandlerPanicked, Result};
use crate::event::{Event, EventKind};

/// An async event handler.
///
/// Implement it for handlers with state, or register a closure with [`EventEmitter::on`].
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Handles one event. An error (or a panic) is logged, or returned by `emit` when the
    /// emitter propagates errors.
    async fn handle(&self, event: &Event) -> std::result::Result<(), BoxError>;

    /// The name reported in [`EventError::handler`] and in logs. Defaults to the type name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }
}

/// The handle of a registered handler, to remove it with [`EventEmitter::remove_listener`]
/// (closures have no identity). Unique in the process, across emitters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HandlerId(u64);

impl fmt::Display for HandlerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct FnHandler<F>(F);

#[async_trait]
impl<F> EventHandler for FnHandler<F>
where
    F: for<'a> Fn(&'a Event) -> BoxFuture<'a, std::result::Result<(), BoxError>>
        + Send
        + Sync
        + 'static,
{
    async fn handle(&self, event: &Event) -> std::result::Result<(), BoxError> {
        (self.0)(event).await
    }

    fn name(&self) -> &str {
        std::any::type_name::<F>()
    }
}

#[derive(Clone)]
struct Listener {
    id: HandlerId,
    handler: Arc<dyn EventHandler>,
}

type Snapshot = Arc<[Listener]>;

#[derive(Default)]
struct Inner {
    propagate_errors: AtomicBool,
    listeners: RwLock<HashMap<String, Snapshot>>,
}

/// An async event emitter; a cheap handle (`Clone` shares the same listeners).
///
/// - Handlers run one after the other, in registration order, over a snapshot of the list taken
///   when `emit` starts: handlers added or removed meanwhile take effect from the next emit.
/// - With `propagate_errors` off (the default) a handler's error or panic is logged with
///   `tracing::error!` (target `testudo_events`) and the next handler runs; on, `emit` returns
///   it as an [`EventError`] and the later handlers are skipped.
/// - Emitting an event nobody listens to is a map lookup under a read lock: no allocation.
#[derive(Clone, Default)]
pub struct EventEmitter {
    inner: Arc<Inner>,
}

impl fmt::Debug for EventEmitter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let map = self.read();
        let mut counts: Vec<(&str, usize)> =
            map.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
        counts.sort_unstable();
        f.debug_struct("EventEmitter")
            .field("propagate_errors", &self.propagate_errors())
            .field("listeners", &counts)
            .finish()
    }
}

impl EventEmitter {
    /// An emitter with no listeners that logs handler errors.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// An emitter with no listeners whose handler errors surface from `emit` when `propagate`.
    #[must_use]
    pub fn with_propagate_errors(propagate: bool) -> Self {
        let emitter = Self::new();
        emitter.set_propagate_errors(propagate);
        emitter
    }

    /// Whether handler errors are returned by `emit` (else logged).
    #[must_use]
    pub fn propagate_errors(&self) -> bool {
        self.inner.propagate_errors.load(Ordering::Relaxed)
    }

    /// Sets whether handler errors are returned by `emit`.
    pub fn set_propagate_errors(&self, propagate: bool) {
        self.inner
            .propagate_errors
            .store(propagate, Ordering::Relaxed);
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Snapshot>> {
        self.inner
            .listeners
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Snapshot>> {
        self.inner
            .listeners
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `handler` for `event` (a name, or an [`EventKind`](crate::EventKind)), after
    /// the handlers already there. The same handler may be registered more than once.
    pub fn add_listener(&self, event: impl AsRef<str>, handler: impl EventHandler) -> HandlerId {
        self.add_arc(event.as_ref(), Arc::new(handler))
    }

    /// As [`Self::add_listener`], for a shared handler.
    pub fn add_shared_listener(
        &self,
        event: impl AsRef<str>,
        handler: Arc<dyn EventHandler>,
    ) -> HandlerId {
        self.add_arc(event.as_ref(), handler)
    }

    /// Registers an async closure for `event`:
    ///
    /// ```
    /// # use testudo_events::{Event, EventEmitter, EventKind};
    /// let emitter = EventEmitter::new();
    /// emitter.on(EventKind::UserLogin, |event: &Event| {
    ///     Box::pin(async move {
    ///         let _ = event.user();
    ///         Ok(())
    ///     })
    /// });
    /// assert_eq!(emitter.listener_count("user_login"), 1);
    /// ```
    pub fn on<F>(&self, event: impl AsRef<str>, handler: F) -> HandlerId
    where
        F: for<'a> Fn(&'a Event) -> BoxFuture<'a, std::result::Result<(), BoxError>>
            + Send
            + Sync
            + 'static,
    {
        self.add_arc(event.as_ref(), Arc::new(FnHandler(handler)))
    }

    fn add_arc(&self, event: &str, handler: Arc<dyn EventHandler>) -> HandlerId {
        let id = HandlerId(NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let listener = Listener { id, handler };
        let mut map = self.write();
        let list: Snapshot = match map.get(event) {
            Some(old) => old.iter().cloned().chain([listener]).collect(),
            None => Arc::from([listener]),
        };
        map.insert(event.to_owned(), list);
        id
    }

    /// Removes the handler registered as `id` for `event`.
    ///
    /// # Errors
    ///
    /// [`Error::NotRegistered`] if `id` is not registered for `event` (never registered,
    /// already removed, or registered for another event).
    pub fn remove_listener(&self, event: impl AsRef<str>, id: HandlerId) -> Result<()> {
        let event = event.as_ref();
        let mut map = self.write();
        let not_registered = || Error::NotRegistered {
            event: EventKind::from_name(event),
            id,
        };
        let old = map.get(event).ok_or_else(not_registered)?;
        if !old.iter().any(|l| l.id == id) {
            return Err(not_registered());
        }
        let rest: Vec<Listener> = old.iter().filter(|l| l.id != id).cloned().collect();
        if rest.is_empty() {
            map.remove(event);
        } else {
            map.insert(event.to_owned(), Arc::from(rest));
        }
        Ok(())
    }

    /// The handles registered for `event`, in the order they run.
    #[must_use]
    pub fn listeners(&self, event: impl AsRef<str>) -> Vec<HandlerId> {
        self.read()
            .get(event.as_ref())
            .map(|l| l.iter().map(|l| l.id).collect())
            .unwrap_or_default()
    }

    /// How many handlers are registered for `event`.
    #[must_use]
    pub fn listener_count(&self, event: impl AsRef<str>) -> usize {
        self.read().get(event.as_ref()).map_or(0, |l| l.len())
    }

    /// Whether any handler listens to `event`; lets a caller skip building a costly event.
    #[must_use]
    pub fn has_listeners(&self, event: impl AsRef<str>) -> bool {
        self.read().contains_key(event.as_ref())
    }

    /// Removes every handler of `event`, or of every event when `None`.
    pub fn clear(&self, event: Option<&str>) {
        let mut map = self.write();
        match event {
            Some(event) => {
                map.remove(event);
            }
            None => map.clear(),
        }
    }

    /// Runs every handler of `event.name()`, in registration order, over a snapshot of the list.
    ///
    /// # Errors
    ///
    /// With `propagate_errors` on, the first handler error or panic, as an [`EventError`]
    /// (event name, handler name, cause); the later handlers do not run. Off, never.
    pub async fn emit(&self, event: &Event) -> std::result::Result<(), EventError> {
        let name = event.name();
        let snapshot = {
            let map = self.read();
            match map.get(name) {
                Some(list) => Arc::clone(list),
                None => return Ok(()),
            }
        };
        for listener in snapshot.iter() {
            let outcome = AssertUnwindSafe(listener.handler.handle(event))
                .catch_unwind()
                .await;
            let source: BoxError = match outcome {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e,
                Err(panic) => Box::new(HandlerPanicked {
                    message: panic_message(panic.as_ref()),
                }),
            };
            let error = EventError {
                event: name.to_owned(),
                handler: listener.handler.name().to_owned(),
                source,
            };
            if self.propagate_errors() {
                return Err(error);
            }
            tracing::error!(
                event = %error.event,
                handler = %error.handler,
                handler_id = %listener.id,
                error = %error.source,
                "event handler failed"
            );
        }
        Ok(())
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

/// Builds a handler from an async closure taking `&Event`, for APIs that take an
/// `impl EventHandler` (the closure form of [`EventEmitter::on`]).
pub fn handler_fn<F>(f: F) -> impl EventHandler
where
    F: for<'a> Fn(&'a Event) -> BoxFuture<'a, std::result::Result<(), BoxError>>
        + Send
        + Sync
        + 'static,
{
    FnHandler(f)
}
