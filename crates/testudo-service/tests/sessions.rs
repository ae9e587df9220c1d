//! Sessions: device context recorded and listed, the `current` flag, `revoke_session` refusing
//! another user's session, `logout_others` racing refreshes (deterministic pause points, 20
//! rounds per database), `last_used_at` moved by rotation, a password change keeping the
//! current session, and the stateless JWT backend's typed refusal. On SQLite, PostgreSQL and
//! MariaDB, each with the database backend and the JWT backend with its revocation list.

mod common;

use std::time::Duration;

use testudo_core::{AuthUser, Claims, Error, SessionContext, TokenError, TokenPair, pause};
use testudo_service::{AuthService, DbUserStore, ValidatorPolicy};
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};

use common::{Env, T0, Tokens};

const PASSWORD: &str = "correct horse battery staple 42!";
const NEW_PASSWORD: &str = "another horse, another staple 43?";
const EMAIL: &str = "ann@example.com";

fn client(ip: &str, user_agent: &str) -> SessionContext {
    SessionContext::new()
        .with_ip(Some(ip))
        .with_user_agent(Some(user_agent))
}

async fn login(
    auth: &AuthService<DbUserStore>,
    email: &str,
    ctx: &SessionContext,
) -> TestResult<TokenPair> {
    Ok(auth
        .login_with_context(email, PASSWORD, Claims::new(), ctx)
        .await?
        .tokens)
}

fn is_revoked<T: std::fmt::Debug>(r: &Result<T, Error>) -> bool {
    matches!(r, Err(Error::Token(TokenError::Revoked)))
}

/// The token backends that keep sessions: the database backend and the JWT backend with its
/// revocation list. Every session test runs on both.
const KEEPING_SESSIONS: [Tokens; 2] = [Tokens::Database, Tokens::JwtRevocable];

/// Runs `test` with each backend of [`KEEPING_SESSIONS`] on a fresh `backend` database.
async fn on_session_backends<F, Fut>(backend: Backend, test: F) -> TestResult
where
    F: Fn(Backend, Tokens) -> Fut,
    Fut: Future<Output = TestResult>,
{
    for tokens in KEEPING_SESSIONS {
        test(backend.clone(), tokens).await?;
    }
    Ok(())
}

/// `session_test!(name = name_on)`: the test `name`, on each database (`per_database!`),
/// running `name_on(backend, tokens)` with each backend of [`KEEPING_SESSIONS`].
macro_rules! session_test {
    ($name:ident = $on:ident) => {
        async fn $name(backend: Backend) -> TestResult {
            on_session_backends(backend, $on).await
        }
        per_database!($name);
    };
}

/// Two logins from two devices: both listed newest first with their IP and user agent; the
/// current one is flagged whether it is named by its access or its refresh token.
async fn device_context_is_recorded_and_listed_with_the_current_flag_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let laptop = login(&env.auth, EMAIL, &client("192.0.2.1", "Laptop/1.0")).await?;
    env.clock.advance(Duration::from_secs(10));
    let phone = login(
        &env.auth,
        EMAIL,
        &SessionContext::from_ip(Some("2001:db8::7")),
    )
    .await?;
    let listed = env
        .auth
        .list_sessions(&user.id(), Some(laptop.access_token()))
        .await?;
    assert_eq!(listed.len(), 2, "{name}: {listed:?}");
    assert_eq!(listed[0].ip.as_deref(), Some("2001:db8::7"), "{name}");
    assert_eq!(listed[0].user_agent, None, "{name}");
    assert!(!listed[0].current, "{name}");
    assert_eq!(listed[1].ip.as_deref(), Some("192.0.2.1"), "{name}");
    assert_eq!(
        listed[1].user_agent.as_deref(),
        Some("Laptop/1.0"),
        "{name}"
    );
    assert!(listed[1].current, "{name}");
    assert_eq!(listed[1].created_at.timestamp(), T0, "{name}");
    assert_eq!(listed[0].created_at.timestamp(), T0 + 10, "{name}");
    let by_refresh = env
        .auth
        .list_sessions(&user.id(), Some(phone.refresh_token()))
        .await?;
    let flags: Vec<bool> = by_refresh.iter().map(|s| s.current).collect();
    assert_eq!(flags, [true, false], "{name}");
    let none = env
        .auth
        .list_sessions(&user.id(), Some("not a token"))
        .await?;
    assert!(none.iter().all(|s| !s.current), "{name}");
    // Logging out of a session takes it off the list.
    env.auth.logout(phone.access_token()).await?;
    let left = env.auth.list_sessions(&user.id(), None).await?;
    assert_eq!(left.len(), 1, "{name}");
    assert_eq!(left[0].id, listed[1].id, "{name}");
    env.cleanup().await
}
session_test!(
    device_context_is_recorded_and_listed_with_the_current_flag =
        device_context_is_recorded_and_listed_with_the_current_flag_on
);

