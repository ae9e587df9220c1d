//! The revocation list on SQLite and, when their URLs are set, PostgreSQL and MariaDB.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use testudo_config::AuthConfig;
use testudo_core::{Claims, FixedClock, TokenBackend, TokenError, TokenPair, TokenType};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_jwt::JwtBackend;
use testudo_tokens_jwt::entity::{blacklisted_token, outstanding_token};

const SECRET: &str = "a-test-secret-of-at-least-32-bytes-long-0123456789";
const NOW: i64 = 1_800_000_000;

fn config(f: impl FnOnce(&mut AuthConfig)) -> Arc<AuthConfig> {
    let mut c = AuthConfig::default();
    c.jwt_secret = Some(SECRET.into());
    c.jwt_blacklist_enabled = true;
    f(&mut c);
    Arc::new(c)
}

fn clock() -> Result<Arc<FixedClock>, testudo_core::Error> {
    Ok(Arc::new(FixedClock::from_unix(NOW)?))
}

fn backend(
    db: &TestDb,
    config: Arc<AuthConfig>,
    clock: &Arc<FixedClock>,
) -> Result<JwtBackend, testudo_tokens_jwt::Error> {
    Ok(JwtBackend::new(config)?
        .with_clock(clock.clone())
        .with_revocation_list(db.db().clone()))
}

fn token_err<T>(r: testudo_core::Result<T>) -> Option<TokenError> {
    r.err().and_then(|e| e.as_token_error().cloned())
}

async fn access(b: &JwtBackend, pair: &TokenPair) -> Option<TokenError> {
    token_err(b.verify_token(pair.access_token(), TokenType::Access).await)
}

async fn refresh(b: &JwtBackend, pair: &TokenPair) -> Option<TokenError> {
    token_err(
        b.verify_token(pair.refresh_token(), TokenType::Refresh)
            .await,
    )
}

async fn blacklisted(db: &DatabaseConnection) -> Result<u64, sea_orm::DbErr> {
    blacklisted_token::Entity::find().count(db).await
}

async fn outstanding(
    db: &DatabaseConnection,
) -> Result<Vec<outstanding_token::Model>, sea_orm::DbErr> {
    outstanding_token::Entity::find().all(db).await
}

async fn issued_tokens_are_recorded_as_outstanding(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    assert!(jwt.supports_revocation());
    let pair = jwt.create_tokens("42", Claims::new()).await?;
    let a = jwt
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    let r = jwt
        .verify_token(pair.refresh_token(), TokenType::Refresh)
        .await?;
    let rows = outstanding(db.conn()).await?;
    assert_eq!(rows.len(), 2);
    for (payload, ty) in [(&a, "access"), (&r, "refresh")] {
        let row = rows
            .iter()
            .find(|x| x.jti == payload.jti)
            .ok_or("no outstanding row")?;
        assert_eq!(row.user_id, "42");
        assert_eq!(row.token_type, ty);
        assert_eq!(row.expires_at.timestamp(), payload.exp);
        assert_eq!(row.created_at.timestamp(), NOW);
    }
    assert!(rows[0].family_id.is_some());
    assert_eq!(rows[0].family_id, rows[1].family_id);
    // A second login is a new family.
    jwt.create_tokens("42", Claims::new()).await?;
    let families: std::collections::HashSet<_> = outstanding(db.conn())
        .await?
        .into_iter()
        .map(|r| r.family_id)
        .collect();
    assert_eq!(families.len(), 2);
    assert_eq!(blacklisted(db.conn()).await?, 0);
    db.cleanup().await?;
    Ok(())
}
per_database!(issued_tokens_are_recorded_as_outstanding);

