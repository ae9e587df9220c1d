//! Criterion benches: emit with 0, 1 and 10 handlers.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
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
            b.iter(|| rt.block_on(emitter.emit(black_box(&event))).is_ok());
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
