//! `EmailTokenStore` on every available backend, with a test per Moth defect avoided.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{EntityTrait, PaginatorTrait};
use testudo_config::AuthConfig;
use testudo_core::{FixedClock, TokenError};
use testudo_test_support::db::{Backend, TestDb, backends};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_db::entity::email_token;
use testudo_tokens_db::{AuthOutcome, EmailTokenOptions, EmailTokenStore, Error, hash_token};

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
    ))
}

fn token_err(e: Option<Error>) -> Option<TokenError> {
    match e {
        Some(Error::Token(t)) => Some(t),
        _ => None,
    }
}

async fn create_auth_retval_and_removal(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let store = EmailTokenStore::new(db.db().clone(), Arc::new(AuthConfig::default()))
        .with_clock(clock.clone());
    // Multi-use (single use is the default, tested below).
    let t = store
        .create_token(
            " Ann@Example.COM",
            EmailTokenOptions::new().single_use(false),
        )
        .await?;
    assert_eq!(t.len(), 64);
    assert_eq!(
        store.auth_token("ann@example.com", &t, None).await?,
        AuthOutcome::Success
    );
    store.set_retval("ANN@example.com", "user-1").await?;
    assert_eq!(
        store.fetch_retval("ann@example.com").await?.as_deref(),
        Some("user-1")
    );
    assert_eq!(
        store.auth_token("ann@example.com", &t, None).await?,
        AuthOutcome::Retval("user-1".into())
    );
    // Another address cannot use the token.
    let e = store.auth_token("bob@example.com", &t, None).await.err();
    assert!(matches!(token_err(e), Some(TokenError::Invalid { .. })));
    // Single use: consumed on success.
    let s = store
        .create_token("ann@example.com", EmailTokenOptions::new().single_use(true))
        .await?;
    store.auth_token("ann@example.com", &s, None).await?;
    let e = store.auth_token("ann@example.com", &s, None).await.err();
    assert!(matches!(token_err(e), Some(TokenError::Invalid { .. })));
    // remove_token / remove_user.
    assert!(store.remove_token("ann@example.com", &t).await?);
    assert!(!store.remove_token("ann@example.com", &t).await?);
    store
        .create_token("ann@example.com", EmailTokenOptions::new())
        .await?;
    assert_eq!(store.remove_user("Ann@example.com").await?, 2);
    assert_eq!(store.fetch_retval("ann@example.com").await?, None);
    db.cleanup().await?;
    Ok(())
}
per_database!(create_auth_retval_and_removal);

#[tokio::test]
async fn moth_defect_predictable_tokens_avoided() -> TestResult {
    let db = TestDb::new(backends().remove(0)).await?;
    let store = EmailTokenStore::new(db.db().clone(), Arc::new(AuthConfig::default()));
    let mut seen = std::collections::HashSet::new();
    for _ in 0..200 {
        let t = store
            .create_token("a@example.com", EmailTokenOptions::new().token_size(32))
            .await?;
        assert_eq!(t.len(), 32);
        assert!(t.bytes().all(|c| c.is_ascii_alphanumeric()));
        assert!(seen.insert(t), "a token repeated");
    }
    db.cleanup().await?;
    Ok(())
}

async fn moth_defect_plaintext_storage_avoided(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let store = EmailTokenStore::new(db.db().clone(), Arc::new(AuthConfig::default()));
    let t = store
        .create_token("a@example.com", EmailTokenOptions::new().ip("10.0.0.1"))
        .await?;
    let row = email_token::Entity::find()
        .one(db.conn())
        .await?
        .ok_or("no row")?;
    assert_eq!(row.token_hash, hash_token(&t));
    assert!(!format!("{row:?}").contains(&t), "raw token stored");
    db.cleanup().await?;
    Ok(())
}
per_database!(moth_defect_plaintext_storage_avoided);

async fn moth_defect_bad_tokens_are_deleted_on_failure(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let store = EmailTokenStore::new(db.db().clone(), Arc::new(AuthConfig::default()))
        .with_clock(clock.clone());
    // Wrong IP: refused and deleted, so the right IP cannot use it afterwards either.
    let t = store
        .create_token("a@example.com", EmailTokenOptions::new().ip("10.0.0.1"))
        .await?;
    let e = store
        .auth_token("a@example.com", &t, Some("10.9.9.9"))
        .await
        .err();
    assert!(matches!(token_err(e), Some(TokenError::Invalid { .. })));
    let e = store
        .auth_token("a@example.com", &t, Some("10.0.0.1"))
        .await
        .err();
    assert!(matches!(token_err(e), Some(TokenError::Invalid { .. })));
    // Right IP works.
    let t = store
        .create_token(
            "a@example.com",
            EmailTokenOptions::new().ip("10.0.0.1").single_use(false),
        )
        .await?;
    store
        .auth_token("a@example.com", &t, Some("10.0.0.1"))
        .await?;
    // Expired: refused and deleted.
    clock.advance(Duration::from_secs(900));
    let e = store
        .auth_token("a@example.com", &t, Some("10.0.0.1"))
        .await
        .err();
    assert_eq!(token_err(e), Some(TokenError::Expired));
    assert_eq!(email_token::Entity::find().count(db.conn()).await?, 0);
    db.cleanup().await?;
    Ok(())
}
per_database!(moth_defect_bad_tokens_are_deleted_on_failure);

async fn moth_defect_string_compared_expiry_avoided(b: Backend) -> TestResult {
    // "10:00" > "9:59" as strings would be wrong; lifetimes crossing digit-count boundaries
    // (9 s vs 10 s, and a year boundary) are compared as times.
    let db = TestDb::new(b).await?;
    let clock = Arc::new(FixedClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-12-31T23:59:55Z")?.to_utc(),
    ));
    let store = EmailTokenStore::new(db.db().clone(), Arc::new(AuthConfig::default()))
        .with_clock(clock.clone());
    let t = store
        .create_token(
            "a@example.com",
            EmailTokenOptions::new()
                .expires_in(Duration::from_secs(10))
                .single_use(false),
        )
        .await?;
    clock.advance(Duration::from_secs(9));
    store.auth_token("a@example.com", &t, None).await?;
    clock.advance(Duration::from_secs(1));
    let e = store.auth_token("a@example.com", &t, None).await.err();
    assert_eq!(token_err(e), Some(TokenError::Expired));
    db.cleanup().await?;
    Ok(())
}
per_database!(moth_defect_string_compared_expiry_avoided);

#[tokio::test]
async fn default_lifetime_comes_from_the_config() -> TestResult {
    let db = TestDb::new(backends().remove(0)).await?;
    let clock = clock();
    let mut config = AuthConfig::default();
    config.email_token_lifetime = Duration::from_secs(60);
    let store = EmailTokenStore::new(db.db().clone(), Arc::new(config)).with_clock(clock.clone());
    store
        .create_token("a@example.com", EmailTokenOptions::new())
        .await?;
    let row = email_token::Entity::find()
        .one(db.conn())
        .await?
        .ok_or("no row")?;
    assert_eq!((row.expires_at - row.created_at).num_seconds(), 60);
    clock.advance(Duration::from_secs(60));
    assert_eq!(store.cleanup_expired().await?, 1);
    db.cleanup().await?;
    Ok(())
}