async fn revoked_tokens_are_rejected_as_revoked(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    let pair = jwt.create_tokens("42", Claims::new()).await?;
    jwt.revoke_token(pair.access_token()).await?;
    assert_eq!(access(&jwt, &pair).await, Some(TokenError::Revoked));
    // The refresh token is a different jti: still valid until revoked itself.
    assert_eq!(refresh(&jwt, &pair).await, None);
    jwt.revoke_token(pair.refresh_token()).await?;
    assert_eq!(refresh(&jwt, &pair).await, Some(TokenError::Revoked));
    // Revoking twice, or revoking garbage, is fine and writes nothing more.
    jwt.revoke_token(pair.access_token()).await?;
    jwt.revoke_token("garbage").await?;
    jwt.revoke_token("").await?;
    assert_eq!(blacklisted(db.conn()).await?, 2);
    // A token signed with another key is not blacklisted.
    let mut other = AuthConfig::default();
    other.jwt_secret = Some("another-secret-of-at-least-32-bytes-long-xyz".into());
    let foreign = JwtBackend::new(Arc::new(other))?
        .with_clock(clock.clone())
        .create_tokens("42", Claims::new())
        .await?;
    jwt.revoke_token(foreign.access_token()).await?;
    assert_eq!(blacklisted(db.conn()).await?, 2);
    // An expired blacklisted token reports Expired (the reference's order).
    clock.advance(Duration::from_secs(900));
    assert_eq!(access(&jwt, &pair).await, Some(TokenError::Expired));
    db.cleanup().await?;
    Ok(())
}
per_database!(revoked_tokens_are_rejected_as_revoked);

async fn expired_tokens_can_still_be_revoked(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|c| c.jwt_issuer = Some("me".into())), &clock)?;
    let pair = jwt.create_tokens("42", Claims::new()).await?;
    let jti = jwt
        .verify_token(pair.access_token(), TokenType::Access)
        .await?
        .jti;
    clock.advance(Duration::from_secs(3600));
    assert_eq!(access(&jwt, &pair).await, Some(TokenError::Expired));
    jwt.revoke_token(pair.access_token()).await?;
    let row = blacklisted_token::Entity::find()
        .filter(blacklisted_token::Column::Jti.eq(jti.as_str()))
        .one(db.conn())
        .await?
        .ok_or("the expired token was not blacklisted")?;
    assert_eq!(
        row.expires_at.map(|t| t.timestamp()),
        Some(NOW + 900),
        "the blacklist row keeps the token's exp"
    );
    assert_eq!(row.blacklisted_at.timestamp(), NOW + 3600);
    // Back before expiry (as another server with a slow clock would see it): Revoked.
    clock.set(chrono::DateTime::from_timestamp(NOW + 10, 0).ok_or("time")?);
    assert_eq!(access(&jwt, &pair).await, Some(TokenError::Revoked));
    db.cleanup().await?;
    Ok(())
}
per_database!(expired_tokens_can_still_be_revoked);

async fn revoke_all_blacklists_every_outstanding_token_of_the_user(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    let first = jwt.create_tokens("u", Claims::new()).await?;
    let second = jwt.create_tokens("u", Claims::new()).await?;
    let other = jwt.create_tokens("v", Claims::new()).await?;
    jwt.revoke_token(first.access_token()).await?;
    // Three of u's four tokens were not blacklisted yet; expired ones count too.
    clock.advance(Duration::from_secs(1000));
    assert_eq!(jwt.revoke_all_for_user("u").await?, 3);
    clock.set(chrono::DateTime::from_timestamp(NOW, 0).ok_or("time")?);
    for pair in [&first, &second] {
        assert_eq!(access(&jwt, pair).await, Some(TokenError::Revoked));
        assert_eq!(refresh(&jwt, pair).await, Some(TokenError::Revoked));
    }
    assert_eq!(access(&jwt, &other).await, None);
    assert_eq!(refresh(&jwt, &other).await, None);
    assert_eq!(jwt.revoke_all_for_user("u").await?, 0);
    assert_eq!(jwt.revoke_all_for_user("nobody").await?, 0);
    assert_eq!(blacklisted(db.conn()).await?, 4);
    db.cleanup().await?;
    Ok(())
}
per_database!(revoke_all_blacklists_every_outstanding_token_of_the_user);

