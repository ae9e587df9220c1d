//! Benchmarks of the database token backend on a SQLite file: `verify_token` with 100 000
//! tokens in the table (uncached, cached, and 16 concurrent callers), and `create_tokens` for a
//! user below `max_tokens_per_user` and for one at it (each login evicting the oldest pair), with
//! the current connection options and with the previous ones (default `synchronous = FULL`,
//! pool of 8, statement cache of 100).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ActiveValue::Set, EntityTrait};
use testudo_config::AuthConfig;
use testudo_core::{Claims, TokenBackend, TokenType};
use testudo_db::{Database, SQLITE_BUSY_TIMEOUT};
use testudo_tokens_db::entity::access_token;
use testudo_tokens_db::{CacheOptions, DatabaseTokenBackend, generate_token, hash_token};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn setup(dir: &std::path::Path) -> BenchResult<(DatabaseTokenBackend, String, String)> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let db = Database::connect(&url).await?;
    db.migrate().await?;
    let backend = DatabaseTokenBackend::new(db.clone(), Arc::new(AuthConfig::default()));
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    for chunk in 0..100 {
        let rows: Vec<access_token::ActiveModel> = (0..1000)
            .map(|i| -> BenchResult<access_token::ActiveModel> {
                Ok(access_token::ActiveModel {
                    token_hash: Set(hash_token(&generate_token(64)?)),
                    jti: Set(format!("{chunk}-{i}")),
                    user_id: Set(format!("user{i}")),
                    family_id: Set(format!("{chunk}-{i}")),
                    extra: Set(None),
                    created_at: Set(now),
                    expires_at: Set(later),
                    is_revoked: Set(false),
                    revoked_at: Set(None),
                    ..Default::default()
                })
            })
            .collect::<BenchResult<_>>()?;
        access_token::Entity::insert_many(rows)
            .exec(db.as_sea_orm())
            .await?;
    }
    let pair = backend.create_tokens("bench", Claims::new()).await?;
    Ok((backend, pair.access_token().to_owned(), url))
}

/// The connection options before the tuning (pool 8, `synchronous` left at FULL, statement
/// cache 100).
async fn previous_options(url: &str) -> BenchResult<DatabaseTokenBackend> {
    // testudo's options as they were, with those three changed back (a sea-orm connection of
    // its own, wrapped through the escape hatch).
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false)
        .test_before_acquire(false)
        .max_connections(8)
        .min_connections(1);
    opts.map_sqlx_sqlite_opts(|o| {
        o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
            .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Full)
            .create_if_missing(true)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .statement_cache_capacity(100)
    });
    let db = Database::from_sea_orm(sea_orm::Database::connect(opts).await?);
    Ok(DatabaseTokenBackend::new(
        db,
        Arc::new(AuthConfig::default()),
    ))
}

/// 16 callers verifying `token` at once.
async fn concurrent(backend: &DatabaseTokenBackend, token: &Arc<str>) -> usize {
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (b, t) = (backend.clone(), token.clone());
        set.spawn(async move { b.verify(&t, TokenType::Access).await.is_ok() });
    }
    set.join_all().await.into_iter().filter(|ok| *ok).count()
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let Ok((backend, token, url)) = rt.block_on(setup(dir.path())) else {
        return;
    };
    let Ok(previous) = rt.block_on(previous_options(&url)) else {
        return;
    };
    let cached = backend.clone().with_cache(CacheOptions::default());
    let shared: Arc<str> = Arc::from(token.as_str());
    c.bench_function("verify_token (100k rows, sqlite file)", |b| {
        b.to_async(&rt).iter(|| async {
            backend
                .verify_token(&token, TokenType::Access)
                .await
                .is_ok()
        });
    });
    c.bench_function(
        "verify_token (100k rows, sqlite file, previous options)",
        |b| {
            b.to_async(&rt)
                .iter(|| async { previous.verify(&token, TokenType::Access).await.is_ok() });
        },
    );
    c.bench_function("verify_token cached hit (100k rows, sqlite file)", |b| {
        b.to_async(&rt)
            .iter(|| async { cached.verify(&token, TokenType::Access).await.is_ok() });
    });
    c.bench_function("16 concurrent verify_token (sqlite file)", |b| {
        b.to_async(&rt).iter(|| concurrent(&backend, &shared));
    });
    c.bench_function(
        "16 concurrent verify_token (sqlite file, previous options)",
        |b| {
            b.to_async(&rt).iter(|| concurrent(&previous, &shared));
        },
    );
    c.bench_function("16 concurrent verify_token cached (sqlite file)", |b| {
        b.to_async(&rt).iter(|| concurrent(&cached, &shared));
    });
    // A login: a user below `max_tokens_per_user` (a new user id each time), so nothing is
    // evicted.
    let users = AtomicU64::new(0);
    let next_user = || format!("user-{}", users.fetch_add(1, Ordering::Relaxed));
    c.bench_function("create_tokens (sqlite file)", |b| {
        b.to_async(&rt).iter(|| async {
            let user = next_user();
            backend.create_tokens(&user, Claims::new()).await.is_ok()
        });
    });
    // The same user every time: once at `max_tokens_per_user` (100), every login also revokes
    // the user's oldest pair.
    c.bench_function("create_tokens at max_tokens_per_user (sqlite file)", |b| {
        b.to_async(&rt)
            .iter(|| async { backend.create_tokens("bench", Claims::new()).await.is_ok() });
    });
    c.bench_function("create_tokens (sqlite file, previous options)", |b| {
        b.to_async(&rt).iter(|| async {
            let user = next_user();
            previous.create_tokens(&user, Claims::new()).await.is_ok()
        });
    });
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
