//! `DatabaseTokenBackend` on SQLite and, when their URLs are set, PostgreSQL and MariaDB.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ConnectionTrait, EntityTrait, PaginatorTrait};
use testudo_config::AuthConfig;
use testudo_core::{Claims, FixedClock, TokenBackend, TokenError, TokenType};
use testudo_test_support::db::{Backend, TestDb, backends};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_db::entity::{access_token, refresh_token, session};
use testudo_tokens_db::{DEFAULT_ROTATION_GRACE, DatabaseTokenBackend, hash_token};

fn config(f: impl FnOnce(&mut AuthConfig)) -> Arc<AuthConfig> {
    let mut c = AuthConfig::default();
    f(&mut c);
    Arc::new(c)
}

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(1_800_000_000, 123_456_000).unwrap_or_default(),
    ))
}

fn token_err(e: &testudo_core::Error) -> Option<TokenError> {
    e.as_token_error().cloned()
}

async fn create_verify_expire(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend =
        DatabaseTokenBackend::new(db.db().clone(), config(|_| {})).with_clock(clock.clone());
    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    let pair = backend.create_tokens("42", extra.clone()).await?;
    assert_eq!(pair.access_token().len(), 64);
    assert!(
        pair.access_token()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric())
    );
    assert_ne!(pair.access_token(), pair.refresh_token());
    let p = backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    assert_eq!(p.sub, "42");
    assert_eq!(p.jti.len(), 32);
    assert_eq!(p.iat, 1_800_000_000);
    assert_eq!(p.exp, 1_800_000_000 + 900);
    assert_eq!(p.extra, Some(extra));
    let r = backend
        .verify_token(pair.refresh_token(), TokenType::Refresh)
        .await?;
    assert_eq!(r.exp, 1_800_000_000 + 604_800);
    // Wrong type: invalid.
    let e = backend
        .verify_token(pair.access_token(), TokenType::Refresh)
        .await
        .err();
    assert!(matches!(
        e.as_ref().and_then(token_err),
        Some(TokenError::Invalid { .. })
    ));
    // Only the digest is stored.
    let row = access_token::Entity::find().one(db.conn()).await?;
    let row = row.ok_or("no access row")?;
    assert_eq!(row.token_hash, hash_token(pair.access_token()));
    let refresh = refresh_token::Entity::find()
        .one(db.conn())
        .await?
        .ok_or("no row")?;
    assert_eq!(refresh.access_jti, row.jti);
    assert_eq!(refresh.family_id, row.family_id);
    // Expiry: exactly at expires_at is expired.
    clock.advance(Duration::from_secs(899));
    backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    clock.advance(Duration::from_secs(1));
    let e = backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Expired));
    db.cleanup().await?;
    Ok(())
}
per_database!(create_verify_expire);

#[tokio::test]
async fn garbage_is_invalid_without_the_database() -> TestResult {
    let db = TestDb::new(backends().remove(0)).await?;
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}));
    // With the tables gone, a database lookup would be a storage error, not Invalid.
    db.conn()
        .execute_unprepared("DROP TABLE testudo_access_tokens")
        .await?;
    for garbage in [
        "",
        "abc",
        &"a".repeat(63),
        &"a".repeat(65),
        &format!("{}-", "a".repeat(63)),
        &"a".repeat(100_000),
    ] {
        let e = backend.verify_token(garbage, TokenType::Access).await.err();
        assert!(matches!(
            e.as_ref().and_then(token_err),
            Some(TokenError::Invalid { .. })
        ));
    }
    let e = backend
        .verify_token(&"a".repeat(64), TokenType::Access)
        .await
        .err();
    assert!(matches!(e, Some(testudo_core::Error::Storage(_))));
    db.cleanup().await?;
    Ok(())
}