async fn cleanup_deletes_expired_rows_and_their_blacklist_rows(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(
        &db,
        config(|c| c.jwt_leeway = Duration::from_secs(30)),
        &clock,
    )?;
    let pair = jwt.create_tokens("u", Claims::new()).await?;
    let later = jwt.create_tokens("u", Claims::new()).await?;
    jwt.revoke_token(pair.access_token()).await?;
    // A token issued while the list was off has no outstanding row.
    let stateless = JwtBackend::new(config(|c| c.jwt_blacklist_enabled = false))?
        .with_clock(clock.clone())
        .create_tokens("w", Claims::new())
        .await?;
    jwt.revoke_token(stateless.access_token()).await?;
    assert_eq!(blacklisted(db.conn()).await?, 2);
    assert_eq!(jwt.cleanup_expired().await?, 0);
    // Expired, but still inside the leeway: kept (the token still verifies).
    clock.advance(Duration::from_secs(910));
    assert_eq!(jwt.cleanup_expired().await?, 0);
    // Past the leeway: both access rows, the blacklist row of the revoked one and that of
    // the stateless token.
    clock.advance(Duration::from_secs(20));
    assert_eq!(jwt.cleanup_expired().await?, 4);
    assert_eq!(jwt.cleanup_expired().await?, 0);
    assert_eq!(blacklisted(db.conn()).await?, 0);
    let left = outstanding(db.conn()).await?;
    assert_eq!(left.len(), 2);
    assert!(left.iter().all(|r| r.token_type == "refresh"));
    assert_eq!(refresh(&jwt, &later).await, None);
    // The refresh tokens expire too, and the two sessions go with them.
    clock.advance(Duration::from_secs(604_800));
    assert_eq!(jwt.cleanup_expired().await?, 4);
    assert!(outstanding(db.conn()).await?.is_empty());
    db.cleanup().await?;
    Ok(())
}
per_database!(cleanup_deletes_expired_rows_and_their_blacklist_rows);

async fn rotation_is_single_use_and_reuse_revokes_the_family(b: Backend) -> TestResult {
    let name = b.name();
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    let first = jwt.create_tokens("u", extra).await?;
    let unrelated = jwt.create_tokens("u", Claims::new()).await?;
    clock.advance(Duration::from_secs(60));
    let (old, second) = jwt.rotate(first.refresh_token()).await?;
    assert_eq!(
        (old.sub.as_str(), old.token_type),
        ("u", TokenType::Refresh)
    );
    let p = jwt
        .verify_token(second.access_token(), TokenType::Access)
        .await?;
    assert_eq!((p.sub.as_str(), p.iat, p.extra), ("u", NOW + 60, None));
    // The presented refresh token and the access token issued with it are blacklisted.
    assert_eq!(
        refresh(&jwt, &first).await,
        Some(TokenError::Revoked),
        "{name}"
    );
    assert_eq!(
        access(&jwt, &first).await,
        Some(TokenError::Revoked),
        "{name}"
    );
    // The next pair stays in the family.
    let rows = outstanding(db.conn()).await?;
    let family = |jti: &str| {
        rows.iter()
            .find(|r| r.jti == jti)
            .map(|r| r.family_id.clone())
    };
    let next_jti = jwt
        .verify_token(second.refresh_token(), TokenType::Refresh)
        .await?
        .jti;
    assert_eq!(family(&old.jti), family(&next_jti));
    let (_, third) = jwt.rotate(second.refresh_token()).await?;
    // Reuse, after the grace window: the first refresh token (rotated) is presented again.
    clock.advance(Duration::from_secs(5));
    assert_eq!(
        token_err(jwt.rotate(first.refresh_token()).await),
        Some(TokenError::Revoked),
        "{name}"
    );
    assert_eq!(
        access(&jwt, &third).await,
        Some(TokenError::Revoked),
        "{name}"
    );
    assert_eq!(
        refresh(&jwt, &third).await,
        Some(TokenError::Revoked),
        "{name}"
    );
    // Another login of the same user is another family: untouched.
    assert_eq!(access(&jwt, &unrelated).await, None, "{name}");
    assert_eq!(refresh(&jwt, &unrelated).await, None, "{name}");
    db.cleanup().await?;
    Ok(())
}
per_database!(rotation_is_single_use_and_reuse_revokes_the_family);

