//! Benchmarks of the database token backend on a SQLite file: `verify_token` with 100 000
//! tokens in the table, and `create_tokens`.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ActiveValue::Set, EntityTrait};
use testudo_config::AuthConfig;
use testudo_core::{Claims, TokenBackend, TokenType};
use testudo_migrations::{Migrator, MigratorTrait};
use testudo_tokens_db::entity::access_token;
use testudo_tokens_db::{DatabaseTokenBackend, connect, generate_token, hash_token};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn setup(dir: &std::path::Path) -> BenchResult<(DatabaseTokenBackend, String)> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let db = connect(&url).await?;
    Migrator::up(&db, None).await?;
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
        access_token::Entity::insert_many(rows).exec(&db).await?;
    }
    let pair = backend.create_tokens("bench", Claims::new()).await?;
    Ok((backend, pair.access_token().to_owned()))
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let Ok((backend, token)) = rt.block_on(setup(dir.path())) else {
        return;
    };
    c.bench_function("verify_token (100k rows, sqlite file)", |b| {
        b.to_async(&rt).iter(|| async {
            backend
                .verify_token(&token, TokenType::Access)
                .await
                .is_ok()
        });
    });
    c.bench_function("create_tokens (sqlite file)", |b| {
        b.to_async(&rt)
            .iter(|| async { backend.create_tokens("bench", Claims::new()).await.is_ok() });
    });
}

criterion_group!(tokens, benches);
criterion_main!(tokens);
