//! `AuthService` end to end on SQLite (and PostgreSQL / MariaDB when their URLs are set), with
//! the database token backend and stateless JWTs.

mod common;

use std::time::Duration;

use common::{Env, T0, Tokens};
use testudo_core::{AuthenticationError, Claims, Error, TokenError, TokenType, UserStore};
use testudo_events::{Event, EventUser, LoginFailureReason};
use testudo_service::{LogoutAll, User, ValidatorPolicy};
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, Vectors, per_database};

const PASSWORD: &str = "correct horse battery staple";

fn is_invalid_credentials(r: &Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(
        r,
        Err(Error::Authentication(
            AuthenticationError::InvalidCredentials
        ))
    )
}

fn token_error<T>(r: &Result<T, Error>) -> Option<TokenError> {
    r.as_ref().err().and_then(Error::as_token_error).cloned()
}

fn event_user(u: &User) -> EventUser {
    EventUser::new(u.id.to_string(), u.email.clone())
}

async fn login_authenticate_refresh_logout_with_every_event(backend: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(backend.clone(), tokens, |_| {}).await?;
        let auth = &env.auth;
        let name = &env.name;

        let alice = auth.create_user("  Alice@Example.COM ", PASSWORD).await?;
        assert_eq!(alice.email, "alice@example.com", "{name}");
        assert!(alice.password.starts_with("$argon2id$"), "{name}");
        assert!(
            alice.is_active && !alice.is_verified && alice.last_login.is_none(),
            "{name}"
        );
        assert!(
            alice.is_authenticated() && !alice.is_anonymous() && alice.has_usable_password(),
            "{name}"
        );
        assert!(
            env.events.take().is_empty(),
            "{name}: creating a user emits nothing"
        );

        // Login (the email is normalised) with an extra claim.
        let mut claims = Claims::new();
        claims.insert("role".into(), "admin".into());
        let login = auth
            .login("ALICE@example.com ", PASSWORD, claims.clone())
            .await?;
        assert_eq!(login.user.id, alice.id, "{name}");
        assert_eq!(
            login.user.last_login.map(|t| t.timestamp()),
            Some(T0),
            "{name}: last_login recorded"
        );
        let events = env.events.take();
        assert!(
            matches!(&events[..], [Event::UserLogin { user }] if *user == event_user(&alice)),
            "{name}: {events:?}"
        );

        // Authenticate.
        let me = auth.authenticate(login.access_token()).await?;
        assert_eq!(me.id, alice.id, "{name}");
        let refused = auth.authenticate(login.refresh_token()).await;
        assert!(
            matches!(token_error(&refused), Some(TokenError::Invalid { .. })),
            "{name}: a refresh token is not an access token"
        );

        // Refresh: a new pair that keeps the login claims.
        env.clock.advance(Duration::from_secs(60));
        let next = auth.refresh(login.refresh_token()).await?;
        assert_ne!(next.refresh_token(), login.refresh_token(), "{name}");
        let payload = auth
            .backend()
            .verify_token(next.access_token(), TokenType::Access)
            .await?;
        assert_eq!(payload.sub, alice.id.to_string(), "{name}");
        // The database backend keeps the login claims across refreshes; a JWT refresh token
        // carries none (as the reference), so the refreshed access token has none either.
        let role = payload.extra.and_then(|e| e.get("role").cloned());
        match env.tokens {
            Tokens::Database => assert_eq!(role, Some("admin".into()), "{name}"),
            Tokens::Jwt | Tokens::JwtRevocable => assert_eq!(role, None, "{name}"),
        }
        let again = auth.refresh(login.refresh_token()).await;
        if env.revokes() {
            assert_eq!(token_error(&again), Some(TokenError::Revoked), "{name}");
        } else {
            // Stateless JWTs cannot forget a refresh token: documented, and said by the backend.
            assert_eq!(env.tokens, Tokens::Jwt, "{name}");
            assert!(again.is_ok(), "{name}");
        }
        assert!(
            env.events.take().is_empty(),
            "{name}: refresh emits nothing"
        );

        // Logout with a live access token: revoked (when the backend can) and an event.
        let fresh = auth
            .login("alice@example.com", PASSWORD, Claims::new())
            .await?;
        env.events.take();
        auth.logout(fresh.access_token()).await?;
        let events = env.events.take();
        assert!(
            matches!(&events[..], [Event::UserLogout { user }] if *user == event_user(&alice)),
            "{name}: {events:?}"
        );
        let after = auth.authenticate(fresh.access_token()).await;
        if env.revokes() {
            assert_eq!(token_error(&after), Some(TokenError::Revoked), "{name}");
        } else {
            assert!(after.is_ok(), "{name}");
        }

        // Logout is quiet with garbage, a revoked or a refresh token, and emits nothing.
        auth.logout("not-a-token").await?;
        auth.logout(fresh.refresh_token()).await?;
        if env.revokes() {
            auth.logout(fresh.access_token()).await?;
            let r = auth.refresh(fresh.refresh_token()).await;
            assert_eq!(token_error(&r), Some(TokenError::Revoked), "{name}");
        }
        assert!(env.events.take().is_empty(), "{name}");

        // Logout everywhere says what it did.
        let other = auth
            .login("alice@example.com", PASSWORD, Claims::new())
            .await?;
        env.events.take();
        let outcome = auth.logout_all(&alice.id.to_string()).await?;
        let events = env.events.take();
        if env.revokes() {
            assert!(
                matches!(outcome, LogoutAll::Revoked(n) if n >= 2),
                "{name}: {outcome:?}"
            );
            assert!(
                matches!(&events[..], [Event::UserLogout { user }] if *user == event_user(&alice)),
                "{name}: {events:?}"
            );
            let r = auth.authenticate(other.access_token()).await;
            assert_eq!(token_error(&r), Some(TokenError::Revoked), "{name}");
        } else {
            assert_eq!(outcome, LogoutAll::NotSupported, "{name}");
            assert!(
                events.is_empty(),
                "{name}: nothing revoked, nothing emitted"
            );
        }
        // Unknown users: nothing to revoke, no event.
        if env.revokes() {
            assert_eq!(
                auth.logout_all("999999").await?,
                LogoutAll::Revoked(0),
                "{name}"
            );
            assert!(env.events.take().is_empty(), "{name}");
        }
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(login_authenticate_refresh_logout_with_every_event);

async fn failed_logins_look_alike_and_each_cost_one_verification(backend: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(backend.clone(), tokens, |c| c.max_password_length = 64).await?;
        let auth = &env.auth;
        let name = &env.name;
        let bob = auth.create_user("bob@example.com", PASSWORD).await?;
        let carol = auth.create_user("carol@example.com", PASSWORD).await?;
        auth.store()
            .set_active(&carol.id.to_string(), false)
            .await?;
        let dave = auth.create_user("dave@example.com", PASSWORD).await?;
        let dave = auth.set_unusable_password(&dave).await?;
        assert!(
            !dave.has_usable_password() && !auth.has_usable_password(&dave),
            "{name}"
        );
        let eve = auth
            .store()
            .insert_user("eve@example.com", "md5$not$known")
            .await?;
        assert_eq!(eve.email, "eve@example.com", "{name}");
        // Warm the dummy hash up, so each case below is one verification and nothing else.
        auth.hasher().verify_dummy().await?;
        env.events.take();

        let long = "x".repeat(65);
        let cases: [(&str, &str, LoginFailureReason); 6] = [
            ("nobody@example.com", PASSWORD, LoginFailureReason::NotFound),
            ("carol@example.com", PASSWORD, LoginFailureReason::Inactive),
            (
                "bob@example.com",
                "wrong password",
                LoginFailureReason::BadPassword,
            ),
            (
                "dave@example.com",
                PASSWORD,
                LoginFailureReason::BadPassword,
            ),
            ("eve@example.com", PASSWORD, LoginFailureReason::BadPassword),
            ("bob@example.com", &long, LoginFailureReason::BadPassword),
        ];
        for (email, password, reason) in cases {
            let before = auth.hasher().verifications();
            let r = auth.login(email, password, Claims::new()).await;
            assert!(is_invalid_credentials(&r), "{name} {email}: {r:?}");
            assert_eq!(
                r.err().map(|e| e.to_string()).as_deref(),
                Some("invalid credentials"),
                "{name} {email}"
            );
            assert_eq!(
                auth.hasher().verifications() - before,
                1,
                "{name} {email}: exactly one verification"
            );
            let events = env.events.take();
            assert!(
                matches!(&events[..], [Event::UserLoginFailed { identifier, reason: r }]
                    if identifier == email && *r == reason),
                "{name} {email}: {events:?}"
            );
        }
        // A successful login costs one verification too, and the failures changed nothing.
        let before = auth.hasher().verifications();
        auth.login("bob@example.com", PASSWORD, Claims::new())
            .await?;
        assert_eq!(auth.hasher().verifications() - before, 1, "{name}");
        let stored = auth.store().find_by_id(&bob.id.to_string()).await?;
        assert_eq!(
            stored.map(|u| u.password),
            Some(bob.password.clone()),
            "{name}"
        );
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(failed_logins_look_alike_and_each_cost_one_verification);

#[derive(serde::Deserialize)]
struct HashEntry {
    hasher: String,
    password: String,
    hash: String,
}

async fn legacy_hashes_from_tortoise_auth_are_upgraded_on_login(backend: Backend) -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<HashEntry> = vectors.section("password_hashes")?;
    // The cheap ones of each legacy kind (bcrypt cost 4, PBKDF2 1000 iterations) plus an
    // Argon2id hash with other parameters than the configured ones.
    let picked: Vec<&HashEntry> = entries
        .iter()
        .filter(|e| {
            (e.hasher == "bcrypt" && e.hash.starts_with("$2b$04$") && e.password.is_ascii())
                || (e.hasher == "bcrypt" && e.hash.starts_with("$2b$04$/POT"))
                || (e.hasher == "pbkdf2_sha256" && e.hash.starts_with("pbkdf2_sha256$1000$w2K"))
                || (e.hasher == "argon2id" && e.hash.contains("m=1024,t=1,p=1"))
        })
        .filter(|e| !e.password.is_empty() && !e.password.contains('\0') && e.password.len() < 72)
        .collect();
    let kinds: std::collections::BTreeSet<&str> =
        picked.iter().map(|e| e.hasher.as_str()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        ["argon2id", "bcrypt", "pbkdf2_sha256"]
    );
    for tokens in Tokens::ALL {
        let env = Env::new(backend.clone(), tokens, |_| {}).await?;
        let auth = &env.auth;
        let name = &env.name;
        for (i, e) in picked.iter().enumerate() {
            let email = format!("legacy{i}@example.com");
            let user = auth.store().insert_user(&email, &e.hash).await?;
            // A wrong password changes nothing.
            let r = auth.login(&email, "not it", Claims::new()).await;
            assert!(is_invalid_credentials(&r), "{name} {}", e.hasher);
            let same = auth.store().find_by_id(&user.id.to_string()).await?;
            assert_eq!(
                same.map(|u| u.password).as_deref(),
                Some(e.hash.as_str()),
                "{name} {}",
                e.hasher
            );
            // The right one logs in and replaces the hash with the configured Argon2id.
            let login = auth.login(&email, &e.password, Claims::new()).await?;
            let upgraded = login.user.password.clone();
            assert!(
                upgraded.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
                "{name} {}: {upgraded}",
                e.hasher
            );
            assert!(
                !auth.hasher().password_hasher().needs_rehash(&upgraded),
                "{name} {}",
                e.hasher
            );
            // Logging in again keeps it.
            let again = auth.login(&email, &e.password, Claims::new()).await?;
            assert_eq!(again.user.password, upgraded, "{name}");
            // check_password upgrades too (on a fresh legacy user).
            let email2 = format!("check{i}@example.com");
            let user2 = auth.store().insert_user(&email2, &e.hash).await?;
            assert!(
                !auth.check_password(&user2, "not it").await?,
                "{name} {}",
                e.hasher
            );
            assert!(auth.check_password(&user2, &e.password).await?, "{name}");
            let stored = auth.store().find_by_id(&user2.id.to_string()).await?;
            let stored = stored
                .ok_or_else(|| format!("{name}: user vanished"))?
                .password;
            assert!(stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{name}");
        }
        // No event for automatic re-hashing, only the logins.
        let changed = env
            .events
            .take()
            .into_iter()
            .filter(|e| matches!(e, Event::PasswordChanged { .. }))
            .count();
        assert_eq!(changed, 0, "{name}");
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(legacy_hashes_from_tortoise_auth_are_upgraded_on_login);

async fn deleted_and_deactivated_users_are_refused_everywhere(backend: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(backend.clone(), tokens, |_| {}).await?;
        let auth = &env.auth;
        let name = &env.name;
        let user = auth.create_user("frank@example.com", PASSWORD).await?;
        let id = user.id.to_string();
        let login = auth
            .login("frank@example.com", PASSWORD, Claims::new())
            .await?;

        auth.store().set_active(&id, false).await?;
        let r = auth.authenticate(login.access_token()).await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(AuthenticationError::UserInactive))
            ),
            "{name}: {r:?}"
        );
        let r = auth.refresh(login.refresh_token()).await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(AuthenticationError::UserInactive))
            ),
            "{name}: refresh refuses a deactivated user"
        );
        // The chain ended: reactivating does not bring the old tokens back (when revocable).
        auth.store().set_active(&id, true).await?;
        let r = auth.authenticate(login.access_token()).await;
        if env.revokes() {
            assert_eq!(token_error(&r), Some(TokenError::Revoked), "{name}");
        } else {
            assert!(r.is_ok(), "{name}");
        }

        let login = auth
            .login("frank@example.com", PASSWORD, Claims::new())
            .await?;
        assert!(auth.store().delete_user(&id).await?, "{name}");
        let r = auth.authenticate(login.access_token()).await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(AuthenticationError::UserNotFound))
            ),
            "{name}: {r:?}"
        );
        let r = auth.refresh(login.refresh_token()).await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(AuthenticationError::UserNotFound))
            ),
            "{name}: refresh refuses a deleted user"
        );
        // Logout of a deleted user's token: revoked quietly, no event.
        env.events.take();
        auth.logout(login.access_token()).await?;
        assert!(env.events.take().is_empty(), "{name}");
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(deleted_and_deactivated_users_are_refused_everywhere);