async fn revoke_revoke_all_and_cleanup(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend =
        DatabaseTokenBackend::new(db.db().clone(), config(|_| {})).with_clock(clock.clone());
    let p1 = backend.create_tokens("u", Claims::new()).await?;
    let p2 = backend.create_tokens("u", Claims::new()).await?;
    let other = backend.create_tokens("v", Claims::new()).await?;
    // Revoking an access token leaves its refresh token alone.
    backend.revoke_token(p1.access_token()).await?;
    let e = backend
        .verify_token(p1.access_token(), TokenType::Access)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    backend
        .verify_token(p1.refresh_token(), TokenType::Refresh)
        .await?;
    // Revoking a refresh token revokes the access token issued with it.
    backend.revoke_token(p2.refresh_token()).await?;
    for (t, ty) in [
        (p2.access_token(), TokenType::Access),
        (p2.refresh_token(), TokenType::Refresh),
    ] {
        let e = backend.verify_token(t, ty).await.err();
        assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    }
    // Unknown tokens are ignored.
    backend.revoke_token(&"Z".repeat(64)).await?;
    // Revoked before expired.
    clock.advance(Duration::from_secs(10_000));
    let e = backend
        .verify_token(p1.access_token(), TokenType::Access)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    // Revoke all: only p1's refresh is still active for u.
    assert_eq!(backend.revoke_all_for_user("u").await?, 1);
    backend
        .verify_token(other.refresh_token(), TokenType::Refresh)
        .await?;
    // Cleanup: the three access rows expired.
    assert_eq!(backend.cleanup_expired().await?, 3);
    clock.advance(Duration::from_secs(604_800));
    assert_eq!(backend.cleanup_expired().await?, 3);
    assert_eq!(refresh_token::Entity::find().count(db.conn()).await?, 0);
    // The sessions of the ended families went with them.
    assert_eq!(session::Entity::find().count(db.conn()).await?, 0);
    db.cleanup().await?;
    Ok(())
}
per_database!(revoke_revoke_all_and_cleanup);

async fn max_tokens_per_user_revokes_the_oldest(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|c| c.max_tokens_per_user = 2))
        .with_clock(clock.clone());
    let mut pairs = Vec::new();
    for _ in 0..5 {
        pairs.push(backend.create_tokens("u", Claims::new()).await?);
        clock.advance(Duration::from_secs(1));
    }
    // Each login beyond the second revoked the oldest active pair, never a newer one.
    for old in &pairs[..3] {
        for (token, kind) in [
            (old.refresh_token(), TokenType::Refresh),
            (old.access_token(), TokenType::Access),
        ] {
            let e = backend.verify_token(token, kind).await.err();
            assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
        }
    }
    for kept in &pairs[3..] {
        backend
            .verify_token(kept.refresh_token(), TokenType::Refresh)
            .await?;
        backend
            .verify_token(kept.access_token(), TokenType::Access)
            .await?;
    }
    db.cleanup().await?;
    Ok(())
}
per_database!(max_tokens_per_user_revokes_the_oldest);

async fn concurrent_logins_cannot_overshoot_the_limit(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::with_pool(b, 10).await?;
    let backend = Arc::new(DatabaseTokenBackend::new(
        db.db().clone(),
        config(|c| c.max_tokens_per_user = 3),
    ));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let b = backend.clone();
            tokio::spawn(async move { b.create_tokens("u", Claims::new()).await })
        })
        .collect();
    let mut pairs = Vec::new();
    for t in tasks {
        // Deadlocks (MariaDB's gap locks) are retried: every login succeeds.
        pairs.push(t.await?.map_err(|e| format!("{name}: {e:?}"))?);
    }
    assert_eq!(refresh_token::Entity::find().count(db.conn()).await?, 20);
    let active = refresh_token::Entity::find()
        .filter_active("u")
        .count(db.conn())
        .await?;
    assert_eq!(active, 3, "{name}: {active} active pairs");
    let mut valid = 0;
    for p in &pairs {
        if backend
            .verify_token(p.refresh_token(), TokenType::Refresh)
            .await
            .is_ok()
        {
            valid += 1;
        }
    }
    assert_eq!(valid, 3, "{name}");
    db.cleanup().await?;
    Ok(())
}
per_database!(concurrent_logins_cannot_overshoot_the_limit, sqlite_file);

trait ActiveFilter {
    fn filter_active(self, user: &str) -> Self;
}

impl ActiveFilter for sea_orm::Select<refresh_token::Entity> {
    fn filter_active(self, user: &str) -> Self {
        use sea_orm::{ColumnTrait, QueryFilter};
        self.filter(refresh_token::Column::UserId.eq(user))
            .filter(refresh_token::Column::IsRevoked.eq(false))
    }
}

