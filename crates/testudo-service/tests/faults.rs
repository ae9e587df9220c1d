//! Database faults under a running service: connections the server terminates mid-call, a
//! server stopped and restarted during a workload (a TCP proxy between the pool and the real
//! server; the shared servers themselves are never touched), a statement failing halfway
//! through a pair or a rotation (a trigger), and pool exhaustion with a stalled server.
//!
//! What every scenario checks: each call returns within [`CALL_BOUND`] (never hangs) with
//! either its answer or a storage error; nothing half-written remains (checked with SQL on the
//! rows); and the same service, on the same pool, works again once the fault is gone. Each runs
//! with the database token backend and with JWTs with the revocation list.

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Statement};
use testudo_core::{AuthUser, Claims, FixedClock, TokenBackend, TokenError, TokenPair, pause};
use testudo_db::{Database, ErrorKind, PoolOptions};
use testudo_service::{AuthService, DbUserStore};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::faults::{FailingWrites, Proxy, Write, terminate_connections};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_jwt::JwtBackend;

use common::{T0, Tokens, config};

/// The pool's acquire timeout in these tests: how long a call may wait for a connection.
const ACQUIRE: Duration = Duration::from_secs(1);
/// The most any call may take during a fault: a few acquire timeouts (a call takes
/// connections one after another), plus room for a loaded machine. A call past it has hung.
const CALL_BOUND: Duration = Duration::from_secs(6);
/// The services' `storage_call_timeout`: the longest a call waits on a server that does not
/// answer (between [`ACQUIRE`] and [`CALL_BOUND`]).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a scenario waits for something it polls for.
const DEADLINE: Duration = Duration::from_secs(20);
const PASSWORD: &str = "correct horse battery staple 42!";

/// Runs `scenario` with each token backend that has rows to check (the database backend, JWTs
/// with the revocation list), each on its own database, concurrently.
async fn both<F, Fut>(backend: Backend, scenario: F) -> TestResult
where
    F: Fn(Backend, Tokens) -> Fut,
    Fut: Future<Output = TestResult>,
{
    let (db, jwt) = tokio::join!(
        scenario(backend.clone(), Tokens::Database),
        scenario(backend, Tokens::JwtRevocable)
    );
    db.and(jwt)
}

/// A service whose pool reaches the database through a [`Proxy`] (servers) or directly
/// (SQLite), and a direct connection of one for the test's own SQL.
struct Faulty {
    db: TestDb,
    proxy: Option<Proxy>,
    pool: Database,
    auth: AuthService<DbUserStore>,
    name: String,
}

