//! The revocation guarantees under attack (security review, finding 1), on SQLite and, when
//! their URLs are set, PostgreSQL and MariaDB: every write to a user's tokens is serialized
//! with the others of that user, so a revocation never misses a pair a concurrent rotation is
//! writing. The scenarios are `testudo_test_support::adversary`'s.

use std::sync::Arc;

use testudo_config::AuthConfig;
use testudo_core::{FixedClock, TokenBackend};
use testudo_test_support::db::TestDb;
use testudo_test_support::{TestResult, adversary_suite};
use testudo_tokens_db::DatabaseTokenBackend;

/// The database backend on `db`, with `clock` when given.
fn backend(db: &TestDb, clock: Option<Arc<FixedClock>>) -> TestResult<Arc<dyn TokenBackend>> {
    let backend = DatabaseTokenBackend::new(db.db().clone(), Arc::new(AuthConfig::default()));
    Ok(Arc::new(match clock {
        Some(clock) => backend.with_clock(clock),
        None => backend,
    }))
}

adversary_suite!("tokens_db.rotate.before_commit", backend);
