//! The example over real HTTP: the web page in cookie mode (create an account through
//! onboarding, sign up, account page, sign out everywhere, forgot / reset password), output
//! escaping, CSRF refusal of form posts, and the JSON API next to it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum_server::{App, Settings, build, escape, random_secret, router};
use testudo::core::{ExposeSecret, FixedClock};
use testudo::events::{Event, EventKind};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "correct horse battery staple 42";

struct Running {
    clock: Arc<FixedClock>,
    base: String,
    http: reqwest::Client,
    reset_tokens: Arc<Mutex<Vec<String>>>,
    codes: Arc<Mutex<Vec<String>>>,
    app: App,
}

async fn start() -> TestResult<Running> {
    let clock = Arc::new(FixedClock::from_unix(1_800_000_000)?);
    let settings = Settings {
        database_url: "sqlite::memory:".into(),
        signing_secret: random_secret()?,
        public_url: "http://127.0.0.1".into(),
        secure_cookies: false,
        cheap_hashing: true,
        clock: Some(clock.clone()),
    };
    let app = build(&settings).await?;
    let reset_tokens = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&reset_tokens);
    app.events
        .on(EventKind::PasswordResetRequested, move |e: &Event| {
            if let Event::PasswordResetRequested { token, .. } = e {
                seen.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(token.expose_secret().to_owned());
            }
            Box::pin(async { Ok(()) })
        });
    let codes = Arc::new(Mutex::new(Vec::new()));
    let mailed = Arc::clone(&codes);
    app.events
        .on(EventKind::VerificationCodeGenerated, move |e: &Event| {
            if let Event::VerificationCodeGenerated { code, .. } = e {
                mailed
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(code.expose_secret().to_owned());
            }
            Box::pin(async { Ok(()) })
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let service = router(&app).into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    Ok(Running {
        clock,
        base: format!("http://{addr}"),
        http,
        reset_tokens,
        codes,
        app,
    })
}

/// `application/x-www-form-urlencoded` of `pairs`.
fn form(pairs: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The session cookies of a response, as a `Cookie` header.
fn cookies(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn cookie_value(jar: &str, name: &str) -> Option<String> {
    jar.split("; ")
        .filter_map(|p| p.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_owned())
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post_form(
        &self,
        path: &str,
        pairs: &[(&str, &str)],
        cookie: &str,
        origin: &str,
    ) -> TestResult<reqwest::Response> {
        Ok(self
            .http
            .post(self.url(path))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("origin", origin)
            .header("cookie", cookie)
            .body(form(pairs))
            .send()
            .await?)
    }
}

#[test]
fn escaping_covers_the_five_html_characters() {
    assert_eq!(
        escape(r#"<script>alert("x")</script> & 'y'"#),
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;y&#x27;"
    );
}

#[tokio::test]
async fn the_web_page_signs_up_shows_the_account_escaped_and_signs_out_everywhere() -> TestResult {
    let s = start().await?;
    let home = s.http.get(s.url("/")).send().await?;
    assert_eq!(home.status(), 200);
    assert!(home.text().await?.contains("action=\"/signup\""));

    let email = "<script>alert(1)</script>@example.com";
    let r = s
        .post_form(
            "/signup",
            &[("email", email), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    let jar = cookies(&r);
    for c in r.headers().get_all("set-cookie") {
        let c = c.to_str()?;
        assert!(c.contains("SameSite=Lax"), "{c}");
        assert_eq!(
            c.contains("HttpOnly"),
            !c.starts_with("testudo_csrf="),
            "{c}"
        );
    }
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", &jar)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;@example.com"),
        "{html}"
    );
    assert!(!html.contains("<script>"), "{html}");
    let csrf = cookie_value(&jar, "testudo_csrf").ok_or("no csrf cookie")?;
    assert!(
        html.contains(&format!("value=\"{csrf}\"")),
        "the forms carry the CSRF token"
    );

    // A form post without the token, with a wrong one, or from another site is refused.
    let r = s
        .post_form("/logout-all", &[("csrf_token", "")], &jar, &s.base)
        .await?;
    assert_eq!(r.status(), 403);
    let r = s
        .post_form("/logout-all", &[("csrf_token", "nope")], &jar, &s.base)
        .await?;
    assert_eq!(r.status(), 403);
    let r = s
        .post_form(
            "/logout-all",
            &[("csrf_token", &csrf)],
            &jar,
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403);
    // Another site's post arrives without the Lax cookies: refused for its origin (403),
    // also with the token field left out, not answered as a mere "who are you" (401).
    for path in ["/logout", "/logout-all"] {
        for body in [&[("csrf_token", "forged")][..], &[]] {
            let r = s.post_form(path, body, "", "https://evil.example").await?;
            assert_eq!(r.status(), 403, "{path} {body:?}");
        }
    }
    let r = s
        .post_form(
            "/login",
            &[("email", "x@example.com"), ("password", PASSWORD)],
            "",
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403, "a cross-site login form is refused");
    // Nor may another site have reset links mailed, or post a reset form.
    let r = s
        .post_form("/forgot", &[("email", email)], "", "https://evil.example")
        .await?;
    assert_eq!(
        r.status(),
        403,
        "a cross-site forgot-password form is refused"
    );
    let r = s
        .post_form(
            "/reset",
            &[("token", "x"), ("new_password", PASSWORD)],
            "",
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403, "a cross-site reset form is refused");

    // A second session, then sign out everywhere from the first: both end.
    let r = s
        .post_form(
            "/login",
            &[("email", email), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    let other = cookies(&r);
    let r = s
        .post_form("/logout-all", &[("csrf_token", &csrf)], &jar, &s.base)
        .await?;
    assert_eq!(r.status(), 303);
    assert!(cookies(&r).contains("testudo_access=;") || cookies(&r).starts_with("testudo_access="));
    for session in [&jar, &other] {
        let r = s
            .http
            .get(s.url("/account"))
            .header("cookie", session)
            .send()
            .await?;
        assert_eq!(r.status(), 303, "signed out: back to the home page");
    }
    Ok(())
}

#[tokio::test]
async fn forgot_password_prints_a_link_that_resets_once() -> TestResult {
    let s = start().await?;
    let r = s
        .post_form(
            "/signup",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    let r = s
        .post_form("/forgot", &[("email", "ada@example.com")], "", &s.base)
        .await?;
    assert_eq!(r.status(), 200);
    let r = s
        .post_form("/forgot", &[("email", "nobody@example.com")], "", &s.base)
        .await?;
    assert_eq!(r.status(), 200, "the same answer for an unknown address");
    let token = s
        .reset_tokens
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pop()
        .ok_or("no link")?;
    let page = s
        .http
        .get(s.url(&format!("/reset?token={token}")))
        .send()
        .await?;
    assert!(page.text().await?.contains("name=\"new_password\""));
    let new = "a brand new passphrase for ada";
    let r = s
        .post_form(
            "/reset",
            &[("token", &token), ("new_password", new)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 200);
    let r = s
        .post_form(
            "/reset",
            &[("token", &token), ("new_password", new)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 400, "a link works once");
    let r = s
        .post_form(
            "/login",
            &[("email", "ada@example.com"), ("password", new)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    Ok(())
}

#[tokio::test]
async fn the_json_api_is_mounted_at_auth() -> TestResult {
    let s = start().await?;
    let r = s
        .http
        .post(s.url("/auth/register"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email":"bo@example.com","password":"{PASSWORD}"}}"#
        ))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let r = s
        .http
        .post(s.url("/auth/login"))
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"email":"bo@example.com","password":"{PASSWORD}"}}"#
        ))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let body = r.text().await?;
    let token = body
        .split("\"access_token\":\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .ok_or("no token")?;
    let r = s
        .http
        .get(s.url("/auth/me"))
        .bearer_auth(token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(s.app.state.http().cookie_mode());
    Ok(())
}

#[tokio::test]
async fn the_account_page_refreshes_the_session_and_its_forms_carry_the_new_csrf_token()
-> TestResult {
    let s = start().await?;
    let r = s
        .post_form(
            "/signup",
            &[("email", "rae@example.com"), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    let jar = cookies(&r);
    s.clock.advance(
        s.app.state.service().config().access_token_lifetime + std::time::Duration::from_secs(1),
    );
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", &jar)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let next = cookies(&r);
    let csrf = cookie_value(&next, "testudo_csrf").ok_or("no new csrf cookie")?;
    assert_ne!(Some(&csrf), cookie_value(&jar, "testudo_csrf").as_ref());
    let html = r.text().await?;
    assert!(html.contains(&format!("value=\"{csrf}\"")), "{html}");
    let r = s
        .post_form("/logout", &[("csrf_token", &csrf)], &next, &s.base)
        .await?;
    assert_eq!(r.status(), 303, "the form of the refreshed page works");
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", &next)
        .send()
        .await?;
    assert_eq!(r.status(), 303, "signed out");
    Ok(())
}

/// The code of `secret` (base32, default parameters) at the clock's time plus `steps` steps.
fn totp_code(secret: &str, now: i64, steps: i64) -> TestResult<String> {
    use testudo::totp::{STEP_SECONDS, Totp, TotpParams, TotpSecret};
    let totp = Totp::new(
        &TotpSecret::from_base32(secret)?,
        TotpParams::default(),
        "test",
        "user",
    )?;
    let step = i64::try_from(STEP_SECONDS)?;
    Ok(totp.code_at(now + steps * step)?.expose_secret().to_owned())
}

impl Running {
    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: &serde_json::Value,
    ) -> TestResult<(u16, serde_json::Value)> {
        let mut rq = self
            .http
            .request(method, self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(token) = bearer {
            rq = rq.bearer_auth(token);
        }
        let r = rq.send().await?;
        let status = r.status().as_u16();
        let text = r.text().await?;
        let value = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text)?
        };
        Ok((status, value))
    }

    fn now(&self) -> i64 {
        use testudo::core::Clock as _;
        self.clock.now().timestamp()
    }
}

fn text_of<'a>(v: &'a serde_json::Value, key: &str) -> TestResult<&'a str> {
    v[key]
        .as_str()
        .ok_or_else(|| format!("no {key} in {v}").into())
}

#[tokio::test]
async fn the_second_factor_over_the_json_api() -> TestResult {
    use reqwest::Method;
    use serde_json::json;
    let s = start().await?;
    let creds = json!({"email": "tia@example.com", "password": PASSWORD});
    let (status, _) = s.json(Method::POST, "/auth/register", None, &creds).await?;
    assert_eq!(status, 201);
    let (status, pair) = s.json(Method::POST, "/auth/login", None, &creds).await?;
    assert_eq!(status, 200);
    let access = text_of(&pair, "access_token")?.to_owned();
    let bearer = Some(access.as_str());
    let empty = json!({});

    // Status, then enrolment: refused without a recent re-authentication.
    let (status, st) = s
        .json(Method::GET, "/auth/second-factor", bearer, &empty)
        .await?;
    assert_eq!(status, 200);
    assert_eq!(
        st,
        json!({"enrolled": false, "recovery_codes_remaining": 0})
    );
    let (status, p) = s
        .json(Method::POST, "/auth/second-factor/totp", bearer, &empty)
        .await?;
    assert_eq!(
        (status, p["code"].as_str()),
        (403, Some("reauthentication_required"))
    );
    let (status, p) = s
        .json(
            Method::POST,
            "/auth/reauthenticate",
            bearer,
            &json!({"password": "not the password"}),
        )
        .await?;
    assert_eq!((status, p["code"].as_str()), (403, Some("wrong_password")));
    let (status, _) = s
        .json(
            Method::POST,
            "/auth/reauthenticate",
            bearer,
            &json!({"password": PASSWORD}),
        )
        .await?;
    assert_eq!(status, 204);
    let (status, e) = s
        .json(Method::POST, "/auth/second-factor/totp", bearer, &empty)
        .await?;
    assert_eq!(status, 200, "{e}");
    let secret = text_of(&e, "secret")?.to_owned();
    assert!(text_of(&e, "otpauth_uri")?.starts_with("otpauth://totp/"));
    assert!(text_of(&e, "qr_svg")?.contains("<svg"));

    // Confirm: a wrong code is refused (the body names no code), the right one gives the
    // recovery codes once.
    let code = totp_code(&secret, s.now(), 0)?;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, p) = s
        .json(
            Method::POST,
            "/auth/second-factor/totp/confirm",
            bearer,
            &json!({"code": wrong}),
        )
        .await?;
    assert_eq!((status, p["code"].as_str()), (400, Some("wrong_code")));
    assert!(!p.to_string().contains(wrong) && !p.to_string().contains(&code));
    let (status, rc) = s
        .json(
            Method::POST,
            "/auth/second-factor/totp/confirm",
            bearer,
            &json!({"code": code}),
        )
        .await?;
    assert_eq!(status, 200, "{rc}");
    let codes: Vec<String> = rc["recovery_codes"]
        .as_array()
        .ok_or("no codes")?
        .iter()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let count = usize::try_from(s.app.state.service().config().recovery_code_count)?;
    assert_eq!(codes.len(), count);
    let (_, st) = s
        .json(Method::GET, "/auth/second-factor", bearer, &empty)
        .await?;
    assert_eq!(
        st,
        json!({"enrolled": true, "recovery_codes_remaining": count})
    );

    // Login now answers a challenge; the confirming code is used up (replay), a wrong code
    // is refused, the next step's code completes, and the challenge completes once.
    let (status, ch) = s.json(Method::POST, "/auth/login", None, &creds).await?;
    assert_eq!(status, 200);
    assert_eq!(ch["second_factor"], json!(true));
    assert!(ch.get("access_token").is_none());
    let challenge = text_of(&ch, "challenge")?.to_owned();
    for bad in [code.as_str(), wrong] {
        let (status, p) = s
            .json(
                Method::POST,
                "/auth/login/complete",
                None,
                &json!({"challenge": challenge, "code": bad}),
            )
            .await?;
        assert_eq!(
            (status, p["code"].as_str()),
            (400, Some("wrong_code")),
            "{bad}"
        );
    }
    s.clock.advance(std::time::Duration::from_secs(30));
    let next = totp_code(&secret, s.now(), 0)?;
    let done = json!({"challenge": challenge, "code": next});
    let (status, pair) = s
        .json(Method::POST, "/auth/login/complete", None, &done)
        .await?;
    assert_eq!(status, 200, "{pair}");
    assert!(pair["access_token"].is_string());
    let (status, p) = s
        .json(Method::POST, "/auth/login/complete", None, &done)
        .await?;
    assert_eq!(
        (status, p["code"].as_str()),
        (401, Some("invalid_challenge"))
    );

    // A recovery code works once.
    for expected in [200, 400] {
        let (_, ch) = s.json(Method::POST, "/auth/login", None, &creds).await?;
        let (status, _) = s
            .json(
                Method::POST,
                "/auth/login/complete",
                None,
                &json!({"challenge": text_of(&ch, "challenge")?, "code": codes[0]}),
            )
            .await?;
        assert_eq!(status, expected);
    }
    // An expired challenge is refused.
    let (_, ch) = s.json(Method::POST, "/auth/login", None, &creds).await?;
    s.clock.advance(
        s.app.state.service().config().login_challenge_lifetime + std::time::Duration::from_secs(1),
    );
    let (status, p) = s
        .json(
            Method::POST,
            "/auth/login/complete",
            None,
            &json!({"challenge": text_of(&ch, "challenge")?, "code": codes[1]}),
        )
        .await?;
    assert_eq!(
        (status, p["code"].as_str()),
        (401, Some("invalid_challenge"))
    );

    // Regenerating and removing need a recent re-authentication (the last one is old now).
    let (_, ch) = s.json(Method::POST, "/auth/login", None, &creds).await?;
    let (status, pair) = s
        .json(
            Method::POST,
            "/auth/login/complete",
            None,
            &json!({"challenge": text_of(&ch, "challenge")?, "code": codes[1]}),
        )
        .await?;
    assert_eq!(status, 200);
    let access = text_of(&pair, "access_token")?.to_owned();
    let bearer = Some(access.as_str());
    for (method, path) in [
        (Method::POST, "/auth/second-factor/recovery-codes"),
        (Method::DELETE, "/auth/second-factor/totp"),
    ] {
        let (status, p) = s.json(method, path, bearer, &empty).await?;
        assert_eq!(
            (status, p["code"].as_str()),
            (403, Some("reauthentication_required"))
        );
    }
    let (status, _) = s
        .json(
            Method::POST,
            "/auth/reauthenticate",
            bearer,
            &json!({"password": PASSWORD}),
        )
        .await?;
    assert_eq!(status, 204);
    let (status, rc) = s
        .json(
            Method::POST,
            "/auth/second-factor/recovery-codes",
            bearer,
            &empty,
        )
        .await?;
    assert_eq!(status, 200);
    assert_eq!(rc["recovery_codes"].as_array().map(Vec::len), Some(count));
    let (status, _) = s
        .json(Method::DELETE, "/auth/second-factor/totp", bearer, &empty)
        .await?;
    assert_eq!(status, 204);
    let (status, pair) = s.json(Method::POST, "/auth/login", None, &creds).await?;
    assert_eq!(status, 200);
    assert!(
        pair["access_token"].is_string(),
        "no factor: tokens at once"
    );
    Ok(())
}

#[tokio::test]
async fn the_second_factor_routes_in_cookie_mode_keep_the_csrf_checks() -> TestResult {
    use serde_json::json;
    let s = start().await?;
    let creds = json!({"email": "uma@example.com", "password": PASSWORD});
    let r = s
        .http
        .post(s.url("/auth/register"))
        .header("content-type", "application/json")
        .body(creds.to_string())
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let cookie_login =
        json!({"email": "uma@example.com", "password": PASSWORD, "use_cookies": true});
    let r = s
        .http
        .post(s.url("/auth/login"))
        .header("content-type", "application/json")
        .header("origin", &s.base)
        .body(cookie_login.to_string())
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let jar = cookies(&r);
    let csrf = cookie_value(&jar, "testudo_csrf").ok_or("no csrf cookie")?;
    let post = |path: &str, origin: &str, token: Option<&str>| {
        let mut rq = s
            .http
            .post(s.url(path))
            .header("content-type", "application/json")
            .header("origin", origin)
            .header("cookie", &jar)
            .body(json!({"password": PASSWORD, "code": "123456"}).to_string());
        if let Some(t) = token {
            rq = rq.header("x-csrf-token", t);
        }
        rq.send()
    };
    for path in [
        "/auth/reauthenticate",
        "/auth/second-factor/totp",
        "/auth/second-factor/totp/confirm",
        "/auth/second-factor/recovery-codes",
    ] {
        assert_eq!(
            post(path, &s.base, None).await?.status(),
            403,
            "{path}: no token"
        );
        assert_eq!(
            post(path, "https://evil.example", Some(&csrf))
                .await?
                .status(),
            403,
            "{path}: cross-site"
        );
    }
    let r = post("/auth/reauthenticate", &s.base, Some(&csrf)).await?;
    assert_eq!(r.status(), 204, "with the token: accepted");
    let r = s
        .http
        .post(s.url("/auth/login/complete"))
        .header("content-type", "application/json")
        .header("origin", "https://evil.example")
        .body(json!({"challenge": "x", "code": "123456", "use_cookies": true}).to_string())
        .send()
        .await?;
    assert_eq!(r.status(), 403, "a cross-site cookie completion is refused");
    Ok(())
}

/// The text between `start` and the next `end` in `html`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> TestResult<&'a str> {
    let rest = html
        .split(start)
        .nth(1)
        .ok_or_else(|| format!("no {start} in {html}"))?;
    Ok(rest.split(end).next().unwrap_or_default())
}

#[tokio::test]
async fn the_web_page_enrols_totp_and_asks_for_the_code_at_login() -> TestResult {
    let s = start().await?;
    let email = "vic@example.com";
    let r = s
        .post_form(
            "/signup",
            &[("email", email), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    let jar = cookies(&r);
    let csrf = cookie_value(&jar, "testudo_csrf").ok_or("no csrf cookie")?;
    let account = s
        .http
        .get(s.url("/account"))
        .header("cookie", &jar)
        .send()
        .await?;
    assert!(account.text().await?.contains("Two-factor: off"));

    // Without the CSRF token, or with a wrong password: refused.
    let r = s
        .post_form(
            "/two-factor/enrol",
            &[("password", PASSWORD)],
            &jar,
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 403);
    let r = s
        .post_form(
            "/two-factor/enrol",
            &[("password", "wrong password"), ("csrf_token", &csrf)],
            &jar,
            &s.base,
        )
        .await?;
    assert_ne!(r.status(), 200);
    let r = s
        .post_form(
            "/two-factor/enrol",
            &[("password", PASSWORD), ("csrf_token", &csrf)],
            &jar,
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some("default-src 'none'; form-action 'self'")
    );
    let html = r.text().await?;
    assert!(html.contains("<figure id=\"totp-qr\"><svg"), "{html}");
    assert!(!html.contains("<?xml"));
    let secret = between(&html, "<code id=\"totp-secret\">", "</code>")?.to_owned();
    let code = totp_code(&secret, s.now(), 0)?;
    let r = s
        .post_form(
            "/two-factor/confirm",
            &[("code", &code), ("csrf_token", &csrf)],
            &jar,
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    let first = between(&html, "<ul id=\"recovery-codes\"><li><code>", "</code>")?.to_owned();
    let account = s
        .http
        .get(s.url("/account"))
        .header("cookie", &jar)
        .send()
        .await?;
    assert!(account.text().await?.contains("Two-factor: on"));

    // The login form now asks for the code; a wrong one is refused, a recovery code works.
    let r = s
        .post_form(
            "/login",
            &[("email", email), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 200, "no session yet");
    assert!(cookies(&r).is_empty());
    let html = r.text().await?;
    let challenge = between(&html, "name=\"challenge\" value=\"", "\"")?.to_owned();
    let r = s
        .post_form(
            "/login/code",
            &[("challenge", &challenge), ("code", &code)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 400, "the confirming code is used up");
    let r = s
        .post_form(
            "/login/code",
            &[("challenge", &challenge), ("code", &first)],
            "",
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403, "a cross-site code form is refused");
    let r = s
        .post_form(
            "/login/code",
            &[("challenge", &challenge), ("code", &first)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    let second = cookies(&r);
    let csrf2 = cookie_value(&second, "testudo_csrf").ok_or("no csrf cookie")?;

    // Removal needs the password.
    let r = s
        .post_form(
            "/two-factor/remove",
            &[("password", "wrong password"), ("csrf_token", &csrf2)],
            &second,
            &s.base,
        )
        .await?;
    assert_ne!(r.status(), 303);
    let r = s
        .post_form(
            "/two-factor/remove",
            &[("password", PASSWORD), ("csrf_token", &csrf2)],
            &second,
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    let account = s
        .http
        .get(s.url("/account"))
        .header("cookie", &second)
        .send()
        .await?;
    assert!(account.text().await?.contains("Two-factor: off"));
    Ok(())
}

#[test]
fn only_plain_svg_is_embedded() {
    use axum_server::embeddable_svg;
    let ok = r#"<?xml version="1.0"?><svg xmlns="x" width="2"><rect x="0"/><path d="M0"/></svg>"#;
    assert_eq!(
        embeddable_svg(ok),
        Some(r#"<svg xmlns="x" width="2"><rect x="0"/><path d="M0"/></svg>"#)
    );
    for bad in [
        r#"<svg><script>alert(1)</script></svg>"#,
        r#"<svg onload="alert(1)"></svg>"#,
        r#"<svg><a href="javascript:x"></a></svg>"#,
        r#"<svg><image/></svg>"#,
        "<svg>",
    ] {
        assert_eq!(embeddable_svg(bad), None, "{bad}");
    }
}

/// Logs in on the page with this user agent; returns the session cookies.
async fn page_login(s: &Running, email: &str, user_agent: &str) -> TestResult<String> {
    let r = s
        .http
        .post(s.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("origin", &s.base)
        .header("user-agent", user_agent)
        .body(form(&[("email", email), ("password", PASSWORD)]))
        .send()
        .await?;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    Ok(cookies(&r))
}

async fn account_page(s: &Running, jar: &str) -> TestResult<reqwest::Response> {
    Ok(s.http
        .get(s.url("/account"))
        .header("cookie", jar)
        .send()
        .await?)
}

/// The account page lists where the user is signed in (the device's user agent, escaped),
/// signs one other session out by its button, and signs out every other device; another
/// site's post is refused.
#[tokio::test]
async fn the_account_page_lists_sessions_and_signs_other_devices_out() -> TestResult {
    let s = start().await?;
    let email = "sid@example.com";
    let r = s
        .post_form(
            "/signup",
            &[("email", email), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    let laptop = page_login(&s, email, "Laptop <b>1</b>").await?;
    let phone = page_login(&s, email, "Phone 2").await?;
    let tablet = page_login(&s, email, "Tablet 3").await?;

    let html = account_page(&s, &laptop).await?.text().await?;
    assert_eq!(html.matches("<tr class=\"session\">").count(), 4, "{html}");
    assert!(html.contains("Laptop &lt;b&gt;1&lt;/b&gt;"), "{html}");
    assert_eq!(html.matches("this device").count(), 1);
    let csrf = cookie_value(&laptop, "testudo_csrf").ok_or("no csrf")?;
    let phone_row = between(&html, "Phone 2", "</tr>")?;
    let phone_id = between(phone_row, "name=\"id\" value=\"", "\"")?.to_owned();

    // Another site cannot sign the phone out; the laptop can.
    let r = s
        .post_form(
            "/sessions/revoke",
            &[("csrf_token", &csrf), ("id", &phone_id)],
            &laptop,
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(account_page(&s, &phone).await?.status(), 200);
    let r = s
        .post_form(
            "/sessions/revoke",
            &[("csrf_token", &csrf), ("id", &phone_id)],
            &laptop,
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    let r = account_page(&s, &phone).await?;
    assert_eq!(r.status(), 303, "the phone is signed out");
    let r = s
        .post_form(
            "/sessions/revoke",
            &[("csrf_token", &csrf), ("id", &phone_id)],
            &laptop,
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 404, "already gone");

    // Sign out other devices: the tablet and the sign-up session go, the laptop stays.
    let r = s
        .post_form("/logout-others", &[("csrf_token", "")], &laptop, &s.base)
        .await?;
    assert_eq!(r.status(), 403, "CSRF token required");
    let r = s
        .post_form("/logout-others", &[("csrf_token", &csrf)], &laptop, &s.base)
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(account_page(&s, &tablet).await?.status(), 303);
    let r = account_page(&s, &laptop).await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert_eq!(html.matches("<tr class=\"session\">").count(), 1, "{html}");
    assert!(html.contains("this device"));
    Ok(())
}

impl Running {
    /// The codes mailed so far.
    fn mailed_codes(&self) -> Vec<String> {
        self.codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The value of the page's hidden onboarding token.
fn onboarding_token(html: &str) -> TestResult<String> {
    Ok(between(html, "name=\"token\" value=\"", "\"")?.to_owned())
}

fn header_of(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[tokio::test]
async fn the_create_account_pages_run_the_onboarding_with_totp_and_sign_the_user_in() -> TestResult
{
    let s = start().await?;
    let home = s.http.get(s.url("/")).send().await?.text().await?;
    assert!(home.contains("action=\"/create\""), "{home}");
    let email = "wren@example.com";

    // Another site cannot have the app mail a code.
    let r = s
        .post_form("/create", &[("email", email)], "", "https://evil.example")
        .await?;
    assert_eq!(r.status(), 403);
    assert!(s.mailed_codes().is_empty());

    let r = s
        .post_form("/create", &[("email", email)], "", &s.base)
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, "cache-control").as_deref(), Some("no-store"));
    assert_eq!(
        header_of(&r, "content-security-policy").as_deref(),
        Some("default-src 'none'; form-action 'self'")
    );
    let html = r.text().await?;
    assert!(html.contains("action=\"/create/code\""), "{html}");
    let token = onboarding_token(&html)?;
    let code = s.mailed_codes().pop().ok_or("no code printed")?;
    assert!(!html.contains(&code), "the code goes by mail only");

    // A wrong code: the same page again, with the message, and the session lives on.
    let wrong: String = code
        .bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect();
    let r = s
        .post_form(
            "/create/code",
            &[("token", &token), ("code", &wrong)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 400);
    let html = r.text().await?;
    assert!(html.contains("role=\"alert\""), "{html}");
    assert!(html.contains("action=\"/create/code\""), "{html}");

    // A cross-site post of a step is refused, even with the token.
    let r = s
        .post_form(
            "/create/code",
            &[("token", &token), ("code", &code)],
            "",
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403);

    let r = s
        .post_form(
            "/create/code",
            &[("token", &token), ("code", &code)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("action=\"/create/password\""), "{html}");

    let r = s
        .post_form(
            "/create/password",
            &[("token", &token), ("password", "short")],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 400, "a refused password asks again");
    assert!(r.text().await?.contains("action=\"/create/password\""));
    let r = s
        .post_form(
            "/create/password",
            &[("token", &token), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(html.contains("action=\"/create/totp\""), "{html}");
    assert!(html.contains("action=\"/create/skip\""), "{html}");

    let r = s
        .post_form("/create/totp", &[("token", &token)], "", &s.base)
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header_of(&r, "cache-control").as_deref(), Some("no-store"));
    let html = r.text().await?;
    assert!(html.contains("<figure id=\"totp-qr\"><svg"), "{html}");
    let secret = between(&html, "<code id=\"totp-secret\">", "</code>")?.to_owned();
    let r = s
        .post_form(
            "/create/totp/confirm",
            &[
                ("token", &token),
                ("code", &totp_code(&secret, s.now(), 0)?),
            ],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303, "{:?}", r.text().await);
    assert_eq!(header_of(&r, "location").as_deref(), Some("/account"));
    let jar = cookies(&r);
    assert!(cookie_value(&jar, "testudo_access").is_some(), "{jar}");
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", &jar)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let html = r.text().await?;
    assert!(
        html.contains("wren@example.com</strong> (verified)"),
        "{html}"
    );
    assert!(html.contains("Two-factor: on"), "{html}");

    // The session is spent: its token creates nothing more.
    let r = s
        .post_form("/create/skip", &[("token", &token)], "", &s.base)
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

#[tokio::test]
async fn the_create_account_pages_can_skip_two_factor_and_the_quick_sign_up_still_works()
-> TestResult {
    let s = start().await?;
    let r = s
        .post_form("/create", &[("email", "xia@example.com")], "", &s.base)
        .await?;
    let token = onboarding_token(&r.text().await?)?;
    let code = s.mailed_codes().pop().ok_or("no code printed")?;
    for (path, field, value) in [
        ("/create/code", "code", code.as_str()),
        ("/create/password", "password", PASSWORD),
    ] {
        let r = s
            .post_form(path, &[("token", &token), (field, value)], "", &s.base)
            .await?;
        assert_eq!(r.status(), 200, "{path}");
    }
    // A finish from another site (login CSRF) is refused before any work.
    let r = s
        .post_form(
            "/create/skip",
            &[("token", &token)],
            "",
            "https://evil.example",
        )
        .await?;
    assert_eq!(r.status(), 403);
    let r = s
        .post_form("/create/skip", &[("token", &token)], "", &s.base)
        .await?;
    assert_eq!(r.status(), 303);
    let jar = cookies(&r);
    let r = s
        .http
        .get(s.url("/account"))
        .header("cookie", &jar)
        .send()
        .await?;
    let html = r.text().await?;
    assert!(
        html.contains("xia@example.com</strong> (verified)"),
        "{html}"
    );
    assert!(html.contains("Two-factor: off"), "{html}");

    // The quick sign-up form is still there and still works.
    let r = s
        .post_form(
            "/signup",
            &[("email", "yan@example.com"), ("password", PASSWORD)],
            "",
            &s.base,
        )
        .await?;
    assert_eq!(r.status(), 303);
    Ok(())
}
