//! `RateLimiter::hit` per backend: in memory, on a SQLite file, on PostgreSQL and MariaDB
//! (when `TESTUDO_TEST_POSTGRES_URL` / `TESTUDO_TEST_MYSQL_URL` are set, in a fresh database)
//! and on Redis (when `TESTUDO_TEST_REDIS_URL` is set, under a random prefix). Each hit is one
//! of 1024 keys in turn, under a policy that never limits them, so every hit checks and
//! records (an update of the key's state after the first round); plus, in memory, a key that
//! is refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_core::SystemClock;
use testudo_test_support::db::{Backend, TestDb};
use testudo_throttle::{
    DbRateLimiter, MemoryRateLimiter, Mode, Policy, RateKey, RateLimiter, RedisRateLimiter,
};

const KEYS: usize = 1024;

const POLICY: Policy = Policy {
    max_attempts: u32::MAX,
    window: Duration::from_secs(3600),
    mode: Mode::Escalating {
        base: Duration::from_secs(1),
        max: Duration::from_secs(600),
    },
};

fn keys() -> Vec<RateKey> {
    (0..KEYS)
        .map(|i| {
            RateKey::new("login", format!("user{i}@example.com"))
                .with_ip(std::net::IpAddr::from([192, 0, 2, 1]))
        })
        .collect()
}

fn bench_hits(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    limiter: &dyn RateLimiter,
) {
    let keys = keys();
    let next = AtomicUsize::new(0);
    c.bench_function(name, |b| {
        b.to_async(rt).iter(|| async {
            let key = &keys[next.fetch_add(1, Ordering::Relaxed) % KEYS];
            limiter.hit(key, &POLICY).await.is_ok()
        });
    });
}

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let clock = Arc::new(SystemClock);

    let memory = MemoryRateLimiter::new(clock.clone());
    bench_hits(c, &rt, "hit (memory)", &memory);
    let refused = RateKey::new("login", "refused@example.com");
    let strict = Policy {
        max_attempts: 1,
        window: Duration::from_secs(3600),
        mode: Mode::Lockout {
            lockout: Duration::from_secs(3600),
        },
    };
    c.bench_function("hit refused (memory)", |b| {
        b.to_async(&rt)
            .iter(|| async { memory.hit(&refused, &strict).await.is_ok() });
    });

    let mut servers = vec![("hit (sqlite file)", Backend::Sqlite { file: true })];
    servers.extend(Backend::postgres_from_env().map(|b| ("hit (postgres)", b)));
    servers.extend(Backend::mysql_from_env().map(|b| ("hit (mariadb)", b)));
    for (name, backend) in servers {
        let Ok(db) = rt.block_on(TestDb::new(backend)) else {
            continue;
        };
        let limiter = DbRateLimiter::new(db.db().clone(), clock.clone());
        bench_hits(c, &rt, name, &limiter);
        let _ = rt.block_on(db.cleanup());
    }

    if let Some(url) = env("TESTUDO_TEST_REDIS_URL") {
        let prefix = format!("testudo:bench:{:016x}:", getrandom::u64().unwrap_or(0));
        if let Ok(limiter) = rt.block_on(RedisRateLimiter::connect(&url, clock.clone())) {
            bench_hits(c, &rt, "hit (redis)", &limiter.with_prefix(prefix));
        }
    }
}

criterion_group!(hit, benches);
criterion_main!(hit);