impl Faulty {
    async fn new(backend: Backend, tokens: Tokens, max_connections: u32) -> TestResult<Self> {
        let name = format!("{}/{tokens:?}", backend.name());
        let db = TestDb::with_pool(backend, 1).await?;
        let (proxy, pool) = match db.server_url() {
            Some(url) => {
                let proxy = Proxy::start_for(url).await?;
                let options = PoolOptions::default()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE)
                    .keep_open();
                let pool = Database::connect_with(&proxy.url(), &options).await?;
                (Some(proxy), pool)
            }
            None => (None, db.db().clone()),
        };
        let config = config(|c| c.storage_call_timeout = CALL_TIMEOUT);
        let clock = Arc::new(FixedClock::from_unix(T0)?);
        let store = DbUserStore::new(pool.clone()).with_clock(clock.clone());
        let mut builder = AuthService::builder(Arc::clone(&config), store)
            .database(pool.clone())
            .events(testudo_events::EventEmitter::new())
            .clock(clock.clone());
        match tokens {
            Tokens::Database => builder = builder.one_query_authenticate(),
            Tokens::Jwt | Tokens::JwtRevocable => {
                let jwt: Arc<dyn TokenBackend> = Arc::new(
                    JwtBackend::new(config)?
                        .with_revocation_list(pool.clone())
                        .with_clock(clock),
                );
                builder = builder.backend(jwt);
            }
        }
        let auth = builder.build()?;
        Ok(Self {
            db,
            proxy,
            pool,
            auth,
            name,
        })
    }

    fn proxy(&self) -> TestResult<&Proxy> {
        self.proxy
            .as_ref()
            .ok_or_else(|| "a server database".into())
    }

    fn jwt(&self) -> bool {
        self.name.ends_with("JwtRevocable")
    }

    /// A new user, logged in.
    async fn user(&self, n: usize) -> TestResult<(String, TokenPair)> {
        let email = format!("user{n}@example.com");
        let id = self.auth.create_user(&email, PASSWORD).await?.id();
        let pair = self
            .auth
            .login(&email, PASSWORD, Claims::new())
            .await?
            .tokens;
        Ok((id, pair))
    }

    async fn count(&self, sql: &str) -> TestResult<i64> {
        let conn = self.db.conn();
        let row = conn
            .query_one_raw(Statement::from_string(
                conn.get_database_backend(),
                sql.to_owned(),
            ))
            .await?
            .ok_or("COUNT returned no row")?;
        Ok(row.try_get::<i64>("", "n")?)
    }

    /// Fails unless the token rows are whole: no access row without its refresh row (no
    /// family with unequal access and refresh records), no rotated refresh token without its
    /// successor, no session with two live refresh tokens (a successor written without the
    /// rotated token's revocation).
    async fn assert_whole(&self) -> TestResult {
        let name = &self.name;
        let checks: &[(&str, &str)] = if self.jwt() {
            &[
                (
                    "a family whose access and refresh records differ in number",
                    "SELECT COUNT(*) AS n FROM (SELECT family_id FROM testudo_jwt_outstanding_tokens \
                     GROUP BY family_id HAVING COUNT(CASE WHEN token_type = 'access' THEN 1 END) \
                     <> COUNT(CASE WHEN token_type = 'refresh' THEN 1 END)) x",
                ),
                (
                    "a family with more than one live refresh token",
                    "SELECT COUNT(*) AS n FROM (SELECT o.family_id FROM testudo_jwt_outstanding_tokens o \
                     WHERE o.token_type = 'refresh' GROUP BY o.family_id HAVING COUNT(CASE WHEN \
                     NOT EXISTS (SELECT 1 FROM testudo_jwt_blacklisted_tokens b WHERE b.jti = o.jti) \
                     THEN 1 END) > 1) x",
                ),
            ]
        } else {
            &[
                (
                    "an access row without its refresh row",
                    "SELECT COUNT(*) AS n FROM testudo_access_tokens a WHERE NOT EXISTS \
                     (SELECT 1 FROM testudo_refresh_tokens r WHERE r.access_jti = a.jti)",
                ),
                (
                    "a rotated refresh token without its successor",
                    "SELECT COUNT(*) AS n FROM testudo_refresh_tokens r WHERE r.replaced_by_jti \
                     IS NOT NULL AND NOT EXISTS (SELECT 1 FROM testudo_refresh_tokens s \
                     WHERE s.jti = r.replaced_by_jti)",
                ),
                (
                    "a family with more than one live refresh token",
                    "SELECT COUNT(*) AS n FROM (SELECT family_id FROM testudo_refresh_tokens \
                     GROUP BY family_id HAVING COUNT(CASE WHEN is_revoked = false THEN 1 END) \
                     > 1) x",
                ),
            ]
        };
        for (what, sql) in checks {
            let n = self.count(sql).await?;
            assert_eq!(n, 0, "{name}: {what} ({n})");
        }
        Ok(())
    }

    /// The rows a session's tokens left: (refresh rows or records, live ones).
    async fn refresh_rows(&self, user_id: &str) -> TestResult<(i64, i64)> {
        if self.jwt() {
            let all = self
                .count(&format!(
                    "SELECT COUNT(*) AS n FROM testudo_jwt_outstanding_tokens WHERE user_id = \
                     '{user_id}' AND token_type = 'refresh'"
                ))
                .await?;
            let live = self
                .count(&format!(
                    "SELECT COUNT(*) AS n FROM testudo_jwt_outstanding_tokens o WHERE o.user_id = \
                     '{user_id}' AND o.token_type = 'refresh' AND NOT EXISTS (SELECT 1 FROM \
                     testudo_jwt_blacklisted_tokens b WHERE b.jti = o.jti)"
                ))
                .await?;
            Ok((all, live))
        } else {
            let all = self
                .count(&format!(
                    "SELECT COUNT(*) AS n FROM testudo_refresh_tokens WHERE user_id = '{user_id}'"
                ))
                .await?;
            let live = self
                .count(&format!(
                    "SELECT COUNT(*) AS n FROM testudo_refresh_tokens WHERE user_id = \
                     '{user_id}' AND is_revoked = false"
                ))
                .await?;
            Ok((all, live))
        }
    }

    /// The trigger making the insert of `user_id`'s refresh token (row or record) fail.
    async fn fail_refresh_inserts(&self, user_id: &str) -> TestResult<FailingWrites> {
        let table = if self.jwt() {
            "testudo_jwt_outstanding_tokens"
        } else {
            "testudo_refresh_tokens"
        };
        FailingWrites::install(
            self.db.db(),
            Write::Insert,
            table,
            Some(("user_id", user_id)),
        )
        .await
    }

    async fn cleanup(self) -> TestResult {
        if let Some(proxy) = &self.proxy {
            proxy.start();
        }
        if self.proxy.is_some() {
            self.pool.close().await?;
        }
        self.db.cleanup().await
    }
}