async fn reuse_detection_can_be_turned_off(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|c| c.refresh_reuse_detection = false), &clock)?;
    let first = jwt.create_tokens("u", Claims::new()).await?;
    let (_, second) = jwt.rotate(first.refresh_token()).await?;
    assert_eq!(
        token_err(jwt.rotate(first.refresh_token()).await),
        Some(TokenError::Revoked)
    );
    assert_eq!(access(&jwt, &second).await, None);
    assert_eq!(refresh(&jwt, &second).await, None);
    db.cleanup().await?;
    Ok(())
}
per_database!(reuse_detection_can_be_turned_off);

async fn a_revoked_refresh_token_does_not_rotate_nor_revoke_its_family(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    let pair = jwt.create_tokens("u", Claims::new()).await?;
    // Logout of the refresh token: not a rotation, so no reuse detection.
    jwt.revoke_token(pair.refresh_token()).await?;
    assert_eq!(
        token_err(jwt.rotate(pair.refresh_token()).await),
        Some(TokenError::Revoked)
    );
    assert_eq!(access(&jwt, &pair).await, None);
    // Refused before the list is touched: wrong type, expired.
    assert!(matches!(
        token_err(jwt.rotate(pair.access_token()).await),
        Some(TokenError::Invalid { .. })
    ));
    let other = jwt.create_tokens("u", Claims::new()).await?;
    clock.advance(Duration::from_secs(604_800));
    assert_eq!(
        token_err(jwt.rotate(other.refresh_token()).await),
        Some(TokenError::Expired)
    );
    assert_eq!(blacklisted(db.conn()).await?, 1);
    db.cleanup().await?;
    Ok(())
}
per_database!(a_revoked_refresh_token_does_not_rotate_nor_revoke_its_family);

async fn tokens_issued_while_the_list_was_off_rotate_into_a_new_family(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let stateless =
        JwtBackend::new(config(|c| c.jwt_blacklist_enabled = false))?.with_clock(clock.clone());
    let old = stateless.create_tokens("u", Claims::new()).await?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    let (_, next) = jwt.rotate(old.refresh_token()).await?;
    assert_eq!(refresh(&jwt, &old).await, Some(TokenError::Revoked));
    assert_eq!(refresh(&jwt, &next).await, None);
    let rows = outstanding(db.conn()).await?;
    assert_eq!(rows.len(), 2);
    assert!(rows[0].family_id.is_some() && rows[0].family_id == rows[1].family_id);
    db.cleanup().await?;
    Ok(())
}
per_database!(tokens_issued_while_the_list_was_off_rotate_into_a_new_family);

