//! Bounded retry of transactions the database aborted to break a deadlock or a lock wait.

use std::time::Duration;

use crate::{Error, Result};

/// How many times a transaction runs at most when the database keeps aborting it.
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// Runs `op` (one whole transaction) again while it fails with a transient locking error, at
/// most [`MAX_ATTEMPTS`] times, sleeping a short random delay that grows with each attempt.
/// Any other result is returned as is.
pub(crate) async fn retrying<T, F, Fut>(mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Err(Error::Storage(e)) if attempt < MAX_ATTEMPTS && is_transient(&*e) => {
                tracing::debug!(
                    attempt,
                    error = %e,
                    "transaction aborted by a deadlock or lock wait: retrying"
                );
                tokio::time::sleep(backoff(attempt)).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// A random delay in `[0, 10 * attempt)` milliseconds, so the retried transactions spread out.
fn backoff(attempt: u32) -> Duration {
    let span = 10 * u64::from(attempt);
    let jitter = getrandom::u32().map_or(span / 2, |r| u64::from(r) % span);
    Duration::from_millis(jitter)
}

/// Whether the database aborted the statement to break a deadlock or because a lock could not
/// be had in time, so running the whole transaction again can succeed: MySQL / MariaDB errors
/// 1213 (deadlock) and 1205 (lock wait timeout), PostgreSQL SQLSTATE 40001
/// (`serialization_failure`) and 40P01 (`deadlock_detected`), SQLite `SQLITE_BUSY` and
/// `SQLITE_LOCKED` (with their extended codes).
pub(crate) fn is_transient(e: &(dyn std::error::Error + Send + Sync + 'static)) -> bool {
    #[cfg(any(feature = "sqlite", feature = "postgres", feature = "mysql"))]
    {
        use sea_orm::{DbErr, RuntimeErr};
        let Some(
            DbErr::Exec(RuntimeErr::SqlxError(e))
            | DbErr::Query(RuntimeErr::SqlxError(e))
            | DbErr::Conn(RuntimeErr::SqlxError(e)),
        ) = e.downcast_ref::<DbErr>()
        else {
            return false;
        };
        let sea_orm::sqlx::Error::Database(e) = &**e else {
            return false;
        };
        #[cfg(feature = "mysql")]
        if let Some(m) = e.try_downcast_ref::<sea_orm::SqlxMySqlError>() {
            return matches!(m.number(), 1205 | 1213);
        }
        #[cfg(feature = "sqlite")]
        if e.try_downcast_ref::<sea_orm::SqlxSqliteError>().is_some() {
            return e
                .code()
                .and_then(|c| c.parse::<u32>().ok())
                .is_some_and(|c| matches!(c & 0xff, 5 | 6));
        }
        matches!(e.code().as_deref(), Some("40001" | "40P01"))
    }
    #[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
    {
        let _ = e;
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_within_its_span() {
        for attempt in 1..MAX_ATTEMPTS {
            assert!(backoff(attempt) < Duration::from_millis(10 * u64::from(attempt)));
        }
    }

    #[test]
    fn other_errors_are_not_transient() {
        let e: Box<dyn std::error::Error + Send + Sync> =
            Box::new(sea_orm::DbErr::Custom("boom".into()));
        assert!(!is_transient(&*e));
        let e: Box<dyn std::error::Error + Send + Sync> = "plain".into();
        assert!(!is_transient(&*e));
    }

    async fn update(
        txn: sea_orm::DatabaseTransaction,
        id: i32,
    ) -> std::result::Result<(), sea_orm::DbErr> {
        use sea_orm::ConnectionTrait;
        let sql = format!("UPDATE testudo_probe SET v = 2 WHERE id = {id}");
        match txn.execute_unprepared(&sql).await {
            Ok(_) => txn.commit().await,
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        }
    }

    /// Two transactions locking two rows in opposite orders: the server aborts one, and that
    /// error is recognised.
    #[tokio::test]
    async fn real_deadlocks_are_transient() -> testudo_test_support::TestResult {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        use testudo_test_support::db::{Backend, TestDb, backends};
        for b in backends() {
            if matches!(b, Backend::Sqlite { .. }) {
                continue;
            }
            let name = b.name();
            let db = TestDb::with_pool(b, 2).await?;
            let c = db.conn();
            c.execute_unprepared("CREATE TABLE testudo_probe (id INT PRIMARY KEY, v INT NOT NULL)")
                .await?;
            c.execute_unprepared("INSERT INTO testudo_probe (id, v) VALUES (1, 0), (2, 0)")
                .await?;
            let first = c.begin().await?;
            let second = c.begin().await?;
            first
                .execute_unprepared("UPDATE testudo_probe SET v = 1 WHERE id = 1")
                .await?;
            second
                .execute_unprepared("UPDATE testudo_probe SET v = 1 WHERE id = 2")
                .await?;
            let (a, b) = tokio::join!(update(first, 2), update(second, 1));
            let errors: Vec<sea_orm::DbErr> = [a, b].into_iter().filter_map(|r| r.err()).collect();
            assert_eq!(errors.len(), 1, "{name}: {errors:?}");
            for e in errors {
                let e: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
                assert!(is_transient(&*e), "{name}: {e:?}");
            }
            c.execute_unprepared("DROP TABLE testudo_probe").await?;
            db.cleanup().await?;
        }
        Ok(())
    }
}
