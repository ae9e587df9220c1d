//! API-key verification against opaque-token verification, on one SQLite file (WAL, testudo's
//! connection options) holding 10 000 API keys and 10 000 access tokens: `ApiKeyStore::verify`
//! with one required scope, and `DatabaseTokenBackend::verify_token` (no cache). Both are one
//! indexed lookup by digest; `verify` writes `last_used_at` at most once a minute, so within a
//! run it writes once.
//!
//! `cargo bench -p testudo-tokens-db --bench api_keys`; verifications per second are the
//! inverse of the times criterion reports.

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sea_orm::{ActiveValue::Set, EntityTrait};
use testudo_config::AuthConfig;
use testudo_core::{Claims, TokenBackend, TokenType};
use testudo_db::Database;
use testudo_events::EventEmitter;
use testudo_tokens_db::entity::{access_token, api_key};
use testudo_tokens_db::{
    ApiKeyOwner, ApiKeyStore, DatabaseTokenBackend, NewApiKey, generate_token, hash_token,
};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const ROWS: usize = 10_000;

struct Setup {
    keys: ApiKeyStore,
    key: String,
    tokens: DatabaseTokenBackend,
    token: String,
}

async fn setup(dir: &std::path::Path) -> BenchResult<Setup> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let db = Database::connect(&url).await?;
    db.migrate().await?;
    let config = Arc::new(AuthConfig::default());
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    for chunk in 0..ROWS / 1000 {
        let mut tokens = Vec::with_capacity(1000);
        let mut keys = Vec::with_capacity(1000);
        for i in 0..1000 {
            tokens.push(access_token::ActiveModel {
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
            });
            keys.push(api_key::ActiveModel {
                key_hash: Set(hash_token(&generate_token(53)?)),
                owner_kind: Set("user".to_owned()),
                owner_id: Set(format!("user{i}")),
                name: Set(format!("key {chunk}-{i}")),
                scopes: Set("read write".to_owned()),
                created_at: Set(now),
                expires_at: Set(None),
                last_used_at: Set(None),
                revoked_at: Set(None),
                ..Default::default()
            });
        }
        access_token::Entity::insert_many(tokens)
            .exec(db.as_sea_orm())
            .await?;
        api_key::Entity::insert_many(keys)
            .exec(db.as_sea_orm())
            .await?;
    }
    let tokens = DatabaseTokenBackend::new(db.clone(), config.clone());
    let pair = tokens.create_tokens("bench", Claims::new()).await?;
    let keys = ApiKeyStore::new(db, config).with_events(EventEmitter::new());
    let issued = keys
        .create(NewApiKey::new(ApiKeyOwner::user("bench"), "bench").scopes(["read", "write"]))
        .await?;
    Ok(Setup {
        keys,
        key: testudo_core::ExposeSecret::expose_secret(&issued.key).to_owned(),
        tokens,
        token: pair.access_token().to_owned(),
    })
}

fn bench(c: &mut Criterion) {
    let Ok(rt) = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    let s = match rt.block_on(setup(dir.path())) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("setup failed: {e}");
            return;
        }
    };
    let mut group = c.benchmark_group("verify_sqlite_file");
    group.bench_function("api_key", |b| {
        b.to_async(&rt).iter(|| async {
            let key = s.keys.verify(&s.key, &["read"]).await;
            assert!(key.is_ok(), "{key:?}");
        });
    });
    group.bench_function("opaque_token", |b| {
        b.to_async(&rt).iter(|| async {
            let payload = s.tokens.verify_token(&s.token, TokenType::Access).await;
            assert!(payload.is_ok(), "{payload:?}");
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