/// 50 concurrent rotations of one refresh token: exactly one pair, and the losers (inside the
/// rotation grace window) do not revoke the winner's new pair, with reuse detection on or off.
async fn fifty_concurrent_rotations_have_exactly_one_winner(b: Backend) -> TestResult {
    for reuse_detection in [true, false] {
        let name = b.name();
        let db = TestDb::with_pool(b.clone(), 20).await?;
        let clock = clock()?;
        let jwt = Arc::new(backend(
            &db,
            config(|c| c.refresh_reuse_detection = reuse_detection),
            &clock,
        )?);
        let pair = jwt.create_tokens("u", Claims::new()).await?;
        let token = pair.refresh_token().to_owned();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let jwt = jwt.clone();
                let t = token.clone();
                tokio::spawn(async move { jwt.rotate(&t).await })
            })
            .collect();
        let mut winners = Vec::new();
        let mut revoked = 0;
        for t in tasks {
            match t.await? {
                Ok((_, pair)) => winners.push(pair),
                Err(e) if e.as_token_error() == Some(&TokenError::Revoked) => revoked += 1,
                Err(e) => return Err(format!("{name}: unexpected error {e:?}").into()),
            }
        }
        assert_eq!((winners.len(), revoked), (1, 49), "{name}");
        let winner = winners.pop().ok_or("no winner")?;
        assert_eq!(
            refresh(&jwt, &winner).await,
            None,
            "{name} {reuse_detection}"
        );
        assert_eq!(
            access(&jwt, &winner).await,
            None,
            "{name} {reuse_detection}"
        );
        db.cleanup().await?;
    }
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    fifty_concurrent_rotations_have_exactly_one_winner,
    sqlite_file
);

async fn the_grace_window_is_measured_with_the_clock(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let jwt = backend(&db, config(|_| {}), &clock)?.with_rotation_grace(Duration::from_secs(30));
    let first = jwt.create_tokens("u", Claims::new()).await?;
    let (_, second) = jwt.rotate(first.refresh_token()).await?;
    // Within the window a second presentation is only refused (a concurrent loser).
    clock.advance(Duration::from_secs(29));
    assert_eq!(
        token_err(jwt.rotate(first.refresh_token()).await),
        Some(TokenError::Revoked)
    );
    assert_eq!(refresh(&jwt, &second).await, None);
    // Once it has passed, it is a replay: the family goes.
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        token_err(jwt.rotate(first.refresh_token()).await),
        Some(TokenError::Revoked)
    );
    assert_eq!(refresh(&jwt, &second).await, Some(TokenError::Revoked));
    // With no grace at all, an immediate second presentation is a replay.
    let jwt = jwt.with_rotation_grace(Duration::ZERO);
    let first = jwt.create_tokens("u", Claims::new()).await?;
    let (_, second) = jwt.rotate(first.refresh_token()).await?;
    assert_eq!(
        token_err(jwt.rotate(first.refresh_token()).await),
        Some(TokenError::Revoked)
    );
    assert_eq!(access(&jwt, &second).await, Some(TokenError::Revoked));
    db.cleanup().await?;
    Ok(())
}
per_database!(the_grace_window_is_measured_with_the_clock);