/// Runs `call` within [`CALL_BOUND`]; a call past it has hung and fails the test.
async fn within<T>(what: &str, call: impl Future<Output = T>) -> TestResult<T> {
    tokio::time::timeout(CALL_BOUND, call)
        .await
        .map_err(|_| format!("{what}: no answer within {CALL_BOUND:?} (hung)").into())
}

/// The database error kind of a storage error (`None` for any other error).
fn storage_kind(e: &testudo_core::Error) -> Option<ErrorKind> {
    let testudo_core::Error::Storage(source) = e else {
        return None;
    };
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&**source);
    while let Some(c) = cause {
        if let Some(db) = c.downcast_ref::<testudo_db::Error>() {
            return Some(db.kind());
        }
        cause = c.source();
    }
    Some(ErrorKind::Other)
}

/// Fails unless `r` is a storage error, and returns its kind.
fn expect_storage<T: std::fmt::Debug>(
    what: &str,
    r: &testudo_core::Result<T>,
) -> TestResult<ErrorKind> {
    match r {
        Err(e) => {
            storage_kind(e).ok_or_else(|| format!("{what}: not a storage error: {e:?}").into())
        }
        Ok(v) => Err(format!("{what}: succeeded during the fault ({v:?})").into()),
    }
}

fn is_revoked<T>(r: &testudo_core::Result<T>) -> bool {
    matches!(
        r.as_ref()
            .err()
            .and_then(testudo_core::Error::as_token_error),
        Some(TokenError::Revoked)
    )
}

/// A statement failing halfway through issuing a pair (the refresh row, after the access
/// row): the login fails with a storage error and leaves no row of the pair; once the fault is
/// gone, logging in works.
async fn a_statement_failing_halfway_through_a_pair_leaves_no_half_pair(
    backend: Backend,
) -> TestResult {
    both(
        backend,
        a_statement_failing_halfway_through_a_pair_leaves_no_half_pair_with,
    )
    .await
}

async fn a_statement_failing_halfway_through_a_pair_leaves_no_half_pair_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let f = Faulty::new(backend.clone(), tokens, 4).await?;
    let name = f.name.clone();
    let email = "halfway@example.com";
    let id = f.auth.create_user(email, PASSWORD).await?.id();
    let fault = f.fail_refresh_inserts(&id).await?;
    let r = within("login", f.auth.login(email, PASSWORD, Claims::new())).await?;
    expect_storage(&format!("{name}: login"), &r)?;
    let rows = if f.jwt() {
        f.count("SELECT COUNT(*) AS n FROM testudo_jwt_outstanding_tokens")
            .await?
    } else {
        f.count("SELECT COUNT(*) AS n FROM testudo_access_tokens")
            .await?
            + f.count("SELECT COUNT(*) AS n FROM testudo_refresh_tokens")
                .await?
    };
    assert_eq!(rows, 0, "{name}: the failed login left token rows behind");
    fault.remove(f.db.db()).await?;
    let pair = within("login", f.auth.login(email, PASSWORD, Claims::new()))
        .await??
        .tokens;
    f.auth.authenticate(pair.access_token()).await?;
    assert_eq!(f.refresh_rows(&id).await?, (1, 1), "{name}");
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}
per_database!(a_statement_failing_halfway_through_a_pair_leaves_no_half_pair);

