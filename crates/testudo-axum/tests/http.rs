//! Every endpoint over real HTTP: a server on 127.0.0.1:0, driven with reqwest, checking
//! statuses, problem bodies and headers, cookies, CSRF refusals, the transparent refresh, a
//! refresh replay, oversized bodies and malformed headers.

mod common;

use std::time::Duration;

use axum::Json;
use axum::middleware;
use axum::routing::{get, post};
use common::{Jar, PASSWORD, Server, ServerBuilder, Tokens, set_cookies};
use serde_json::{Value, json};
use testudo_axum::{
    ApiKey, Authenticated, ClientContext, HttpOptions, MaybeAuthenticated, RequiredScopes,
    ServiceIdentity, TrustedProxy, require_auth,
};
use testudo_core::{ExposeSecret, UserStore as _};
use testudo_service::DbUserStore;
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};
use testudo_tokens_db::{ApiKeyOwner, ApiKeyStore, NewApiKey};

const SQLITE: Backend = Backend::Sqlite { file: false };

async fn problem(r: reqwest::Response) -> TestResult<(u16, Value)> {
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert_eq!(ct, "application/problem+json", "status {status}");
    let v: Value = r.json().await?;
    assert_eq!(v["status"].as_u64(), Some(u64::from(status)));
    assert_eq!(v["type"], "about:blank");
    Ok((status, v))
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn me(s: &Server, access: &str) -> TestResult<reqwest::Response> {
    Ok(s.http
        .get(s.url("/auth/me"))
        .bearer_auth(access)
        .send()
        .await?)
}

/// Register, login, me, refresh, replay, logout, logout-all, reset, login link, verify email.
async fn every_endpoint_answers_over_http(backend: Backend) -> TestResult {
    let s = ServerBuilder::new(backend).start().await?;
    s.register("Ann@Example.com").await?;

    let r = s
        .post(
            "/auth/register",
            json!({"email": "ann@example.com", "password": PASSWORD}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!((status, body["code"].as_str()), (409, Some("email_taken")));

    let r = s
        .post(
            "/auth/register",
            json!({"email": "bob@example.com", "password": "1234567"}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_password"))
    );
    let errors = body["errors"].as_array().ok_or("no errors")?;
    assert!(errors.len() >= 2, "every validator message: {errors:?}");

    let (access, refresh) = s.login("ann@example.com").await?;
    let r = me(&s, &access).await?;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await?;
    assert_eq!(user["email"], "ann@example.com");
    assert_eq!(user["is_verified"], false);

    // Refresh, then replay the old refresh token: refused, and the whole family dies.
    let r = s.post("/auth/refresh", json!({"token": refresh})).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let next: Value = r.json().await?;
    assert_eq!(next["token_type"], "Bearer");
    let next_access = next["access_token"].as_str().ok_or("no access")?.to_owned();
    // Past the rotation grace (a benign race of two tabs), a second presentation is a replay.
    s.clock
        .advance(testudo_core::DEFAULT_ROTATION_GRACE + Duration::from_secs(1));
    let r = s.post("/auth/refresh", json!({"token": refresh})).await?;
    assert_eq!(
        header(&r, "www-authenticate").as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_token"))
    );
    assert_eq!(me(&s, &next_access).await?.status(), 401, "reuse detection");

    // Logout ends the session.
    let (access, _) = s.login("ann@example.com").await?;
    let r = s
        .http
        .post(s.url("/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(me(&s, &access).await?.status(), 401);

    // Logout-all ends every session.
    let (a1, _) = s.login("ann@example.com").await?;
    let (a2, _) = s.login("ann@example.com").await?;
    let r = s
        .http
        .post(s.url("/auth/logout-all"))
        .bearer_auth(&a1)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    assert!(v["revoked"].as_u64().is_some_and(|n| n >= 4), "{v}");
    assert_eq!(me(&s, &a2).await?.status(), 401);

    // Forgot / reset password: 202 for known and unknown addresses alike.
    let (a3, _) = s.login("ann@example.com").await?;
    let r = s
        .post(
            "/auth/password/forgot",
            json!({"email": "nobody@example.com"}),
        )
        .await?;
    assert_eq!(r.status(), 202);
    let r = s
        .post("/auth/password/forgot", json!({"email": "ann@example.com"}))
        .await?;
    assert_eq!(r.status(), 202);
    let token = s.events.reset_token().ok_or("no reset link")?;
    let new_password = "an entirely new passphrase 77";
    let r = s
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "short"}),
        )
        .await?;
    assert_eq!(problem(r).await?.1["code"], "invalid_password");
    let r = s
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        me(&s, &a3).await?.status(),
        401,
        "a reset ends every session"
    );
    let r = s
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": new_password}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_link")),
        "used once"
    );
    let r = s
        .post(
            "/auth/login",
            json!({"email": "ann@example.com", "password": new_password}),
        )
        .await?;
    assert_eq!(r.status(), 200);

    // Login link.
    let r = s
        .post("/auth/login-link", json!({"email": "ann@example.com"}))
        .await?;
    assert_eq!(r.status(), 202);
    let token = s.events.login_link_token().ok_or("no login link")?;
    let r = s
        .post(
            "/auth/login-link/login",
            json!({"email": "ann@example.com", "token": token}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let r = s
        .post(
            "/auth/login-link/login",
            json!({"email": "ann@example.com", "token": token}),
        )
        .await?;
    assert_eq!(problem(r).await?.0, 401, "a login link works once");

    // Verify email (the link is requested by the application, e.g. after sign-up).
    s.register("carl@example.com").await?;
    let carl = s
        .state
        .service()
        .store()
        .find_by_email("carl@example.com")
        .await?
        .ok_or("no carl")?;
    s.state.service().request_email_verification(&carl).await?;
    let token = s
        .events
        .verification_token()
        .ok_or("no verification link")?;
    let r = s
        .post("/auth/email/verify", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["is_verified"], true);
    let r = s
        .post("/auth/email/verify", json!({"token": "not-a-link"}))
        .await?;
    assert_eq!(problem(r).await?.0, 400);

    s.stop().await
}
per_database!(every_endpoint_answers_over_http);

#[tokio::test]
async fn the_jwt_backend_serves_the_same_endpoints() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .tokens(Tokens::Jwt)
        .start()
        .await?;
    s.register("jay@example.com").await?;
    let (access, refresh) = s.login("jay@example.com").await?;
    assert_eq!(access.split('.').count(), 3, "a JWT");
    assert_eq!(me(&s, &access).await?.status(), 200);
    let r = s.post("/auth/refresh", json!({"token": refresh})).await?;
    assert_eq!(r.status(), 200);
    let r = s
        .http
        .post(s.url("/auth/logout-all"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(
        r.json::<Value>().await?["revoked"],
        Value::Null,
        "stateless: not revoked"
    );
    // No public keys with HS256: the set is empty, and published.
    let r = s
        .http
        .get(s.url("/auth/.well-known/jwks.json"))
        .send()
        .await?;
    assert_eq!(r.status(), 404, "not published unless configured");
    s.stop().await
}

#[tokio::test]
async fn the_public_keys_of_a_jwt_backend_are_published_and_verify_its_tokens() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .tokens(Tokens::JwtEdDsa)
        .start()
        .await?;
    let r = s
        .http
        .get(s.url("/auth/.well-known/jwks.json"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        header(&r, "content-type").as_deref(),
        Some("application/json")
    );
    let set: Value = r.json().await?;
    let keys = set["keys"].as_array().ok_or("no keys")?;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["kid"], "k1");
    assert!(keys[0].get("d").is_none(), "never the private key: {set}");
    s.register("kim@example.com").await?;
    let (access, _) = s.login("kim@example.com").await?;
    assert_eq!(me(&s, &access).await?.status(), 200);
    s.stop().await
}

#[tokio::test]
async fn bad_tokens_get_a_bearer_challenge_and_malformed_headers_invalid_request() -> TestResult {
    let s = ServerBuilder::new(SQLITE).start().await?;
    let r = s.http.get(s.url("/auth/me")).send().await?;
    assert_eq!(header(&r, "www-authenticate").as_deref(), Some("Bearer"));
    assert_eq!(
        problem(r).await?,
        (401, problem_body(401, "unauthenticated"))
    );

    let r = me(&s, "no-such-token").await?;
    assert_eq!(
        header(&r, "www-authenticate").as_deref(),
        Some("Bearer error=\"invalid_token\"")
    );
    assert_eq!(problem(r).await?.1["code"], "invalid_token");

    for bad in [
        "Bearer",
        "Bearer  two-spaces",
        "Bearer one two",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer a\"b",
    ] {
        let r = s
            .http
            .get(s.url("/auth/me"))
            .header("authorization", bad)
            .send()
            .await?;
        assert_eq!(
            header(&r, "www-authenticate").as_deref(),
            Some("Bearer error=\"invalid_request\""),
            "{bad}"
        );
        let (status, body) = problem(r).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (401, Some("invalid_request")),
            "{bad}"
        );
    }
    // The scheme is case-insensitive; two Authorization headers are refused.
    s.register("dee@example.com").await?;
    let (access, _) = s.login("dee@example.com").await?;
    let r = s
        .http
        .get(s.url("/auth/me"))
        .header("authorization", format!("bEARER {access}"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let mut headers = reqwest::header::HeaderMap::new();
    headers.append("authorization", format!("Bearer {access}").parse()?);
    headers.append("authorization", format!("Bearer {access}").parse()?);
    let r = s
        .http
        .get(s.url("/auth/me"))
        .headers(headers)
        .send()
        .await?;
    assert_eq!(problem(r).await?.1["code"], "invalid_request");
    s.stop().await
}

fn problem_body(status: u16, code: &str) -> Value {
    let title = match code {
        "unauthenticated" => "authentication required",
        _ => code,
    };
    json!({"type": "about:blank", "title": title, "status": status, "detail": title, "code": code})
}

#[tokio::test]
async fn throttled_logins_get_429_with_retry_after() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .throttle()
        .config(|c| {
            c.rate_limit_max_attempts = 2;
            c.rate_limit_window = Duration::from_secs(60);
            c.rate_limit_lockout = Duration::from_secs(300);
        })
        .start()
        .await?;
    s.register("eve@example.com").await?;
    let wrong = json!({"email": "eve@example.com", "password": "wrong password entirely"});
    let mut last = None;
    for _ in 0..4 {
        let r = s.post("/auth/login", wrong.clone()).await?;
        last = Some(r.status().as_u16());
        if r.status() == 429 {
            let retry = header(&r, "retry-after").ok_or("no Retry-After")?;
            let secs: u64 = retry.parse()?;
            assert!((1..=300).contains(&secs), "{secs}");
            let (_, body) = problem(r).await?;
            assert_eq!(body["code"], "rate_limited");
            break;
        }
        assert_eq!(problem(r).await?.1["code"], "invalid_credentials");
    }
    assert_eq!(last, Some(429));
    // The right password is refused too while locked out.
    let r = s
        .post(
            "/auth/login",
            json!({"email": "eve@example.com", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(r.status(), 429);
    s.stop().await
}

/// `/register` is throttled per address and per client: the 409 for a taken address cannot
/// be asked for at full speed, neither for one address nor for many from one client.
#[tokio::test]
async fn registration_is_throttled_per_address_and_per_client() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .throttle()
        .config(|c| {
            c.rate_limit_max_attempts = 1;
            c.rate_limit_window = Duration::from_secs(60);
            c.rate_limit_lockout = Duration::from_secs(300);
        })
        .start()
        .await?;
    let register = |email: &str| {
        s.post(
            "/auth/register",
            json!({"email": email, "password": PASSWORD}),
        )
    };
    assert_eq!(register("ida@example.com").await?.status(), 201);
    // The same address again (any spelling): refused by the throttle, not answered 409.
    let r = register("IDA@example.com").await?;
    assert!(header(&r, "retry-after").is_some(), "no Retry-After");
    let (status, body) = problem(r).await?;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    // Other addresses from the same client: CLIENT_FACTOR attempts in all, two of them spent
    // above (the client's key counted both), so the 19th new address is refused.
    let allowed = testudo_service::throttle::CLIENT_FACTOR;
    let mut statuses = Vec::new();
    for i in 1..allowed {
        statuses.push(
            register(&format!("probe{i}@example.com"))
                .await?
                .status()
                .as_u16(),
        );
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|&st| st == 201), "{statuses:?}");
    assert_eq!(statuses.len(), usize::try_from(allowed - 2)?);
    assert_eq!(last, Some(429), "the client's allowance is spent");
    assert_eq!(s.user_count().await?, i64::from(allowed - 1));
    s.stop().await
}

#[tokio::test]
async fn problem_bodies_never_carry_a_secret_a_token_or_an_internal_cause() -> TestResult {
    let s = ServerBuilder::new(SQLITE).start().await?;
    s.register("fay@example.com").await?;
    let (access, refresh) = s.login("fay@example.com").await?;
    let mut bodies = Vec::new();
    for r in [
        s.post(
            "/auth/login",
            json!({"email": "fay@example.com", "password": "hunter2 wrong guess"}),
        )
        .await?,
        s.post(
            "/auth/register",
            json!({"email": "gus@example.com", "password": "hunter2"}),
        )
        .await?,
        s.post("/auth/refresh", json!({"token": format!("{refresh}x")}))
            .await?,
        s.post(
            "/auth/login",
            json!({"email": 5, "password": "hunter2 typed wrong"}),
        )
        .await?,
        s.http
            .get(s.url("/auth/me"))
            .bearer_auth(format!("{access}zz"))
            .send()
            .await?,
    ] {
        bodies.push(r.text().await?);
    }
    // A storage failure: the table is gone. 500, and a generic body.
    use sea_orm::ConnectionTrait as _;
    let _ =
        s.db.conn()
            .execute_unprepared("DROP TABLE testudo_users")
            .await;
    let r = s
        .post(
            "/auth/login",
            json!({"email": "fay@example.com", "password": PASSWORD}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(status, 500);
    assert_eq!(body["detail"], "internal error");
    bodies.push(body.to_string());
    for b in &bodies {
        for secret in [
            "hunter2",
            PASSWORD,
            &access,
            &refresh,
            common::SIGNING_SECRET,
            common::JWT_SECRET,
            "testudo_users",
            "SQL",
            "sqlite",
        ] {
            assert!(!b.contains(secret), "{secret:?} in {b}");
        }
    }
    s.stop().await
}

#[tokio::test]
async fn oversized_mistyped_and_malformed_bodies_are_refused_with_problems() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .options(HttpOptions::default().max_body_bytes(1024))
        .start()
        .await?;
    let big = json!({"email": "a@example.com", "password": "x".repeat(4096)});
    let r = s.post("/auth/login", big.clone()).await?;
    assert_eq!(problem(r).await?.0, 413);
    let r = s.post("/auth/register", big).await?;
    assert_eq!(problem(r).await?.0, 413);
    let r = s
        .http
        .post(s.url("/auth/login"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await?;
    assert_eq!(problem(r).await?.0, 415);
    for bad in ["{", "[]", "{\"email\": \"a@example.com\"}", "\u{0}"] {
        let r = s
            .http
            .post(s.url("/auth/login"))
            .header("content-type", "application/json")
            .body(bad)
            .send()
            .await?;
        let (status, body) = problem(r).await?;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("invalid_body")),
            "{bad:?}"
        );
    }
    s.stop().await
}

fn csrf_server() -> ServerBuilder {
    ServerBuilder::new(SQLITE)
}

async fn cookie_post(
    s: &Server,
    path: &str,
    jar: &Jar,
    extra: &[(&str, String)],
) -> TestResult<reqwest::Response> {
    let mut req = s.http.post(s.url(path)).header("cookie", jar.header(path));
    for (name, value) in extra {
        req = req.header(*name, value);
    }
    Ok(req.send().await?)
}

#[tokio::test]
async fn a_cookie_login_sets_httponly_secure_lax_cookies_scoped_as_configured() -> TestResult {
    let s = csrf_server().start().await?;
    s.register("hal@example.com").await?;
    let r = s
        .http
        .post(s.url("/auth/login"))
        .header("content-type", "application/json")
        .header("origin", &s.base)
        .body(
            json!({"email": "hal@example.com", "password": PASSWORD, "use_cookies": true})
                .to_string(),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let get = |name: &str| cookies.iter().find(|c| c.name == name).cloned();
    let access = get("testudo_access").ok_or("no access cookie")?;
    let refresh = get("testudo_refresh").ok_or("no refresh cookie")?;
    let csrf = get("testudo_csrf").ok_or("no csrf cookie")?;
    for c in [&access, &refresh, &csrf] {
        assert!(c.has("Secure") && c.has("SameSite=Lax"), "{c:?}");
    }
    assert!(access.has("HttpOnly") && access.has("Path=/"), "{access:?}");
    assert!(
        refresh.has("HttpOnly") && refresh.has("Path=/auth/refresh"),
        "{refresh:?}"
    );
    assert!(
        !csrf.has("HttpOnly"),
        "scripts read the CSRF cookie: {csrf:?}"
    );
    let body: Value = r.json().await?;
    assert_eq!(body["csrf_token"].as_str(), Some(csrf.value.as_str()));
    assert!(
        body.get("access_token").is_none(),
        "no token in the body in cookie mode"
    );

    // GET needs no CSRF token.
    let jar = Jar {
        access: Some(access.value),
        ..Jar::default()
    };
    let r = s
        .http
        .get(s.url("/auth/me"))
        .header("cookie", jar.header("/auth/me"))
        .header("sec-fetch-site", "cross-site")
        .send()
        .await?;
    assert_eq!(
        r.status(),
        200,
        "a top-level cross-site GET reads, never writes"
    );

    // Secure can be turned off for http://localhost.
    let s2 = ServerBuilder::new(SQLITE)
        .options(HttpOptions::default().secure_cookies(false))
        .start()
        .await?;
    s2.register("hal@example.com").await?;
    let jar2 = s2.cookie_login("hal@example.com").await?;
    assert!(jar2.access.is_some());
    let r = s2
        .http
        .post(s2.url("/auth/login"))
        .header("content-type", "application/json")
        .body(
            json!({"email": "hal@example.com", "password": PASSWORD, "use_cookies": true})
                .to_string(),
        )
        .send()
        .await?;
    assert!(set_cookies(&r).iter().all(|c| !c.has("Secure")));
    s2.stop().await?;
    s.stop().await
}

#[tokio::test]
async fn cookie_authenticated_unsafe_requests_need_the_csrf_checks() -> TestResult {
    let s = csrf_server().start().await?;
    s.register("ivy@example.com").await?;
    let jar = s.cookie_login("ivy@example.com").await?;
    let token = jar.csrf.clone().ok_or("no csrf")?;
    let same = ("origin", s.base.clone());

    // Missing token, wrong token, cross-site Origin, Sec-Fetch-Site: cross-site.
    let r = cookie_post(&s, "/auth/logout-all", &jar, std::slice::from_ref(&same)).await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["detail"].as_str()),
        (403, Some("missing CSRF token"))
    );
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &jar,
        &[same.clone(), ("x-csrf-token", format!("{token}x"))],
    )
    .await?;
    assert_eq!(problem(r).await?.1["detail"], "wrong CSRF token");
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &jar,
        &[
            ("origin", "https://evil.example".into()),
            ("x-csrf-token", token.clone()),
        ],
    )
    .await?;
    assert_eq!(problem(r).await?.1["detail"], "origin not allowed");
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &jar,
        &[
            ("sec-fetch-site", "cross-site".into()),
            ("x-csrf-token", token.clone()),
        ],
    )
    .await?;
    assert_eq!(
        problem(r).await?.1["detail"],
        "the request comes from another site"
    );
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &jar,
        &[("origin", "null".into()), ("x-csrf-token", token.clone())],
    )
    .await?;
    assert_eq!(problem(r).await?.0, 403, "an opaque origin");

    // Double submit with a forged pair (cookie tossing): header and cookie agree, but the
    // token is not the session's.
    let mut forged = jar.clone();
    forged.csrf = Some("forged-value".into());
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &forged,
        &[same.clone(), ("x-csrf-token", "forged-value".into())],
    )
    .await?;
    assert_eq!(problem(r).await?.1["detail"], "wrong CSRF token");
    // Another session's valid CSRF token does not fit this session.
    let other = s.cookie_login("ivy@example.com").await?;
    let mut mixed = jar.clone();
    mixed.csrf.clone_from(&other.csrf);
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &mixed,
        &[
            same.clone(),
            ("x-csrf-token", other.csrf.clone().ok_or("csrf")?),
        ],
    )
    .await?;
    assert_eq!(problem(r).await?.1["detail"], "wrong CSRF token");

    // A cross-site cookie login (login CSRF) is refused before any work.
    let r = s
        .http
        .post(s.url("/auth/login"))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(
            json!({"email": "ivy@example.com", "password": PASSWORD, "use_cookies": true})
                .to_string(),
        )
        .send()
        .await?;
    assert_eq!(problem(r).await?.0, 403);

    // Bearer requests are not ambient credentials: no CSRF check.
    let (access, _) = s.login("ivy@example.com").await?;
    let r = s
        .http
        .post(s.url("/auth/logout"))
        .bearer_auth(&access)
        .header("origin", "https://evil.example")
        .header("sec-fetch-site", "cross-site")
        .send()
        .await?;
    assert_eq!(r.status(), 204);

    // The right token from the right origin passes; logout-all clears the cookies.
    let r = cookie_post(
        &s,
        "/auth/logout-all",
        &jar,
        &[
            same,
            ("sec-fetch-site", "same-origin".into()),
            ("x-csrf-token", token),
        ],
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert!(
        set_cookies(&r)
            .iter()
            .all(|c| c.value.is_empty() && c.has("Max-Age=0"))
    );
    s.stop().await
}

