//! Hostile-input table (issue 17): opaque tokens and email tokens an attacker can send to
//! `verify_token`, `rotate`, `revoke_token` and `EmailTokenStore::auth_token`, each with its
//! exact answer, on SQLite and (when their URLs are set) PostgreSQL and MariaDB: empty, 1 MiB,
//! NUL bytes, the right length in the wrong alphabet (ASCII and not), the real token with one
//! letter's case changed or a character added, a real token of the other type. Every call is
//! bounded in time and the real tokens keep working.

use std::sync::Arc;
use std::time::Duration;

use testudo_config::AuthConfig;
use testudo_core::{Claims, FixedClock, InvalidReason, TokenBackend, TokenError, TokenType};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_db::{DatabaseTokenBackend, EmailTokenOptions, EmailTokenStore, Error};

const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(5);

fn clock() -> TestResult<Arc<FixedClock>> {
    Ok(Arc::new(FixedClock::from_unix(1_800_000_000)?))
}

/// `token` with the case of its first letter swapped.
fn case_swapped(token: &str) -> String {
    let mut done = false;
    token
        .chars()
        .map(|c| {
            if !done && c.is_ascii_alphabetic() {
                done = true;
                if c.is_ascii_lowercase() {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            } else {
                c
            }
        })
        .collect()
}

/// Hostile variants of `real` (a token of `len` characters), each refused as unknown.
fn hostile(real: &str, len: usize) -> Vec<(&'static str, String)> {
    vec![
        ("empty", String::new()),
        ("1 MiB", "a".repeat(MIB)),
        ("NUL bytes of the right length", "\0".repeat(len)),
        ("right length, wrong alphabet", "*".repeat(len)),
        ("right length in bytes, non-ASCII", "\u{e9}".repeat(len / 2)),
        ("right length and alphabet, unknown", "A".repeat(len)),
        (
            "the real token, one letter's case swapped",
            case_swapped(real),
        ),
        ("the real token and a space", format!("{real} ")),
        ("the real token and a NUL", format!("{real}\0")),
        (
            "the real token less its last character",
            real[..real.len() - 1].to_owned(),
        ),
        (
            "the real token with SQL",
            format!("{}' OR '1'='1", &real[..len - 11]),
        ),
    ]
}

fn not_found(r: &Result<impl std::fmt::Debug, testudo_core::Error>) -> bool {
    matches!(
        r.as_ref()
            .err()
            .and_then(testudo_core::Error::as_token_error),
        Some(TokenError::Invalid {
            reason: InvalidReason::NotFound
        })
    )
}

async fn hostile_opaque_tokens_are_unknown_and_leave_the_real_ones_working(
    b: Backend,
) -> TestResult {
    let db = TestDb::new(b).await?;
    let config = Arc::new(AuthConfig::default());
    let len = config.token_length;
    let backend = DatabaseTokenBackend::new(db.db().clone(), config).with_clock(clock()?);
    let pair = backend.create_tokens("42", Claims::new()).await?;
    let (access, refresh) = (pair.access_token(), pair.refresh_token());
    let mut cases = hostile(access, len);
    cases.extend(hostile(refresh, len));
    let mut wrong = Vec::new();
    for (what, token) in &cases {
        for ty in [TokenType::Access, TokenType::Refresh] {
            let r = tokio::time::timeout(BOUND, backend.verify_token(token, ty)).await?;
            if !not_found(&r) {
                wrong.push(format!("verify {what} as {ty:?}: {r:?}"));
            }
        }
        let r = tokio::time::timeout(BOUND, backend.rotate(token)).await?;
        if !not_found(&r) {
            wrong.push(format!("rotate {what}: {r:?}"));
        }
        // Revoking an unknown token is a no-op, as for the reference.
        let r = tokio::time::timeout(BOUND, backend.revoke_token(token)).await?;
        if r.is_err() {
            wrong.push(format!("revoke {what}: {r:?}"));
        }
    }
    // A real token of the other type is unknown as this type.
    let r = backend.verify_token(access, TokenType::Refresh).await;
    if !not_found(&r) {
        wrong.push(format!("the access token as a refresh token: {r:?}"));
    }
    let r = backend.verify_token(refresh, TokenType::Access).await;
    if !not_found(&r) {
        wrong.push(format!("the refresh token as an access token: {r:?}"));
    }
    let r = backend.rotate(access).await;
    if !not_found(&r) {
        wrong.push(format!("rotating the access token: {r:?}"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Nothing above touched the real pair.
    backend.verify_token(access, TokenType::Access).await?;
    backend.verify_token(refresh, TokenType::Refresh).await?;
    db.cleanup().await
}
per_database!(hostile_opaque_tokens_are_unknown_and_leave_the_real_ones_working);

async fn hostile_email_tokens_are_unknown_and_leave_the_real_one_working(b: Backend) -> TestResult {
    let db = TestDb::new(b).await?;
    let config = Arc::new(AuthConfig::default());
    let len = config.token_length;
    let store = EmailTokenStore::new(db.db().clone(), config).with_clock(clock()?);
    let email = "ann@example.com";
    let real = store
        .create_token(email, EmailTokenOptions::new().single_use(false))
        .await?;
    let unknown = |r: &Result<_, Error>| {
        matches!(
            r,
            Err(Error::Token(TokenError::Invalid {
                reason: InvalidReason::NotFound
            }))
        )
    };
    let mut wrong = Vec::new();
    for (what, token) in hostile(&real, len) {
        let r = tokio::time::timeout(BOUND, store.auth_token(email, &token, None)).await?;
        if !unknown(&r) {
            wrong.push(format!("auth {what}: {r:?}"));
        }
    }
    let big = "a".repeat(MIB);
    for (what, address) in [
        ("empty address", ""),
        ("1 MiB address", big.as_str()),
        ("address with a NUL", "ann@example.com\0"),
        ("another address", "bob@example.com"),
        ("NUL bytes", "\0\0\0"),
    ] {
        let r = tokio::time::timeout(BOUND, store.auth_token(address, &real, None)).await?;
        if !unknown(&r) {
            wrong.push(format!("auth with {what}: {r:?}"));
        }
    }
    // Another purpose does not know the login token; a 1 MiB client address is only an address.
    let r = store.auth_token_for("reset", email, &real, None).await;
    if !unknown(&r) {
        wrong.push(format!("another purpose: {r:?}"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    tokio::time::timeout(BOUND, store.auth_token(email, &real, Some(&big))).await??;
    store.auth_token(email, &real, None).await?;
    db.cleanup().await
}
per_database!(hostile_email_tokens_are_unknown_and_leave_the_real_one_working);