/// A statement failing halfway through a rotation (the successor's refresh row, after the old
/// token was marked rotated and the new access row written): the refresh fails with a storage
/// error, the old refresh token is not rotated and still works, and no row of the successor
/// remains; once the fault is gone, the same old token rotates.
async fn a_statement_failing_halfway_through_a_rotation_leaves_the_old_token_usable(
    backend: Backend,
) -> TestResult {
    both(
        backend,
        a_statement_failing_halfway_through_a_rotation_leaves_the_old_token_usable_with,
    )
    .await
}

async fn a_statement_failing_halfway_through_a_rotation_leaves_the_old_token_usable_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let f = Faulty::new(backend.clone(), tokens, 4).await?;
    let name = f.name.clone();
    let (id, pair) = f.user(0).await?;
    let fault = f.fail_refresh_inserts(&id).await?;
    let r = within("refresh", f.auth.refresh(pair.refresh_token())).await?;
    expect_storage(&format!("{name}: refresh"), &r)?;
    assert_eq!(
        f.refresh_rows(&id).await?,
        (1, 1),
        "{name}: the failed rotation revoked the old token or left part of its successor"
    );
    if f.jwt() {
        let listed = f
            .count("SELECT COUNT(*) AS n FROM testudo_jwt_blacklisted_tokens")
            .await?;
        assert_eq!(listed, 0, "{name}: the failed rotation blacklisted a token");
    } else {
        let access = f
            .count("SELECT COUNT(*) AS n FROM testudo_access_tokens WHERE is_revoked = false")
            .await?;
        assert_eq!(access, 1, "{name}: the access rows changed");
    }
    f.auth.authenticate(pair.access_token()).await?;
    fault.remove(f.db.db()).await?;
    let next = within("refresh", f.auth.refresh(pair.refresh_token())).await??;
    f.auth.authenticate(next.access_token()).await?;
    assert_eq!(f.refresh_rows(&id).await?, (2, 1), "{name}");
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}
per_database!(a_statement_failing_halfway_through_a_rotation_leaves_the_old_token_usable);

/// A statement failing halfway through `logout_all` (the database backend: the refresh rows'
/// revocation, after the access rows'; JWTs: the blacklist insert): `logout_all` fails with a
/// storage error and revokes nothing (the session still authenticates and rotates); once the
/// fault is gone, `logout_all` revokes everything.
async fn a_statement_failing_halfway_through_logout_all_revokes_nothing(
    backend: Backend,
) -> TestResult {
    both(
        backend,
        a_statement_failing_halfway_through_logout_all_revokes_nothing_with,
    )
    .await
}

async fn a_statement_failing_halfway_through_logout_all_revokes_nothing_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let f = Faulty::new(backend, tokens, 4).await?;
    let name = f.name.clone();
    let (id, pair) = f.user(0).await?;
    let fault = if f.jwt() {
        FailingWrites::install(
            f.db.db(),
            Write::Insert,
            "testudo_jwt_blacklisted_tokens",
            None,
        )
        .await?
    } else {
        FailingWrites::install(
            f.db.db(),
            Write::Update,
            "testudo_refresh_tokens",
            Some(("user_id", &id)),
        )
        .await?
    };
    let r = within("logout_all", f.auth.logout_all(&id)).await?;
    expect_storage(&format!("{name}: logout_all"), &r)?;
    assert_eq!(
        f.refresh_rows(&id).await?,
        (1, 1),
        "{name}: the failed logout_all revoked the refresh token"
    );
    if !f.jwt() {
        let live = f
            .count("SELECT COUNT(*) AS n FROM testudo_access_tokens WHERE is_revoked = false")
            .await?;
        assert_eq!(
            live, 1,
            "{name}: the failed logout_all revoked the access token"
        );
    }
    f.auth
        .authenticate(pair.access_token())
        .await
        .map_err(|e| format!("{name}: after the failed logout_all: {e:?}"))?;
    fault.remove(f.db.db()).await?;
    let next = within("refresh", f.auth.refresh(pair.refresh_token())).await??;
    within("logout_all", f.auth.logout_all(&id)).await??;
    assert_eq!(
        f.refresh_rows(&id).await?.1,
        0,
        "{name}: a live refresh token"
    );
    let r = f.auth.authenticate(next.access_token()).await;
    assert!(is_revoked(&r), "{name}: {r:?}");
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}
per_database!(a_statement_failing_halfway_through_logout_all_revokes_nothing);

