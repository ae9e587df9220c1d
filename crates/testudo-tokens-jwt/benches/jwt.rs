//! `create_tokens` and `verify_token` for HS256 and EdDSA without the revocation list, and
//! HS256 with the revocation list on a SQLite file (10 000 blacklisted jtis, 20 000 outstanding).
//!
//! Raw-crate twins (`raw/create_tokens/HS256`, `raw/verify_token/HS256`): the same claims
//! encoded / decoded with `jsonwebtoken` directly, typed claims, the checks written inline.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::{Deserialize, Serialize};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{Claims, TokenBackend, TokenType};
use testudo_db::Database;
use testudo_tokens_jwt::entity::{blacklisted_token, outstanding_token};
use testudo_tokens_jwt::{JwtBackend, JwtKeys};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const HS_SECRET: &str = "a-bench-secret-of-at-least-32-bytes-long";

const ED_KEY: &str = include_str!("../tests/keys/ed1.key.pem");
const ED_PUB: &str = include_str!("../tests/keys/ed1.pub.pem");

fn backends() -> Result<Vec<(&'static str, JwtBackend)>, testudo_tokens_jwt::Error> {
    let mut hs = AuthConfig::default();
    hs.jwt_secret = Some(HS_SECRET.into());
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

/// A backend with the revocation list on a SQLite file in `dir`, the tables filled with
/// 20 000 outstanding and 10 000 blacklisted rows.
async fn with_list(dir: &std::path::Path) -> BenchResult<JwtBackend> {
    let url = format!("sqlite://{}?mode=rwc", dir.join("bench.db").display());
    let db = Database::connect(&url).await?;
    db.migrate().await?;
    let mut config = AuthConfig::default();
    config.jwt_secret = Some("a-bench-secret-of-at-least-32-bytes-long".into());
    config.jwt_blacklist_enabled = true;
    let backend = JwtBackend::new(Arc::new(config))?.with_revocation_list(db.clone());
    let now = chrono::Utc::now();
    let later = now + chrono::Duration::hours(1);
    for chunk in 0..20 {
        let rows = (0..1000).map(|i| outstanding_token::ActiveModel {
            jti: Set(format!("o{chunk}-{i}")),
            user_id: Set(format!("user{i}")),
            token_type: Set("access".into()),
            family_id: Set(Some(format!("f{chunk}-{i}"))),
            created_at: Set(now),
            expires_at: Set(later),
            ..Default::default()
        });
        outstanding_token::Entity::insert_many(rows)
            .exec(db.as_sea_orm())
            .await?;
    }
    for chunk in 0..10 {
        let rows = (0..1000).map(|i| blacklisted_token::ActiveModel {
            jti: Set(format!("o{chunk}-{i}")),
            blacklisted_at: Set(now),
            expires_at: Set(Some(later)),
            ..Default::default()
        });
        blacklisted_token::Entity::insert_many(rows)
            .exec(db.as_sea_orm())
            .await?;
    }
    Ok(backend)
}

fn bench_list(c: &mut Criterion) {
    let (Ok(rt), Ok(dir)) = (tokio::runtime::Runtime::new(), tempfile::tempdir()) else {
        return;
    };
    let Ok(backend) = rt.block_on(with_list(dir.path())) else {
        return;
    };
    let Ok(pair) = rt.block_on(backend.create_tokens("42", Claims::new())) else {
        return;
    };
    c.bench_function("verify_token/HS256 with list (sqlite file)", |b| {
        b.to_async(&rt).iter(|| async {
            black_box(
                backend
                    .verify_token(pair.access_token(), TokenType::Access)
                    .await,
            )
        });
    });
    c.bench_function("create_tokens/HS256 with list (sqlite file)", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(backend.create_tokens("42", Claims::new()).await) });
    });
}

/// The claims testudo writes, in its order (`iss` / `aud` are unset in these benches).
#[derive(Serialize)]
struct RawOutgoing<'a> {
    sub: &'a str,
    token_type: &'static str,
    jti: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Claims>,
}

/// What a verifier reads back (`exp` is read and checked by jsonwebtoken's `Validation`).
#[derive(Deserialize)]
struct RawIncoming {
    sub: String,
    token_type: String,
    jti: String,
    iat: i64,
    #[serde(default)]
    extra: Option<Claims>,
}

/// A hand-rolled HS256 backend: the keys, the lifetimes and one `Validation`.
struct RawJwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_lifetime: i64,
    refresh_lifetime: i64,
}

impl RawJwt {
    fn new() -> Self {
        let config = AuthConfig::default();
        let mut validation = Validation::new(Algorithm::HS256);
        // As testudo's: HS256 only, no leeway, no audience; exp checked (here by jsonwebtoken).
        validation.leeway = 0;
        validation.validate_aud = false;
        Self {
            encoding: EncodingKey::from_secret(HS_SECRET.as_bytes()),
            decoding: DecodingKey::from_secret(HS_SECRET.as_bytes()),
            validation,
            access_lifetime: i64::try_from(config.access_token_lifetime.as_secs())
                .unwrap_or(i64::MAX),
            refresh_lifetime: i64::try_from(config.refresh_token_lifetime.as_secs())
                .unwrap_or(i64::MAX),
        }
    }

    /// An access and a refresh token, fresh `jti`s, the extra claims in the access token.
    fn create(&self, sub: &str, extra: &Claims) -> jsonwebtoken::errors::Result<(String, String)> {
        let iat = chrono::Utc::now().timestamp();
        let header = Header::new(Algorithm::HS256);
        let (access_jti, refresh_jti) = (
            uuid::Uuid::new_v4().simple().to_string(),
            uuid::Uuid::new_v4().simple().to_string(),
        );
        let access = jsonwebtoken::encode(
            &header,
            &RawOutgoing {
                sub,
                token_type: "access",
                jti: &access_jti,
                iat,
                exp: iat.saturating_add(self.access_lifetime),
                extra: (!extra.is_empty()).then_some(extra),
            },
            &self.encoding,
        )?;
        let refresh = jsonwebtoken::encode(
            &header,
            &RawOutgoing {
                sub,
                token_type: "refresh",
                jti: &refresh_jti,
                iat,
                exp: iat.saturating_add(self.refresh_lifetime),
                extra: None,
            },
            &self.encoding,
        )?;
        Ok((access, refresh))
    }

    /// Signature, algorithm and exp by jsonwebtoken; iat not in the future and the token type
    /// by hand. Returns (sub, jti, extra).
    fn verify(&self, token: &str) -> Option<(String, String, Option<Claims>)> {
        let claims = jsonwebtoken::decode::<RawIncoming>(token, &self.decoding, &self.validation)
            .ok()?
            .claims;
        let fresh = claims.iat <= chrono::Utc::now().timestamp();
        (fresh && claims.token_type == "access" && !claims.jti.is_empty()).then_some((
            claims.sub,
            claims.jti,
            claims.extra,
        ))
    }
}

fn bench_raw(c: &mut Criterion) {
    let raw = RawJwt::new();
    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    let Ok((access, _)) = raw.create("42", &extra) else {
        return;
    };
    if raw.verify(&access).is_none() {
        eprintln!("raw/verify_token/HS256 refuses its own token: the raw twins are not comparable");
    }
    c.bench_function("raw/create_tokens/HS256", |b| {
        b.iter(|| black_box(raw.create(black_box("42"), &extra)));
    });
    c.bench_function("raw/verify_token/HS256", |b| {
        b.iter(|| black_box(raw.verify(black_box(&access))));
    });
}

criterion_group!(benches, bench, bench_raw, bench_list);
criterion_main!(benches);