async fn set_password_validates_hashes_revokes_and_emits(backend: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        for revoke in [true, false] {
            let env = Env::new(backend.clone(), tokens, |c| {
                c.max_password_length = 40;
                c.revoke_tokens_on_password_change = revoke;
            })
            .await?;
            let auth = &env.auth;
            let name = format!("{} revoke={revoke}", env.name);
            let user = auth.create_user("grace@example.com", PASSWORD).await?;
            let login = auth
                .login("grace@example.com", PASSWORD, Claims::new())
                .await?;
            env.events.take();

            // Validators run when asked, with the user's attributes; every message comes back.
            let r = auth
                .set_password(&user, "grace123", ValidatorPolicy::Run)
                .await;
            let Err(Error::InvalidPassword(e)) = r else {
                return Err(format!("{name}: weak password accepted").into());
            };
            assert!(e.messages().len() >= 2, "{name}: {:?}", e.messages());
            // The length limit applies even when the validators are skipped.
            let r = auth
                .set_password(&user, &"y".repeat(41), ValidatorPolicy::Skip)
                .await;
            let Err(Error::InvalidPassword(e)) = r else {
                return Err(format!("{name}: over-long password accepted").into());
            };
            assert_eq!(
                e.messages(),
                ["Password exceeds maximum length of 40 characters"],
                "{name}"
            );
            assert!(env.events.take().is_empty(), "{name}");

            let updated = auth
                .set_password(
                    &user,
                    "a new, long and rare passphrase",
                    ValidatorPolicy::Run,
                )
                .await?;
            assert_ne!(updated.password, user.password, "{name}");
            assert!(
                auth.check_password(&updated, "a new, long and rare passphrase")
                    .await?,
                "{name}"
            );
            assert!(!auth.check_password(&updated, PASSWORD).await?, "{name}");
            let events = env.events.take();
            assert!(
                matches!(&events[..], [Event::PasswordChanged { user: u }] if *u == event_user(&user)),
                "{name}: {events:?}"
            );
            // The session is bound to the old credential version: refused either way. With
            // revocation on (and a backend that revokes) the token is revoked in the backend
            // too; otherwise only the service refuses it.
            let r = auth.authenticate(login.access_token()).await;
            assert_eq!(token_error(&r), Some(TokenError::Revoked), "{name}");
            let in_backend = auth
                .backend()
                .verify_token(login.access_token(), TokenType::Access)
                .await;
            if revoke && env.revokes() {
                assert_eq!(
                    token_error(&in_backend),
                    Some(TokenError::Revoked),
                    "{name}"
                );
            } else {
                assert!(in_backend.is_ok(), "{name}");
            }
            // Skipping the validators accepts a weak password.
            auth.set_password(&updated, "short", ValidatorPolicy::Skip)
                .await?;
            auth.login("grace@example.com", "short", Claims::new())
                .await?;
            env.cleanup().await?;
        }
    }
    Ok(())
}
per_database!(set_password_validates_hashes_revokes_and_emits);

