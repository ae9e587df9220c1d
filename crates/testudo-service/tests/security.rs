//! The security review's findings, each tried as an attacker would, on SQLite and, when their
//! URLs are set, PostgreSQL and MariaDB, with every token backend where tokens are involved.
//! Each test is named after its finding (`finding_N_...`).

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Env, Tokens};
use testudo_core::pause;
use testudo_core::{
    AuthUser, AuthenticationError, Claims, Error, TokenError, TokenPair, UserStore,
};
use testudo_events::{Event, LoginFailureReason};
use testudo_hashers::PasswordHasher;
use testudo_service::{AuthService, DbUserStore, ValidatorPolicy};
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a completely different passphrase";

fn token_error<T>(r: &Result<T, Error>) -> Option<TokenError> {
    r.as_ref().err().and_then(Error::as_token_error).cloned()
}

/// Fails unless `pair` is dead at the service: its access token does not authenticate and its
/// refresh token does not refresh.
async fn assert_dead(auth: &AuthService<DbUserStore>, pair: &TokenPair, what: &str) -> TestResult {
    let a = auth.authenticate(pair.access_token()).await;
    if a.is_ok() {
        return Err(format!("{what}: its access token still authenticates").into());
    }
    let r = auth.refresh(pair.refresh_token()).await;
    if r.is_ok() {
        return Err(format!("{what}: its refresh token still refreshes").into());
    }
    Ok(())
}

/// The login links (address, raw token) emitted since the last call.
fn links(env: &Env) -> Vec<(String, String)> {
    env.events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::EmailTokenCreated { email, token, .. } => Some((
                email,
                testudo_core::ExposeSecret::expose_secret(&token).to_owned(),
            )),
            _ => None,
        })
        .collect()
}

/// Finding 2: on MariaDB the default collation found `alice@example.com` for
/// `alice@exämple.com`, mailed the link to the typed address and logged the typist in as Alice.
/// Look-alikes that stay distinct after normalisation find nobody (and can be registered as
/// accounts of their own); those that normalise to the stored address get the link at the
/// *stored* address.
async fn finding_2_look_alike_addresses_never_reach_another_account(b: Backend) -> TestResult {
    let env = Env::new(b, Tokens::Database, |_| {}).await?;
    let auth = &env.auth;
    let alice = auth.create_user("alice@example.com", PASSWORD).await?;
    let emile = auth.create_user("\u{e9}mile@example.com", PASSWORD).await?;
    let kate = auth.create_user("kate@example.com", PASSWORD).await?;
    env.events.take();

    let distinct = [
        ("accent", "alice@ex\u{e4}mple.com"),
        ("NFD of \u{e9}mile", "e\u{301}mile@example.com"),
        ("accent dropped", "emile@example.com"),
        ("fullwidth a", "\u{ff41}lice@example.com"),
        ("dotted capital I", "al\u{130}ce@example.com"),
        ("trailing dot", "alice@example.com."),
        ("zero-width space", "alice@example.com\u{200b}"),
    ];
    for (what, address) in distinct {
        auth.request_login_link(address, None).await?;
        let sent = links(&env);
        assert!(sent.is_empty(), "{what}: a link was sent: {sent:?}");
        let login = auth.login(address, PASSWORD, Claims::new()).await;
        assert!(
            matches!(
                login,
                Err(Error::Authentication(
                    AuthenticationError::InvalidCredentials
                ))
            ),
            "{what}: {login:?}"
        );
        env.events.take();
        // A distinct address is a distinct account: registering it is not EmailTaken.
        let own = auth.create_user(address, PASSWORD).await?;
        assert!(own.id != alice.id && own.id != emile.id, "{what}");
        auth.request_login_link(address, None).await?;
        let [(to, token)] = &links(&env)[..] else {
            return Err(format!("{what}: no link for the look-alike's own account").into());
        };
        assert_eq!(to, &own.email, "{what}");
        let login = auth.login_with_email_token(address, token, None).await?;
        assert_eq!(login.user.id, own.id, "{what}: logged into another account");
        env.events.take();
    }

    // Look-alikes that normalise to a stored address: the link goes to the stored address.
    let same = [
        ("Kelvin sign", "\u{212a}ate@example.com", &kate),
        ("case", "ALICE@Example.com", &alice),
        ("surrounding spaces", "  alice@example.com \t", &alice),
    ];
    for (what, address, user) in same {
        auth.request_login_link(address, None).await?;
        let [(to, token)] = &links(&env)[..] else {
            return Err(format!("{what}: no link").into());
        };
        assert_eq!(
            to, &user.email,
            "{what}: the link must go to the stored address"
        );
        let login = auth.login_with_email_token(address, token, None).await?;
        assert_eq!(login.user.id, user.id, "{what}");
        env.events.take();
    }
    env.cleanup().await
}
per_database!(finding_2_look_alike_addresses_never_reach_another_account);

