//! No token in tracing: a subscriber keeps every span and event field at every level while a
//! full bearer and cookie cycle runs over HTTP (register, login, me, refresh, a refresh
//! replay, CSRF refusals, logout, reset, login link); no password, raw token, CSRF token,
//! secret or query string may appear in what it saw, and every request had its
//! `testudo.http` span.

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
    s.stop().await?;

    let seen = testudo_test_support::capture::captured();
    assert!(seen.contains("span testudo.http:"), "a span per request");
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