/// Every login path records the context: the email-token login too.
async fn a_login_link_records_the_device_context_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let store =
        testudo_tokens_db::EmailTokenStore::new(env.db.db().clone(), env.auth.config().clone())
            .with_clock(env.clock.clone());
    let token = store
        .create_token(EMAIL, testudo_tokens_db::EmailTokenOptions::default())
        .await?;
    env.auth
        .login_with_email_token_with_context(
            EMAIL,
            token.as_str(),
            &client("198.51.100.9", "Mail/2"),
        )
        .await?;
    let listed = env.auth.list_sessions(&user.id(), None).await?;
    assert_eq!(listed.len(), 1, "{name}");
    assert_eq!(listed[0].ip.as_deref(), Some("198.51.100.9"), "{name}");
    assert_eq!(listed[0].user_agent.as_deref(), Some("Mail/2"), "{name}");
    env.cleanup().await
}
session_test!(a_login_link_records_the_device_context = a_login_link_records_the_device_context_on);

/// A user cannot revoke another user's session by its id; their own, yes.
async fn revoking_another_users_session_is_refused_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let ann = env.auth.create_user(EMAIL, PASSWORD).await?;
    let bob = env.auth.create_user("bob@example.com", PASSWORD).await?;
    let ann_pair = login(&env.auth, EMAIL, &SessionContext::new()).await?;
    let bob_pair = login(&env.auth, "bob@example.com", &SessionContext::new()).await?;
    let bob_session = env.auth.list_sessions(&bob.id(), None).await?;
    let bob_id = &bob_session[0].id;
    assert!(
        !env.auth.revoke_session(&ann.id(), bob_id).await?,
        "{name}: ann revoked bob's session"
    );
    env.auth.authenticate(bob_pair.access_token()).await?;
    assert!(
        !env.auth
            .revoke_session(&ann.id(), "no-such-session")
            .await?
    );
    let ann_id = env.auth.list_sessions(&ann.id(), None).await?[0].id.clone();
    assert!(env.auth.revoke_session(&ann.id(), &ann_id).await?, "{name}");
    assert!(is_revoked(
        &env.auth.authenticate(ann_pair.access_token()).await
    ));
    assert!(is_revoked(
        &env.auth.refresh(ann_pair.refresh_token()).await
    ));
    assert!(
        !env.auth.revoke_session(&ann.id(), &ann_id).await?,
        "{name}: twice"
    );
    assert!(env.auth.list_sessions(&ann.id(), None).await?.is_empty());
    env.auth.authenticate(bob_pair.access_token()).await?;
    env.cleanup().await
}
session_test!(
    revoking_another_users_session_is_refused = revoking_another_users_session_is_refused_on
);

/// A rotation moves the session's `last_used_at` (by the fixed clock) and keeps its id;
/// verifying an access token does not.
async fn a_rotation_moves_last_used_and_keeps_the_session_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let pair = login(&env.auth, EMAIL, &client("192.0.2.1", "UA")).await?;
    let before = env.auth.list_sessions(&user.id(), None).await?;
    env.clock.advance(Duration::from_secs(30));
    env.auth.authenticate(pair.access_token()).await?;
    let verified = env.auth.list_sessions(&user.id(), None).await?;
    assert_eq!(verified, before, "{name}: verification moved last_used_at");
    env.clock.advance(Duration::from_secs(30));
    let next = env.auth.refresh(pair.refresh_token()).await?;
    let after = env
        .auth
        .list_sessions(&user.id(), Some(next.access_token()))
        .await?;
    assert_eq!(after.len(), 1, "{name}");
    assert_eq!(after[0].id, before[0].id, "{name}: the session id changed");
    assert_eq!(after[0].created_at.timestamp(), T0, "{name}");
    assert_eq!(after[0].last_used_at.timestamp(), T0 + 60, "{name}");
    assert_eq!(after[0].ip.as_deref(), Some("192.0.2.1"), "{name}");
    assert!(after[0].current, "{name}");
    env.cleanup().await
}
session_test!(
    a_rotation_moves_last_used_and_keeps_the_session =
        a_rotation_moves_last_used_and_keeps_the_session_on
);