/// A hash of `PASSWORD` with the test configuration's Argon2 time cost 1: the services below
/// run with time cost 2, so a login with it has an upgrade due.
fn outdated_hash() -> TestResult<String> {
    Ok(PasswordHasher::from_config(&common::config(|_| {}))?.hash(PASSWORD)?)
}

/// Finding 3: a login that has verified the old password when a password change commits gets
/// no live session, and its hash upgrade (due) does not write the old password back. The
/// interleaving is fixed by the pause point after the verification. 20 rounds per backend.
async fn finding_3_a_login_in_flight_loses_to_a_password_change(b: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(b.clone(), tokens, |c| c.argon2_time_cost = 2).await?;
        let name = &env.name;
        for round in 0..20 {
            let email = format!("user{round}@example.com");
            let user = env
                .auth
                .store()
                .insert_user(&email, &outdated_hash()?)
                .await?;
            let paused = pause::arm("service.login.after_verify");
            let login = tokio::spawn({
                let auth = env.auth.clone();
                let email = email.clone();
                async move { auth.login(&email, PASSWORD, Claims::new()).await }
            });
            paused.reached().await;
            env.auth
                .set_password(&user, NEW_PASSWORD, ValidatorPolicy::Skip)
                .await?;
            paused.release();
            match login.await? {
                Err(Error::Authentication(AuthenticationError::InvalidCredentials)) => {}
                Ok(r) => assert_dead(&env.auth, &r.tokens, "the login in flight").await?,
                Err(e) => return Err(format!("{name} round {round}: {e:?}").into()),
            }
            let failed = env.events.take().into_iter().any(|e| {
                matches!(
                    e,
                    Event::UserLoginFailed {
                        reason: LoginFailureReason::CredentialsChanged,
                        ..
                    }
                )
            });
            assert!(
                failed,
                "{name} round {round}: no credentials_changed failure"
            );
            let stored = env
                .auth
                .store()
                .find_by_id(&user.id())
                .await?
                .ok_or("user gone")?;
            assert!(
                !env.auth.check_password(&stored, PASSWORD).await?,
                "{name} round {round}: the old password was written back"
            );
            assert!(
                env.auth.check_password(&stored, NEW_PASSWORD).await?,
                "{name} round {round}"
            );
            let next = env.auth.login(&email, NEW_PASSWORD, Claims::new()).await?;
            env.auth.authenticate(next.tokens.access_token()).await?;
        }
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    finding_3_a_login_in_flight_loses_to_a_password_change
);

