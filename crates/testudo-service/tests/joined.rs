//! The one-query `authenticate` (token row joined with its user) and the two caches, on SQLite
//! (and PostgreSQL / MariaDB when their URLs are set): same answers as the two-step path, one
//! query per uncached call, none per cached call, in-process exactness and the ttl bound across
//! processes.

#![cfg(feature = "sqlite")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{T0, config};
use sea_orm::DatabaseConnection;
use testudo_core::{
    AuthenticationError, Claims, Clock, Error, FixedClock, Result, TokenError, UserStore,
    async_trait,
};
use testudo_db::Database;
use testudo_events::EventEmitter;
use testudo_service::{AuthService, CacheOptions, DbUserStore, LogoutAll, User, ValidatorPolicy};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};

const PASSWORD: &str = "correct horse battery staple";
const TTL: Duration = Duration::from_secs(30);

/// A connection whose queries are counted (the counter is shared by its clones).
fn counted(db: &DatabaseConnection) -> (Database, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let mut conn = db.clone();
    let seen = Arc::clone(&count);
    conn.set_metric_callback(move |_| {
        seen.fetch_add(1, Ordering::SeqCst);
    });
    (Database::from_sea_orm(conn), count)
}

/// The `DbUserStore` behind another type, so the service takes the generic two-step path.
#[derive(Debug)]
struct TwoStep(DbUserStore);

#[async_trait]
impl UserStore for TwoStep {
    type User = User;
    async fn find_by_email(&self, email: &str) -> Result<Option<User>> {
        self.0.find_by_email(email).await
    }
    async fn find_by_id(&self, id: &str) -> Result<Option<User>> {
        self.0.find_by_id(id).await
    }
    async fn set_password_hash(&self, id: &str, hash: &str) -> Result<()> {
        self.0.set_password_hash(id, hash).await
    }
    async fn record_login(&self, id: &str, at: DateTime<Utc>) -> Result<()> {
        self.0.record_login(id, at).await
    }
    async fn mark_verified(&self, id: &str) -> Result<()> {
        self.0.mark_verified(id).await
    }
}

/// A comparable summary of an authenticate answer.
fn outcome(r: Result<User>) -> String {
    match r {
        Ok(user) => format!("{user:?}"),
        Err(e) => format!("{e:?}"),
    }
}

/// Queries of an uncached `authenticate` of a valid token: one when the service's build has the
/// driver feature of `backend` (it can then tell that the store and the token backend share a
/// pool), otherwise the two of the generic path.
fn uncached_queries(backend: &Backend) -> usize {
    let joined = match backend {
        Backend::Sqlite { .. } => true,
        Backend::Postgres(_) => cfg!(feature = "postgres"),
        Backend::MySql(_) => cfg!(feature = "mysql"),
    };
    if joined { 1 } else { 2 }
}

fn cache() -> CacheOptions {
    CacheOptions::new(TTL, 1000)
}

/// A service with the one-query path on `conn`, with both caches when `cached`.
fn joined(
    conn: &Database,
    clock: &Arc<FixedClock>,
    cached: bool,
) -> TestResult<AuthService<DbUserStore>> {
    let mut store = DbUserStore::new(conn.clone()).with_clock(clock.clone());
    if cached {
        store = store.with_cache(cache());
    }
    let mut builder = AuthService::builder(config(|_| {}), store)
        .database(conn.clone())
        .one_query_authenticate()
        .events(EventEmitter::new())
        .clock(clock.clone());
    if cached {
        builder = builder.verification_cache(cache());
    }
    Ok(builder.build()?)
}

fn two_step(conn: &Database, clock: &Arc<FixedClock>) -> TestResult<AuthService<TwoStep>> {
    let store = TwoStep(DbUserStore::new(conn.clone()).with_clock(clock.clone()));
    Ok(AuthService::builder(config(|_| {}), store)
        .database(conn.clone())
        .events(EventEmitter::new())
        .clock(clock.clone())
        .build()?)
}