/// Which side of the race waits at its pause point.
#[derive(Debug, Clone, Copy)]
enum Order {
    /// The refresh of another session has written its new pair and waits before COMMIT
    /// (holding the user's lock) when `logout_others` starts.
    RefreshFirst,
    /// `logout_others` has revoked and waits before COMMIT when the refresh starts.
    LogoutFirst,
}

/// The pause points before COMMIT of a rotation and of `revoke_other_sessions` in `tokens`.
fn pause_points(tokens: Tokens) -> (&'static str, &'static str) {
    match tokens {
        Tokens::Database => (
            "tokens_db.rotate.before_commit",
            "tokens_db.revoke_other_sessions.before_commit",
        ),
        Tokens::Jwt | Tokens::JwtRevocable => (
            "tokens_jwt.rotate.before_commit",
            "tokens_jwt.revoke_other_sessions.before_commit",
        ),
    }
}

/// One round: three sessions, a refresh of one of the others racing `logout_others`; exactly
/// the current session survives, whatever the order.
async fn race_round(env: &Env, user_id: &str, order: Order) -> TestResult {
    let name = format!("{} {order:?}", env.name);
    let current = login(&env.auth, EMAIL, &client("192.0.2.1", "current")).await?;
    let other = login(&env.auth, EMAIL, &client("192.0.2.2", "other")).await?;
    let third = login(&env.auth, EMAIL, &client("192.0.2.3", "third")).await?;
    let (refresh, logout) = match order {
        Order::RefreshFirst => {
            let paused = pause::arm(pause_points(env.tokens).0);
            let auth = env.auth.clone();
            let token = other.refresh_token().to_owned();
            let refresh = tokio::spawn(async move { auth.refresh(&token).await });
            paused.reached().await;
            let auth = env.auth.clone();
            let token = current.access_token().to_owned();
            let logout = tokio::spawn(async move { auth.logout_others(&token).await });
            paused.release();
            (refresh.await?, logout.await?)
        }
        Order::LogoutFirst => {
            let paused = pause::arm(pause_points(env.tokens).1);
            let auth = env.auth.clone();
            let token = current.access_token().to_owned();
            let logout = tokio::spawn(async move { auth.logout_others(&token).await });
            paused.reached().await;
            let auth = env.auth.clone();
            let token = other.refresh_token().to_owned();
            let refresh = tokio::spawn(async move { auth.refresh(&token).await });
            paused.release();
            (refresh.await?, logout.await?)
        }
    };
    let revoked = logout?;
    assert!(revoked >= 4, "{name}: {revoked} tokens revoked");
    // The racing refresh either lost (its token found revoked) or won a pair that is dead.
    match refresh {
        Ok(pair) => {
            assert!(
                matches!(order, Order::RefreshFirst),
                "{name}: a refresh after the logout succeeded"
            );
            assert!(
                is_revoked(&env.auth.authenticate(pair.access_token()).await),
                "{name}"
            );
            assert!(
                is_revoked(&env.auth.refresh(pair.refresh_token()).await),
                "{name}"
            );
        }
        Err(e) => assert!(
            matches!(e, Error::Token(TokenError::Revoked)),
            "{name}: {e:?}"
        ),
    }
    for pair in [&other, &third] {
        assert!(
            is_revoked(&env.auth.authenticate(pair.access_token()).await),
            "{name}"
        );
    }
    assert!(
        is_revoked(&env.auth.refresh(third.refresh_token()).await),
        "{name}"
    );
    let listed = env
        .auth
        .list_sessions(user_id, Some(current.access_token()))
        .await?;
    assert_eq!(listed.len(), 1, "{name}: {listed:?}");
    assert!(listed[0].current, "{name}");
    env.auth.authenticate(current.access_token()).await?;
    let next = env.auth.refresh(current.refresh_token()).await?;
    // End the round's session so the next round starts with none.
    env.auth.logout(next.access_token()).await?;
    assert!(
        env.auth.list_sessions(user_id, None).await?.is_empty(),
        "{name}"
    );
    Ok(())
}