#[tokio::test]
async fn allowed_origins_are_exact() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .options(HttpOptions::default().allow_origin("https://app.example"))
        .start()
        .await?;
    s.register("jo@example.com").await?;
    let jar = s
        .cookie_login_from("jo@example.com", "https://app.example")
        .await?;
    let token = jar.csrf.clone().ok_or("csrf")?;
    for (origin, ok) in [
        ("https://app.example", true),
        ("https://app.example.evil", false),
        ("http://app.example", false),
        ("https://evil.app.example", false),
    ] {
        let r = cookie_post(
            &s,
            "/auth/logout-all",
            &jar,
            &[("origin", origin.into()), ("x-csrf-token", token.clone())],
        )
        .await?;
        assert_eq!(r.status() == 200, ok, "{origin}");
        if ok {
            break;
        }
    }
    s.stop().await
}

async fn an_expired_access_cookie_is_refreshed_transparently_once(backend: Backend) -> TestResult {
    let s = ServerBuilder::new(backend)
        .options(HttpOptions::default().refresh_cookie_path("/"))
        .routes(|r, _| {
            r.route(
                "/account",
                get(|Authenticated(u): Authenticated<DbUserStore>| async move {
                    Json(json!({"email": testudo_core::AuthUser::email(&u)}))
                }),
            )
            .layer(middleware::from_fn(testudo_axum::session_layer))
        })
        .start()
        .await?;
    s.register("kit@example.com").await?;
    let jar = s.cookie_login("kit@example.com").await?;
    let all = |j: &Jar| -> String {
        let mut h = j.header("/auth/refresh");
        h.push_str("");
        h
    };
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", all(&jar))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(set_cookies(&r).is_empty(), "nothing to refresh yet");

    s.clock
        .advance(s.state.service().config().access_token_lifetime + Duration::from_secs(1));
    // Without the refresh cookie: 401 expired.
    let mut no_refresh = jar.clone();
    no_refresh.refresh = None;
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", all(&no_refresh))
        .send()
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("token has expired"))
    );
    // With it: 200, and a new pair of cookies.
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", all(&jar))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let mut next = jar.clone();
    next.update(&r);
    assert_ne!(next.access, jar.access);
    assert_ne!(next.refresh, jar.refresh);
    assert_ne!(next.csrf, jar.csrf, "the CSRF token follows the session");
    assert_eq!(r.json::<Value>().await?["email"], "kit@example.com");
    // The old cookies are dead (the rotation revoked their pair) and are not refreshed again;
    // the new ones work.
    s.clock
        .advance(testudo_core::DEFAULT_ROTATION_GRACE + Duration::from_secs(1));
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", all(&jar))
        .send()
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["detail"].as_str()),
        (401, Some("token has been revoked"))
    );
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", all(&next))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(set_cookies(&r).is_empty());
    s.stop().await
}
per_database!(an_expired_access_cookie_is_refreshed_transparently_once);

