//! `create_tokens` and `verify_token` for HS256 and EdDSA, without the revocation list.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{Claims, TokenBackend, TokenType};
use testudo_tokens_jwt::{JwtBackend, JwtKeys};

const ED_KEY: &str = include_str!("../tests/keys/ed1.key.pem");
const ED_PUB: &str = include_str!("../tests/keys/ed1.pub.pem");

fn backends() -> Result<Vec<(&'static str, JwtBackend)>, testudo_tokens_jwt::Error> {
    let mut hs = AuthConfig::default();
    hs.jwt_secret = Some("a-bench-secret-of-at-least-32-bytes-long".into());
    let mut ed = AuthConfig::default();
    ed.jwt_algorithm = JwtAlgorithm::EdDSA;
    let keys = JwtKeys::new()
        .signing_key(Some("k1"), ED_KEY)
        .verification_key(Some("k1"), ED_PUB);
    Ok(vec![
        ("HS256", JwtBackend::new(Arc::new(hs))?),
        ("EdDSA", JwtBackend::with_keys(Arc::new(ed), keys)?),
    ])
}

fn bench(c: &mut Criterion) {
    let (Ok(rt), Ok(backends)) = (
        tokio::runtime::Builder::new_current_thread().build(),
        backends(),
    ) else {
        return;
    };
    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    for (name, backend) in &backends {
        c.bench_function(&format!("create_tokens/{name}"), |b| {
            b.to_async(&rt)
                .iter(|| async { black_box(backend.create_tokens("42", extra.clone()).await) });
        });
        let Ok(pair) = rt.block_on(backend.create_tokens("42", extra.clone())) else {
            return;
        };
        c.bench_function(&format!("verify_token/{name}"), |b| {
            b.to_async(&rt).iter(|| async {
                black_box(
                    backend
                        .verify_token(pair.access_token(), TokenType::Access)
                        .await,
                )
            });
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
