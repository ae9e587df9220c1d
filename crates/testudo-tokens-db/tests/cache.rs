//! The verification cache of `DatabaseTokenBackend`: exact within the process, stale for at
//! most `ttl` across instances, exact across nodes with PostgreSQL LISTEN/NOTIFY.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use testudo_config::AuthConfig;
use testudo_core::{Claims, FixedClock, TokenError, TokenPayload, TokenType};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_db::entity::access_token;
use testudo_tokens_db::{
    CacheOptions, DEFAULT_ROTATION_GRACE, DatabaseTokenBackend, Error, StoredAccessToken,
    hash_token,
};

const HOUR: Duration = Duration::from_secs(3600);

fn config(f: impl FnOnce(&mut AuthConfig)) -> Arc<AuthConfig> {
    let mut c = AuthConfig::default();
    f(&mut c);
    Arc::new(c)
}

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default(),
    ))
}

fn cached(db: &TestDb, clock: &Arc<FixedClock>, ttl: Duration) -> DatabaseTokenBackend {
    DatabaseTokenBackend::new(db.db().clone(), config(|_| {}))
        .with_clock(clock.clone())
        .with_cache(CacheOptions::default().ttl(ttl))
}

fn token_err(r: &Result<TokenPayload, Error>) -> Option<&TokenError> {
    match r {
        Err(Error::Token(t)) => Some(t),
        _ => None,
    }
}

async fn refused(b: &DatabaseTokenBackend, token: &str, ty: TokenType) -> bool {
    matches!(
        token_err(&b.verify(token, ty).await),
        Some(TokenError::Revoked)
    )
}

async fn cache_is_off_by_default(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let one = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}));
    let two = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}));
    assert_eq!(one.cached_tokens(), None);
    let pair = one.create("u", Claims::new()).await?;
    two.verify(pair.access_token(), TokenType::Access).await?;
    one.revoke(pair.access_token()).await?;
    assert!(refused(&two, pair.access_token(), TokenType::Access).await);
    db.cleanup().await?;
    Ok(())
}
per_database!(cache_is_off_by_default);

async fn revocations_in_process_are_seen_at_once(b: Backend) -> TestResult {
    let db = TestDb::new(b.clone()).await?;
    let clock = clock();
    let backend = cached(&db, &clock, HOUR);
    let other = backend.clone(); // clones share the cache
    let name = b.name();

    // revoke (access token)
    let p = backend.create("u1", Claims::new()).await?;
    backend.verify(p.access_token(), TokenType::Access).await?;
    assert_eq!(backend.cached_tokens(), Some(1), "{name}");
    backend.verify(p.access_token(), TokenType::Access).await?;
    other.revoke(p.access_token()).await?;
    assert!(
        refused(&backend, p.access_token(), TokenType::Access).await,
        "{name}"
    );

    // revoke (refresh token, with its paired access token)
    let p = backend.create("u1", Claims::new()).await?;
    backend.verify(p.access_token(), TokenType::Access).await?;
    backend
        .verify(p.refresh_token(), TokenType::Refresh)
        .await?;
    other.revoke(p.refresh_token()).await?;
    assert!(
        refused(&backend, p.refresh_token(), TokenType::Refresh).await,
        "{name}"
    );
    assert!(
        refused(&backend, p.access_token(), TokenType::Access).await,
        "{name}"
    );

    // rotate: the rotated refresh token and its paired access token
    let p = backend.create("u1", Claims::new()).await?;
    backend.verify(p.access_token(), TokenType::Access).await?;
    backend
        .verify(p.refresh_token(), TokenType::Refresh)
        .await?;
    let (_, next) = other.rotate_refresh(p.refresh_token()).await?;
    assert!(
        refused(&backend, p.refresh_token(), TokenType::Refresh).await,
        "{name}"
    );
    assert!(
        refused(&backend, p.access_token(), TokenType::Access).await,
        "{name}"
    );
    backend
        .verify(next.access_token(), TokenType::Access)
        .await?;
    backend
        .verify(next.refresh_token(), TokenType::Refresh)
        .await?;

    // reuse detection revokes the family (the new pair, cached above)
    clock.advance(DEFAULT_ROTATION_GRACE + Duration::from_secs(1));
    let replay = other.rotate_refresh(p.refresh_token()).await;
    assert!(
        matches!(replay, Err(Error::Token(TokenError::Revoked))),
        "{name}"
    );
    assert!(
        refused(&backend, next.access_token(), TokenType::Access).await,
        "{name}"
    );
    assert!(
        refused(&backend, next.refresh_token(), TokenType::Refresh).await,
        "{name}"
    );

    // revoke_all
    let a = backend.create("u2", Claims::new()).await?;
    let c = backend.create("u2", Claims::new()).await?;
    let keep = backend.create("u3", Claims::new()).await?;
    for t in [&a, &c, &keep] {
        backend.verify(t.access_token(), TokenType::Access).await?;
        backend
            .verify(t.refresh_token(), TokenType::Refresh)
            .await?;
    }
    assert_eq!(other.revoke_all("u2").await?, 4, "{name}");
    for t in [&a, &c] {
        assert!(
            refused(&backend, t.access_token(), TokenType::Access).await,
            "{name}"
        );
        assert!(
            refused(&backend, t.refresh_token(), TokenType::Refresh).await,
            "{name}"
        );
    }
    backend
        .verify(keep.access_token(), TokenType::Access)
        .await?;
    db.cleanup().await?;
    Ok(())
}
per_database!(revocations_in_process_are_seen_at_once);