async fn joined_authenticate_answers_as_the_two_step_path_in_one_query(
    backend: Backend,
) -> TestResult {
    let name = backend.name();
    let expected = uncached_queries(&backend);
    let db = TestDb::new(backend).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let (conn, queries) = counted(db.conn());
    let fast = joined(&conn, &clock, false)?;
    let slow = two_step(&conn, &clock)?;

    let alice = fast.create_user("alice@example.com", PASSWORD).await?;
    let bob = fast.create_user("bob@example.com", PASSWORD).await?;
    let carol = fast.create_user("carol@example.com", PASSWORD).await?;
    let id = alice.id.to_string();
    let backend = fast.backend();
    let valid = backend.create_tokens(&id, Claims::new()).await?;
    let revoked = backend.create_tokens(&id, Claims::new()).await?;
    backend.revoke_token(revoked.access_token()).await?;
    let of_deleted = backend
        .create_tokens(&bob.id.to_string(), Claims::new())
        .await?;
    fast.store().delete_user(&bob.id.to_string()).await?;
    let of_inactive = backend
        .create_tokens(&carol.id.to_string(), Claims::new())
        .await?;
    fast.store()
        .set_active(&carol.id.to_string(), false)
        .await?;
    // Ids the SQL cast and Rust's parse might read differently.
    let odd: Vec<_> = [
        "not-a-number".to_owned(),
        format!("+{id}"),
        format!(" {id}"),
        format!("{id}x"),
        format!("0{id}"),
        "99999999999999999999".to_owned(),
        "4000000000".to_owned(),
    ]
    .into_iter()
    .map(|sub| async move {
        (
            sub.clone(),
            backend.create_tokens(&sub, Claims::new()).await,
        )
    })
    .collect();
    let mut odd_tokens = Vec::new();
    for f in odd {
        let (sub, pair) = f.await;
        odd_tokens.push((sub, pair?));
    }
    let expiring = backend.create_tokens(&id, Claims::new()).await?;

    let mut cases: Vec<(String, String)> = vec![
        ("valid".into(), valid.access_token().to_owned()),
        ("revoked".into(), revoked.access_token().to_owned()),
        ("refresh token".into(), valid.refresh_token().to_owned()),
        ("unknown".into(), "x".repeat(valid.access_token().len())),
        ("malformed".into(), "short".into()),
        ("deleted user".into(), of_deleted.access_token().to_owned()),
        (
            "inactive user".into(),
            of_inactive.access_token().to_owned(),
        ),
    ];
    for (sub, pair) in &odd_tokens {
        cases.push((format!("user id {sub:?}"), pair.access_token().to_owned()));
    }
    for (case, token) in &cases {
        queries.store(0, Ordering::SeqCst);
        let got = outcome(fast.authenticate(token).await);
        let fast_queries = queries.swap(0, Ordering::SeqCst);
        let want = outcome(slow.authenticate(token).await);
        let slow_queries = queries.load(Ordering::SeqCst);
        assert_eq!(got, want, "{name}: {case}");
        assert!(
            fast_queries <= slow_queries,
            "{name}: {case}: {fast_queries} queries"
        );
    }
    // One query instead of two for the valid token.
    queries.store(0, Ordering::SeqCst);
    let me = fast.authenticate(valid.access_token()).await?;
    assert_eq!(me, alice, "{name}");
    assert_eq!(
        queries.swap(0, Ordering::SeqCst),
        expected,
        "{name}: one query"
    );
    slow.authenticate(valid.access_token()).await?;
    assert_eq!(queries.load(Ordering::SeqCst), 2, "{name}: two queries");
    // The specific errors.
    let r = fast.authenticate(of_deleted.access_token()).await;
    assert!(
        matches!(
            r,
            Err(Error::Authentication(AuthenticationError::UserNotFound))
        ),
        "{name}: {r:?}"
    );
    let r = fast.authenticate(of_inactive.access_token()).await;
    assert!(
        matches!(
            r,
            Err(Error::Authentication(AuthenticationError::UserInactive))
        ),
        "{name}: {r:?}"
    );
    let r = fast.authenticate(revoked.access_token()).await;
    assert!(
        matches!(
            r.as_ref().err().and_then(Error::as_token_error),
            Some(TokenError::Revoked)
        ),
        "{name}: {r:?}"
    );
    // Expired: token errors come before user errors.
    clock.advance(fast.config().access_token_lifetime + Duration::from_secs(1));
    for token in [expiring.access_token(), of_inactive.access_token()] {
        let got = fast.authenticate(token).await;
        assert!(
            matches!(
                got.as_ref().err().and_then(Error::as_token_error),
                Some(TokenError::Expired)
            ),
            "{name}: {got:?}"
        );
        assert_eq!(
            outcome(got),
            outcome(slow.authenticate(token).await),
            "{name}"
        );
    }
    db.cleanup().await?;
    Ok(())
}
per_database!(joined_authenticate_answers_as_the_two_step_path_in_one_query);