async fn rotation_and_reuse_detection(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend =
        DatabaseTokenBackend::new(db.db().clone(), config(|_| {})).with_clock(clock.clone());
    let mut extra = Claims::new();
    extra.insert("k".into(), 1.into());
    let first = backend.create_tokens("u", extra.clone()).await?;
    clock.advance(Duration::from_secs(5));
    let (payload, second) = backend.rotate(first.refresh_token()).await?;
    assert_eq!(payload.sub, "u");
    assert_eq!(payload.token_type, TokenType::Refresh);
    let p = backend
        .verify_token(second.access_token(), TokenType::Access)
        .await?;
    assert_eq!(p.extra, Some(extra));
    // The rotated pair is dead.
    let e = backend
        .verify_token(first.access_token(), TokenType::Access)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    // Same family.
    let rows = refresh_token::Entity::find().all(db.conn()).await?;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].family_id, rows[1].family_id);
    // Within the grace window a second presentation is only refused (a concurrent loser).
    let e = backend.rotate(first.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    backend
        .verify_token(second.refresh_token(), TokenType::Refresh)
        .await?;
    // Reuse of the rotated token later: Revoked, and the whole family with it.
    clock.advance(DEFAULT_ROTATION_GRACE);
    let e = backend.rotate(first.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    let e = backend
        .verify_token(second.refresh_token(), TokenType::Refresh)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    let e = backend
        .verify_token(second.access_token(), TokenType::Access)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    // Another login is untouched.
    let third = backend.create_tokens("u", Claims::new()).await?;
    // Expired refresh token: Expired, no rotation.
    clock.advance(Duration::from_secs(604_800));
    let e = backend.rotate(third.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Expired));
    // Unknown / garbage: Invalid.
    let e = backend.rotate(&"Q".repeat(64)).await.err();
    assert!(matches!(
        e.as_ref().and_then(token_err),
        Some(TokenError::Invalid { .. })
    ));
    let e = backend.rotate("nope").await.err();
    assert!(matches!(
        e.as_ref().and_then(token_err),
        Some(TokenError::Invalid { .. })
    ));
    db.cleanup().await?;
    Ok(())
}
per_database!(rotation_and_reuse_detection);

async fn the_grace_window_is_measured_with_the_clock(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}))
        .with_clock(clock.clone())
        .with_rotation_grace(Duration::from_secs(30));
    let first = backend.create_tokens("u", Claims::new()).await?;
    let (_, second) = backend.rotate(first.refresh_token()).await?;
    // 29 s later: still a possible race loser, only refused.
    clock.advance(Duration::from_secs(29));
    let e = backend.rotate(first.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    backend
        .verify_token(second.access_token(), TokenType::Access)
        .await?;
    // 30 s: a replay.
    clock.advance(Duration::from_secs(1));
    let e = backend.rotate(first.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    let e = backend
        .verify_token(second.access_token(), TokenType::Access)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    // With no grace at all, an immediate second presentation is a replay.
    let backend = backend.with_rotation_grace(Duration::ZERO);
    let third = backend.create_tokens("v", Claims::new()).await?;
    let (_, fourth) = backend.rotate(third.refresh_token()).await?;
    let e = backend.rotate(third.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    let e = backend
        .verify_token(fourth.refresh_token(), TokenType::Refresh)
        .await
        .err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    db.cleanup().await?;
    Ok(())
}
per_database!(the_grace_window_is_measured_with_the_clock);

async fn reuse_detection_can_be_turned_off(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock();
    let backend = DatabaseTokenBackend::new(
        db.db().clone(),
        config(|c| c.refresh_reuse_detection = false),
    )
    .with_clock(clock.clone());
    let first = backend.create_tokens("u", Claims::new()).await?;
    let (_, second) = backend.rotate(first.refresh_token()).await?;
    clock.advance(Duration::from_secs(60));
    let e = backend.rotate(first.refresh_token()).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    backend
        .verify_token(second.refresh_token(), TokenType::Refresh)
        .await?;
    db.cleanup().await?;
    Ok(())
}
per_database!(reuse_detection_can_be_turned_off);

async fn fifty_concurrent_rotations_have_exactly_one_winner(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::with_pool(b, 20).await?;
    let clock = clock();
    let backend = Arc::new(
        DatabaseTokenBackend::new(db.db().clone(), config(|_| {})).with_clock(clock.clone()),
    );
    let pair = backend.create_tokens("u", Claims::new()).await?;
    let token = pair.refresh_token().to_owned();
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let b = backend.clone();
            let t = token.clone();
            tokio::spawn(async move { b.rotate(&t).await })
        })
        .collect();
    let mut winners = Vec::new();
    let mut revoked = 0;
    for t in tasks {
        match t.await? {
            Ok((_, next)) => winners.push(next),
            Err(e) if token_err(&e) == Some(TokenError::Revoked) => revoked += 1,
            Err(e) => return Err(format!("{name}: unexpected error {e:?}").into()),
        }
    }
    assert_eq!((winners.len(), revoked), (1, 49), "{name}");
    // The losers did not trigger reuse detection: the winner's new pair is alive.
    let next = winners.pop().ok_or("no winner")?;
    backend
        .verify_token(next.access_token(), TokenType::Access)
        .await?;
    backend
        .verify_token(next.refresh_token(), TokenType::Refresh)
        .await?;
    // A replay once the grace window has passed revokes the whole family.
    clock.advance(DEFAULT_ROTATION_GRACE);
    let e = backend.rotate(&token).await.err();
    assert_eq!(e.as_ref().and_then(token_err), Some(TokenError::Revoked));
    for (t, ty) in [
        (next.access_token(), TokenType::Access),
        (next.refresh_token(), TokenType::Refresh),
    ] {
        let e = backend.verify_token(t, ty).await.err();
        assert_eq!(
            e.as_ref().and_then(token_err),
            Some(TokenError::Revoked),
            "{name}"
        );
    }
    db.cleanup().await?;
    Ok(())
}
per_database!(
    fifty_concurrent_rotations_have_exactly_one_winner,
    sqlite_file
);

