//! `AuthService::authenticate` on a SQLite file with 100 000 access tokens in the table: one
//! token verification plus one user lookup, the path every authenticated request takes.
//!
//! `cargo bench -p testudo-service --features sqlite --bench authenticate`

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ActiveValue::Set, EntityTrait};
use testudo_config::AuthConfig;
use testudo_core::Claims;
use testudo_migrations::{Migrator, MigratorTrait};
use testudo_service::{AuthService, DbUserStore};
use testudo_tokens_db::entity::access_token;
use testudo_tokens_db::{connect, generate_token, hash_token};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

async fn setup(dir: &std::path::Path) -> BenchResult<(AuthService<DbUserStore>, String)> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let db = connect(&url).await?;
    Migrator::up(&db, None).await?;
    let auth = AuthService::builder(
        Arc::new(AuthConfig::default()),
        DbUserStore::new(db.clone()),
    )
    .database(db.clone())
    .events(testudo_events::EventEmitter::new())
    .build()?;
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    for chunk in 0..100 {
        let rows: Vec<access_token::ActiveModel> = (0..1000)
            .map(|i| -> BenchResult<access_token::ActiveModel> {
                Ok(access_token::ActiveModel {
                    token_hash: Set(hash_token(&generate_token(64)?)),
                    jti: Set(format!("{chunk}-{i}")),
                    user_id: Set(format!("{i}")),
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
    // No password hashing needed to authenticate: store an unusable password.
    let user = auth
        .store()
        .insert_user("bench@example.com", "!unusable")
        .await?;
    let pair = auth
        .backend()
        .create_tokens(&user.id.to_string(), Claims::new())
        .await?;
    Ok((auth, pair.access_token().to_owned()))
}

fn benches(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Runtime::new() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("testudo-authenticate-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    if let Ok((auth, token)) = rt.block_on(setup(&dir)) {
        c.bench_function("authenticate (100k rows, sqlite file)", |b| {
            b.to_async(&rt)
                .iter(|| async { auth.authenticate(&token).await.is_ok() });
        });
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(authenticate, benches);
criterion_main!(authenticate);
