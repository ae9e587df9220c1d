//! The account flows (issue 18): password reset, email verification by link and by code, email
//! change; each on SQLite, PostgreSQL and MariaDB, and each attacked: replay, expiry, a link
//! used for another purpose, a second use at the worst moment, parallel code guesses.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Env, Tokens};
use testudo_core::{AccountError, Claims, Error, ExposeSecret, SignatureError, TokenPair, pause};
use testudo_events::{Event, VerificationMethod};
use testudo_service::{AuthService, DbUserStore, UserStore as _, ValidatorPolicy};
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a completely different passphrase";
const SIGNING_SECRET: &str = "a-signing-secret-for-the-flow-tests-0123456789";

async fn env(b: Backend) -> TestResult<Env> {
    Env::new(b, Tokens::Database, |c| {
        c.signing_secret = Some(SIGNING_SECRET.to_owned().into());
    })
    .await
}

fn account_error<T>(r: &Result<T, Error>) -> Option<AccountError> {
    match r {
        Err(Error::Account(e)) => Some(*e),
        _ => None,
    }
}

/// The reset links emitted so far: (address, token).
fn reset_links(env: &Env) -> Vec<(String, String)> {
    env.events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::PasswordResetRequested { email, token, .. } => {
                Some((email, token.expose_secret().to_owned()))
            }
            _ => None,
        })
        .collect()
}

/// The only verification secret emitted since the last take, with its method.
fn verification_secret(env: &Env) -> TestResult<(String, VerificationMethod)> {
    let mut found: Vec<_> = env
        .events
        .take()
        .into_iter()
        .filter_map(|e| match e {
            Event::EmailVerificationRequested { secret, method, .. } => {
                Some((secret.expose_secret().to_owned(), method))
            }
            _ => None,
        })
        .collect();
    match (found.pop(), found.is_empty()) {
        (Some(one), true) => Ok(one),
        _ => Err("expected exactly one verification secret".into()),
    }
}

async fn is_dead(auth: &AuthService<DbUserStore>, pair: &TokenPair) -> bool {
    auth.authenticate(pair.access_token()).await.is_err()
        && auth.refresh(pair.refresh_token()).await.is_err()
}