/// Finding 3, the binding itself: a token issued before a password change stops
/// authenticating and refreshing even where nothing was revoked (stateless JWTs, or a store
/// written to directly), because it carries the old credential version.
async fn finding_3_tokens_from_before_a_password_change_stop_working(b: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(b.clone(), tokens, |c| {
            c.revoke_tokens_on_password_change = false;
        })
        .await?;
        let name = &env.name;
        let user = env.auth.create_user("bob@example.com", PASSWORD).await?;
        let before = env
            .auth
            .login("bob@example.com", PASSWORD, Claims::new())
            .await?;
        env.auth.authenticate(before.tokens.access_token()).await?;
        let rotated = env.auth.refresh(before.tokens.refresh_token()).await?;
        env.auth
            .set_password(&user, NEW_PASSWORD, ValidatorPolicy::Skip)
            .await?;
        let a = env.auth.authenticate(rotated.access_token()).await;
        assert_eq!(token_error(&a), Some(TokenError::Revoked), "{name}: {a:?}");
        let r = env.auth.refresh(rotated.refresh_token()).await;
        assert_eq!(token_error(&r), Some(TokenError::Revoked), "{name}: {r:?}");
        // The next login is bound to the new version and works.
        let after = env
            .auth
            .login("bob@example.com", NEW_PASSWORD, Claims::new())
            .await?;
        env.auth.authenticate(after.tokens.access_token()).await?;
        let next = env.auth.refresh(after.tokens.refresh_token()).await?;
        env.auth.authenticate(next.access_token()).await?;
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(finding_3_tokens_from_before_a_password_change_stop_working);

/// Five refresh chains of one user against `set_password`, 20 rounds per revoking backend:
/// nothing issued before the change survives it, and no chain sees an error other than a token
/// refusal.
async fn finding_1_refresh_chains_vs_set_password_x20(b: Backend) -> TestResult {
    for tokens in [Tokens::Database, Tokens::JwtRevocable] {
        let env = Env::new(b.clone(), tokens, |_| {}).await?;
        let name = &env.name;
        for round in 0..20 {
            let email = format!("chain{round}@example.com");
            let user = env.auth.create_user(&email, PASSWORD).await?;
            let rotations = Arc::new(AtomicUsize::new(0));
            let mut chains = Vec::new();
            for _ in 0..5 {
                let first = env
                    .auth
                    .login(&email, PASSWORD, Claims::new())
                    .await?
                    .tokens;
                let auth = env.auth.clone();
                let rotations = Arc::clone(&rotations);
                chains.push(tokio::spawn(async move {
                    let mut issued = vec![first];
                    for _ in 0..400 {
                        let current = issued.last().map(|p| p.refresh_token().to_owned());
                        match auth.refresh(&current.unwrap_or_default()).await {
                            Ok(next) => {
                                issued.push(next);
                                rotations.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(Error::Token(_)) => return Ok(issued),
                            Err(e) => return Err(format!("a chain got an error: {e:?}")),
                        }
                        tokio::task::yield_now().await;
                    }
                    Err("a chain outlived the password change".to_owned())
                }));
            }
            while rotations.load(Ordering::SeqCst) < 10 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            env.auth
                .set_password(&user, NEW_PASSWORD, ValidatorPolicy::Skip)
                .await?;
            for chain in chains {
                let issued = chain
                    .await?
                    .map_err(|e| format!("{name} round {round}: {e}"))?;
                for pair in &issued {
                    assert_dead(&env.auth, pair, &format!("{name} round {round}")).await?;
                }
            }
        }
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    finding_1_refresh_chains_vs_set_password_x20,
    sqlite_file
);

/// Finding 5: `logout` revoked the access token only; the refresh token of the session went on
/// refreshing.
async fn finding_5_logout_ends_the_whole_session(b: Backend) -> TestResult {
    for tokens in [Tokens::Database, Tokens::JwtRevocable] {
        let env = Env::new(b.clone(), tokens, |_| {}).await?;
        let name = &env.name;
        env.auth.create_user("carol@example.com", PASSWORD).await?;
        let login = env
            .auth
            .login("carol@example.com", PASSWORD, Claims::new())
            .await?;
        let rotated = env.auth.refresh(login.tokens.refresh_token()).await?;
        let other = env
            .auth
            .login("carol@example.com", PASSWORD, Claims::new())
            .await?;
        env.auth.logout(rotated.access_token()).await?;
        assert_dead(&env.auth, &rotated, name).await?;
        assert_dead(&env.auth, &login.tokens, name).await?;
        // Only that session: the other login goes on.
        env.auth.authenticate(other.tokens.access_token()).await?;
        env.auth.refresh(other.tokens.refresh_token()).await?;
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(finding_5_logout_ends_the_whole_session);

/// Finding 8: email tokens were multi-use by default, had no purpose (any email token logged
/// in), and survived `logout_all` and a password change.
async fn finding_8_email_tokens_are_single_use_purpose_bound_and_end_with_the_sessions(
    b: Backend,
) -> TestResult {
    let env = Env::new(b, Tokens::Database, |_| {}).await?;
    let auth = &env.auth;
    let user = auth.create_user("dora@example.com", PASSWORD).await?;
    env.events.take();
    let store =
        testudo_tokens_db::EmailTokenStore::new(env.db.db().clone(), Arc::clone(auth.config()));
    let options = testudo_tokens_db::EmailTokenOptions::new();
    assert!(options.single_use, "single use by default");
    assert_eq!(options.purpose, testudo_tokens_db::LOGIN_PURPOSE);

    // A token made for another purpose does not log in.
    let other = store
        .create_token("dora@example.com", options.clone().purpose("email_change"))
        .await?;
    let r = auth
        .login_with_email_token("dora@example.com", &other, None)
        .await;
    assert!(
        matches!(token_error(&r), Some(TokenError::Invalid { .. })),
        "{r:?}"
    );
    store
        .auth_token_for("email_change", "dora@example.com", &other, None)
        .await?;

    // A login link works once.
    auth.request_login_link("dora@example.com", None).await?;
    let [(_, link)] = &links(&env)[..] else {
        return Err("no link".into());
    };
    auth.login_with_email_token("dora@example.com", link, None)
        .await?;
    let again = auth
        .login_with_email_token("dora@example.com", link, None)
        .await;
    assert!(
        matches!(token_error(&again), Some(TokenError::Invalid { .. })),
        "{again:?}"
    );

    // Pending links die with the sessions: logout everywhere, a password change.
    for end in ["logout_all", "set_password"] {
        auth.request_login_link("dora@example.com", None).await?;
        let [(_, link)] = &links(&env)[..] else {
            return Err(format!("{end}: no link").into());
        };
        let pending = store
            .create_token("dora@example.com", options.clone().purpose("email_change"))
            .await?;
        if end == "logout_all" {
            auth.logout_all(&user.id.to_string()).await?;
        } else {
            auth.set_password(&user, NEW_PASSWORD, ValidatorPolicy::Skip)
                .await?;
        }
        let r = auth
            .login_with_email_token("dora@example.com", link, None)
            .await;
        assert!(
            matches!(token_error(&r), Some(TokenError::Invalid { .. })),
            "{end}: {r:?}"
        );
        let r = store
            .auth_token_for("email_change", "dora@example.com", &pending, None)
            .await;
        assert!(r.is_err(), "{end}: {r:?}");
        env.events.take();
    }
    env.cleanup().await
}
per_database!(finding_8_email_tokens_are_single_use_purpose_bound_and_end_with_the_sessions);

/// Finding 9: deleting a user left their tokens valid in the backend (only the service's user
/// lookup refused them); `AuthService::delete_user` revokes them first. Also: JWTs carry
/// `typ`, and the user entity's `Debug` hides the hash.
async fn finding_9_delete_user_revokes_their_tokens(b: Backend) -> TestResult {
    for tokens in [Tokens::Database, Tokens::JwtRevocable] {
        let env = Env::new(b.clone(), tokens, |_| {}).await?;
        let name = &env.name;
        let user = env.auth.create_user("erin@example.com", PASSWORD).await?;
        let login = env
            .auth
            .login("erin@example.com", PASSWORD, Claims::new())
            .await?;
        assert!(env.auth.delete_user(&user.id.to_string()).await?, "{name}");
        assert!(!env.auth.delete_user(&user.id.to_string()).await?, "{name}");
        let backend = env.auth.backend();
        for (token, kind) in [
            (login.tokens.access_token(), testudo_core::TokenType::Access),
            (
                login.tokens.refresh_token(),
                testudo_core::TokenType::Refresh,
            ),
        ] {
            let r = backend.verify_token(token, kind).await;
            assert_eq!(
                token_error(&r),
                Some(TokenError::Revoked),
                "{name} {kind}: {r:?}"
            );
        }
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(finding_9_delete_user_revokes_their_tokens);

#[tokio::test]
async fn finding_9_jwts_carry_typ_and_the_entity_debug_hides_the_hash() -> TestResult {
    let backend = testudo_tokens_jwt::JwtBackend::new(common::config(|_| {}))?;
    let pair = testudo_core::TokenBackend::create_tokens(&backend, "1", Claims::new()).await?;
    for token in [pair.access_token(), pair.refresh_token()] {
        let header = jsonwebtoken::decode_header(token)?;
        assert_eq!(header.typ.as_deref(), Some("JWT"));
    }
    let model = testudo_service::entity::user::Model {
        id: 1,
        email: "a@example.com".into(),
        password: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        last_login: None,
        is_active: true,
        is_verified: false,
        joined_at: None,
        created_at: chrono::DateTime::UNIX_EPOCH,
        updated_at: chrono::DateTime::UNIX_EPOCH,
        credential_version: 0,
    };
    let debug = format!("{model:?}");
    assert!(
        !debug.contains("argon2") && debug.contains("[REDACTED]"),
        "{debug}"
    );
    Ok(())
}

/// Finding 7, pre-account takeover: the attacker registers the victim's address with a
/// password of their own and keeps a session; the victim later logs in by emailed link. The
/// first verification must take the account back: the attacker's session and password die.
/// With `require_verified_email`, the unverified account cannot log in by password at all.
async fn finding_7_the_first_verification_takes_the_account_back(b: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(b.clone(), tokens, |_| {}).await?;
        let name = env.name.clone();
        let auth = &env.auth;
        auth.create_user("victim@example.com", PASSWORD).await?;
        let attacker = auth
            .login("victim@example.com", PASSWORD, Claims::new())
            .await?;
        env.events.take();
        auth.request_login_link("victim@example.com", None).await?;
        let [(_, link)] = &links(&env)[..] else {
            return Err(format!("{name}: no link").into());
        };
        let victim = auth
            .login_with_email_token("victim@example.com", link, None)
            .await?;
        assert!(victim.user.is_verified, "{name}");
        assert_dead(
            auth,
            &attacker.tokens,
            &format!("{name}: the attacker's session"),
        )
        .await?;
        let r = auth
            .login("victim@example.com", PASSWORD, Claims::new())
            .await;
        assert!(r.is_err(), "{name}: the attacker's password still works");
        auth.authenticate(victim.tokens.access_token()).await?;
        env.cleanup().await?;

        let env = Env::new(b.clone(), tokens, |c| c.require_verified_email = true).await?;
        env.auth.create_user("new@example.com", PASSWORD).await?;
        let r = env
            .auth
            .login("new@example.com", PASSWORD, Claims::new())
            .await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(AuthenticationError::EmailNotVerified))
            ),
            "{name}: {r:?}"
        );
        let r = env
            .auth
            .login("new@example.com", "wrong password", Claims::new())
            .await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(
                    AuthenticationError::InvalidCredentials
                ))
            ),
            "{name}: a wrong password must not learn the verification state: {r:?}"
        );
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(finding_7_the_first_verification_takes_the_account_back);

/// Finding 6: every rotation granted a fresh `refresh_token_lifetime`, so a session refreshed
/// often enough never ended. With `session_max_lifetime` no token of a session expires later
/// than that after the login, and refreshing past it fails.
async fn finding_6_a_session_never_outlives_session_max_lifetime(b: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(b.clone(), tokens, |c| {
            c.session_max_lifetime = Duration::from_secs(3600);
        })
        .await?;
        let name = &env.name;
        let end = common::T0 + 3600;
        env.auth.create_user("fay@example.com", PASSWORD).await?;
        let mut pair = env
            .auth
            .login("fay@example.com", PASSWORD, Claims::new())
            .await?
            .tokens;
        for step in 1..=5 {
            env.clock.advance(Duration::from_secs(600));
            pair = env.auth.refresh(pair.refresh_token()).await?;
            let backend = env.auth.backend();
            let access = backend
                .verify_token(pair.access_token(), testudo_core::TokenType::Access)
                .await?;
            let refresh = backend
                .verify_token(pair.refresh_token(), testudo_core::TokenType::Refresh)
                .await?;
            assert!(
                access.exp <= end && refresh.exp <= end,
                "{name} step {step}"
            );
            assert!(
                access.extra.as_ref().is_none_or(|e| !e.contains_key("ss")),
                "{name}: the session start stays out of the access token"
            );
        }
        assert_eq!(
            env.auth
                .backend()
                .verify_token(pair.refresh_token(), testudo_core::TokenType::Refresh)
                .await?
                .exp,
            end,
            "{name}: the last refresh token ends with the session"
        );
        env.clock.advance(Duration::from_secs(600));
        let r = env.auth.refresh(pair.refresh_token()).await;
        assert_eq!(token_error(&r), Some(TokenError::Expired), "{name}: {r:?}");
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(finding_6_a_session_never_outlives_session_max_lifetime);

/// Finding 9: a verification cache the service built could not listen for revocations (only a
/// hand-built backend could), so another node's `logout_all` stayed invisible here for the
/// cache's ttl. With `AuthService::listen_for_revocations`, node A refuses the token soon after
/// node B revokes it, with an hour-long ttl.
async fn finding_9_the_service_built_cache_listens_for_revocations(b: Backend) -> TestResult {
    let db = testudo_test_support::db::TestDb::new(b).await?;
    let node = |cache: bool| -> TestResult<AuthService<DbUserStore>> {
        let config = common::config(|_| {});
        let store = DbUserStore::new(db.db().clone());
        let mut builder = AuthService::builder(config, store).database(db.db().clone());
        if cache {
            builder = builder.verification_cache(
                testudo_tokens_db::CacheOptions::default().ttl(Duration::from_secs(3600)),
            );
        }
        Ok(builder.build()?)
    };
    let a = node(true)?;
    a.listen_for_revocations().await?;
    let b = node(false)?;
    let user = b.create_user("gus@example.com", PASSWORD).await?;
    let login = b.login("gus@example.com", PASSWORD, Claims::new()).await?;
    a.authenticate(login.tokens.access_token()).await?;
    b.logout_all(&user.id.to_string()).await?;
    let mut refused = false;
    for _ in 0..200 {
        if a.authenticate(login.tokens.access_token()).await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "node A still accepts a token node B revoked");
    db.cleanup().await
}
per_database!(
    finding_9_the_service_built_cache_listens_for_revocations,
    postgres_only
);

/// Finding 6, the claims: extra claims given at login rode along forever. With
/// `refresh_claims`, each refresh recomputes them from the user (here a "refreshes" counter
/// and the user's current address), with the database backend and with JWTs.
async fn finding_6_refresh_recomputes_the_claims_with_the_hook(b: Backend) -> TestResult {
    let db = testudo_test_support::db::TestDb::new(b).await?;
    for jwt in [false, true] {
        let config = common::config(|_| {});
        let store = DbUserStore::new(db.db().clone());
        let mut builder = AuthService::builder(Arc::clone(&config), store)
            .database(db.db().clone())
            .refresh_claims(|user: &testudo_service::User, previous: &Claims| {
                let n = previous
                    .get("refreshes")
                    .and_then(serde_json::Value::as_u64)
                    .unwrap_or(0);
                let mut next = Claims::new();
                next.insert("refreshes".into(), (n + 1).into());
                next.insert("email".into(), user.email.clone().into());
                next
            });
        if jwt {
            let backend =
                testudo_tokens_jwt::JwtBackend::new(config)?.with_revocation_list(db.db().clone());
            builder = builder.backend(Arc::new(backend));
        }
        let auth = builder.build()?;
        let email = format!("hal{jwt}@example.com");
        auth.create_user(&email, PASSWORD).await?;
        let mut login_claims = Claims::new();
        login_claims.insert("role".into(), "admin".into());
        let mut pair = auth.login(&email, PASSWORD, login_claims).await?.tokens;
        for _ in 0..2 {
            pair = auth.refresh(pair.refresh_token()).await?;
        }
        let access = auth
            .backend()
            .verify_token(pair.access_token(), testudo_core::TokenType::Access)
            .await?;
        let extra = access.extra.unwrap_or_default();
        assert!(
            !extra.contains_key("role"),
            "jwt {jwt}: the login's claim rode along: {extra:?}"
        );
        assert_eq!(extra.get("email"), Some(&email.clone().into()), "jwt {jwt}");
        // The database backend hands the hook the previous pair's claims; a JWT refresh token
        // carries none, so its counter restarts each time.
        let expected: u64 = if jwt { 1 } else { 2 };
        assert_eq!(
            extra.get("refreshes"),
            Some(&expected.into()),
            "jwt {jwt}: {extra:?}"
        );
        auth.authenticate(pair.access_token()).await?;
    }
    db.cleanup().await
}
per_database!(finding_6_refresh_recomputes_the_claims_with_the_hook);
