//! Hostile-input table (issue 17) at the service's entry points, on SQLite and (when their URLs
//! are set) PostgreSQL and MariaDB, with the database and JWT backends: `login`,
//! `set_password`, `authenticate`, `refresh`, `logout`, `request_login_link` and
//! `login_with_email_token` given empty, 1 MiB, NUL-laden and wrong-alphabet input, each with
//! its exact error, within a time bound. A 1 MiB password is refused before any hashing: the
//! hasher's counters show no work (`set_password`) or only the one dummy verification every
//! failed login costs (`login`).

mod common;

use std::time::Duration;

use common::{Env, Tokens};
use testudo_core::{AuthenticationError, Claims, Error, InvalidReason, TokenError};
use testudo_hashers::PasswordHasher;
use testudo_service::ValidatorPolicy;
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};

const PASSWORD: &str = "correct horse battery staple";
const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(10);

/// Runs `call` within [`BOUND`].
async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> TestResult<T> {
    tokio::time::timeout(BOUND, call)
        .await
        .map_err(|_| format!("{what}: longer than {BOUND:?}").into())
}

fn invalid_credentials<T>(r: &Result<T, Error>) -> bool {
    matches!(
        r,
        Err(Error::Authentication(
            AuthenticationError::InvalidCredentials
        ))
    )
}

fn token_invalid<T>(r: &Result<T, Error>) -> Option<InvalidReason> {
    match r {
        Err(Error::Token(TokenError::Invalid { reason })) => Some(*reason),
        _ => None,
    }
}

/// Hostile strings: (what, value).
fn hostile_text() -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("1 MiB", "a".repeat(MIB)),
        ("NUL bytes", "\0\0\0\0".to_owned()),
        ("64 NUL bytes", "\0".repeat(64)),
        ("right length, wrong alphabet", "*".repeat(64)),
        ("non-ASCII", "\u{e9}\u{1F600}".repeat(16)),
        ("three dots", "..".to_owned()),
        ("a JWT shape", "e30.e30.".to_owned()),
    ]
}