/// `logout_others` racing a refresh of another session, 20 rounds (both orders) per database:
/// exactly the current session is left every time.
async fn logout_others_under_concurrent_refreshes_leaves_exactly_the_current_session_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    for round in 0..20 {
        let order = if round % 2 == 0 {
            Order::RefreshFirst
        } else {
            Order::LogoutFirst
        };
        race_round(&env, &user.id(), order).await?;
    }
    let events = env.events.take();
    let logouts = events
        .iter()
        .filter(|e| e.kind() == Some(testudo_events::EventKind::UserLogout))
        .count();
    assert_eq!(
        logouts, 40,
        "{}: one per logout_others and per logout",
        env.name
    );
    env.cleanup().await
}
async fn logout_others_under_concurrent_refreshes_leaves_exactly_the_current_session(
    backend: Backend,
) -> TestResult {
    on_session_backends(
        backend,
        logout_others_under_concurrent_refreshes_leaves_exactly_the_current_session_on,
    )
    .await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    logout_others_under_concurrent_refreshes_leaves_exactly_the_current_session,
    sqlite_file
);

/// `logout_others` refuses an invalid current token and revokes nothing.
async fn logout_others_with_an_invalid_token_revokes_nothing_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let a = login(&env.auth, EMAIL, &SessionContext::new()).await?;
    let b = login(&env.auth, EMAIL, &SessionContext::new()).await?;
    let r = env.auth.logout_others("garbage").await;
    assert!(matches!(r, Err(Error::Token(_))), "{name}: {r:?}");
    env.auth.logout(b.access_token()).await?;
    let r = env.auth.logout_others(b.refresh_token()).await;
    assert!(matches!(r, Err(Error::Token(_))), "{name}: {r:?}");
    env.auth.authenticate(a.access_token()).await?;
    assert_eq!(env.auth.list_sessions(&user.id(), None).await?.len(), 1);
    // A refresh token names the current session as well as an access token.
    let c = login(&env.auth, EMAIL, &SessionContext::new()).await?;
    env.auth.logout_others(c.refresh_token()).await?;
    assert!(
        is_revoked(&env.auth.authenticate(a.access_token()).await),
        "{name}"
    );
    env.auth.authenticate(c.access_token()).await?;
    env.cleanup().await
}
session_test!(
    logout_others_with_an_invalid_token_revokes_nothing =
        logout_others_with_an_invalid_token_revokes_nothing_on
);

/// A password change keeping the current session: the others are revoked, the kept one keeps
/// its id and gets a new pair under the new credentials; its old pair stops working.
async fn a_password_change_can_keep_the_current_session_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let mine = login(&env.auth, EMAIL, &client("192.0.2.1", "mine")).await?;
    let other = login(&env.auth, EMAIL, &client("192.0.2.2", "other")).await?;
    let id = env
        .auth
        .list_sessions(&user.id(), Some(mine.access_token()))
        .await?
        .into_iter()
        .find(|s| s.current)
        .ok_or("the current session")?
        .id;
    // Someone else's refresh token does not name a session of this user.
    let bob = env.auth.create_user("bob@example.com", PASSWORD).await?;
    let bobs = login(&env.auth, "bob@example.com", &SessionContext::new()).await?;
    let r = env
        .auth
        .set_password_keeping_session(
            &user,
            NEW_PASSWORD,
            ValidatorPolicy::Run,
            bobs.refresh_token(),
        )
        .await;
    assert!(matches!(r, Err(Error::Token(_))), "{name}: {r:?}");
    env.auth.authenticate(other.access_token()).await?;
    let (updated, pair) = env
        .auth
        .set_password_keeping_session(
            &user,
            NEW_PASSWORD,
            ValidatorPolicy::Run,
            mine.refresh_token(),
        )
        .await?;
    assert!(
        updated.credential_version > user.credential_version,
        "{name}"
    );
    env.auth.authenticate(pair.access_token()).await?;
    assert!(
        is_revoked(&env.auth.authenticate(mine.access_token()).await),
        "{name}"
    );
    assert!(
        is_revoked(&env.auth.authenticate(other.access_token()).await),
        "{name}"
    );
    assert!(
        is_revoked(&env.auth.refresh(other.refresh_token()).await),
        "{name}"
    );
    let listed = env
        .auth
        .list_sessions(&user.id(), Some(pair.access_token()))
        .await?;
    assert_eq!(listed.len(), 1, "{name}");
    assert_eq!(listed[0].id, id, "{name}: the kept session's id changed");
    assert!(listed[0].current, "{name}");
    assert_eq!(listed[0].user_agent.as_deref(), Some("mine"), "{name}");
    env.auth.refresh(pair.refresh_token()).await?;
    env.auth.login(EMAIL, NEW_PASSWORD, Claims::new()).await?;
    env.auth.authenticate(bobs.access_token()).await?;
    let _ = bob;
    env.cleanup().await
}
session_test!(
    a_password_change_can_keep_the_current_session =
        a_password_change_can_keep_the_current_session_on
);