async fn limit_eviction_invalidates(b: Backend) -> TestResult {
    let db = TestDb::new(b.clone()).await?;
    let clock = clock();
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|c| c.max_tokens_per_user = 2))
        .with_clock(clock.clone())
        .with_cache(CacheOptions::default().ttl(HOUR));
    let first = backend.create("u", Claims::new()).await?;
    backend
        .verify(first.access_token(), TokenType::Access)
        .await?;
    backend
        .verify(first.refresh_token(), TokenType::Refresh)
        .await?;
    clock.advance(Duration::from_secs(1));
    backend.create("u", Claims::new()).await?;
    clock.advance(Duration::from_secs(1));
    backend.create("u", Claims::new()).await?;
    let name = b.name();
    assert!(
        refused(&backend, first.access_token(), TokenType::Access).await,
        "{name}"
    );
    assert!(
        refused(&backend, first.refresh_token(), TokenType::Refresh).await,
        "{name}"
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(limit_eviction_invalidates);

async fn another_instance_is_stale_for_at_most_ttl(b: Backend) -> TestResult {
    let db = TestDb::new(b.clone()).await?;
    let clock = clock();
    let node_a = cached(&db, &clock, Duration::from_secs(10));
    // A separate instance: its own (empty) cache, like another process.
    let node_b = cached(&db, &clock, Duration::from_secs(10));
    let p = node_b.create("u", Claims::new()).await?;
    node_a.verify(p.access_token(), TokenType::Access).await?;
    node_b.revoke(p.access_token()).await?;
    assert!(refused(&node_b, p.access_token(), TokenType::Access).await);
    // Stale within ttl: the documented cross-process bound.
    let stale = node_a.verify(p.access_token(), TokenType::Access).await?;
    assert_eq!(stale.sub, "u");
    clock.advance(Duration::from_secs(9));
    node_a.verify(p.access_token(), TokenType::Access).await?;
    clock.advance(Duration::from_secs(1));
    assert!(
        refused(&node_a, p.access_token(), TokenType::Access).await,
        "{}",
        b.name()
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(another_instance_is_stale_for_at_most_ttl);

async fn cached_entry_never_outlives_the_token(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend = cached(&db, &clock, Duration::from_secs(100_000));
    let p = backend.create("u", Claims::new()).await?;
    backend.verify(p.access_token(), TokenType::Access).await?;
    clock.advance(Duration::from_secs(899));
    backend.verify(p.access_token(), TokenType::Access).await?;
    clock.advance(Duration::from_secs(1));
    let r = backend.verify(p.access_token(), TokenType::Access).await;
    assert!(matches!(token_err(&r), Some(TokenError::Expired)));
    // Cleanup drops the rows and the entries.
    assert_eq!(backend.cleanup().await?, 1);
    assert_eq!(backend.cached_tokens(), Some(0));
    db.cleanup().await?;
    Ok(())
}
per_database!(cached_entry_never_outlives_the_token);

#[tokio::test]
async fn a_cached_token_is_not_valid_as_the_other_type() -> TestResult {
    let db = TestDb::new(Backend::Sqlite { file: false }).await?;
    let clock = clock();
    let backend = cached(&db, &clock, HOUR);
    let p = backend.create("u", Claims::new()).await?;
    backend.verify(p.access_token(), TokenType::Access).await?;
    let r = backend.verify(p.access_token(), TokenType::Refresh).await;
    assert!(matches!(token_err(&r), Some(TokenError::Invalid { .. })));
    db.cleanup().await?;
    Ok(())
}

async fn verify_access_with_loads_the_row_once(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend = cached(&db, &clock, HOUR);
    let p = backend.create("u", Claims::new()).await?;
    let calls = AtomicUsize::new(0);
    let conn = db.db().clone();
    let fetch = |digest: String| {
        calls.fetch_add(1, Ordering::SeqCst);
        let conn = conn.clone();
        async move {
            let row = access_token::Entity::find()
                .filter(access_token::Column::TokenHash.eq(digest))
                .one(conn.as_sea_orm())
                .await?;
            Ok(row.map(|r| (StoredAccessToken::from(r), 7_u32)))
        }
    };
    let (payload, extra) = backend.verify_access_with(p.access_token(), fetch).await?;
    assert_eq!((payload.sub.as_str(), extra), ("u", Some(7)));
    // From the cache: fetch not called.
    let (again, extra) = backend.verify_access_with(p.access_token(), fetch).await?;
    assert_eq!((again, extra), (payload, None));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Digest handed to fetch; unknown rows are invalid; revoked refused at once.
    let seen = std::sync::Mutex::new(String::new());
    let other = backend.create("u", Claims::new()).await?;
    let r = backend
        .verify_access_with(other.access_token(), |d: String| {
            if let Ok(mut s) = seen.lock() {
                *s = d;
            }
            async { Ok(None::<(StoredAccessToken, ())>) }
        })
        .await;
    assert!(matches!(r, Err(Error::Token(TokenError::Invalid { .. }))));
    assert_eq!(
        seen.lock().map(|s| s.clone()).unwrap_or_default(),
        hash_token(other.access_token())
    );
    backend.revoke(p.access_token()).await?;
    let r = backend.verify_access_with(p.access_token(), fetch).await;
    assert!(matches!(r, Err(Error::Token(TokenError::Revoked))));
    db.cleanup().await?;
    Ok(())
}
per_database!(verify_access_with_loads_the_row_once);

async fn verifies_racing_revokes_never_see_a_revoked_token(b: Backend) -> TestResult {
    let db = TestDb::new(b.clone()).await?;
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}))
        .with_cache(CacheOptions::default().ttl(HOUR));
    let mut tokens = Vec::new();
    for i in 0..12 {
        tokens.push(backend.create(&format!("u{i}"), Claims::new()).await?);
    }
    let tokens = Arc::new(tokens);
    let revoked: Arc<Vec<AtomicBool>> =
        Arc::new((0..tokens.len()).map(|_| AtomicBool::new(false)).collect());
    let done = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let mut verifiers = Vec::new();
    for v in 0..6 {
        let (backend, tokens, revoked, done, violations, accepted) = (
            backend.clone(),
            tokens.clone(),
            revoked.clone(),
            done.clone(),
            violations.clone(),
            accepted.clone(),
        );
        verifiers.push(tokio::spawn(async move {
            let mut i = v;
            while !done.load(Ordering::SeqCst) {
                i = (i + 1) % tokens.len();
                let before = revoked[i].load(Ordering::SeqCst);
                let r = backend
                    .verify(tokens[i].access_token(), TokenType::Access)
                    .await;
                if r.is_ok() {
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if before {
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    // The verifiers are running (their connections are open and every token has been
    // accepted at least once on average) before the first revoke, so the race is real
    // however slowly the pool fills on a busy machine.
    let warm = accepted.clone();
    let n = tokens.len();
    assert!(
        eventually(|| {
            let warm = warm.clone();
            async move { warm.load(Ordering::SeqCst) >= n }
        })
        .await,
        "{}: verifiers never got going",
        b.name()
    );
    for (i, t) in tokens.iter().enumerate() {
        tokio::task::yield_now().await;
        backend.revoke(t.access_token()).await?;
        revoked[i].store(true, Ordering::SeqCst);
    }
    done.store(true, Ordering::SeqCst);
    for v in verifiers {
        v.await?;
    }
    assert_eq!(violations.load(Ordering::SeqCst), 0, "{}", b.name());
    assert!(accepted.load(Ordering::SeqCst) > 0, "{}", b.name());
    for t in tokens.iter() {
        assert!(refused(&backend, t.access_token(), TokenType::Access).await);
    }
    db.cleanup().await?;
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    verifies_racing_revokes_never_see_a_revoked_token,
    sqlite_file
);

/// Polls `cond` every 10 ms for at most 5 s.
async fn eventually<F, Fut>(mut cond: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..500 {
        if cond().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn postgres_notifications_make_other_nodes_exact(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let node_a = cached(&db, &clock, HOUR);
    node_a.listen_for_revocations().await?;
    let node_b = cached(&db, &clock, HOUR);

    // revoke
    let p = node_b.create("u", Claims::new()).await?;
    node_a.verify(p.access_token(), TokenType::Access).await?;
    assert_eq!(node_a.cached_tokens(), Some(1));
    node_b.revoke(p.access_token()).await?;
    assert!(eventually(|| refused(&node_a, p.access_token(), TokenType::Access)).await);

    // rotate
    let p = node_b.create("u", Claims::new()).await?;
    node_a.verify(p.access_token(), TokenType::Access).await?;
    node_a.verify(p.refresh_token(), TokenType::Refresh).await?;
    node_b.rotate_refresh(p.refresh_token()).await?;
    assert!(eventually(|| refused(&node_a, p.access_token(), TokenType::Access)).await);
    assert!(eventually(|| refused(&node_a, p.refresh_token(), TokenType::Refresh)).await);

    // revoke_all
    let p = node_b.create("v", Claims::new()).await?;
    node_a.verify(p.access_token(), TokenType::Access).await?;
    node_b.revoke_all("v").await?;
    assert!(eventually(|| refused(&node_a, p.access_token(), TokenType::Access)).await);
    db.cleanup().await?;
    Ok(())
}
per_database!(postgres_notifications_make_other_nodes_exact, postgres_only);

#[tokio::test]
async fn listening_needs_postgres() -> TestResult {
    let db = TestDb::new(Backend::Sqlite { file: false }).await?;
    let clock = clock();
    let backend = cached(&db, &clock, HOUR);
    assert!(matches!(
        backend.listen_for_revocations().await,
        Err(Error::NeedsPostgres)
    ));
    // Without a cache it does nothing.
    let plain = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}));
    plain.listen_for_revocations().await?;
    db.cleanup().await?;
    Ok(())
}

async fn a_lost_listener_connection_bypasses_the_cache_until_reconnected(b: Backend) -> TestResult {
    use sea_orm::ConnectionTrait;
    let db = TestDb::new(b).await?;
    let clock = clock();
    let node = cached(&db, &clock, HOUR);
    node.listen_for_revocations().await?;
    let p = node.create("u", Claims::new()).await?;
    node.verify(p.access_token(), TokenType::Access).await?;
    assert_eq!(node.cached_tokens(), Some(1));
    // Kill the listener's connection, then revoke behind the backend's back (no NOTIFY).
    db.conn()
        .execute_unprepared(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%'",
        )
        .await?;
    db.conn()
        .execute_unprepared("UPDATE testudo_access_tokens SET is_revoked = true")
        .await?;
    // The lost connection empties the cache: the direct write is seen.
    assert!(eventually(|| refused(&node, p.access_token(), TokenType::Access)).await);
    // Once listening again, verifies are cached again.
    let q = node.create("u", Claims::new()).await?;
    assert!(
        eventually(|| async {
            node.verify(q.access_token(), TokenType::Access)
                .await
                .is_ok()
                && node.cached_tokens() == Some(1)
        })
        .await
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(
    a_lost_listener_connection_bypasses_the_cache_until_reconnected,
    postgres_only
);
