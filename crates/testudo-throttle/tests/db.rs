//! The shared behaviour on [`DbRateLimiter`], on SQLite, PostgreSQL and MariaDB (each test in
//! its own database), and two processes sharing one database.

mod common;

use std::sync::Arc;

use sea_orm::ConnectionTrait;
use testudo_core::{Clock, FixedClock};
use testudo_db::Database;
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use testudo_throttle::{DbRateLimiter, RateKey, RateLimiter};

/// A fresh database and a limiter on it with a fixed clock.
async fn setup(backend: Backend) -> TestResult<(TestDb, DbRateLimiter, Arc<FixedClock>)> {
    let db = TestDb::with_pool(backend, 8).await?;
    let clock = common::clock();
    let limiter = DbRateLimiter::new(db.db().clone(), clock.clone());
    Ok((db, limiter, clock))
}

async fn fifty_parallel_hits_against_a_limit_of_five_allow_exactly_five(
    backend: Backend,
) -> TestResult {
    let (db, limiter, _clock) = setup(backend).await?;
    common::fifty_parallel_hits_allow_exactly_five(Arc::new(limiter)).await?;
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    fifty_parallel_hits_against_a_limit_of_five_allow_exactly_five,
    sqlite_file
);

/// The test's name in this binary, for a child process to run it.
fn case(backend: &Backend) -> &'static str {
    match backend {
        Backend::Sqlite { .. } => "two_processes_sharing_the_database_allow_exactly_five::sqlite",
        Backend::Postgres(_) => "two_processes_sharing_the_database_allow_exactly_five::postgres",
        Backend::MySql(_) => "two_processes_sharing_the_database_allow_exactly_five::mariadb",
    }
}

async fn two_processes_sharing_the_database_allow_exactly_five(backend: Backend) -> TestResult {
    if common::is_child() {
        let url = std::env::var(common::CHILD_URL_ENV)?;
        let db = Database::connect(&url).await?;
        return common::child(Arc::new(DbRateLimiter::new(db, common::child_clock()?))).await;
    }
    let test = case(&backend);
    let (db, _limiter, clock) = setup(backend).await?;
    let envs = [(common::CHILD_URL_ENV, db.url().to_owned())];
    common::two_processes_allow_exactly_five(test, &envs, &clock).await?;
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    two_processes_sharing_the_database_allow_exactly_five,
    sqlite_file
);

async fn lockout_retry_after_is_exact_across_the_window(backend: Backend) -> TestResult {
    let (db, limiter, clock) = setup(backend).await?;
    common::lockout_retry_after_is_exact_across_the_window(&limiter, &clock).await?;
    db.cleanup().await
}
per_database!(lockout_retry_after_is_exact_across_the_window);

async fn a_lockout_inside_the_window_locks_again_until_the_window_ends(
    backend: Backend,
) -> TestResult {
    let (db, limiter, clock) = setup(backend).await?;
    common::a_lockout_inside_the_window_locks_again_until_the_window_ends(&limiter, &clock).await?;
    db.cleanup().await
}
per_database!(a_lockout_inside_the_window_locks_again_until_the_window_ends);

async fn escalating_waits_double_and_stop_at_the_cap(backend: Backend) -> TestResult {
    let (db, limiter, clock) = setup(backend).await?;
    common::escalating_waits_double_and_stop_at_the_cap(&limiter, &clock).await?;
    db.cleanup().await
}
per_database!(escalating_waits_double_and_stop_at_the_cap);

async fn the_window_ends_and_lets_attempts_through_again(backend: Backend) -> TestResult {
    let (db, limiter, clock) = setup(backend).await?;
    common::the_window_ends_and_lets_attempts_through_again(&limiter, &clock).await?;
    db.cleanup().await
}
per_database!(the_window_ends_and_lets_attempts_through_again);

async fn reset_clears_the_key_and_only_it(backend: Backend) -> TestResult {
    let (db, limiter, _clock) = setup(backend).await?;
    common::reset_clears_the_key_and_only_it(&limiter).await?;
    db.cleanup().await
}
per_database!(reset_clears_the_key_and_only_it);

async fn cleanup_removes_ended_state_and_counts_it(backend: Backend) -> TestResult {
    let (db, limiter, clock) = setup(backend).await?;
    common::cleanup_removes_ended_state_and_counts_it(&limiter, &clock, true).await?;
    assert_eq!(rows(&db).await?, 2);
    db.cleanup().await
}
per_database!(cleanup_removes_ended_state_and_counts_it);

async fn rows(db: &TestDb) -> TestResult<i64> {
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(
            db.db().dialect().backend(),
            "SELECT COUNT(*) AS n FROM testudo_rate_limits",
        ))
        .await?
        .ok_or("no count")?;
    Ok(row.try_get::<i64>("", "n")?)
}

async fn odd_and_long_keys_are_keys_like_any_other(backend: Backend) -> TestResult {
    let (db, limiter, _clock) = setup(backend).await?;
    common::odd_and_long_keys_are_keys_like_any_other(&limiter).await?;
    // Every key is stored as its 64-character digest, the 1 MiB ones too.
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(
            db.db().dialect().backend(),
            "SELECT MAX(LENGTH(key_hash)) AS longest, MIN(LENGTH(key_hash)) AS shortest, \
             COUNT(*) AS n FROM testudo_rate_limits",
        ))
        .await?
        .ok_or("no row")?;
    let as_i64 = |c: &str| -> TestResult<i64> {
        Ok(row
            .try_get::<i64>("", c)
            .or_else(|_| row.try_get::<i32>("", c).map(i64::from))?)
    };
    assert_eq!((as_i64("longest")?, as_i64("shortest")?), (64, 64));
    assert_eq!(as_i64("n")?, 9);
    db.cleanup().await
}
per_database!(odd_and_long_keys_are_keys_like_any_other);

