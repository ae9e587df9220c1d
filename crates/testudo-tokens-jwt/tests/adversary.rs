//! The revocation list's guarantees under attack (security review, finding 1), on SQLite and,
//! when their URLs are set, PostgreSQL and MariaDB: every write to a user's rows of the list is
//! serialized with the others of that user, so a revocation never misses a pair a concurrent
//! rotation is recording. The scenarios are `testudo_test_support::adversary`'s.

use std::sync::Arc;

use testudo_config::AuthConfig;
use testudo_core::{FixedClock, TokenBackend};
use testudo_test_support::db::TestDb;
use testudo_test_support::{TestResult, adversary_suite};
use testudo_tokens_jwt::JwtBackend;

/// A JWT backend with its revocation list on `db`, with `clock` when given.
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

adversary_suite!("tokens_jwt.rotate.before_commit", backend);