#[tokio::test]
async fn create_user_refuses_weak_passwords_with_every_message() -> TestResult {
    let env = Env::new(Backend::Sqlite { file: false }, Tokens::Database, |_| {}).await?;
    let r = env.auth.create_user("henry@example.com", "henry").await;
    let Err(Error::InvalidPassword(e)) = r else {
        return Err("weak password accepted".into());
    };
    assert_eq!(
        e.messages(),
        [
            "This password is too short. It must contain at least 8 characters.",
            "This password is too common.",
            "The password is too similar to the email."
        ]
    );
    let r = env.auth.create_user("henry@example.com", "12345678").await;
    let Err(Error::InvalidPassword(e)) = r else {
        return Err("weak password accepted".into());
    };
    assert_eq!(
        e.messages(),
        [
            "This password is too common.",
            "This password is entirely numeric."
        ]
    );
    // A taken email is EmailTaken (the unique index, classified by driver code), whatever its
    // case, so an HTTP layer can answer 409.
    env.auth.create_user("henry@example.com", PASSWORD).await?;
    let r = env.auth.create_user("HENRY@example.com", PASSWORD).await;
    assert!(matches!(r, Err(Error::EmailTaken)), "{r:?}");
    env.cleanup().await
}

async fn passwordless_login_over_email_tokens(backend: Backend) -> TestResult {
    for tokens in Tokens::ALL {
        let env = Env::new(backend.clone(), tokens, |_| {}).await?;
        let auth = &env.auth;
        let name = &env.name;
        let ivy = auth.create_user("ivy@example.com", PASSWORD).await?;
        assert!(!ivy.is_verified, "{name}");

        // Unknown and inactive addresses: the same answer, nothing created or emitted.
        auth.request_login_link("nobody@example.com", None).await?;
        let judy = auth.create_user("judy@example.com", PASSWORD).await?;
        auth.store().set_active(&judy.id.to_string(), false).await?;
        auth.request_login_link("judy@example.com", None).await?;
        assert!(env.events.take().is_empty(), "{name}");

        auth.request_login_link(" IVY@example.com", Some("10.0.0.1"))
            .await?;
        let events = env.events.take();
        let [
            Event::EmailTokenCreated {
                email,
                token,
                purpose,
                user,
            },
        ] = &events[..]
        else {
            return Err(format!("{name}: {events:?}").into());
        };
        assert_eq!(email, "ivy@example.com", "{name}");
        assert_eq!(purpose, "login", "{name}");
        assert_eq!(user.as_ref(), Some(&event_user(&ivy)), "{name}");
        let token = testudo_core::ExposeSecret::expose_secret(token).to_owned();
        assert!(
            !format!("{events:?}").contains(&token),
            "{name}: Debug hides the token"
        );

        // From another address: refused, and the token is gone.
        let r = auth
            .login_with_email_token("ivy@example.com", &token, Some("10.6.6.6"))
            .await;
        assert!(
            matches!(token_error(&r), Some(TokenError::Invalid { .. })),
            "{name}"
        );
        let r = auth
            .login_with_email_token("ivy@example.com", &token, Some("10.0.0.1"))
            .await;
        assert!(
            matches!(token_error(&r), Some(TokenError::Invalid { .. })),
            "{name}"
        );

        // A new link, used from the right address: logged in and verified.
        auth.request_login_link("ivy@example.com", Some("10.0.0.1"))
            .await?;
        let token = match &env.events.take()[..] {
            [Event::EmailTokenCreated { token, .. }] => {
                testudo_core::ExposeSecret::expose_secret(token).to_owned()
            }
            other => return Err(format!("{name}: {other:?}").into()),
        };
        let login = auth
            .login_with_email_token("Ivy@Example.com", &token, Some("10.0.0.1"))
            .await?;
        assert!(login.user.is_verified, "{name}");
        assert_eq!(
            login.user.last_login.map(|t| t.timestamp()),
            Some(T0),
            "{name}"
        );
        assert_eq!(
            auth.authenticate(login.access_token()).await?.id,
            ivy.id,
            "{name}"
        );
        let events = env.events.take();
        assert!(
            matches!(&events[..], [Event::UserLogin { user }] if user.id == ivy.id.to_string()),
            "{name}: {events:?}"
        );
        // Single use.
        let r = auth
            .login_with_email_token("ivy@example.com", &token, Some("10.0.0.1"))
            .await;
        assert!(
            matches!(token_error(&r), Some(TokenError::Invalid { .. })),
            "{name}"
        );

        // Expiry follows the configured lifetime and the service's clock.
        auth.request_login_link("ivy@example.com", None).await?;
        let token = match &env.events.take()[..] {
            [Event::EmailTokenCreated { token, .. }] => {
                testudo_core::ExposeSecret::expose_secret(token).to_owned()
            }
            other => return Err(format!("{name}: {other:?}").into()),
        };
        env.clock
            .advance(auth.config().email_token_lifetime + Duration::from_secs(1));
        let r = auth
            .login_with_email_token("ivy@example.com", &token, None)
            .await;
        assert_eq!(token_error(&r), Some(TokenError::Expired), "{name}");
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(passwordless_login_over_email_tokens);

#[tokio::test]
async fn a_failing_login_handler_leaves_no_valid_tokens() -> TestResult {
    let env = Env::new(Backend::Sqlite { file: false }, Tokens::Database, |_| {}).await?;
    assert_eq!(env.tokens, Tokens::Database);
    let auth = &env.auth;
    auth.create_user("kim@example.com", PASSWORD).await?;
    auth.events().set_propagate_errors(true);
    auth.events().on("user_login", |_event: &Event| {
        Box::pin(async { Err("refused".into()) })
    });
    let r = auth.login("kim@example.com", PASSWORD, Claims::new()).await;
    assert!(matches!(r, Err(Error::Event(_))), "{r:?}");
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    use testudo_tokens_db::entity::access_token;
    let live = access_token::Entity::find()
        .filter(access_token::Column::IsRevoked.eq(false))
        .count(env.db.conn())
        .await?;
    assert_eq!(live, 0);
    env.cleanup().await
}

#[test]
fn the_blocking_api_runs_on_its_own_runtime() -> TestResult {
    use testudo_service::blocking;

    let auth = blocking::AuthService::connect("sqlite::memory:", common::config(|_| {}))?;
    auth.block_on(auth.inner().store().database().migrate())??;
    let user = auth.create_user("leo@example.com", PASSWORD)?;
    let login = auth.login("leo@example.com", PASSWORD, Claims::new())?;
    assert_eq!(auth.authenticate(login.access_token())?.id, user.id);
    let next = auth.refresh(login.refresh_token())?;
    assert_eq!(
        token_error(&auth.refresh(login.refresh_token())),
        Some(TokenError::Revoked)
    );
    assert!(auth.check_password(&user, PASSWORD)?);
    let user = auth.set_password(&user, "another long passphrase", ValidatorPolicy::Run)?;
    assert_eq!(
        token_error(&auth.authenticate(next.access_token())),
        Some(TokenError::Revoked),
        "password change revoked the pair"
    );
    let login = auth.login("leo@example.com", "another long passphrase", Claims::new())?;
    auth.logout(login.access_token())?;
    assert!(auth.authenticate(login.access_token()).is_err());
    // logout ended that whole session (both tokens): nothing is left to revoke.
    assert_eq!(
        auth.logout_all(&user.id.to_string())?,
        LogoutAll::Revoked(0)
    );
    auth.request_login_link("leo@example.com", None)?;
    assert!(
        auth.login_with_email_token("leo@example.com", "wrongtoken", None)
            .is_err()
    );
    let user = auth.set_unusable_password(&user)?;
    assert!(!user.has_usable_password());

    // Inside an async runtime every call is an error, not a panic, and dropping is fine.
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    runtime.block_on(async {
        let r = auth.login("leo@example.com", PASSWORD, Claims::new());
        assert!(matches!(r, Err(Error::Configuration(_))), "{r:?}");
        let r = blocking::AuthService::connect("sqlite::memory:", common::config(|_| {}));
        assert!(matches!(r, Err(Error::Configuration(_))), "{r:?}");
        drop(auth);
    });
    Ok(())
}

#[tokio::test]
async fn building_a_service_validates_its_configuration() -> TestResult {
    // Set on the struct, bypassing the config builder's validation: the service refuses it.
    let bad = common::config(|c| c.token_length = 8);
    let db = testudo_db::Database::connect("sqlite::memory:").await?;
    db.migrate().await?;
    let r = testudo_service::AuthService::new(bad, db.clone());
    let Err(Error::Configuration(e)) = r else {
        return Err(format!("an 8-character token_length was accepted: {r:?}").into());
    };
    assert!(e.to_string().contains("token_length"), "{e}");
    let good = testudo_service::AuthService::new(common::config(|_| {}), db);
    assert!(good.is_ok(), "{good:?}");
    Ok(())
}

#[tokio::test]
async fn a_taken_email_is_email_taken_not_a_storage_error() -> TestResult {
    let db = testudo_db::Database::connect("sqlite::memory:").await?;
    db.migrate().await?;
    let store = testudo_service::DbUserStore::new(db);
    store.insert_user("ann@example.com", "!unusable").await?;
    let again = store.insert_user(" ANN@example.com", "!unusable").await;
    assert!(matches!(again, Err(Error::EmailTaken)), "{again:?}");
    Ok(())
}

/// A [`DbUserStore`](testudo_service::DbUserStore) whose reads by id fail while `failing` is
/// set: a database that answers the rotation, then fails the next statement.
#[derive(Debug)]
struct FailingReads {
    inner: testudo_service::DbUserStore,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

#[testudo_core::async_trait]
impl UserStore for FailingReads {
    type User = User;
    async fn find_by_email(&self, email: &str) -> testudo_core::Result<Option<User>> {
        self.inner.find_by_email(email).await
    }
    async fn find_by_id(&self, id: &str) -> testudo_core::Result<Option<User>> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::Storage("injected: the server went away".into()));
        }
        self.inner.find_by_id(id).await
    }
    async fn set_password_hash(&self, id: &str, hash: &str) -> testudo_core::Result<()> {
        self.inner.set_password_hash(id, hash).await
    }
    async fn record_login(
        &self,
        id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> testudo_core::Result<()> {
        self.inner.record_login(id, at).await
    }
    async fn mark_verified(&self, id: &str) -> testudo_core::Result<()> {
        self.inner.mark_verified(id).await
    }
}

fn inner_store(db: &testudo_test_support::db::TestDb) -> testudo_service::DbUserStore {
    testudo_service::DbUserStore::new(db.db().clone())
}

/// The rotation of a refresh commits, then reading the user fails: the caller still gets the
/// new pair (its presented token is spent, so an error would log the client out, and its retry
/// with the spent token would look like reuse and end the session). The pair works once the
/// user can be read, and the spent token stays refused.
async fn a_refresh_whose_user_read_fails_after_the_rotation_keeps_its_pair(
    backend: Backend,
) -> TestResult {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    for tokens in Tokens::ALL {
        let db = testudo_test_support::db::TestDb::new(backend.clone()).await?;
        let name = format!("{}/{tokens:?}", backend.name());
        let config = common::config(|_| {});
        let failing = Arc::new(AtomicBool::new(false));
        let store = FailingReads {
            inner: inner_store(&db),
            failing: Arc::clone(&failing),
        };
        let mut builder = testudo_service::AuthService::builder(Arc::clone(&config), store)
            .database(db.db().clone());
        if tokens != Tokens::Database {
            let mut jwt = testudo_tokens_jwt::JwtBackend::new(Arc::clone(&config))?;
            if tokens == Tokens::JwtRevocable {
                jwt = jwt.with_revocation_list(db.db().clone());
            }
            let jwt: Arc<dyn testudo_core::TokenBackend> = Arc::new(jwt);
            builder = builder.backend(jwt);
        }
        let auth = builder.build()?;
        testudo_service::AuthService::builder(Arc::clone(&config), inner_store(&db))
            .database(db.db().clone())
            .build()?
            .create_user("carol@example.com", PASSWORD)
            .await?;
        let pair = auth
            .login("carol@example.com", PASSWORD, Claims::new())
            .await?
            .tokens;

        failing.store(true, Ordering::SeqCst);
        let next = auth.refresh(pair.refresh_token()).await;
        failing.store(false, Ordering::SeqCst);
        let next = next.map_err(|e| format!("{name}: the committed refresh was lost: {e:?}"))?;

        auth.authenticate(next.access_token()).await?;
        if auth.backend().supports_revocation() {
            let spent = auth.refresh(pair.refresh_token()).await;
            assert!(
                token_error(&spent).is_some(),
                "{name}: the spent refresh token refreshed again: {spent:?}"
            );
        } else {
            auth.refresh(next.refresh_token()).await?;
        }
        db.cleanup().await?;
    }
    Ok(())
}
per_database!(a_refresh_whose_user_read_fails_after_the_rotation_keeps_its_pair);