async fn a_reset_link_works_once_and_ends_every_session(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let user = auth.create_user("dora@example.com", PASSWORD).await?;
    let session = auth
        .login("dora@example.com", PASSWORD, Claims::new())
        .await?;
    env.events.take();

    // Typed differently: the link goes to the stored address.
    auth.request_reset("  Dora@Example.COM ", None).await?;
    let [(to, link)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    assert_eq!(to, "dora@example.com");

    let updated = auth.confirm_reset(link, NEW_PASSWORD).await?;
    assert_eq!(updated.id, user.id);
    assert!(is_dead(auth, &session.tokens).await, "old session survived");
    let names: Vec<String> = env
        .events
        .take()
        .iter()
        .map(|e| e.name().to_owned())
        .collect();
    assert_eq!(names, ["password_changed", "password_reset_completed"]);
    assert!(
        auth.login("dora@example.com", PASSWORD, Claims::new())
            .await
            .is_err()
    );
    auth.login("dora@example.com", NEW_PASSWORD, Claims::new())
        .await?;

    // Replayed: the password (and last login) changed, so the link is dead.
    let again = auth
        .confirm_reset(link, "yet another good passphrase")
        .await;
    assert_eq!(
        account_error(&again),
        Some(AccountError::LinkUsed),
        "{again:?}"
    );

    // A link dies when the password changes another way, and when the user logs in.
    auth.request_reset("dora@example.com", None).await?;
    let [(_, before_change)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    auth.set_password(&updated, "a third long passphrase", ValidatorPolicy::Run)
        .await?;
    let r = auth
        .confirm_reset(before_change, "a fourth long passphrase")
        .await;
    assert_eq!(account_error(&r), Some(AccountError::LinkUsed), "{r:?}");

    auth.request_reset("dora@example.com", None).await?;
    let [(_, before_login)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    env.clock.advance(Duration::from_secs(1));
    auth.login("dora@example.com", "a third long passphrase", Claims::new())
        .await?;
    let r = auth
        .confirm_reset(before_login, "a fourth long passphrase")
        .await;
    assert_eq!(account_error(&r), Some(AccountError::LinkUsed), "{r:?}");
    env.cleanup().await
}
per_database!(a_reset_link_works_once_and_ends_every_session);

async fn reset_links_expire_refuse_tampering_and_name_only_live_accounts(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let user = auth.create_user("eve@example.com", PASSWORD).await?;
    env.events.take();
    let lifetime = auth.config().password_reset_token_lifetime;

    auth.request_reset("eve@example.com", None).await?;
    let [(_, link)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    // A weak new password is refused with the validators' messages, and the link survives.
    let weak = auth.confirm_reset(link, "eve@example.com").await;
    assert!(matches!(weak, Err(Error::InvalidPassword(_))), "{weak:?}");
    // Tampered: one character changed anywhere is a bad signature.
    let mut tampered = link.clone().into_bytes();
    tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
    let r = auth
        .confirm_reset(&String::from_utf8(tampered)?, NEW_PASSWORD)
        .await;
    assert!(
        matches!(r, Err(Error::Signature(SignatureError::Bad(_)))),
        "{r:?}"
    );
    for junk in ["", ":", "x".repeat(1 << 20).as_str(), "a\0b:c:d"] {
        let r = auth.confirm_reset(junk, NEW_PASSWORD).await;
        assert!(matches!(r, Err(Error::Signature(_))), "{r:?}");
    }
    // Expired one second after its lifetime.
    env.clock.advance(lifetime + Duration::from_secs(1));
    let r = auth.confirm_reset(link, NEW_PASSWORD).await;
    assert!(
        matches!(r, Err(Error::Signature(SignatureError::Expired(_)))),
        "{r:?}"
    );

    // Inactive, then deleted: typed errors for a genuine link.
    auth.request_reset("eve@example.com", None).await?;
    let [(_, link)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    auth.store().set_active(&user.id.to_string(), false).await?;
    let r = auth.confirm_reset(link, NEW_PASSWORD).await;
    assert_eq!(account_error(&r), Some(AccountError::UserInactive), "{r:?}");
    auth.request_reset("eve@example.com", None).await?;
    assert!(reset_links(&env).is_empty(), "no link for an inactive user");
    auth.delete_user(&user.id.to_string()).await?;
    let r = auth.confirm_reset(link, NEW_PASSWORD).await;
    assert_eq!(account_error(&r), Some(AccountError::UserNotFound), "{r:?}");
    env.cleanup().await
}
per_database!(reset_links_expire_refuse_tampering_and_name_only_live_accounts);

async fn known_and_unknown_addresses_cost_the_same_reset_work(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    auth.create_user("fay@example.com", PASSWORD).await?;
    let inactive = auth.create_user("gil@example.com", PASSWORD).await?;
    auth.store()
        .set_active(&inactive.id.to_string(), false)
        .await?;
    env.events.take();
    let mut work = Vec::new();
    for email in [
        "fay@example.com",
        "nobody@example.com",
        "gil@example.com",
        "fay@exämple.com",
    ] {
        let (signed, hashed) = (auth.flow_signatures(), auth.hasher().verifications());
        auth.request_reset(email, None).await?;
        work.push((
            email,
            auth.flow_signatures() - signed,
            auth.hasher().verifications() - hashed,
        ));
    }
    assert_eq!(
        reset_links(&env).len(),
        1,
        "only the live account gets a link"
    );
    for (email, signed, hashed) in &work {
        assert_eq!(
            *signed, work[0].1,
            "{email}: signing work differs: {work:?}"
        );
        assert_eq!(*hashed, 0, "{email}: no hashing on a reset request");
    }
    assert!(work[0].1 > 0, "the signing work is counted");
    env.cleanup().await
}
per_database!(known_and_unknown_addresses_cost_the_same_reset_work);

async fn two_uses_of_one_reset_link_at_the_worst_moment_set_one_password(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = env.auth.clone();
    auth.create_user("hal@example.com", PASSWORD).await?;
    env.events.take();
    auth.request_reset("hal@example.com", None).await?;
    let [(_, link)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    let paused = pause::arm("service.confirm_reset.before_write");
    let first = {
        let (auth, link) = (auth.clone(), link.clone());
        tokio::spawn(async move { auth.confirm_reset(&link, "the first new passphrase").await })
    };
    paused.reached().await;
    // The second use runs entirely while the first is checked but has written nothing.
    auth.confirm_reset(link, "the second new passphrase")
        .await?;
    paused.release();
    let r = first.await?;
    assert_eq!(account_error(&r), Some(AccountError::LinkUsed), "{r:?}");
    auth.login(
        "hal@example.com",
        "the second new passphrase",
        Claims::new(),
    )
    .await?;
    assert!(
        auth.login("hal@example.com", "the first new passphrase", Claims::new())
            .await
            .is_err()
    );
    env.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    two_uses_of_one_reset_link_at_the_worst_moment_set_one_password,
    sqlite_file
);

async fn each_flow_refuses_the_links_of_the_others(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let user = auth.create_user("ida@example.com", PASSWORD).await?;
    env.events.take();
    auth.request_reset("ida@example.com", None).await?;
    let [(_, reset)] = &reset_links(&env)[..] else {
        return Err("one reset link expected".into());
    };
    auth.request_email_verification(&user).await?;
    let (verify, method) = verification_secret(&env)?;
    assert_eq!(method, VerificationMethod::Link);
    auth.request_email_change(&user, "ida.new@example.com")
        .await?;
    let change = env
        .events
        .take()
        .into_iter()
        .find_map(|e| match e {
            Event::EmailChangeRequested {
                token, new_email, ..
            } => {
                assert_eq!(new_email, "ida.new@example.com");
                Some(token.expose_secret().to_owned())
            }
            _ => None,
        })
        .ok_or("no change link")?;
    let bad = |r: &Result<_, Error>| matches!(r, Err(Error::Signature(SignatureError::Bad(_))));
    for other in [&verify, &change] {
        let r = auth.confirm_reset(other, NEW_PASSWORD).await;
        assert!(bad(&r), "{r:?}");
    }
    for other in [reset, &change] {
        let r = auth.verify_email(other).await;
        assert!(bad(&r), "{r:?}");
    }
    for other in [reset, &verify] {
        let r = auth.confirm_email_change(other).await;
        assert!(bad(&r), "{r:?}");
    }
    // A plain signer with the same secret cannot make any of them either.
    let plain = testudo_signing::TimestampSigner::new(SIGNING_SECRET)?;
    let forged = plain.sign_with_timestamp(reset.split(':').next().unwrap_or_default());
    let r = auth.confirm_reset(&forged, NEW_PASSWORD).await;
    assert!(bad(&r), "{r:?}");
    env.cleanup().await
}
per_database!(each_flow_refuses_the_links_of_the_others);

async fn a_verification_link_verifies_its_address_once(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let user = auth.create_user("jon@example.com", PASSWORD).await?;
    env.events.take();
    auth.request_email_verification(&user).await?;
    let (link, _) = verification_secret(&env)?;
    // The address changes (an administrator edits it): the link was for the old one.
    set_email_unverified(&env, user.id, "jon.other@example.com").await?;
    let r = auth.verify_email(&link).await;
    assert_eq!(account_error(&r), Some(AccountError::LinkUsed), "{r:?}");
    set_email_unverified(&env, user.id, "jon@example.com").await?;

    let verified = auth.verify_email(&link).await?;
    assert!(verified.is_verified);
    assert!(
        env.events
            .take()
            .iter()
            .any(|e| matches!(e, Event::EmailVerified { .. }))
    );
    let r = auth.verify_email(&link).await;
    assert_eq!(
        account_error(&r),
        Some(AccountError::AlreadyVerified),
        "{r:?}"
    );
    let r = auth.request_email_verification(&verified).await;
    assert_eq!(
        account_error(&r),
        Some(AccountError::AlreadyVerified),
        "{r:?}"
    );
    // Expiry: signing_token_lifetime.
    let other = auth.create_user("kim@example.com", PASSWORD).await?;
    auth.request_email_verification(&other).await?;
    let (link, _) = verification_secret(&env)?;
    env.clock
        .advance(auth.config().signing_token_lifetime + Duration::from_secs(1));
    let r = auth.verify_email(&link).await;
    assert!(
        matches!(r, Err(Error::Signature(SignatureError::Expired(_)))),
        "{r:?}"
    );
    env.cleanup().await
}
per_database!(a_verification_link_verifies_its_address_once);

/// Changes a user's address behind the service's back, leaving it unverified.
async fn set_email_unverified(env: &Env, id: i64, email: &str) -> TestResult {
    use sea_orm::{ColumnTrait as _, EntityTrait as _, QueryFilter as _, sea_query::Expr};
    use testudo_service::entity::user;
    user::Entity::update_many()
        .col_expr(user::Column::Email, Expr::value(email))
        .col_expr(user::Column::IsVerified, Expr::value(false))
        .filter(user::Column::Id.eq(id))
        .exec(env.db.conn())
        .await?;
    Ok(())
}

async fn a_verification_code_dies_after_the_allowed_wrong_tries_even_in_parallel(
    b: Backend,
) -> TestResult {
    let env = env(b).await?;
    let auth = env.auth.clone();
    let max = auth.config().onboarding_max_verification_attempts;
    let user = auth.create_user("lea@example.com", PASSWORD).await?;
    env.events.take();
    auth.request_verification_code(&user).await?;
    let (code, method) = verification_secret(&env)?;
    assert_eq!(method, VerificationMethod::Code);
    assert!(
        code.len() == 6 && code.bytes().all(|c| c.is_ascii_digit()),
        "{code}"
    );
    // Stored as a keyed digest, never in clear.
    {
        use sea_orm::EntityTrait as _;
        let rows = testudo_service::entity::code::Entity::find()
            .all(env.db.conn())
            .await?;
        let [row] = &rows[..] else {
            return Err("one pending code expected".into());
        };
        assert!(!row.digest.contains(&code), "code stored in clear");
        assert_eq!(row.email, "lea@example.com");
    }

    // 50 parallel wrong guesses: exactly `max` are compared, the rest find no code.
    let wrong = format!("{:06}", (code.parse::<u32>()? + 1) % 1_000_000);
    let guesses: Vec<_> = (0..50)
        .map(|_| {
            let (auth, user, wrong) = (auth.clone(), user.clone(), wrong.clone());
            tokio::spawn(async move { auth.verify_email_code(&user, &wrong).await })
        })
        .collect();
    let (mut compared, mut none) = (Vec::new(), 0);
    for g in guesses {
        match account_error(&g.await?) {
            Some(AccountError::WrongCode { remaining }) => compared.push(remaining),
            Some(AccountError::NoPendingCode) => none += 1,
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    compared.sort_unstable();
    assert_eq!(compared, (0..max).collect::<Vec<_>>(), "{compared:?}");
    assert_eq!(none, 50 - max as usize);
    // Dead: even the right code is refused now.
    let r = auth.verify_email_code(&user, &code).await;
    assert_eq!(
        account_error(&r),
        Some(AccountError::NoPendingCode),
        "{r:?}"
    );

    // A fresh code works once, padded with spaces too.
    auth.request_verification_code(&user).await?;
    let (code, _) = verification_secret(&env)?;
    let verified = auth.verify_email_code(&user, &format!(" {code} ")).await?;
    assert!(verified.is_verified);
    let r = auth.verify_email_code(&user, &code).await;
    assert_eq!(
        account_error(&r),
        Some(AccountError::AlreadyVerified),
        "{r:?}"
    );

    // Expiry.
    let other = auth.create_user("max@example.com", PASSWORD).await?;
    auth.request_verification_code(&other).await?;
    let (code, _) = verification_secret(&env)?;
    env.clock
        .advance(auth.config().onboarding_verification_code_ttl);
    let r = auth.verify_email_code(&other, &code).await;
    assert_eq!(
        account_error(&r),
        Some(AccountError::NoPendingCode),
        "{r:?}"
    );
    env.cleanup().await
}
per_database!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_verification_code_dies_after_the_allowed_wrong_tries_even_in_parallel,
    sqlite_file
);

async fn an_email_change_goes_through_the_new_address(b: Backend) -> TestResult {
    let env = env(b).await?;
    let auth = &env.auth;
    let user = auth.create_user("ned@example.com", PASSWORD).await?;
    auth.create_user("taken@example.com", PASSWORD).await?;
    env.events.take();
    let r = auth.request_email_change(&user, "not an address").await;
    assert_eq!(account_error(&r), Some(AccountError::InvalidEmail), "{r:?}");

    let change_link = |env: &Env| {
        env.events.take().into_iter().find_map(|e| match e {
            Event::EmailChangeRequested { token, .. } => Some(token.expose_secret().to_owned()),
            _ => None,
        })
    };
    auth.request_email_change(&user, "taken@example.com")
        .await?;
    let to_taken = change_link(&env).ok_or("no change link")?;
    auth.request_email_change(&user, " Ned.New@Example.com")
        .await?;
    let link = change_link(&env).ok_or("no change link")?;
    // Nothing changed yet.
    let still = auth.store().find_by_id(&user.id.to_string()).await?;
    assert_eq!(still.map(|u| u.email), Some("ned@example.com".to_owned()));

    let r = auth.confirm_email_change(&to_taken).await;
    assert!(matches!(r, Err(Error::EmailTaken)), "{r:?}");
    let changed = auth.confirm_email_change(&link).await?;
    assert_eq!(changed.email, "ned.new@example.com");
    assert!(changed.is_verified, "the link proved the new address");
    assert!(env.events.take().iter().any(|e| matches!(
        e,
        Event::EmailChanged { old_email, .. } if old_email == "ned@example.com"
    )));
    auth.login("ned.new@example.com", PASSWORD, Claims::new())
        .await?;
    // Replayed, or another link made from the old address: refused.
    let r = auth.confirm_email_change(&link).await;
    assert_eq!(account_error(&r), Some(AccountError::LinkUsed), "{r:?}");
    env.cleanup().await
}
per_database!(an_email_change_goes_through_the_new_address);

#[tokio::test]
async fn without_a_signing_secret_the_flows_say_so() -> TestResult {
    let env = Env::new(Backend::Sqlite { file: false }, Tokens::Database, |_| {}).await?;
    let user = env.auth.create_user("oli@example.com", PASSWORD).await?;
    let r = env.auth.request_reset("oli@example.com", None).await;
    assert!(matches!(r, Err(Error::Configuration(_))), "{r:?}");
    let r = env.auth.request_email_verification(&user).await;
    assert!(matches!(r, Err(Error::Configuration(_))), "{r:?}");
    env.cleanup().await
}

#[test]
fn the_blocking_api_runs_the_flows_too() -> TestResult {
    use std::sync::Mutex;
    use testudo_service::blocking;

    let config = common::config(|c| c.signing_secret = Some(SIGNING_SECRET.to_owned().into()));
    let auth = blocking::AuthService::connect("sqlite::memory:", Arc::clone(&config))?;
    auth.block_on(auth.inner().store().database().migrate())??;
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = Arc::clone(&seen);
    auth.inner()
        .events()
        .on("password_reset_requested", move |e: &Event| {
            if let Event::PasswordResetRequested { token, .. } = e {
                log.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(token.expose_secret().to_owned());
            }
            Box::pin(async { Ok(()) })
        });
    let user = auth.create_user("pia@example.com", PASSWORD)?;
    auth.request_reset("pia@example.com", None)?;
    let link = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop()
        .ok_or("no reset link")?;
    auth.confirm_reset(&link, NEW_PASSWORD)?;
    auth.login("pia@example.com", NEW_PASSWORD, Claims::new())?;
    auth.request_verification_code(&user)?;
    let r = auth.verify_email_code(&user, "not-the-code");
    assert!(
        matches!(r, Err(Error::Account(AccountError::WrongCode { .. }))),
        "{r:?}"
    );
    Ok(())
}