async fn the_refresh_endpoint_rotates_cookies_under_csrf(backend: Backend) -> TestResult {
    let s = ServerBuilder::new(backend).start().await?;
    s.register("lea@example.com").await?;
    let jar = s.cookie_login("lea@example.com").await?;
    let token = jar.csrf.clone().ok_or("csrf")?;
    let same = ("origin", s.base.clone());
    let r = cookie_post(&s, "/auth/refresh", &jar, std::slice::from_ref(&same)).await?;
    assert_eq!(problem(r).await?.0, 403, "no CSRF token");
    let r = cookie_post(
        &s,
        "/auth/refresh",
        &jar,
        &[same.clone(), ("x-csrf-token", token.clone())],
    )
    .await?;
    assert_eq!(r.status(), 200);
    let mut next = jar.clone();
    next.update(&r);
    assert_ne!(next.refresh, jar.refresh);
    s.clock
        .advance(testudo_core::DEFAULT_ROTATION_GRACE + Duration::from_secs(1));
    let r = cookie_post(
        &s,
        "/auth/refresh",
        &jar,
        &[same.clone(), ("x-csrf-token", token)],
    )
    .await?;
    assert_eq!(problem(r).await?.1["code"], "invalid_token", "a replay");

    // Cookie logout revokes the session and clears the cookies.
    let fresh = s.cookie_login("lea@example.com").await?;
    let csrf = fresh.csrf.clone().ok_or("csrf")?;
    let r = cookie_post(&s, "/auth/logout", &fresh, &[same, ("x-csrf-token", csrf)]).await?;
    assert_eq!(r.status(), 204);
    assert!(
        set_cookies(&r)
            .iter()
            .any(|c| c.name == "testudo_access" && c.value.is_empty())
    );
    let r = s
        .http
        .get(s.url("/auth/me"))
        .header("cookie", fresh.header("/auth/me"))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    s.stop().await
}
per_database!(the_refresh_endpoint_rotates_cookies_under_csrf);