/// The stateless JWT backend (no revocation list) keeps no sessions: every session operation
/// answers the typed refusal, never an empty list.
async fn the_stateless_jwt_backend_refuses_session_operations(backend: Backend) -> TestResult {
    let env = Env::new(backend, Tokens::Jwt, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let pair = login(&env.auth, EMAIL, &client("192.0.2.1", "UA")).await?;
    let refused = |r: &Result<_, Error>| matches!(r, Err(Error::Configuration(e)) if e.is::<testudo_core::SessionsNotSupported>());
    assert!(
        refused(&env.auth.list_sessions(&user.id(), None).await.map(|_| ())),
        "{name}"
    );
    assert!(
        refused(&env.auth.revoke_session(&user.id(), "x").await.map(|_| ())),
        "{name}"
    );
    assert!(
        refused(
            &env.auth
                .logout_others(pair.access_token())
                .await
                .map(|_| ())
        ),
        "{name}"
    );
    env.auth.authenticate(pair.access_token()).await?;
    env.cleanup().await
}
per_database!(the_stateless_jwt_backend_refuses_session_operations);

/// The blocking API's session wrappers: list with the current flag, revoke one, sign out the
/// others, and a password change keeping the caller's session.
#[test]
fn the_blocking_api_manages_sessions() -> TestResult {
    let config = common::config(|_| {});
    let auth = testudo_service::blocking::AuthService::build(|| async move {
        let db = testudo_db::Database::connect("sqlite::memory:").await?;
        db.migrate().await?;
        AuthService::builder(config, DbUserStore::new(db.clone()))
            .database(db)
            .events(testudo_events::EventEmitter::new())
            .build()
    })?;
    let user = auth.create_user(EMAIL, PASSWORD)?;
    let login = |device: &str| {
        auth.login_with_context(EMAIL, PASSWORD, Claims::new(), &client("192.0.2.9", device))
            .map(|r| r.tokens)
    };
    let (a, b, c) = (login("a")?, login("b")?, login("c")?);
    let listed = auth.list_sessions(&user.id(), Some(a.access_token()))?;
    assert_eq!(listed.len(), 3);
    let mine = listed
        .iter()
        .find(|s| s.current)
        .ok_or("no current session")?;
    assert_eq!(mine.user_agent.as_deref(), Some("a"));
    let b_id = listed
        .iter()
        .find(|s| s.user_agent.as_deref() == Some("b"))
        .ok_or("no session b")?
        .id
        .clone();
    assert!(auth.revoke_session(&user.id(), &b_id)?);
    assert!(!auth.revoke_session(&user.id(), &b_id)?);
    assert!(is_revoked(&auth.authenticate(b.access_token())));
    assert_eq!(auth.logout_others(a.access_token())?, 2, "c's pair");
    assert!(is_revoked(&auth.authenticate(c.access_token())));
    let (updated, pair) = auth.set_password_keeping_session(
        &user,
        NEW_PASSWORD,
        ValidatorPolicy::Run,
        a.refresh_token(),
    )?;
    assert!(updated.credential_version > user.credential_version);
    auth.authenticate(pair.access_token())?;
    let left = auth.list_sessions(&user.id(), Some(pair.access_token()))?;
    assert_eq!(left.len(), 1);
    assert!(left[0].current);
    Ok(())
}

/// The session rows the backend of `env` keeps (live or not).
async fn session_rows(env: &Env) -> TestResult<i64> {
    use sea_orm::ConnectionTrait as _;
    let table = match env.tokens {
        Tokens::Database => "testudo_sessions",
        Tokens::Jwt | Tokens::JwtRevocable => "testudo_jwt_sessions",
    };
    let conn = env.db.conn();
    let row = conn
        .query_one_raw(sea_orm::Statement::from_string(
            conn.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await?
        .ok_or("no count")?;
    Ok(row.try_get::<i64>("", "n")?)
}

/// A logout deletes its session; `cleanup_expired` deletes the session of a family ended
/// otherwise (its refresh token revoked alone) and that of a live one only once its refresh
/// token has expired; the listed sessions never include any of them.
async fn cleanup_deletes_sessions_without_a_live_refresh_token_on(
    backend: Backend,
    tokens: Tokens,
) -> TestResult {
    let env = Env::new(backend, tokens, |_| {}).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let kept = login(&env.auth, EMAIL, &client("192.0.2.1", "kept")).await?;
    let gone = login(&env.auth, EMAIL, &client("192.0.2.2", "gone")).await?;
    let logged_out = login(&env.auth, EMAIL, &client("192.0.2.3", "logged out")).await?;
    // A logout deletes its session at once.
    env.auth.logout(logged_out.access_token()).await?;
    assert_eq!(session_rows(&env).await?, 2, "{name}");
    // Revoking the refresh token alone ends the family and leaves its row to cleanup.
    env.auth
        .backend()
        .revoke_token(gone.refresh_token())
        .await?;
    assert_eq!(session_rows(&env).await?, 2, "{name}");
    env.auth.backend().cleanup_expired().await?;
    assert_eq!(
        session_rows(&env).await?,
        1,
        "{name}: the revoked session stayed"
    );
    let listed = env.auth.list_sessions(&user.id(), None).await?;
    assert_eq!(listed.len(), 1, "{name}");
    assert_eq!(listed[0].user_agent.as_deref(), Some("kept"), "{name}");
    env.auth.authenticate(kept.access_token()).await?;
    // Within the refresh token's lifetime the session stays, however often cleanup runs.
    env.clock
        .advance(env.auth.config().refresh_token_lifetime / 2);
    env.auth.backend().cleanup_expired().await?;
    assert_eq!(
        session_rows(&env).await?,
        1,
        "{name}: a live session was deleted"
    );
    env.clock
        .advance(env.auth.config().refresh_token_lifetime + Duration::from_secs(3600));
    assert!(
        env.auth.list_sessions(&user.id(), None).await?.is_empty(),
        "{name}"
    );
    env.auth.backend().cleanup_expired().await?;
    assert_eq!(
        session_rows(&env).await?,
        0,
        "{name}: an expired session stayed"
    );
    env.cleanup().await
}
session_test!(
    cleanup_deletes_sessions_without_a_live_refresh_token =
        cleanup_deletes_sessions_without_a_live_refresh_token_on
);

/// `max_tokens_per_user` (database backend) ends the oldest sessions beyond the limit: their
/// pairs are revoked and their session rows deleted in the login's transaction.
async fn the_token_limit_ends_the_oldest_sessions_and_deletes_their_rows(
    backend: Backend,
) -> TestResult {
    let env = Env::new(backend, Tokens::Database, |c| c.max_tokens_per_user = 2).await?;
    let name = env.name.clone();
    let user = env.auth.create_user(EMAIL, PASSWORD).await?;
    let oldest = login(&env.auth, EMAIL, &client("192.0.2.1", "oldest")).await?;
    env.clock.advance(Duration::from_secs(1));
    login(&env.auth, EMAIL, &client("192.0.2.2", "middle")).await?;
    env.clock.advance(Duration::from_secs(1));
    login(&env.auth, EMAIL, &client("192.0.2.3", "newest")).await?;
    assert!(
        is_revoked(&env.auth.authenticate(oldest.access_token()).await),
        "{name}"
    );
    assert_eq!(
        session_rows(&env).await?,
        2,
        "{name}: the ended session's row stayed"
    );
    let agents: Vec<Option<String>> = env
        .auth
        .list_sessions(&user.id(), None)
        .await?
        .into_iter()
        .map(|s| s.user_agent)
        .collect();
    assert_eq!(
        agents,
        [Some("newest".to_owned()), Some("middle".to_owned())],
        "{name}"
    );
    env.cleanup().await
}
per_database!(the_token_limit_ends_the_oldest_sessions_and_deletes_their_rows);