/// The server terminates the rotating transaction's connection after the new pair was written
/// and before `COMMIT` (the rotation waits at its pause point meanwhile): the refresh fails
/// with a lost connection, the server rolled everything back, and the old token still
/// rotates on the same pool at the next call.
async fn a_connection_terminated_before_a_rotation_commits_leaves_the_old_token_usable(
    backend: Backend,
) -> TestResult {
    both(
        backend,
        a_connection_terminated_before_a_rotation_commits_leaves_the_old_token_usable_with,
    )
    .await
}

async fn a_connection_terminated_before_a_rotation_commits_leaves_the_old_token_usable_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    // One pooled connection, the rotation's: terminating every connection of the pool
    // terminates it (MariaDB's list of open transactions lags, see terminate_connections).
    let f = Faulty::new(backend, tokens, 1).await?;
    let name = f.name.clone();
    let (id, pair) = f.user(0).await?;
    let point = if f.jwt() {
        "tokens_jwt.rotate.before_commit"
    } else {
        "tokens_db.rotate.before_commit"
    };
    let paused = pause::arm(point);
    let auth = f.auth.clone();
    let refresh_token = pair.refresh_token().to_owned();
    let rotation = tokio::spawn(async move { auth.refresh(&refresh_token).await });
    paused.reached().await;
    let db_name = f.db.name().ok_or("a server database")?;
    let killed = terminate_connections(f.db.db(), db_name, false).await?;
    assert_eq!(killed, 1, "{name}: the rotating transaction's connection");
    paused.release();
    let r = within("refresh", rotation).await??;
    let kind = expect_storage(&format!("{name}: refresh"), &r)?;
    assert_eq!(kind, ErrorKind::ConnectionLost, "{name}");
    assert_eq!(
        f.refresh_rows(&id).await?,
        (1, 1),
        "{name}: the terminated rotation left rows behind"
    );
    let next = within("refresh", f.auth.refresh(pair.refresh_token())).await??;
    f.auth.authenticate(next.access_token()).await?;
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_connection_terminated_before_a_rotation_commits_leaves_the_old_token_usable,
    servers_only
);

/// What a workload saw.
#[derive(Debug, Default)]
struct Tally {
    ok: AtomicUsize,
    storage: AtomicUsize,
    /// A refresh refused as revoked right after a refresh that failed with a lost connection
    /// (its `COMMIT` may have been applied with the answer lost): the session logs in again.
    lost_commits: AtomicUsize,
}

/// How the fault of [`workload_survives`] is made.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// The proxy stops (every connection dropped, new ones refused), then starts again.
    ServerRestart,
    /// The server terminates every connection of the database, twice.
    ServerTerminates,
}