struct ReadInvoices;
impl RequiredScopes for ReadInvoices {
    const SCOPES: &'static [&'static str] = &["invoices:read"];
}

#[tokio::test]
async fn the_other_extractors_and_the_layer_over_http() -> TestResult {
    const S2S: &str = "s2s-token-0123456789abcdef0123456789abcdef";
    let s = ServerBuilder::new(SQLITE)
        .config(|c| c.s2s_enabled = true)
        .s2s(S2S)
        .routes(|r, state| {
            let private = axum::Router::new()
                .route(
                    "/private",
                    post(|Authenticated(u): Authenticated<DbUserStore>| async move {
                        format!("hello {}", testudo_core::AuthUser::email(&u))
                    }),
                )
                .route_layer(middleware::from_fn_with_state(
                    state.clone(),
                    require_auth::<DbUserStore>,
                ));
            r.merge(private)
                .route(
                    "/maybe",
                    get(
                        |MaybeAuthenticated(u): MaybeAuthenticated<DbUserStore>| async move {
                            u.map_or_else(
                                || "anonymous".to_owned(),
                                |u| testudo_core::AuthUser::email(&u).to_owned(),
                            )
                        },
                    ),
                )
                .route(
                    "/internal",
                    get(
                        |id: ServiceIdentity| async move { id.claimed_service.unwrap_or_default() },
                    ),
                )
                .route(
                    "/invoices",
                    get(|key: ApiKey<ReadInvoices>| async move { key.key.name }),
                )
        })
        .start()
        .await?;
    s.register("max@example.com").await?;
    let (access, _) = s.login("max@example.com").await?;

    // The layer: 401 without credentials, the handler's extractor reuses its user.
    let r = s.http.post(s.url("/private")).send().await?;
    assert_eq!(problem(r).await?.0, 401);
    let r = s
        .http
        .post(s.url("/private"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(r.text().await?, "hello max@example.com");

    // MaybeAuthenticated: anonymous without or with a dead token, refuses a malformed header.
    let r = s.http.get(s.url("/maybe")).send().await?;
    assert_eq!(r.text().await?, "anonymous");
    let r = s
        .http
        .get(s.url("/maybe"))
        .bearer_auth("dead-token")
        .send()
        .await?;
    assert_eq!(r.text().await?, "anonymous");
    let r = s
        .http
        .get(s.url("/maybe"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(r.text().await?, "max@example.com");
    let r = s
        .http
        .get(s.url("/maybe"))
        .header("authorization", "Bearer a b")
        .send()
        .await?;
    assert_eq!(problem(r).await?.1["code"], "invalid_request");

    // S2S: the configured token, and only it.
    let r = s
        .http
        .get(s.url("/internal"))
        .bearer_auth(S2S)
        .header("x-service-name", "billing")
        .send()
        .await?;
    assert_eq!(r.text().await?, "billing");
    let r = s
        .http
        .get(s.url("/internal"))
        .bearer_auth(format!("{S2S}x"))
        .send()
        .await?;
    assert_eq!(problem(r).await?.0, 401);
    let r = s
        .http
        .get(s.url("/internal"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(
        problem(r).await?.0,
        401,
        "a user token is not a service token"
    );

    // API keys: 401 for unknown keys, 403 for a missing scope, 200 with it.
    let reader = s
        .keys
        .create(NewApiKey::new(ApiKeyOwner::service("export"), "nightly").scope("invoices:read"))
        .await?;
    let writer = s
        .keys
        .create(NewApiKey::new(ApiKeyOwner::service("export"), "writer").scope("invoices:write"))
        .await?;
    let r = s
        .http
        .get(s.url("/invoices"))
        .bearer_auth(reader.key.expose_secret())
        .send()
        .await?;
    assert_eq!(r.text().await?, "nightly");
    let r = s
        .http
        .get(s.url("/invoices"))
        .bearer_auth(writer.key.expose_secret())
        .send()
        .await?;
    assert_eq!(
        header(&r, "www-authenticate").as_deref(),
        Some("Bearer error=\"insufficient_scope\"")
    );
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("insufficient_scope"))
    );
    let r = s
        .http
        .get(s.url("/invoices"))
        .bearer_auth("tdo_nope")
        .send()
        .await?;
    assert_eq!(problem(r).await?.0, 401);
    let r = s
        .http
        .get(s.url("/invoices"))
        .bearer_auth(&access)
        .send()
        .await?;
    assert_eq!(
        problem(r).await?.0,
        401,
        "an access token is not an API key"
    );
    let _: Option<ApiKeyStore> = None;
    s.stop().await
}

#[tokio::test]
async fn the_client_address_comes_from_the_socket_unless_a_proxy_is_trusted() -> TestResult {
    fn route(
        r: axum::Router<testudo_axum::AuthState<DbUserStore>>,
        _: &testudo_axum::AuthState<DbUserStore>,
    ) -> axum::Router<testudo_axum::AuthState<DbUserStore>> {
        r.route(
            "/ip",
            get(|c: ClientContext| async move { c.ip_string().unwrap_or_default() }),
        )
    }
    let s = ServerBuilder::new(SQLITE).routes(route).start().await?;
    let r = s
        .http
        .get(s.url("/ip"))
        .header("x-forwarded-for", "6.6.6.6")
        .send()
        .await?;
    assert_eq!(
        r.text().await?,
        "127.0.0.1",
        "no proxy configured: the header is ignored"
    );
    s.stop().await?;
    let s = ServerBuilder::new(SQLITE)
        .options(HttpOptions::default().trusted_proxy(TrustedProxy::x_forwarded_for()))
        .routes(route)
        .start()
        .await?;
    let r = s
        .http
        .get(s.url("/ip"))
        .header("x-forwarded-for", "6.6.6.6, 192.0.2.9")
        .send()
        .await?;
    assert_eq!(r.text().await?, "192.0.2.9", "only the hop our proxy wrote");
    s.stop().await
}

/// The worst moment for a login: the password is verified, nothing is issued yet, and the
/// owner resets the password right then. The login must fail and set no cookie (a session
/// from the old password would outlive the reset).
async fn a_cookie_login_racing_a_password_reset_gets_no_session(backend: Backend) -> TestResult {
    let s = ServerBuilder::new(backend).start().await?;
    s.register("ned@example.com").await?;
    let paused = testudo_core::pause::arm("service.login.after_verify");
    let http = s.http.clone();
    let url = s.url("/auth/login");
    let origin = s.base.clone();
    let login = tokio::spawn(async move {
        http.post(url)
            .header("content-type", "application/json")
            .header("origin", origin)
            .body(
                json!({"email": "ned@example.com", "password": PASSWORD, "use_cookies": true})
                    .to_string(),
            )
            .send()
            .await
    });
    paused.reached().await;
    let r = s
        .post("/auth/password/forgot", json!({"email": "ned@example.com"}))
        .await?;
    assert_eq!(r.status(), 202);
    let token = s.events.reset_token().ok_or("no reset link")?;
    let r = s
        .post(
            "/auth/password/reset",
            json!({"token": token, "new_password": "the owner's new passphrase 1"}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    paused.release();
    let r = login.await??;
    assert!(set_cookies(&r).is_empty(), "no session cookie");
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("invalid_credentials"))
    );
    s.stop().await
}
per_database!(a_cookie_login_racing_a_password_reset_gets_no_session);

/// Logs in (bearer) with this user agent; returns the access token.
async fn login_as_device(s: &Server, email: &str, user_agent: &str) -> TestResult<String> {
    let r = s
        .http
        .post(s.url("/auth/login"))
        .header("user-agent", user_agent)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    Ok(v["access_token"]
        .as_str()
        .ok_or("no access token")?
        .to_owned())
}

async fn list_sessions(s: &Server, access: &str) -> TestResult<Vec<Value>> {
    let r = s
        .http
        .get(s.url("/auth/sessions"))
        .bearer_auth(access)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    Ok(v.as_array().ok_or("not a list")?.clone())
}

async fn bearer_post(s: &Server, path: &str, access: &str) -> TestResult<reqwest::Response> {
    Ok(s.http.post(s.url(path)).bearer_auth(access).send().await?)
}

/// Sessions over HTTP: each login records its device (the user agent and the socket's
/// address), the list marks the caller's own, one session is signed out by id (another
/// user's id is a 404 and revokes nothing), and "sign out everywhere else" keeps only the
/// caller's session.
async fn sessions_are_listed_revoked_and_signed_out_elsewhere(backend: Backend) -> TestResult {
    let s = ServerBuilder::new(backend).start().await?;
    s.register("sam@example.com").await?;
    s.register("eve@example.com").await?;
    let laptop = login_as_device(&s, "sam@example.com", "Laptop/1.0").await?;
    s.clock.advance(Duration::from_secs(5));
    let phone = login_as_device(&s, "sam@example.com", "Phone/2.0").await?;
    s.clock.advance(Duration::from_secs(5));
    let tablet = login_as_device(&s, "sam@example.com", "Tablet/3.0").await?;
    let eve = login_as_device(&s, "eve@example.com", "Eve/6.6").await?;

    let list = list_sessions(&s, &laptop).await?;
    let agents: Vec<&str> = list
        .iter()
        .filter_map(|v| v["user_agent"].as_str())
        .collect();
    assert_eq!(
        agents,
        ["Tablet/3.0", "Phone/2.0", "Laptop/1.0"],
        "newest first, Sam's only"
    );
    let current: Vec<bool> = list.iter().map(|v| v["current"] == true).collect();
    assert_eq!(current, [false, false, true]);
    assert!(list.iter().all(|v| v["ip"] == "127.0.0.1"), "{list:?}");
    let phone_id = list[1]["id"].as_str().ok_or("no id")?.to_owned();

    // Eve cannot sign out Sam's phone by its id; Sam can.
    let r = bearer_post(&s, &format!("/auth/sessions/{phone_id}/revoke"), &eve).await?;
    assert_eq!(problem(r).await?.0, 404);
    assert_eq!(me(&s, &phone).await?.status(), 200, "untouched by Eve");
    let r = bearer_post(&s, &format!("/auth/sessions/{phone_id}/revoke"), &laptop).await?;
    assert_eq!(r.status(), 204);
    assert_eq!(me(&s, &phone).await?.status(), 401);
    let r = bearer_post(&s, &format!("/auth/sessions/{phone_id}/revoke"), &laptop).await?;
    assert_eq!(problem(r).await?.0, 404, "already gone");
    assert_eq!(list_sessions(&s, &laptop).await?.len(), 2);

    // Sign out everywhere else: the tablet goes, the laptop stays, Eve is not touched.
    let r = bearer_post(&s, "/auth/logout-others", &laptop).await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    assert!(v["revoked"].as_u64().is_some_and(|n| n >= 2), "{v}");
    assert_eq!(me(&s, &tablet).await?.status(), 401);
    assert_eq!(me(&s, &laptop).await?.status(), 200);
    assert_eq!(me(&s, &eve).await?.status(), 200);
    let list = list_sessions(&s, &laptop).await?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["current"], true);

    // Unauthenticated: 401.
    let r = s.http.post(s.url("/auth/logout-others")).send().await?;
    assert_eq!(problem(r).await?.0, 401);
    s.stop().await
}
per_database!(sessions_are_listed_revoked_and_signed_out_elsewhere);

/// The session routes are unsafe methods: with cookies they need the CSRF checks.
#[tokio::test]
async fn cookie_session_routes_need_the_csrf_checks() -> TestResult {
    let s = csrf_server().start().await?;
    s.register("kim@example.com").await?;
    let jar = s.cookie_login("kim@example.com").await?;
    let other = s.login("kim@example.com").await?.0;
    let token = jar.csrf.clone().ok_or("no csrf")?;
    let same = ("origin", s.base.clone());
    let r = cookie_post(&s, "/auth/logout-others", &jar, std::slice::from_ref(&same)).await?;
    assert_eq!(problem(r).await?.0, 403);
    let r = cookie_post(
        &s,
        "/auth/logout-others",
        &jar,
        &[
            ("origin", "https://evil.example".into()),
            ("x-csrf-token", token.clone()),
        ],
    )
    .await?;
    assert_eq!(problem(r).await?.0, 403);
    assert_eq!(me(&s, &other).await?.status(), 200, "nothing revoked");
    let r = cookie_post(
        &s,
        "/auth/logout-others",
        &jar,
        &[same, ("x-csrf-token", token)],
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(me(&s, &other).await?.status(), 401);
    s.stop().await
}

// ---- Onboarding over HTTP ----

/// `GET /auth/onboarding/status` with the token in the header.
async fn onboarding_status(s: &Server, token: &str) -> TestResult<reqwest::Response> {
    Ok(s.http
        .get(s.url("/auth/onboarding/status"))
        .header(testudo_axum::ONBOARDING_TOKEN_HEADER, token)
        .send()
        .await?)
}

/// Starts onboarding `email`; returns the session token.
async fn onboarding_start(s: &Server, email: &str) -> TestResult<String> {
    let r = s
        .post("/auth/onboarding/start", json!({"email": email}))
        .await?;
    assert_eq!(r.status(), 202, "start {email}");
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let v: Value = r.json().await?;
    Ok(v["token"].as_str().ok_or("no token")?.to_owned())
}

/// Starts onboarding `email` and completes every step (the code, [`PASSWORD`], TOTP
/// skipped); returns the token, ready to finish.
async fn onboarded(s: &Server, email: &str) -> TestResult<String> {
    let token = onboarding_start(s, email).await?;
    let code = s.events.onboarding_code().ok_or("no code mailed")?;
    let r = s
        .post(
            "/auth/onboarding/verify",
            json!({"token": token, "code": code}),
        )
        .await?;
    assert_eq!(r.status(), 200, "verify");
    let r = s
        .post(
            "/auth/onboarding/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await?;
    assert_eq!(r.status(), 200, "password");
    let r = s
        .post(
            "/auth/onboarding/skip",
            json!({"token": token, "step": "setup_totp"}),
        )
        .await?;
    assert_eq!(r.status(), 200, "skip");
    Ok(token)
}

/// Start, status, verify, password, skip, finish: the new user's token works on `/me`, the
/// session records the device, and a second finish with the same token is refused without a
/// second user.
async fn onboarding_over_http_signs_the_new_user_in_and_finishes_once(
    backend: Backend,
) -> TestResult {
    let s = ServerBuilder::new(backend).start().await?;
    let r = s
        .post(
            "/auth/onboarding/start",
            json!({"email": "Nia@Example.com"}),
        )
        .await?;
    assert_eq!(r.status(), 202);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let text = r.text().await?;
    let code = s.events.onboarding_code().ok_or("no code mailed")?;
    assert!(!text.contains(&code), "the code goes by mail only: {text}");
    let started: Value = serde_json::from_str(&text)?;
    let token = started["token"].as_str().ok_or("no token")?.to_owned();
    assert_eq!(token.len(), 64);
    assert_eq!(started["next_step"], "verify_email");
    assert_eq!(
        started["steps"],
        json!(["verify_email", "set_password", "setup_totp"])
    );

    let r = onboarding_status(&s, &token).await?;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await?;
    assert_eq!(status["email"], "nia@example.com");
    assert_eq!(status["next_step"], "verify_email");
    assert_eq!(status["completed"], json!([]));
    assert_eq!(status["session_id"], started["session_id"]);

    let r = s
        .post(
            "/auth/onboarding/verify",
            json!({"token": token, "code": code}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await?;
    assert_eq!(status["next_step"], "set_password");
    assert_eq!(status["completed"], json!(["verify_email"]));

    let r = s
        .post(
            "/auth/onboarding/password",
            json!({"token": token, "password": "1234567"}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_password"))
    );
    assert!(body["errors"].as_array().is_some_and(|e| !e.is_empty()));
    let r = s
        .post(
            "/auth/onboarding/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["next_step"], "setup_totp");

    // Finishing with a step left: 409 naming it.
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (409, Some("onboarding_incomplete"), Some("setup_totp"))
    );
    assert_eq!(s.user_count().await?, 0);

    // The token in the header works as well as in the body.
    let r = s
        .http
        .post(s.url("/auth/onboarding/skip"))
        .header(testudo_axum::ONBOARDING_TOKEN_HEADER, &token)
        .header("content-type", "application/json")
        .body(json!({"step": "setup_totp"}).to_string())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await?;
    assert_eq!(status["next_step"], Value::Null);
    assert_eq!(
        status["completed"],
        json!(["verify_email", "set_password", "setup_totp"])
    );

    let finish = || {
        s.http
            .post(s.url("/auth/onboarding/finish"))
            .header(testudo_axum::ONBOARDING_TOKEN_HEADER, &token)
            .header("content-type", "application/json")
            .header("user-agent", "onboarding-test-agent/1.0")
            .body("{}")
    };
    let r = finish().send().await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let tokens: Value = r.json().await?;
    assert_eq!(tokens["token_type"], "Bearer");
    let access = tokens["access_token"]
        .as_str()
        .ok_or("no access")?
        .to_owned();
    assert!(tokens["refresh_token"].as_str().is_some());
    let r = me(&s, &access).await?;
    assert_eq!(r.status(), 200);
    let user: Value = r.json().await?;
    assert_eq!(user["email"], "nia@example.com");
    assert_eq!(user["is_verified"], true, "the code proved the address");
    let sessions = list_sessions(&s, &access).await?;
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["user_agent"], "onboarding-test-agent/1.0");
    assert_eq!(sessions[0]["ip"], "127.0.0.1");
    assert_eq!(s.user_count().await?, 1);

    // A replayed finish: refused, no second user.
    let r = finish().send().await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (404, Some("invalid_onboarding_session"))
    );
    assert_eq!(s.user_count().await?, 1);
    // The account is a normal one: the password logs in.
    s.login("nia@example.com").await?;
    s.stop().await
}
per_database!(onboarding_over_http_signs_the_new_user_in_and_finishes_once);

#[tokio::test]
async fn wrong_onboarding_codes_count_down_then_no_code_is_pending() -> TestResult {
    let s = ServerBuilder::new(SQLITE).start().await?;
    let max = s
        .state
        .service()
        .config()
        .onboarding_max_verification_attempts;
    let token = onboarding_start(&s, "omar@example.com").await?;
    let code = s.events.onboarding_code().ok_or("no code")?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for tried in 1..=max {
        let r = s
            .post(
                "/auth/onboarding/verify",
                json!({"token": token, "code": wrong}),
            )
            .await?;
        let (status, body) = problem(r).await?;
        assert_eq!(
            (status, body["code"].as_str(), body["remaining"].as_u64()),
            (400, Some("wrong_code"), Some(u64::from(max - tried))),
            "{body}"
        );
        assert!(!body.to_string().contains(&code), "{body}");
    }
    // The code died: even the right one is refused.
    let r = s
        .post(
            "/auth/onboarding/verify",
            json!({"token": token, "code": code}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("no_pending_code"))
    );
    assert!(body.get("remaining").is_none());
    // A new code works.
    let r = s
        .post("/auth/onboarding/resend", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 202);
    let code = s.events.onboarding_code().ok_or("no new code")?;
    let r = s
        .post(
            "/auth/onboarding/verify",
            json!({"token": token, "code": code}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    // Once verified, there is nothing to resend.
    let r = s
        .post("/auth/onboarding/resend", json!({"token": token}))
        .await?;
    assert_eq!(problem(r).await?.1["code"], "onboarding_out_of_order");
    s.stop().await
}

#[tokio::test]
async fn onboarding_steps_out_of_order_unknown_expired_and_missing_tokens_are_refused() -> TestResult
{
    let s = ServerBuilder::new(SQLITE).start().await?;
    let token = onboarding_start(&s, "pia@example.com").await?;

    // The password before the code: 409 naming the expected step.
    let r = s
        .post(
            "/auth/onboarding/password",
            json!({"token": token, "password": PASSWORD}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (409, Some("onboarding_out_of_order"), Some("verify_email"))
    );
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("verify_email")),
        "{body}"
    );
    // TOTP before its turn, a required step skipped, JSON given to a built-in step.
    let r = s
        .post("/auth/onboarding/totp", json!({"token": token}))
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (409, Some("onboarding_out_of_order"), Some("verify_email"))
    );
    let r = s
        .post(
            "/auth/onboarding/skip",
            json!({"token": token, "step": "verify_email"}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (409, Some("step_not_skippable"), Some("verify_email"))
    );
    let r = s
        .post(
            "/auth/onboarding/step",
            json!({"token": token, "step": "verify_email", "input": {"code": "123456"}}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("wrong_step_input"))
    );

    // No token at all: 400, in the body or the header.
    let r = s
        .post("/auth/onboarding/verify", json!({"code": "123456"}))
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("missing_onboarding_token"))
    );
    let r = s.http.get(s.url("/auth/onboarding/status")).send().await?;
    assert_eq!(problem(r).await?.0, 400);

    // An unknown token and an expired session answer the same.
    let r = onboarding_status(&s, "not-a-session-token").await?;
    let unknown = problem(r).await?;
    assert_eq!(
        (unknown.0, unknown.1["code"].as_str()),
        (404, Some("invalid_onboarding_session"))
    );
    assert_eq!(onboarding_status(&s, &token).await?.status(), 200);
    s.clock
        .advance(s.state.service().config().onboarding_session_lifetime + Duration::from_secs(1));
    let r = onboarding_status(&s, &token).await?;
    let expired = problem(r).await?;
    assert_eq!(expired, unknown, "expired and unknown are not told apart");
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    assert_eq!(problem(r).await?, unknown);
    assert_eq!(s.user_count().await?, 0);
    s.stop().await
}

#[tokio::test]
async fn a_cross_site_cookie_finish_is_refused_and_a_same_origin_one_sets_the_cookies() -> TestResult
{
    let s = csrf_server().start().await?;
    let token = onboarded(&s, "quinn@example.com").await?;
    let finish = |origin: &str, site: &str| {
        s.http
            .post(s.url("/auth/onboarding/finish"))
            .header("content-type", "application/json")
            .header("origin", origin)
            .header("sec-fetch-site", site)
            .body(json!({"token": token, "use_cookies": true}).to_string())
            .send()
    };
    let r = finish("https://evil.example", "cross-site").await?;
    let (status, body) = problem(r).await?;
    assert_eq!((status, body["code"].as_str()), (403, Some("csrf")));
    let r = finish(&s.base, "cross-site").await?;
    assert_eq!(
        problem(r).await?.1["detail"],
        "the request comes from another site"
    );
    assert_eq!(s.user_count().await?, 0, "refused before any work");

    let r = finish(&s.base, "same-origin").await?;
    assert_eq!(r.status(), 200);
    let cookies = set_cookies(&r);
    let access = cookies
        .iter()
        .find(|c| c.name == "testudo_access")
        .ok_or("no access cookie")?;
    assert!(access.has("HttpOnly") && access.has("Secure") && access.has("SameSite=Lax"));
    let mut jar = Jar::default();
    jar.update(&r);
    let v: Value = r.json().await?;
    assert_eq!(v["user"]["email"], "quinn@example.com");
    assert_eq!(v["csrf_token"].as_str(), jar.csrf.as_deref());
    assert!(v.get("access_token").is_none(), "cookies, not tokens");
    let r = s
        .http
        .get(s.url("/auth/me"))
        .header("cookie", jar.header("/auth/me"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(s.user_count().await?, 1);
    s.stop().await
}

#[tokio::test]
async fn starting_onboarding_and_resending_codes_are_throttled_per_address() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .throttle()
        .config(|c| {
            c.password_reset_rate_limit_max_attempts = 2;
            c.password_reset_rate_limit_window = Duration::from_secs(3600);
            c.rate_limit_max_attempts = 2;
            c.rate_limit_window = Duration::from_secs(60);
            c.rate_limit_lockout = Duration::from_secs(300);
        })
        .start()
        .await?;
    onboarding_start(&s, "rex@example.com").await?;
    onboarding_start(&s, "REX@example.com").await?;
    let r = s
        .post(
            "/auth/onboarding/start",
            json!({"email": "rex@example.com"}),
        )
        .await?;
    let retry = header(&r, "retry-after").ok_or("no Retry-After")?;
    assert!(retry.parse::<u64>()? >= 1);
    let (status, body) = problem(r).await?;
    assert_eq!((status, body["code"].as_str()), (429, Some("rate_limited")));
    let limited = s
        .events
        .take()
        .into_iter()
        .filter(|e| e.name() == "rate_limit_exceeded")
        .count();
    assert_eq!(limited, 1, "the refusal is an event");

    // Another address is not held back; its resends count with its starts.
    let token = onboarding_start(&s, "sam@example.com").await?;
    let r = s
        .post("/auth/onboarding/resend", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 202);
    let r = s
        .post("/auth/onboarding/resend", json!({"token": token}))
        .await?;
    assert_eq!(problem(r).await?.0, 429);

    // Wrong codes are throttled per address by the service (429 before the code dies).
    let token = onboarding_start(&s, "tia@example.com").await?;
    let code = s.events.onboarding_code().ok_or("no code")?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = s
            .post(
                "/auth/onboarding/verify",
                json!({"token": token, "code": wrong}),
            )
            .await?;
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses, [400, 400, 429]);
    s.stop().await
}

/// The code of `secret` (base32, default parameters) at `now`.
fn totp_code(secret: &str, now: i64) -> TestResult<String> {
    use testudo_totp::{Totp, TotpParams, TotpSecret};
    let totp = Totp::new(
        &TotpSecret::from_base32(secret)?,
        TotpParams::default(),
        "test",
        "user",
    )?;
    Ok(totp.code_at(now)?.expose_secret().to_owned())
}

fn now(s: &Server) -> i64 {
    use testudo_core::Clock as _;
    s.clock.now().timestamp()
}

#[tokio::test]
async fn a_required_totp_step_is_enrolled_over_http_and_the_login_then_asks_for_it() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .config(|c| c.onboarding_require_totp = true)
        .start()
        .await?;
    let token = onboarding_start(&s, "uma@example.com").await?;
    let code = s.events.onboarding_code().ok_or("no code")?;
    for (path, body) in [
        (
            "/auth/onboarding/verify",
            json!({"token": token, "code": code}),
        ),
        (
            "/auth/onboarding/password",
            json!({"token": token, "password": PASSWORD}),
        ),
    ] {
        assert_eq!(s.post(path, body).await?.status(), 200, "{path}");
    }
    let r = s
        .post(
            "/auth/onboarding/skip",
            json!({"token": token, "step": "setup_totp"}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (409, Some("step_not_skippable"), Some("setup_totp"))
    );
    // Confirming before the secret exists.
    let r = s
        .post(
            "/auth/onboarding/totp/confirm",
            json!({"token": token, "code": "123456"}),
        )
        .await?;
    assert_eq!(problem(r).await?.1["code"], "not_enrolled");
    let r = s
        .post("/auth/onboarding/totp", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let e: Value = r.json().await?;
    let secret = e["secret"].as_str().ok_or("no secret")?.to_owned();
    assert!(
        e["otpauth_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with("otpauth://totp/"))
    );
    assert!(e["qr_svg"].as_str().is_some_and(|q| q.contains("<svg")));
    let right = totp_code(&secret, now(&s))?;
    let wrong = if right == "000000" {
        "111111"
    } else {
        "000000"
    };
    let r = s
        .post(
            "/auth/onboarding/totp/confirm",
            json!({"token": token, "code": wrong}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!((status, body["code"].as_str()), (400, Some("wrong_code")));
    let r = s
        .post(
            "/auth/onboarding/totp/confirm",
            json!({"token": token, "code": right}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["next_step"], Value::Null);
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 200);

    // The factor is the account's: the password alone gets a challenge.
    let r = s
        .post(
            "/auth/login",
            json!({"email": "uma@example.com", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    assert_eq!(v["second_factor"], true);
    assert!(v.get("access_token").is_none());
    s.stop().await
}

#[tokio::test]
async fn a_login_link_for_a_verified_account_with_totp_answers_a_challenge() -> TestResult {
    let s = ServerBuilder::new(SQLITE).start().await?;
    s.register("vic@example.com").await?;
    // Verify the address first: a first verification removes a factor enrolled before it.
    let vic = s
        .state
        .service()
        .store()
        .find_by_email("vic@example.com")
        .await?
        .ok_or("no vic")?;
    s.state.service().request_email_verification(&vic).await?;
    let link = s
        .events
        .verification_token()
        .ok_or("no verification link")?;
    let r = s.post("/auth/email/verify", json!({"token": link})).await?;
    assert_eq!(r.json::<Value>().await?["is_verified"], true);

    // Enrol TOTP: step-up, secret, first code.
    let (access, _) = s.login("vic@example.com").await?;
    let bearer_json = |path: &str, body: Value| {
        s.http
            .post(s.url(path))
            .bearer_auth(&access)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let r = bearer_json("/auth/reauthenticate", json!({"password": PASSWORD})).await?;
    assert_eq!(r.status(), 204);
    let r = bearer_json("/auth/second-factor/totp", json!({})).await?;
    assert_eq!(r.status(), 200);
    let secret = r.json::<Value>().await?["secret"]
        .as_str()
        .ok_or("no secret")?
        .to_owned();
    let r = bearer_json(
        "/auth/second-factor/totp/confirm",
        json!({"code": totp_code(&secret, now(&s))?}),
    )
    .await?;
    assert_eq!(r.status(), 200);

    // The login link now answers a challenge, not a session.
    let r = s
        .post("/auth/login-link", json!({"email": "vic@example.com"}))
        .await?;
    assert_eq!(r.status(), 202);
    let token = s.events.login_link_token().ok_or("no login link")?;
    let r = s
        .post(
            "/auth/login-link/login",
            json!({"email": "vic@example.com", "token": token}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let v: Value = r.json().await?;
    assert_eq!(v["second_factor"], true, "{v}");
    assert!(v.get("access_token").is_none(), "{v}");
    let challenge = v["challenge"].as_str().ok_or("no challenge")?.to_owned();
    assert!(v["expires_in"].as_u64().is_some_and(|n| n > 0));

    // The code used to confirm is spent: the next step's code completes the login.
    s.clock.advance(Duration::from_secs(30));
    let r = s
        .post(
            "/auth/login/complete",
            json!({"challenge": challenge, "code": totp_code(&secret, now(&s))?}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let tokens: Value = r.json().await?;
    let access = tokens["access_token"].as_str().ok_or("no access")?;
    let r = me(&s, access).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await?["is_verified"], true);
    // The challenge completes once.
    let r = s
        .post(
            "/auth/login/complete",
            json!({"challenge": challenge, "code": totp_code(&secret, now(&s))?}),
        )
        .await?;
    assert_eq!(problem(r).await?.1["code"], "invalid_challenge");
    s.stop().await
}

/// An application step: a required display name, kept in the session with the client's
/// address the step was given.
#[derive(Debug)]
struct ProfileStep;

#[testudo_core::async_trait]
impl testudo_service::onboarding::OnboardingStep for ProfileStep {
    fn name(&self) -> &str {
        "profile"
    }

    async fn submit(
        &self,
        ctx: &mut testudo_service::onboarding::StepContext<'_>,
        input: testudo_service::onboarding::StepInput,
    ) -> testudo_core::Result<()> {
        use testudo_core::OnboardingError;
        let testudo_service::onboarding::StepInput::Data(data) = input else {
            return Err(OnboardingError::WrongInput {
                step: "profile".into(),
            }
            .into());
        };
        let name = data
            .get("display_name")
            .and_then(Value::as_str)
            .filter(|n| !n.trim().is_empty());
        let Some(name) = name else {
            return Err(OnboardingError::StepFailed {
                step: "profile".into(),
                errors: vec!["display_name is required".to_owned()].into(),
            }
            .into());
        };
        // Over HTTP the step sees the client's address (for its own throttling, say).
        let Some(ip) = ctx.client_ip() else {
            return Err(OnboardingError::StepFailed {
                step: "profile".into(),
                errors: vec!["the client's address is unknown".to_owned()].into(),
            }
            .into());
        };
        *ctx.data_mut() = json!({ "display_name": name, "ip": ip.to_string() });
        Ok(())
    }
}

#[tokio::test]
async fn an_application_step_takes_json_input_and_its_refusal_carries_its_messages() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .onboarding_step(std::sync::Arc::new(ProfileStep))
        .start()
        .await?;
    let token = onboarded(&s, "wes@example.com").await?;
    let r = onboarding_status(&s, &token).await?;
    let status: Value = r.json().await?;
    assert_eq!(status["next_step"], "profile");
    assert_eq!(status["next_step_skippable"], false, "a required step");
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (409, Some("onboarding_incomplete"), Some("profile"))
    );
    let r = s
        .post(
            "/auth/onboarding/skip",
            json!({"token": token, "step": "profile"}),
        )
        .await?;
    assert_eq!(problem(r).await?.1["code"], "step_not_skippable");
    let r = s
        .post(
            "/auth/onboarding/step",
            json!({"token": token, "step": "profile", "input": {"display_name": " "}}),
        )
        .await?;
    let (status, body) = problem(r).await?;
    assert_eq!(
        (status, body["code"].as_str(), body["next_step"].as_str()),
        (400, Some("onboarding_step_failed"), Some("profile"))
    );
    assert_eq!(body["errors"], json!(["display_name is required"]));
    let r = s
        .post(
            "/auth/onboarding/step",
            json!({"token": token, "step": "profile", "input": {"display_name": "Wes"}}),
        )
        .await?;
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await?;
    assert_eq!(status["next_step"], Value::Null);
    assert_eq!(
        status["completed"],
        json!(["verify_email", "set_password", "setup_totp", "profile"])
    );
    let r = s
        .post("/auth/onboarding/finish", json!({"token": token}))
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(s.user_count().await?, 1);
    s.stop().await
}

#[tokio::test]
async fn onboarding_codes_are_throttled_per_client_across_addresses() -> TestResult {
    let s = ServerBuilder::new(SQLITE)
        .throttle()
        .config(|c| {
            c.rate_limit_max_attempts = 1;
            c.rate_limit_window = Duration::from_secs(60);
            c.rate_limit_lockout = Duration::from_secs(300);
        })
        .start()
        .await?;
    // One wrong try per address: the service's per-address count never refuses, but this
    // client may try `CLIENT_FACTOR` times the per-address limit in all.
    let allowed = testudo_service::throttle::CLIENT_FACTOR;
    let mut statuses = Vec::new();
    for i in 0..=allowed {
        let token = onboarding_start(&s, &format!("spray{i}@example.com")).await?;
        let code = s.events.onboarding_code().ok_or("no code")?;
        let wrong = if code == "000000" { "111111" } else { "000000" };
        let r = s
            .post(
                "/auth/onboarding/verify",
                json!({"token": token, "code": wrong}),
            )
            .await?;
        statuses.push(r.status().as_u16());
    }
    let last = statuses.pop();
    assert!(statuses.iter().all(|&st| st == 400), "{statuses:?}");
    assert_eq!(last, Some(429));
    s.stop().await
}
