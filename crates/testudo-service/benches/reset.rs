//! Password-reset requests: an address with an account, one without, an inactive account's and a
//! look-alike should cost the same (one lookup, one link signed; the `reset` flow tests assert
//! the counted work). Criterion measures each path; a final interleaved pass prints each path's
//! median relative to the known address. A handler is registered (doing nothing), as an
//! application's mailer would be, so the known path pays for its event.
//!
//! `cargo bench -p testudo-service --features sqlite --bench reset`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_config::AuthConfig;
use testudo_events::{EventEmitter, EventKind};
use testudo_service::{AuthService, DbUserStore};
use tokio::runtime::Runtime;

const CASES: [(&str, &str); 4] = [
    ("known_address", "known@example.com"),
    ("unknown_address", "nobody@example.com"),
    ("inactive_account", "inactive@example.com"),
    ("look_alike", "known@exämple.com"),
];

fn setup(rt: &Runtime) -> AuthService<DbUserStore> {
    rt.block_on(async {
        let config = Arc::new(
            AuthConfig::builder()
                .signing_secret("a-bench-signing-secret-of-at-least-32-bytes")
                .argon2_memory_cost(64)
                .argon2_time_cost(1)
                .argon2_parallelism(1)
                .build()
                .unwrap_or_else(|e| panic!("config: {e}")),
        );
        let db = testudo_db::Database::connect("sqlite::memory:")
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        db.migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        let events = EventEmitter::new();
        events.on(EventKind::PasswordResetRequested, |_| {
            Box::pin(async { Ok(()) })
        });
        let auth = AuthService::builder(config, DbUserStore::new(db.clone()))
            .database(db)
            .events(events)
            .build()
            .unwrap_or_else(|e| panic!("service: {e}"));
        let password = "correct horse battery staple";
        auth.create_user("known@example.com", password)
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        let inactive = auth
            .create_user("inactive@example.com", password)
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        auth.store()
            .set_active(&inactive.id.to_string(), false)
            .await
            .unwrap_or_else(|e| panic!("deactivate: {e}"));
        auth
    })
}

fn reset_requests(c: &mut Criterion) {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let auth = setup(&rt);
    let mut group = c.benchmark_group("request_reset");
    for (name, email) in CASES {
        group.bench_function(name, |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(auth.request_reset(email, None).await.is_ok()) });
        });
    }
    group.finish();

    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); CASES.len()];
    rt.block_on(async {
        for _ in 0..2000 {
            for (i, (_, email)) in CASES.iter().enumerate() {
                let start = Instant::now();
                let ok = auth.request_reset(email, None).await.is_ok();
                samples[i].push(start.elapsed());
                black_box(ok);
            }
        }
    });
    let medians: Vec<f64> = samples
        .iter_mut()
        .map(|s| {
            s.sort_unstable();
            s[s.len() / 2].as_secs_f64()
        })
        .collect();
    for (i, (name, _)) in CASES.iter().enumerate() {
        eprintln!(
            "request_reset/{name}: median {:.1} us, ratio to known_address {:.3}",
            medians[i] * 1e6,
            medians[i] / medians[0]
        );
    }
}

criterion_group!(benches, reset_requests);
criterion_main!(benches);
