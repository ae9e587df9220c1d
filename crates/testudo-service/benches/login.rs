//! Failed-login timing: unknown user, inactive user, unusable password and wrong password should
//! cost the same (one Argon2id verification with the current parameters). Criterion measures each
//! path; a final interleaved pass prints each path's median relative to the wrong-password one.
//!
//! `cargo bench -p testudo-service --features sqlite --bench login`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_config::AuthConfig;
use testudo_core::Claims;
use testudo_service::{AuthService, DbUserStore};
use tokio::runtime::Runtime;

const PASSWORD: &str = "correct horse battery staple";

fn setup(rt: &Runtime) -> AuthService<DbUserStore> {
    rt.block_on(async {
        // OWASP's minimum Argon2id parameters: realistic, yet quick enough to sample.
        let config = Arc::new(
            AuthConfig::builder()
                .argon2_memory_cost(19_456)
                .argon2_time_cost(2)
                .argon2_parallelism(1)
                .build()
                .unwrap_or_default(),
        );
        let db = testudo_db::Database::connect("sqlite::memory:")
            .await
            .unwrap_or_else(|e| panic!("connect: {e}"));
        db.migrate()
            .await
            .unwrap_or_else(|e| panic!("migrate: {e}"));
        let auth = AuthService::builder(config, DbUserStore::new(db.clone()))
            .database(db)
            .events(testudo_events::EventEmitter::new())
            .build()
            .unwrap_or_else(|e| panic!("service: {e}"));
        let create = |email: &'static str| auth.create_user(email, PASSWORD);
        create("known@example.com")
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        let inactive = create("inactive@example.com")
            .await
            .unwrap_or_else(|e| panic!("create: {e}"));
        auth.store()
            .set_active(&inactive.id.to_string(), false)
            .await
            .unwrap_or_else(|e| panic!("deactivate: {e}"));
        auth.store()
            .insert_user("unusable@example.com", "!unusable")
            .await
            .unwrap_or_else(|e| panic!("insert: {e}"));
        auth.hasher()
            .verify_dummy()
            .await
            .unwrap_or_else(|e| panic!("dummy: {e}"));
        auth
    })
}

const CASES: [(&str, &str, &str); 4] = [
    ("wrong_password", "known@example.com", "not the password"),
    ("unknown_user", "nobody@example.com", "not the password"),
    ("inactive_user", "inactive@example.com", PASSWORD),
    ("unusable_password", "unusable@example.com", PASSWORD),
];

fn failed_logins(c: &mut Criterion) {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("runtime: {e}"));
    let auth = setup(&rt);
    let mut group = c.benchmark_group("failed_login");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(8));
    for (name, email, password) in CASES {
        group.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                black_box(auth.login(email, password, Claims::new()).await.is_err())
            });
        });
    }
    group.finish();

    // Interleaved pass: the paths alternate, so machine load affects them alike.
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); CASES.len()];
    rt.block_on(async {
        for _ in 0..60 {
            for (i, (_, email, password)) in CASES.iter().enumerate() {
                let start = Instant::now();
                let failed = auth.login(email, password, Claims::new()).await.is_err();
                samples[i].push(start.elapsed());
                black_box(failed);
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
    for (i, (name, _, _)) in CASES.iter().enumerate() {
        eprintln!(
            "failed_login/{name}: median {:.2} ms, ratio to wrong_password {:.3}",
            medians[i] * 1e3,
            medians[i] / medians[0]
        );
    }
}

criterion_group!(benches, failed_logins);
criterion_main!(benches);
