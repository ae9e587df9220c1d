//! No token in tracing: a subscriber keeps every span and event field at every level while a
//! full bearer and cookie cycle runs over HTTP (register, login, me, refresh, a refresh
//! replay, CSRF refusals, logout, reset, login link, onboarding from start to a replayed
//! finish); no password, raw token, CSRF token, onboarding token or code, secret or query
//! string may appear in what it saw, and every request had its `testudo.http` span.

mod common;

use std::time::Duration;

use common::{PASSWORD, ServerBuilder, set_cookies};
use serde_json::{Value, json};
use testudo_test_support::TestResult;
use testudo_test_support::db::Backend;

#[tokio::test]
async fn no_token_password_or_secret_reaches_tracing() -> TestResult {
    assert!(
        testudo_test_support::capture::install(),
        "the capture is the subscriber"
    );
    let s = ServerBuilder::new(Backend::Sqlite { file: false })
        .options(testudo_axum::HttpOptions::default().refresh_cookie_path("/"))
        .start()
        .await?;
    let mut secrets: Vec<String> = vec![
        PASSWORD.to_owned(),
        common::SIGNING_SECRET.to_owned(),
        common::JWT_SECRET.to_owned(),
    ];
    s.register("una@example.com").await?;
    let wrong = "a wrong password for una";
    secrets.push(wrong.to_owned());
    let r = s
        .post(
            "/auth/login",
            json!({"email": "una@example.com", "password": wrong}),
        )
        .await?;
    assert_eq!(r.status(), 401);

    // Bearer: login, me, refresh, replay, logout.
    let (access, refresh) = s.login("una@example.com").await?;
    secrets.extend([access.clone(), refresh.clone()]);
    let r = s
        .http
        .get(s.url("/auth/me?access_token=query-secret-value"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    secrets.push("query-secret-value".into());
    let r = s.post("/auth/refresh", json!({"token": refresh})).await?;
    let next: Value = r.json().await?;
    let next_access = next["access_token"].as_str().ok_or("access")?.to_owned();
    secrets.push(next_access.clone());
    secrets.push(next["refresh_token"].as_str().ok_or("refresh")?.to_owned());
    s.clock
        .advance(testudo_core::DEFAULT_ROTATION_GRACE + Duration::from_secs(1));
    let r = s.post("/auth/refresh", json!({"token": refresh})).await?;
    assert_eq!(r.status(), 401);

    // Cookies: login, a CSRF refusal, a transparent refresh, logout.
    let jar = s.cookie_login("una@example.com").await?;
    secrets.extend(
        jar.access
            .iter()
            .chain(&jar.refresh)
            .chain(&jar.csrf)
            .cloned(),
    );
    let cookies = jar.header("/auth/refresh");
    let r = s
        .http
        .post(s.url("/auth/logout"))
        .header("cookie", &cookies)
        .header("x-csrf-token", "forged")
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    s.clock
        .advance(s.state.service().config().access_token_lifetime + Duration::from_secs(1));
    let r = s
        .http
        .get(s.url("/auth/me"))
        .header("cookie", &cookies)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    for c in set_cookies(&r) {
        secrets.push(c.value);
    }

    // Reset and login link tokens.
    let r = s
        .post("/auth/password/forgot", json!({"email": "una@example.com"}))
        .await?;
    assert_eq!(r.status(), 202);
    let reset = s.events.reset_token().ok_or("no reset token")?;
    secrets.push(reset.clone());
    let new_password = "una's brand new passphrase 9";
    secrets.push(new_password.to_owned());
    let r = s
        .post(
            "/auth/password/reset",
            json!({"token": reset, "new_password": new_password}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let r = s
        .post("/auth/login-link", json!({"email": "una@example.com"}))
        .await?;
    assert_eq!(r.status(), 202);
    let link = s.events.login_link_token().ok_or("no link")?;
    secrets.push(link.clone());
    let r = s
        .post(
            "/auth/login-link/login",
            json!({"email": "una@example.com", "token": link}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    secrets.push(v["access_token"].as_str().ok_or("access")?.to_owned());

    // Onboarding: start, status (header), a wrong code, the code, a password, skip, finish,
    // a replayed finish.
    let r = s
        .post(
            "/auth/onboarding/start",
            json!({"email": "vera@example.com"}),
        )
        .await?;
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await?;
    let token = v["token"].as_str().ok_or("no onboarding token")?.to_owned();
    secrets.push(token.clone());
    let code = s.events.onboarding_code().ok_or("no onboarding code")?;
    let r = s
        .http
        .get(s.url("/auth/onboarding/status"))
        .header(testudo_axum::ONBOARDING_TOKEN_HEADER, &token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    // Every digit moved by one: wrong, and as unlikely as the code to occur by chance.
    let wrong_code: String = code
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect();
    let r = s
        .post(
            "/auth/onboarding/verify",
            json!({"token": token, "code": wrong_code}),
        )
        .await?;
    assert_eq!(r.status(), 400);
    let r = s
        .post(
            "/auth/onboarding/verify",
            json!({"token": token, "code": code}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let onboarding_password = "vera's onboarding passphrase 31";
    secrets.push(onboarding_password.to_owned());
    let r = s
        .post(
            "/auth/onboarding/password",
            json!({"token": token, "password": "weak"}),
        )
        .await?;
    assert_eq!(r.status(), 400);
    let r = s
        .post(
            "/auth/onboarding/password",
            json!({"token": token, "password": onboarding_password}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let r = s
        .post(
            "/auth/onboarding/skip",
            json!({"token": token, "step": "setup_totp"}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    secrets.push(v["access_token"].as_str().ok_or("access")?.to_owned());
    secrets.push(v["refresh_token"].as_str().ok_or("refresh")?.to_owned());
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 404);
    s.stop().await?;

    let seen = testudo_test_support::capture::captured();
    assert!(seen.contains("span testudo.http:"), "a span per request");
    assert!(
        seen.contains("path=/auth/onboarding/finish"),
        "the onboarding routes have their span"
    );
    // A six-digit code could appear inside a longer number (a timestamp): only a code
    // standing alone counts.
    for c in [code.as_str(), wrong_code.as_str()] {
        assert!(
            !stands_alone(&seen, c),
            "the onboarding code {c} reached tracing"
        );
    }
    assert!(seen.contains("path=/auth/me"), "the path is recorded");
    assert!(seen.contains("status=200"), "the status is recorded");
    for secret in &secrets {
        assert!(!secret.is_empty());
        assert!(
            !seen.contains(secret.as_str()),
            "{secret:?} reached tracing"
        );
        // A JWT's signature alone is the secret part too.
        if let Some(sig) = secret.rsplit('.').next().filter(|s| s.len() > 16) {
            assert!(!seen.contains(sig), "a token signature reached tracing");
        }
    }
    Ok(())
}

/// Whether `needle` occurs in `haystack` with no digit right before or after it.
fn stands_alone(haystack: &str, needle: &str) -> bool {
    let bytes = haystack.as_bytes();
    haystack.match_indices(needle).any(|(at, _)| {
        let before = at.checked_sub(1).and_then(|i| bytes.get(i));
        let after = bytes.get(at + needle.len());
        !before.is_some_and(u8::is_ascii_digit) && !after.is_some_and(u8::is_ascii_digit)
    })
}