async fn a_failure_between_the_two_inserts_leaves_no_row(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}));
    // The refresh insert fails: its table is gone.
    db.conn()
        .execute_unprepared("DROP TABLE testudo_refresh_tokens")
        .await?;
    let e = backend.create_tokens("u", Claims::new()).await.err();
    assert!(matches!(e, Some(testudo_core::Error::Storage(_))));
    assert_eq!(access_token::Entity::find().count(db.conn()).await?, 0);
    db.cleanup().await?;
    Ok(())
}
per_database!(a_failure_between_the_two_inserts_leaves_no_row);

/// On SQLite both rows go in one round trip (two statements in one text): a refresh insert that
/// fails while it runs, not only while it is prepared, also leaves no row.
#[tokio::test]
async fn a_refresh_insert_that_fails_while_it_runs_leaves_no_row_on_sqlite() -> TestResult {
    let db = TestDb::new(Backend::Sqlite { file: true }).await?;
    let backend = DatabaseTokenBackend::new(db.db().clone(), config(|_| {}));
    db.conn()
        .execute_unprepared(
            "CREATE TRIGGER refuse BEFORE INSERT ON testudo_refresh_tokens \
             BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .await?;
    let e = backend.create_tokens("u", Claims::new()).await.err();
    assert!(matches!(e, Some(testudo_core::Error::Storage(_))), "{e:?}");
    assert_eq!(access_token::Entity::find().count(db.conn()).await?, 0);
    db.conn().execute_unprepared("DROP TRIGGER refuse").await?;
    backend.create_tokens("u", Claims::new()).await?;
    assert_eq!(access_token::Entity::find().count(db.conn()).await?, 1);
    assert_eq!(refresh_token::Entity::find().count(db.conn()).await?, 1);
    db.cleanup().await?;
    Ok(())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HashVector {
    raw_token: String,
    sha256_hex: String,
}

#[test]
fn conformance_opaque_token_hash() -> TestResult {
    let vectors = testudo_test_support::Vectors::load()?;
    let entries: Vec<HashVector> = vectors.section("opaque_token_hash")?;
    assert!(!entries.is_empty());
    for v in &entries {
        assert_eq!(hash_token(&v.raw_token), v.sha256_hex, "{:?}", v.raw_token);
    }
    vectors.report("opaque_token_hash", entries.len());
    Ok(())
}

#[test]
fn generated_tokens_use_the_whole_alphabet_evenly() -> TestResult {
    let s = testudo_tokens_db::generate_token(62_000)?;
    let mut counts = std::collections::HashMap::new();
    for c in s.chars() {
        *counts.entry(c).or_insert(0u32) += 1;
    }
    assert_eq!(counts.len(), 62);
    assert!(
        counts.values().all(|&n| (700..1300).contains(&n)),
        "{counts:?}"
    );
    Ok(())
}

/// Issuing a pair reads the user's active refresh tokens through the index on
/// `(user_id, is_revoked, created_at)`, so its cost does not grow with the revoked history
/// (SQLite's plan for the query `max_tokens_per_user` runs).
#[tokio::test]
async fn the_limit_query_reads_only_active_rows_through_the_index() -> TestResult {
    let db = TestDb::new(Backend::Sqlite { file: false }).await?;
    let plan = db
        .conn()
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DatabaseBackend::Sqlite,
            "EXPLAIN QUERY PLAN SELECT id, access_jti, token_hash FROM testudo_refresh_tokens \
             WHERE user_id = 'u' AND is_revoked = 0 AND expires_at > '2026-01-01' \
             ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET 100",
        ))
        .await?;
    let details: Vec<String> = plan
        .iter()
        .map(|r| r.try_get_by::<String, _>("detail"))
        .collect::<Result<_, _>>()?;
    assert!(
        details.iter().any(|d| d.contains(
            "USING INDEX idx_testudo_refresh_tokens_user_active (user_id=? AND is_revoked=?)"
        )),
        "{details:?}"
    );
    db.cleanup().await?;
    Ok(())
}
