//! Criterion benches: emit with 0, 1 and 10 handlers.
//!
//! The handlers complete at once, so each emit future is polled once with a no-op waker
//! (`now_or_never`) instead of going through a runtime: the figures are the emitter's own cost
//! (snapshot, per-handler boxed future, panic guard), not a runtime's. The `*_block_on` variant
//! shows the cost of driving the same call through a current-thread tokio runtime.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use futures::FutureExt;
use testudo_events::{Event, EventEmitter, EventKind, EventUser};

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread().build() else {
        return;
    };
    let event = Event::UserLogin {
        user: EventUser::new("42", "ada@example.com"),
    };
    for handlers in [0_usize, 1, 10] {
        let emitter = EventEmitter::new();
        for _ in 0..handlers {
            emitter.on(EventKind::UserLogin, |event: &Event| {
                Box::pin(async move {
                    black_box(event.name());
                    Ok(())
                })
            });
        }
        c.bench_function(&format!("emit_{handlers}_handlers"), |b| {
            b.iter(|| {
                emitter
                    .emit(black_box(&event))
                    .now_or_never()
                    .is_some_and(|r| r.is_ok())
            });
        });
        if handlers == 0 {
            c.bench_function("emit_0_handlers_block_on", |b| {
                b.iter(|| rt.block_on(emitter.emit(black_box(&event))).is_ok());
            });
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