/// One session of the workload: refresh, then authenticate with the new access token, until
/// `stop`; every call bounded; any error but a storage error fails.
async fn session(
    auth: AuthService<DbUserStore>,
    n: usize,
    mut pair: TokenPair,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> TestResult<(TokenPair, bool)> {
    let email = format!("user{n}@example.com");
    let mut uncertain = false;
    let mut last_error = String::new();
    while !stop.load(Ordering::SeqCst) {
        let r = within("refresh", auth.refresh(pair.refresh_token())).await?;
        match r {
            Ok(next) => {
                pair = next;
                uncertain = false;
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            Err(ref e) if storage_kind(e).is_some() => {
                uncertain |= storage_kind(e) == Some(ErrorKind::ConnectionLost);
                last_error = format!("{e:?}");
                tally.storage.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
                continue;
            }
            Err(_) if uncertain && is_revoked(&r) => {
                tally.lost_commits.fetch_add(1, Ordering::SeqCst);
                match within("login", auth.login(&email, PASSWORD, Claims::new())).await? {
                    Ok(result) => pair = result.tokens,
                    Err(e) if storage_kind(&e).is_some() => {
                        tally.storage.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(e) => return Err(format!("login: {e:?}").into()),
                }
                uncertain = false;
                continue;
            }
            Err(e) => {
                return Err(format!("refresh: {e:?}, after the storage error {last_error}").into());
            }
        }
        match within("authenticate", auth.authenticate(pair.access_token())).await? {
            Ok(_) => {
                tally.ok.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if storage_kind(&e).is_some() => {
                tally.storage.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) => return Err(format!("authenticate: {e:?}").into()),
        }
        tokio::task::yield_now().await;
    }
    Ok((pair, uncertain))
}

/// Polls until `done` or [`DEADLINE`].
async fn until(what: &str, mut done: impl FnMut() -> bool) -> TestResult {
    let start = Instant::now();
    while !done() {
        if start.elapsed() > DEADLINE {
            return Err(format!("{what}: not within {DEADLINE:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Runs `call` until it succeeds (each run within [`CALL_BOUND`], failing only with storage
/// errors), for at most [`DEADLINE`].
async fn until_ok<T, F, Fut>(what: &str, mut call: F) -> TestResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = testudo_core::Result<T>>,
{
    let start = Instant::now();
    loop {
        match within(what, call()).await? {
            Ok(v) => return Ok(v),
            Err(e) if storage_kind(&e).is_some() && start.elapsed() < DEADLINE => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => return Err(format!("{what}: {e:?}").into()),
        }
    }
}

/// Four sessions refresh and authenticate in a loop while the fault happens; then the same
/// service works again, and the rows are whole.
async fn workload_survives(backend: Backend, fault: Fault) -> TestResult {
    both(backend, |b, t| workload_survives_with(b, t, fault)).await
}

async fn workload_survives_with(backend: Backend, tokens: Tokens, fault: Fault) -> TestResult {
    let f = Faulty::new(backend.clone(), tokens, 4).await?;
    let name = f.name.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut sessions = Vec::new();
    for n in 0..4 {
        let (_, pair) = f.user(n).await?;
        sessions.push(tokio::spawn(session(
            f.auth.clone(),
            n,
            pair,
            Arc::clone(&stop),
            Arc::clone(&tally),
        )));
    }
    let ok = || tally.ok.load(Ordering::SeqCst);
    let storage = || tally.storage.load(Ordering::SeqCst);
    let before = ok();
    until("calls before the fault", || ok() >= before + 20).await?;
    match fault {
        Fault::ServerRestart => {
            let proxy = f.proxy()?;
            proxy.stop();
            let failed = storage();
            until("calls failing during the outage", || {
                storage() >= failed + 8
            })
            .await?;
            proxy.start();
        }
        Fault::ServerTerminates => {
            let db_name = f.db.name().ok_or("a server database")?;
            for _ in 0..2 {
                let seen = ok();
                terminate_connections(f.db.db(), db_name, false).await?;
                until("calls after the termination", || ok() >= seen + 20).await?;
            }
        }
    }
    let after = ok();
    until("calls after the fault", || ok() >= after + 40).await?;
    stop.store(true, Ordering::SeqCst);
    let mut held = Vec::new();
    for s in sessions {
        held.push(within("a session", s).await???);
    }
    eprintln!(
        "{name} {fault:?}: {} calls answered, {} storage errors, {} lost commits",
        ok(),
        storage(),
        tally.lost_commits.load(Ordering::SeqCst)
    );
    // Every pair a session holds still works (no rotation that answered revoked its
    // token without a successor); after a lost answer, the token is either still usable
    // or rotated.
    for (pair, uncertain) in &held {
        let r = within("refresh", f.auth.refresh(pair.refresh_token())).await?;
        if !(*uncertain && is_revoked(&r)) {
            let next = r.map_err(|e| format!("{name}: a held pair: {e:?}"))?;
            within("authenticate", f.auth.authenticate(next.access_token())).await??;
        }
    }
    // On the same pool, with no restart: the next calls succeed.
    for n in 0..4 {
        let email = format!("user{n}@example.com");
        let r = within("login", f.auth.login(&email, PASSWORD, Claims::new())).await??;
        let next = within("refresh", f.auth.refresh(r.tokens.refresh_token())).await??;
        within("authenticate", f.auth.authenticate(next.access_token())).await??;
    }
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}

/// The server stops (every connection dropped, new ones refused) and starts again during a
/// workload: every call answers within the bound, those during the outage with a storage
/// error; afterwards the same service works and the rows are whole.
async fn the_server_stopped_and_restarted_during_a_workload_is_survived(
    backend: Backend,
) -> TestResult {
    workload_survives(backend, Fault::ServerRestart).await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    the_server_stopped_and_restarted_during_a_workload_is_survived,
    servers_only
);

/// The server terminates every connection of the database, twice, during a workload
/// (`pg_terminate_backend`, MariaDB `KILL`): every call answers within the bound; afterwards
/// the same service works and the rows are whole.
async fn connections_terminated_by_the_server_during_a_workload_are_survived(
    backend: Backend,
) -> TestResult {
    workload_survives(backend, Fault::ServerTerminates).await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    connections_terminated_by_the_server_during_a_workload_are_survived,
    servers_only
);

/// A server that accepts connections and closes them at once (here: the stopped proxy) fails
/// every call with a lost-connection storage error, whether the call took a dead pooled
/// connection or the pool had to open a new one (PostgreSQL then reports a protocol error
/// during the TLS negotiation, which was classified `Other`), and so does connecting.
async fn a_server_that_refuses_connections_fails_calls_as_lost_connections(
    backend: Backend,
) -> TestResult {
    both(
        backend,
        a_server_that_refuses_connections_fails_calls_as_lost_connections_with,
    )
    .await
}

async fn a_server_that_refuses_connections_fails_calls_as_lost_connections_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let f = Faulty::new(backend, tokens, 2).await?;
    let name = f.name.clone();
    let (_, pair) = f.user(0).await?;
    let proxy = f.proxy()?;
    proxy.stop();
    let accepted = proxy.accepted_connections();
    // More calls than pooled connections: the last ones open new connections.
    for _ in 0..4 {
        let r = within("authenticate", f.auth.authenticate(pair.access_token())).await?;
        let kind = expect_storage(&format!("{name}: authenticate"), &r)?;
        assert_eq!(kind, ErrorKind::ConnectionLost, "{name}: {r:?}");
    }
    assert!(
        proxy.accepted_connections() > accepted,
        "{name}: the pool tried new connections"
    );
    let options = PoolOptions::default().acquire_timeout(ACQUIRE);
    let e = within("connect", Database::connect_with(&proxy.url(), &options))
        .await?
        .err()
        .ok_or("connected to a stopped server")?;
    assert_eq!(e.kind(), ErrorKind::ConnectionLost, "{name}: {e:?}");
    proxy.start();
    within("authenticate", f.auth.authenticate(pair.access_token())).await??;
    f.cleanup().await?;
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_server_that_refuses_connections_fails_calls_as_lost_connections,
    servers_only
);

/// How long the idle outage lasts: a quick restart, longer than [`testudo_db::SERVER_PING_IF_IDLE_FOR`].
const OUTAGE: Duration = Duration::from_millis(1200);

/// The server goes away for [`OUTAGE`] and comes back while the
/// service is idle (every pooled connection dead: the proxy dropped them, or the server
/// terminated them): the first calls afterwards succeed, none fails on a dead pooled
/// connection. (With the ping threshold at its former 30 s, each of them failed.)
async fn an_outage_while_idle_costs_no_failed_call_afterwards(backend: Backend) -> TestResult {
    both(
        backend,
        an_outage_while_idle_costs_no_failed_call_afterwards_with,
    )
    .await
}

async fn an_outage_while_idle_costs_no_failed_call_afterwards_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let f = Faulty::new(backend.clone(), tokens, 4).await?;
    for (round, restart) in [true, false].into_iter().enumerate() {
        let name = format!("{} restart={restart}", f.name);
        let mut pairs = Vec::new();
        for n in 0..3 {
            let n = round * 3 + n;
            pairs.push(f.user(n).await?.1);
        }
        if restart {
            f.proxy()?.stop();
        } else {
            let db_name = f.db.name().ok_or("a server database")?;
            let killed = terminate_connections(f.db.db(), db_name, false).await?;
            assert!(killed >= 1, "{name}: the pool's connections");
        }
        // The outage's length, not a wait for something to happen.
        tokio::time::sleep(OUTAGE).await;
        if let Some(proxy) = &f.proxy {
            proxy.start();
        }
        for pair in &pairs {
            within("authenticate", f.auth.authenticate(pair.access_token()))
                .await?
                .map_err(|e| format!("{name}: authenticate: {e:?}"))?;
            let next = within("refresh", f.auth.refresh(pair.refresh_token()))
                .await?
                .map_err(|e| format!("{name}: refresh: {e:?}"))?;
            within("authenticate", f.auth.authenticate(next.access_token()))
                .await?
                .map_err(|e| format!("{name}: authenticate: {e:?}"))?;
        }
    }
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_outage_while_idle_costs_no_failed_call_afterwards,
    servers_only
);

/// The pool size of the exhaustion scenario.
const POOL: u32 = 2;
/// How many concurrent calls it makes (more than [`POOL`]).
const CALLS: usize = 8;

/// More concurrent calls than the pool has connections queue and all complete; with the
/// server stalled (nothing answered, nothing closed), every call fails with a lost-connection
/// storage error: those waiting for a connection after the pool's acquire timeout, those
/// holding one (waiting on the server) after `storage_call_timeout`. When the server answers
/// again the same service works.
async fn pool_exhaustion_queues_calls_and_a_stalled_server_times_them_out(
    backend: Backend,
) -> TestResult {
    both(
        backend,
        pool_exhaustion_queues_calls_and_a_stalled_server_times_them_out_with,
    )
    .await
}

async fn pool_exhaustion_queues_calls_and_a_stalled_server_times_them_out_with(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let f = Faulty::new(backend.clone(), tokens, POOL).await?;
    let name = f.name.clone();
    let mut pairs = Vec::new();
    for n in 0..CALLS {
        pairs.push(f.user(n).await?.1);
    }
    let mut calls = Vec::new();
    for pair in &pairs {
        let auth = f.auth.clone();
        let refresh_token = pair.refresh_token().to_owned();
        calls.push(tokio::spawn(async move {
            let next: TokenPair = auth.refresh(&refresh_token).await?;
            auth.authenticate(next.access_token()).await?;
            Ok::<_, testudo_core::Error>(next)
        }));
    }
    let mut next_pairs = Vec::new();
    for call in calls {
        next_pairs.push(within("queued call", call).await???);
    }
    // Both connections back in the pool (sqlx pings a connection when it is released: a
    // ping caught by the stall would hold its connection).
    let pool = f.pool.as_sea_orm();
    let idle = || match f.pool.dialect() {
        testudo_db::Dialect::Postgres => pool.get_postgres_connection_pool().num_idle(),
        _ => pool.get_mysql_connection_pool().num_idle(),
    };
    until("the pool's connections idle", || idle() == POOL as usize).await?;
    // Stalled: the two pooled connections are taken by the first calls, which wait on the
    // server; the others wait for a connection until the acquire timeout.
    f.proxy()?.stall();
    let started = Instant::now();
    let mut calls = Vec::new();
    for pair in next_pairs.iter().take(POOL as usize + 3) {
        let auth = f.auth.clone();
        let access = pair.access_token().to_owned();
        calls.push(tokio::spawn(async move {
            let r = auth.authenticate(&access).await;
            (r, started.elapsed())
        }));
    }
    let mut waited = Vec::new();
    for call in calls {
        let (r, elapsed) = within("a call on a stalled server", call).await??;
        let kind = expect_storage(&format!("{name}: a call on a stalled server"), &r)?;
        assert_eq!(kind, ErrorKind::ConnectionLost, "{name}: {r:?}");
        assert!(
            elapsed >= ACQUIRE.mul_f32(0.9),
            "{name}: failed after {elapsed:?}, before the acquire timeout"
        );
        waited.push(elapsed);
    }
    let held = waited
        .iter()
        .filter(|&&t| t >= CALL_TIMEOUT.mul_f32(0.9))
        .count();
    assert_eq!(
        held, POOL as usize,
        "{name}: the calls holding a connection end at storage_call_timeout, the others at the \
         acquire timeout ({waited:?})"
    );
    f.proxy()?.start();
    for pair in next_pairs.iter().take(POOL as usize + 3) {
        until_ok("authenticate after the stall", || {
            f.auth.authenticate(pair.access_token())
        })
        .await?;
    }
    f.assert_whole().await?;
    f.cleanup().await?;
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    pool_exhaustion_queues_calls_and_a_stalled_server_times_them_out,
    servers_only
);