/// Every token's answer from the cached service equals an uncached service's.
async fn same_answers(
    name: &str,
    step: &str,
    cached: &AuthService<DbUserStore>,
    plain: &AuthService<DbUserStore>,
    tokens: &[String],
) {
    for token in tokens {
        assert_eq!(
            outcome(cached.authenticate(token).await),
            outcome(plain.authenticate(token).await),
            "{name}: after {step}"
        );
    }
}

async fn caches_are_exact_within_the_process(backend: Backend) -> TestResult {
    let name = backend.name();
    let db = TestDb::new(backend).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let (conn, queries) = counted(db.conn());
    let auth = joined(&conn, &clock, true)?;
    let plain = joined(db.db(), &clock, false)?;
    let alice = auth.create_user("alice@example.com", PASSWORD).await?;
    let id = alice.id.to_string();
    let mut tokens = Vec::new();
    let mut login = auth
        .login("alice@example.com", PASSWORD, Claims::new())
        .await?;
    tokens.push(login.access_token().to_owned());

    // The first call makes one query (the login left the user in the user cache; the joined
    // query, or the token lookup of the two-step path), the next ones none.
    queries.store(0, Ordering::SeqCst);
    let me = auth.authenticate(login.access_token()).await?;
    assert_eq!(queries.swap(0, Ordering::SeqCst), 1, "{name}: cold");
    for _ in 0..3 {
        assert_eq!(auth.authenticate(login.access_token()).await?, me, "{name}");
    }
    assert_eq!(queries.load(Ordering::SeqCst), 0, "{name}: warm");

    // A login (last_login written) is seen by the next call.
    clock.advance(Duration::from_secs(5));
    let second = auth
        .login("alice@example.com", PASSWORD, Claims::new())
        .await?;
    tokens.push(second.access_token().to_owned());
    let me = auth.authenticate(login.access_token()).await?;
    assert_eq!(me.last_login, Some(clock.now()), "{name}: login seen");
    same_answers(name, "login", &auth, &plain, &tokens).await;

    // logout
    auth.authenticate(second.access_token()).await?;
    auth.logout(second.access_token()).await?;
    let r = auth.authenticate(second.access_token()).await;
    assert!(
        matches!(
            r.as_ref().err().and_then(Error::as_token_error),
            Some(TokenError::Revoked)
        ),
        "{name}: logout seen: {r:?}"
    );
    same_answers(name, "logout", &auth, &plain, &tokens).await;

    // refresh: the old access token is replaced
    let next = auth.refresh(login.refresh_token()).await?;
    let r = auth.authenticate(login.access_token()).await;
    assert!(r.is_err(), "{name}: refresh seen: {r:?}");
    auth.authenticate(next.access_token()).await?;
    tokens.push(next.access_token().to_owned());
    same_answers(name, "refresh", &auth, &plain, &tokens).await;

    // logout_all
    assert!(
        matches!(auth.logout_all(&id).await?, LogoutAll::Revoked(n) if n > 0),
        "{name}"
    );
    let r = auth.authenticate(next.access_token()).await;
    assert!(r.is_err(), "{name}: logout_all seen: {r:?}");
    same_answers(name, "logout_all", &auth, &plain, &tokens).await;

    // set_password: tokens revoked, user row changed
    login = auth
        .login("alice@example.com", PASSWORD, Claims::new())
        .await?;
    tokens.push(login.access_token().to_owned());
    let me = auth.authenticate(login.access_token()).await?;
    auth.set_password(&me, "another good passphrase", ValidatorPolicy::Skip)
        .await?;
    let r = auth.authenticate(login.access_token()).await;
    assert!(r.is_err(), "{name}: set_password seen: {r:?}");
    same_answers(name, "set_password", &auth, &plain, &tokens).await;

    // deactivate, reactivate, delete through the store
    login = auth
        .login(
            "alice@example.com",
            "another good passphrase",
            Claims::new(),
        )
        .await?;
    tokens.push(login.access_token().to_owned());
    auth.authenticate(login.access_token()).await?;
    auth.store().set_active(&id, false).await?;
    let r = auth.authenticate(login.access_token()).await;
    assert!(
        matches!(
            r,
            Err(Error::Authentication(AuthenticationError::UserInactive))
        ),
        "{name}: deactivation seen: {r:?}"
    );
    auth.store().set_active(&id, true).await?;
    auth.authenticate(login.access_token()).await?;
    same_answers(name, "reactivation", &auth, &plain, &tokens).await;
    auth.store().delete_user(&id).await?;
    let r = auth.authenticate(login.access_token()).await;
    assert!(
        matches!(
            r,
            Err(Error::Authentication(AuthenticationError::UserNotFound))
        ),
        "{name}: delete seen: {r:?}"
    );
    same_answers(name, "delete", &auth, &plain, &tokens).await;
    db.cleanup().await?;
    Ok(())
}
per_database!(caches_are_exact_within_the_process);