async fn an_invalid_policy_is_a_configuration_error(backend: Backend) -> TestResult {
    let (db, limiter, _clock) = setup(backend).await?;
    common::an_invalid_policy_is_a_configuration_error(&limiter).await?;
    assert_eq!(rows(&db).await?, 0, "nothing was written");
    db.cleanup().await
}
per_database!(an_invalid_policy_is_a_configuration_error);

async fn a_lost_database_is_a_storage_error(backend: Backend) -> TestResult {
    let (db, limiter, _clock) = setup(backend).await?;
    db.db().clone().close().await?;
    let key = RateKey::new("login", "gone@example.com");
    let result = limiter.hit(&key, &common::lockout(5, 300, 600)).await;
    assert!(
        matches!(result, Err(testudo_core::Error::Storage(_))),
        "{result:?}"
    );
    assert!(matches!(
        limiter.cleanup().await,
        Err(testudo_core::Error::Storage(_))
    ));
    db.cleanup().await.ok();
    Ok(())
}
per_database!(a_lost_database_is_a_storage_error);

#[test]
fn the_limiter_shows_no_url() {
    let clock: Arc<dyn Clock> = common::clock();
    let conn = sea_orm::DatabaseConnection::default();
    let limiter = DbRateLimiter::new(Database::from_sea_orm(conn), clock);
    let shown = format!("{limiter:?}");
    assert!(shown.starts_with("DbRateLimiter"), "{shown}");
}

/// One value read by `sql` from `db`.
async fn scalar<T: sea_orm::TryGetable>(db: &TestDb, sql: &str) -> TestResult<T> {
    let row = db
        .conn()
        .query_one_raw(sea_orm::Statement::from_string(
            db.db().dialect().backend(),
            sql,
        ))
        .await?
        .ok_or("no row")?;
    Ok(row.try_get::<T>("", "v")?)
}

/// Fills `testudo_rate_limits` with rows whose window and wait end at `end` (Unix
/// microseconds) until the table is full; returns how many went in.
async fn fill(db: &TestDb, end: i64, tag: &str) -> TestResult<u64> {
    for n in 0..100_000_u64 {
        let sql = format!(
            "INSERT INTO testudo_rate_limits \
             (key_hash, attempts, window_end, blocked_until, last_allowed) \
             VALUES ('{tag}{n:060}', 1, {end}, {end}, 1)"
        );
        if let Err(e) = db.conn().execute_unprepared(&sql).await {
            let e = testudo_db::Error::from(e);
            assert_eq!(e.kind(), testudo_db::ErrorKind::Full, "{e:?}");
            return Ok(n);
        }
    }
    Err("the table never filled up".into())
}

/// On MariaDB the table lives in memory (migration 15), so an attempt does not wait for a log
/// flush. A table at its size limit (shrunk here to 16 KiB) is purged of expired rows and the
/// attempt counts; when every row is live the attempt fails with a typed storage error of
/// kind `Full`, and nothing is lost from the table.
async fn a_full_memory_table_is_purged_of_expired_rows_then_refuses_with_a_typed_error(
    backend: Backend,
) -> TestResult {
    let (db, limiter, clock) = setup(backend).await?;
    let engine: String = scalar(
        &db,
        "SELECT ENGINE AS v FROM information_schema.TABLES \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'testudo_rate_limits'",
    )
    .await?;
    assert_eq!(engine, "MEMORY");
    db.conn()
        .execute_unprepared(
            "SET STATEMENT max_heap_table_size = 16384 FOR \
             ALTER TABLE testudo_rate_limits ENGINE = MEMORY",
        )
        .await?;
    let now = clock.now().timestamp_micros();
    let expired = fill(&db, now - 1, "e").await?;
    assert!(expired > 10, "only {expired} rows fit");

    let policy = common::lockout(5, 300, 600);
    let decision = limiter
        .hit(&RateKey::new("login", "new@example.com"), &policy)
        .await?;
    assert!(decision.is_allowed());
    assert_eq!(
        rows(&db).await?,
        1,
        "the expired rows were purged, the new one counted"
    );

    let live = fill(&db, now + 60_000_000, "l").await?;
    assert!(
        live + 1 >= expired,
        "{live} live rows after {expired} expired ones"
    );
    let refused = limiter
        .hit(&RateKey::new("login", "another@example.com"), &policy)
        .await;
    let Err(testudo_core::Error::Storage(source)) = refused else {
        return Err("a hit on a full table of live rows did not fail with a storage error".into());
    };
    let kind = source
        .downcast_ref::<testudo_db::Error>()
        .map(testudo_db::Error::kind);
    assert_eq!(kind, Some(testudo_db::ErrorKind::Full), "{source:?}");
    assert_eq!(
        rows(&db).await?,
        i64::try_from(live)? + 1,
        "no live row was dropped"
    );
    db.cleanup().await
}
per_database!(
    a_full_memory_table_is_purged_of_expired_rows_then_refuses_with_a_typed_error,
    mariadb_only
);
