//! The example over real HTTP: the web page in cookie mode (sign up, account page, sign out
//! everywhere, forgot / reset password), output escaping, CSRF refusal of form posts, and the
//! JSON API next to it.

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