async fn another_process_sees_changes_within_the_ttl(backend: Backend) -> TestResult {
    let name = backend.name();
    let db = TestDb::new(backend).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    // Two services with their own caches: "this process" and "another process".
    let here = joined(db.db(), &clock, true)?;
    let (conn, queries) = counted(db.conn());
    let there = joined(&conn, &clock, true)?;
    here.create_user("alice@example.com", PASSWORD).await?;
    let login = here
        .login("alice@example.com", PASSWORD, Claims::new())
        .await?;
    let id = login.user.id.to_string();
    let other = here.backend().create_tokens(&id, Claims::new()).await?;
    for token in [login.access_token(), other.access_token()] {
        there.authenticate(token).await?;
    }
    queries.store(0, Ordering::SeqCst);

    // Revoked and deactivated here: stale there until the ttl has passed.
    here.logout(login.access_token()).await?;
    here.store().set_active(&id, false).await?;
    let stale = there.authenticate(login.access_token()).await?;
    assert!(
        stale.is_active,
        "{name}: within the ttl the cached answer stands"
    );
    assert_eq!(
        queries.load(Ordering::SeqCst),
        0,
        "{name}: served from the caches"
    );

    clock.advance(TTL + Duration::from_secs(1));
    let r = there.authenticate(login.access_token()).await;
    assert!(
        matches!(
            r.as_ref().err().and_then(Error::as_token_error),
            Some(TokenError::Revoked)
        ),
        "{name}: revocation seen after the ttl: {r:?}"
    );
    let r = there.authenticate(other.access_token()).await;
    assert!(
        matches!(
            r,
            Err(Error::Authentication(AuthenticationError::UserInactive))
        ),
        "{name}: deactivation seen after the ttl: {r:?}"
    );
    db.cleanup().await?;
    Ok(())
}
per_database!(another_process_sees_changes_within_the_ttl);

async fn user_cache_is_exact_under_racing_writes(backend: Backend) -> TestResult {
    let name = backend.name();
    let db = TestDb::new(backend).await?;
    let clock = Arc::new(FixedClock::from_unix(T0)?);
    let store = DbUserStore::new(db.db().clone())
        .with_clock(clock.clone())
        .with_cache(cache());
    assert!(store.is_cached(), "{name}");
    let user = store.insert_user("race@example.com", "!unusable").await?;
    let id = user.id.to_string();
    // Readers race a sequence of writes; once the writes are done, every read (cached or
    // not) must see the last one.
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let store = store.clone();
            let id = id.clone();
            tokio::spawn(async move {
                for _ in 0..20 {
                    store.find_by_id(&id).await?;
                }
                Ok::<_, Error>(())
            })
        })
        .collect();
    for n in 0..20 {
        store.set_password_hash(&id, &format!("!hash{n}")).await?;
    }
    for reader in readers {
        reader.await??;
    }
    let cached = store.find_by_id(&id).await?.map(|u| u.password);
    assert_eq!(cached.as_deref(), Some("!hash19"), "{name}");
    let uncached = DbUserStore::new(db.db().clone()).find_by_id(&id).await?;
    assert_eq!(store.find_by_id(&id).await?, uncached, "{name}");
    db.cleanup().await?;
    Ok(())
}
per_database!(user_cache_is_exact_under_racing_writes);
