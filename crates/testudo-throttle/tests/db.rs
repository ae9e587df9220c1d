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
