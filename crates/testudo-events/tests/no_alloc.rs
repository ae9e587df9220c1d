//! Emitting to no listeners allocates nothing.
//!
//! `allocation-counter` replaces this test binary's global allocator with one that counts, per
//! thread, every allocation made inside `measure`. The emit future is polled by hand with a no-op
//! waker so that no runtime machinery is counted: only the emitter's own work.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use testudo_events::{Event, EventEmitter, EventKind, EventUser, LoginFailureReason};

/// Polls `emit` once (it is ready at once when nobody listens) and returns its allocation count.
fn allocations_of_emit(emitter: &EventEmitter, event: &Event) -> (u64, bool) {
    let mut ready = false;
    let info = allocation_counter::measure(|| {
        let mut fut = pin!(emitter.emit(event));
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(outcome) = fut.as_mut().poll(&mut cx) {
            ready = outcome.is_ok();
        }
    });
    (info.count_total, ready)
}

fn events() -> Vec<Event> {
    let user = EventUser::new("42", "ada@example.com");
    vec![
        Event::UserLogin { user: user.clone() },
        Event::UserLoginFailed {
            identifier: "ada@example.com".to_owned(),
            reason: LoginFailureReason::BadPassword,
        },
        Event::UserLogout { user: user.clone() },
        Event::PasswordChanged { user },
    ]
}

#[test]
fn emit_without_listeners_does_not_allocate() {
    let emitter = EventEmitter::new();
    for event in events() {
        let (allocations, ready) = allocations_of_emit(&emitter, &event);
        assert!(ready, "{} did not complete at once", event.name());
        assert_eq!(allocations, 0, "{} allocated", event.name());
    }
}

#[test]
fn emit_of_an_event_nobody_listens_to_does_not_allocate_when_others_listen() {
    let emitter = EventEmitter::new();
    emitter.on(EventKind::UserLogin, |_: &Event| Box::pin(async { Ok(()) }));
    let logout = Event::UserLogout {
        user: EventUser::new("42", "ada@example.com"),
    };
    let (allocations, ready) = allocations_of_emit(&emitter, &logout);
    assert!(ready);
    assert_eq!(allocations, 0);

    // After the last handler of an event is removed, emitting it is free again.
    let id = emitter.on(EventKind::UserLogout, |_: &Event| {
        Box::pin(async { Ok(()) })
    });
    let (with_listener, _) = allocations_of_emit(&emitter, &logout);
    assert!(
        with_listener > 0,
        "a listener's future is boxed, so this path allocates"
    );
    assert!(emitter.remove_listener(EventKind::UserLogout, id).is_ok());
    let (allocations, ready) = allocations_of_emit(&emitter, &logout);
    assert!(ready);
    assert_eq!(allocations, 0);
}

#[test]
fn has_listeners_does_not_allocate() {
    let emitter = EventEmitter::new();
    let mut answer = true;
    let info = allocation_counter::measure(|| {
        answer = emitter.has_listeners(EventKind::PasswordChanged);
    });
    assert!(!answer);
    assert_eq!(info.count_total, 0);
}