async fn hostile_input_at_the_service_gets_exact_errors_within_the_bound(b: Backend) -> TestResult {
    for tokens in [Tokens::Database, Tokens::Jwt] {
        let env = Env::new(b.clone(), tokens, |_| {}).await?;
        let name = env.name.clone();
        let auth = &env.auth;
        // The user is inserted with a hash made elsewhere: the service's hasher has done no
        // work yet, so its counters start at zero.
        let hash = PasswordHasher::from_config(&common::config(|_| {}))?.hash(PASSWORD)?;
        let user = auth.store().insert_user("ann@example.com", &hash).await?;
        assert_eq!(auth.hasher().peak_in_flight(), 0, "{name}");

        // A 1 MiB password: set_password refuses it before any hashing.
        let long = "a".repeat(MIB);
        for policy in [ValidatorPolicy::Run, ValidatorPolicy::Skip] {
            let r = bounded("set_password", auth.set_password(&user, &long, policy)).await?;
            let Err(Error::InvalidPassword(e)) = &r else {
                return Err(format!("{name}: set_password 1 MiB: {r:?}").into());
            };
            assert_eq!(
                e.messages(),
                ["Password exceeds maximum length of 4096 characters"],
                "{name}"
            );
        }
        assert_eq!(
            auth.hasher().peak_in_flight(),
            0,
            "{name}: set_password hashed"
        );
        assert_eq!(auth.hasher().verifications(), 0, "{name}");
        let r = bounded("create_user", auth.create_user("bob@example.com", &long)).await?;
        assert!(matches!(r, Err(Error::InvalidPassword(_))), "{name}: {r:?}");
        // Addresses that are none: refused as such before any hashing, never a storage error
        // (PostgreSQL refuses a NUL in text) nor a row.
        let huge_email = format!("{}@example.com", "a".repeat(MIB));
        for email in [
            "",
            "   ",
            "no-at-sign",
            "@example.com",
            "bob@",
            "bob@example.com\0",
            "b\0b@example.com",
            "bob smith@example.com",
            "bob@exam\u{7}ple.com",
            huge_email.as_str(),
        ] {
            let r = bounded("create_user", auth.create_user(email, PASSWORD)).await?;
            assert!(
                matches!(
                    r,
                    Err(Error::Account(testudo_core::AccountError::InvalidEmail))
                ),
                "{name}: create_user {:?}: {r:?}",
                email.get(..40).unwrap_or(email)
            );
        }
        assert_eq!(
            auth.hasher().peak_in_flight(),
            0,
            "{name}: create_user hashed for an invalid address"
        );
        assert_eq!(
            auth.hasher().peak_in_flight(),
            0,
            "{name}: create_user hashed"
        );

        // Logins: every hostile email or password is invalid credentials, at the cost of exactly
        // one (dummy) verification; the 1 MiB password itself is never hashed.
        auth.hasher().verify_dummy().await?;
        let mut logins: Vec<(String, String, String)> = Vec::new();
        for (what, text) in hostile_text() {
            logins.push((format!("email {what}"), text.clone(), PASSWORD.to_owned()));
            logins.push((
                format!("password {what}"),
                "ann@example.com".to_owned(),
                text,
            ));
        }
        logins.push((
            "email with a NUL".to_owned(),
            "ann@example.com\0".to_owned(),
            PASSWORD.to_owned(),
        ));
        for (what, email, password) in &logins {
            let (verifications, dummies) = (
                auth.hasher().verifications(),
                auth.hasher().dummy_verifications(),
            );
            let r = bounded(what, auth.login(email, password, Claims::new())).await?;
            assert!(invalid_credentials(&r), "{name} login {what}: {r:?}");
            assert_eq!(
                auth.hasher().verifications(),
                verifications + 1,
                "{name} login {what}: not exactly one verification"
            );
            if password.len() > 4096 {
                assert_eq!(
                    auth.hasher().dummy_verifications(),
                    dummies + 1,
                    "{name} login {what}: the long password itself was verified"
                );
            }
        }
        env.events.take();

        // Tokens: never accepted, always a typed token error with the backend's reason.
        let expected = if tokens == Tokens::Database {
            InvalidReason::NotFound
        } else {
            InvalidReason::Malformed
        };
        for (what, text) in hostile_text() {
            let r = bounded(what, auth.authenticate(&text)).await?;
            assert_eq!(
                token_invalid(&r),
                Some(expected),
                "{name} authenticate {what}: {r:?}"
            );
            let r = bounded(what, auth.refresh(&text)).await?;
            assert_eq!(
                token_invalid(&r),
                Some(expected),
                "{name} refresh {what}: {r:?}"
            );
            // Logging out with a token that is not one is a no-op.
            let r = bounded(what, auth.logout(&text)).await?;
            assert!(r.is_ok(), "{name} logout {what}: {r:?}");
        }

        // Passwordless login: no link for a hostile address, and a hostile token is unknown.
        for (what, text) in hostile_text() {
            bounded(what, auth.request_login_link(&text, Some(&text))).await??;
            let r = bounded(
                what,
                auth.login_with_email_token("ann@example.com", &text, None),
            )
            .await?;
            assert_eq!(
                token_invalid(&r),
                Some(InvalidReason::NotFound),
                "{name} email token {what}: {r:?}"
            );
            let r = bounded(
                what,
                auth.login_with_email_token(&text, &"a".repeat(64), None),
            )
            .await?;
            assert_eq!(
                token_invalid(&r),
                Some(InvalidReason::NotFound),
                "{name} email token for address {what}: {r:?}"
            );
        }
        let sent = env.events.take();
        assert!(
            sent.is_empty(),
            "{name}: events for hostile input: {sent:?}"
        );

        // The account still works.
        let ok = auth
            .login("ann@example.com", PASSWORD, Claims::new())
            .await?;
        auth.authenticate(ok.tokens.access_token()).await?;
        env.cleanup().await?;
    }
    Ok(())
}
per_database!(hostile_input_at_the_service_gets_exact_errors_within_the_bound);
