//! The revocation list's guarantees under attack (security review, finding 1), on SQLite and,
//! when their URLs are set, PostgreSQL and MariaDB: every write to a user's rows of the list is
//! serialized with the others of that user, so a revocation never misses a pair a concurrent
//! rotation is recording.

use std::sync::Arc;

use testudo_config::AuthConfig;
use testudo_core::{FixedClock, TokenBackend};
use testudo_test_support::adversary;
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_jwt::JwtBackend;

const PAUSE: &str = "tokens_jwt.rotate.before_commit";

fn backend(db: &TestDb, clock: Option<Arc<FixedClock>>) -> TestResult<Arc<dyn TokenBackend>> {
    let mut config = AuthConfig::default();
    config.jwt_secret = Some("a-test-secret-of-at-least-32-bytes-long-0123456789".into());
    config.jwt_blacklist_enabled = true;
    let backend = JwtBackend::new(Arc::new(config))?.with_revocation_list(db.db().clone());
    Ok(Arc::new(match clock {
        Some(clock) => backend.with_clock(clock),
        None => backend,
    }))
}

/// `logout_all` while a rotation has written its new pair but not committed: the new pair is
/// revoked too (on today's PostgreSQL and MariaDB code the blacklisting did not see it).
async fn finding_1_logout_all_revokes_the_pair_of_a_rotation_in_flight(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    adversary::logout_all_during_a_rotation(backend(&db, None)?, PAUSE, "7").await?;
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    finding_1_logout_all_revokes_the_pair_of_a_rotation_in_flight,
    sqlite_file
);

/// A replayed rotated token while the thief rotates the newest one: the family revocation of
/// reuse detection includes the thief's new pair.
async fn finding_1_reuse_detection_revokes_the_thiefs_pair_in_flight(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = Arc::new(FixedClock::from_unix(1_800_000_000)?);
    let backend = backend(&db, Some(Arc::clone(&clock)))?;
    adversary::replay_during_the_thiefs_rotation(backend, &clock, PAUSE, "7").await?;
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    finding_1_reuse_detection_revokes_the_thiefs_pair_in_flight,
    sqlite_file
);

/// Five refresh chains against `logout_all`, 20 rounds: nothing survives, no chain sees an
/// error other than Revoked.
async fn finding_1_refresh_chains_vs_logout_all_x20(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let backend = backend(&db, None)?;
    for round in 0..20 {
        adversary::refresh_chains_vs_logout_all(Arc::clone(&backend), &format!("u{round}"))
            .await
            .map_err(|e| format!("round {round}: {e}"))?;
    }
    db.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    finding_1_refresh_chains_vs_logout_all_x20,
    sqlite_file
);