/// Sessions on the revocation list, at their edges: a pair issued while the list was off gets
/// a session (no device context, its start kept) when it is rotated into a family; tokens
/// recorded without a family (rows written by tortoise-auth) count as other sessions for
/// `revoke_other_sessions`; an expired token still names its session, a forged one none.
async fn sessions_cover_unrecorded_pairs_familyless_rows_and_expired_tokens(
    b: Backend,
) -> TestResult {
    use sea_orm::{ActiveValue::Set, prelude::DateTimeUtc};
    let db = TestDb::new(b).await?;
    let clock = clock()?;
    let stateless =
        JwtBackend::new(config(|c| c.jwt_blacklist_enabled = false))?.with_clock(clock.clone());
    assert!(!stateless.supports_sessions());
    let r = stateless.list_sessions("u").await;
    assert!(
        matches!(&r, Err(testudo_core::Error::Configuration(e)) if e.is::<testudo_core::SessionsNotSupported>()),
        "{r:?}"
    );
    let old = stateless.create_tokens("u", Claims::new()).await?;
    let jwt = backend(&db, config(|_| {}), &clock)?;
    assert!(jwt.supports_sessions());
    clock.advance(Duration::from_secs(60));
    let (_, next) = jwt.rotate(old.refresh_token()).await?;
    let sessions = jwt.list_sessions("u").await?;
    assert_eq!(sessions.len(), 1, "{sessions:?}");
    assert_eq!(
        sessions[0].created_at.timestamp(),
        NOW,
        "the session's start"
    );
    assert_eq!(sessions[0].last_used_at.timestamp(), NOW + 60);
    assert_eq!(
        (sessions[0].ip.as_deref(), sessions[0].user_agent.as_deref()),
        (None, None)
    );
    let keep = jwt
        .session_of(next.access_token())
        .await?
        .ok_or("the rotated pair has a session")?;
    assert_eq!(keep.session_id, sessions[0].id);
    assert_eq!(keep.user_id, "u");

    // A pair recorded without a family, as tortoise-auth writes its outstanding rows.
    let legacy =
        jwt.create_tokens_with_jtis("u", &Claims::new(), "legacy-access", "legacy-refresh")?;
    let at = |t: i64| -> TestResult<DateTimeUtc> {
        Ok(chrono::DateTime::from_timestamp(t, 0).ok_or("a time")?)
    };
    for (jti, ty, exp) in [
        ("legacy-access", "access", NOW + 60 + 900),
        ("legacy-refresh", "refresh", NOW + 60 + 604_800),
    ] {
        outstanding_token::Entity::insert(outstanding_token::ActiveModel {
            jti: Set(jti.to_owned()),
            user_id: Set("u".to_owned()),
            token_type: Set(ty.to_owned()),
            family_id: Set(None),
            created_at: Set(at(NOW + 60)?),
            expires_at: Set(at(exp)?),
            ..Default::default()
        })
        .exec(db.conn())
        .await?;
    }
    assert_eq!(jwt.session_of(legacy.access_token()).await?, None);
    let other = jwt.create_tokens("u", Claims::new()).await?;
    assert_eq!(jwt.list_sessions("u").await?.len(), 2);
    // Someone else's session is nobody's to revoke by id.
    let theirs = jwt.create_tokens("v", Claims::new()).await?;
    let theirs_id = jwt
        .session_of(theirs.refresh_token())
        .await?
        .ok_or("v's session")?
        .session_id;
    assert!(!jwt.revoke_user_session("u", &theirs_id).await?);
    assert_eq!(refresh(&jwt, &theirs).await, None);

    // The other family (2 tokens) and the familyless pair (2) are revoked; the kept one lives.
    assert_eq!(jwt.revoke_other_sessions("u", &keep.session_id).await?, 4);
    assert_eq!(access(&jwt, &legacy).await, Some(TokenError::Revoked));
    assert_eq!(refresh(&jwt, &legacy).await, Some(TokenError::Revoked));
    assert_eq!(access(&jwt, &other).await, Some(TokenError::Revoked));
    assert_eq!(refresh(&jwt, &other).await, Some(TokenError::Revoked));
    assert_eq!(access(&jwt, &next).await, None);
    let left = jwt.list_sessions("u").await?;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, keep.session_id);
    assert_eq!(jwt.list_sessions("v").await?.len(), 1);

    // Expired, the access token still names its session; a forged token names none.
    clock.advance(Duration::from_secs(3600));
    assert_eq!(access(&jwt, &next).await, Some(TokenError::Expired));
    assert_eq!(
        jwt.session_of(next.access_token()).await?,
        Some(keep.clone())
    );
    let forged = JwtBackend::new(config(|c| {
        c.jwt_secret = Some("another-secret-of-at-least-32-bytes-long-987654".into());
    }))?
    .with_clock(clock.clone())
    .create_tokens_with_jtis("u", &Claims::new(), "f-a", "f-r")?;
    assert_eq!(jwt.session_of(forged.access_token()).await?, None);
    assert_eq!(jwt.session_of("not a token").await?, None);
    // Revoking the kept session by id leaves none.
    assert!(jwt.revoke_user_session("u", &keep.session_id).await?);
    assert!(!jwt.revoke_user_session("u", &keep.session_id).await?);
    assert!(jwt.list_sessions("u").await?.is_empty());
    db.cleanup().await?;
    Ok(())
}
per_database!(sessions_cover_unrecorded_pairs_familyless_rows_and_expired_tokens);
