//! The example's web page in a real browser: headless Chromium driven through `chromedriver`
//! (the W3C `WebDriver` protocol). Signs up, signs out, logs in, reloads the account page (the
//! cookie session survives), reads the cookies' `HttpOnly` / `SameSite` flags through the
//! `WebDriver` cookie API, has attacker pages on other origins (another site, and another port
//! of the same site) auto-submit a form to sign-out-everywhere (the app answers 403 and the
//! session still works), sets up two-factor (the secret read off the page, a code computed
//! from it), signs out and signs in with a code, then signs out everywhere for good.
//!
//! `chromedriver` comes from `$CHROMEDRIVER` or `PATH` (Debian: `chromium-driver`, installed
//! by `.ci/run`). Without it the test prints that it was skipped and passes, unless `CI` is
//! set: then it fails, so CI cannot skip it silently.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::{Html, Response};
use axum_server::{App, Settings, build, random_secret, router};
use fantoccini::{Client, ClientBuilder, Locator};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PASSWORD: &str = "correct horse battery staple 42";
const EMAIL: &str = "ada@example.com";
/// How long one wait (an element to appear, chromedriver to start) may take.
const WAIT: Duration = Duration::from_secs(10);
/// The whole browser scenario.
const WHOLE_TEST: Duration = Duration::from_secs(55);

/// What the app answered: one line per request, recorded by a layer around the router.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    status: u16,
    origin: Option<String>,
    sec_fetch_site: Option<String>,
    had_cookies: bool,
}

/// `chromedriver` (and the browsers it starts, in its process group), killed on drop: also
/// when the test fails or panics; the browser's temporary directory is removed then too.
struct Driver {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The negative pid names the process group: chromedriver and its Chromium children.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn find_chromedriver() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|p| p.is_file())
}

/// Starts `chromedriver` on a port the OS picks (`--port=0`), read back from its banner.
fn start_driver(path: &std::path::Path) -> TestResult<Driver> {
    use std::os::unix::process::CommandExt as _;
    // Everything the browser writes (its profile, chromedriver's scoped directories) goes
    // under one directory of ours, removed by the guard.
    // (Short: Chromium puts a Unix socket in there, and socket paths are limited to ~100 bytes.)
    let unique = random_secret()?.chars().take(10).collect::<String>();
    let dir = std::env::temp_dir().join(format!("testudo-browser-{unique}"));
    std::fs::create_dir_all(dir.join("profile"))?;
    let spawned = Command::new(path)
        .arg("--port=0")
        .env("TMPDIR", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(format!("cannot start {}: {e}", path.display()).into());
        }
    };
    let stdout = child.stdout.take().ok_or("chromedriver has no stdout")?;
    let mut driver = Driver {
        child,
        port: 0,
        dir,
    };
    let (tx, rx) = mpsc::channel();
    // Reads every line (so the pipe never fills) and hands them over.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|e| format!("chromedriver did not report its port: {e}"))?;
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            driver.port = rest.trim_end_matches('.').trim().parse()?;
            return Ok(driver);
        }
    }
}

async fn connect(driver: &Driver) -> TestResult<Client> {
    let profile = format!("--user-data-dir={}", driver.dir.join("profile").display());
    let mut args = vec![
        profile.as_str(),
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1024,768",
    ];
    if std::env::var_os("BROWSER_TEST_VERBOSE").is_some() {
        args.push("--enable-logging=stderr");
    }
    let mut options = serde_json::json!({ "args": args });
    if let Some(binary) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|b| std::path::Path::new(b).is_file())
    {
        options["binary"] = binary.into();
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    Ok(ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await?)
}

/// The app on `127.0.0.1:0` (in-memory SQLite, cookies without `Secure`), every answer
/// recorded in `seen`.
async fn start_app(seen: Arc<Mutex<Vec<Seen>>>) -> TestResult<(App, SocketAddr)> {
    let settings = Settings {
        database_url: "sqlite::memory:".into(),
        signing_secret: random_secret()?,
        public_url: "http://127.0.0.1".into(),
        secure_cookies: false,
        cheap_hashing: true,
        clock: None,
    };
    let app = build(&settings).await?;
    let record = axum::middleware::from_fn(move |req: Request, next: Next| {
        let seen = Arc::clone(&seen);
        async move {
            let headers = req.headers();
            let text = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned)
            };
            let mut line = Seen {
                method: req.method().clone(),
                path: req.uri().path().to_owned(),
                status: 0,
                origin: text("origin"),
                sec_fetch_site: text("sec-fetch-site"),
                had_cookies: headers.contains_key(header::COOKIE),
            };
            let response: Response = next.run(req).await;
            line.status = response.status().as_u16();
            seen.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
            response
        }
    });
    let service = router(&app)
        .layer(record)
        .into_make_service_with_connect_info::<SocketAddr>();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    Ok((app, addr))
}

/// An attacker's site: `/` is a page whose form posts itself to `target` on load, with a
/// made-up CSRF token (the attacker cannot read the real one).
async fn start_attacker(target: String) -> TestResult<u16> {
    let page = format!(
        "<!doctype html><html><body><h1>You won a prize</h1>\
         <form method=\"post\" action=\"{target}\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"forged\"></form>\
         <script>document.forms[0].submit()</script></body></html>"
    );
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let page = page.clone();
            async move { Html(page) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(port)
}

/// Waits for `css` on the current page, then checks the URL is `url`.
async fn arrive(c: &Client, css: &str, url: &str) -> TestResult {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .map_err(|e| format!("waiting for {css} (expected at {url}): {e}"))?;
    let now = c.current_url().await?;
    if now.as_str() != url {
        return Err(format!("at {now}, expected {url}").into());
    }
    Ok(())
}

/// Fills `email` and `password` in the form posting to `action`, and submits it.
async fn submit_credentials(c: &Client, action: &str) -> TestResult {
    let form = c
        .form(Locator::Css(&format!("form[action='{action}']")))
        .await?;
    form.set_by_name("email", EMAIL).await?;
    form.set_by_name("password", PASSWORD).await?;
    form.submit_with(Locator::Css("button")).await?;
    Ok(())
}

/// The `SameSite` value is `Lax` (compared by name: the `cookie` crate's type is not
/// re-exported by fantoccini).
fn lax(same_site: Option<impl std::fmt::Display>) -> Option<String> {
    same_site.map(|s| s.to_string())
}

fn last_for(seen: &Mutex<Vec<Seen>>, method: &Method, path: &str) -> TestResult<Seen> {
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .rev()
        .find(|s| s.method == *method && s.path == path)
        .cloned()
        .ok_or_else(|| format!("the app saw no {method} {path}").into())
}

/// The code of `secret` at the system time plus `steps` 30-second steps.
fn totp_code(secret: &str, steps: i64) -> TestResult<String> {
    use testudo::core::ExposeSecret as _;
    use testudo::totp::{Totp, TotpParams, TotpSecret};
    let now = i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs(),
    )?;
    let totp = Totp::new(
        &TotpSecret::from_base32(secret.trim())?,
        TotpParams::default(),
        "test",
        "user",
    )?;
    Ok(totp.code_at(now + steps * 30)?.expose_secret().to_owned())
}

async fn scenario(c: &Client, app: &App, base: &str, seen: &Mutex<Vec<Seen>>) -> TestResult {
    let home = format!("{base}/");
    let account = format!("{base}/account");
    let on_home = "form[action='/signup']";
    let on_account = "form[action='/logout-all']";

    // Sign up: straight onto the account page.
    c.goto(&home).await?;
    arrive(c, on_home, &home).await?;
    submit_credentials(c, "/signup").await?;
    arrive(c, on_account, &account).await?;
    let text = c.find(Locator::Css("body")).await?.text().await?;
    assert!(text.contains(&format!("Signed in as {EMAIL}")), "{text}");

    // Sign out, then log in.
    c.form(Locator::Css("form[action='/logout']"))
        .await?
        .submit_with(Locator::Css("button"))
        .await?;
    arrive(c, on_home, &home).await?;
    submit_credentials(c, "/login").await?;
    arrive(c, on_account, &account).await?;
    assert_eq!(last_for(seen, &Method::POST, "/login")?.status, 303);

    // A reload keeps the session: the cookies are sent again.
    c.refresh().await?;
    arrive(c, on_account, &account).await?;
    let reload = last_for(seen, &Method::GET, "/account")?;
    assert_eq!(reload.status, 200);
    assert!(reload.had_cookies);

    // The cookies as the browser stores them.
    let o = app.state.http().options();
    let cookies = c.get_all_cookies().await?;
    let find = |name: &str| {
        cookies
            .iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("no {name} cookie in {cookies:?}"))
    };
    for name in [&o.access_cookie, &o.refresh_cookie] {
        let k = find(name)?;
        assert_eq!(k.http_only(), Some(true), "{k:?}");
        assert_eq!(lax(k.same_site()).as_deref(), Some("Lax"), "{k:?}");
        assert_eq!(k.path(), Some("/"), "{k:?}");
    }
    // The double-submit cookie is readable by the page's own script by design, still Lax.
    let csrf = find(&o.csrf_cookie)?;
    assert_eq!(lax(csrf.same_site()).as_deref(), Some("Lax"), "{csrf:?}");

    // A cross-site attacker (another site: `localhost`, not `127.0.0.1`): the browser keeps
    // the Lax cookies to itself, and the app refuses the post by its origin anyway.
    let port = start_attacker(format!("{base}/logout-all")).await?;
    c.goto(&format!("http://localhost:{port}/")).await?;
    arrive(c, "p[role='alert']", &format!("{base}/logout-all")).await?;
    let attack = last_for(seen, &Method::POST, "/logout-all")?;
    assert_eq!(attack.status, 403, "{attack:?}");
    assert_eq!(
        attack.origin.as_deref(),
        Some(format!("http://localhost:{port}").as_str())
    );
    assert_eq!(attack.sec_fetch_site.as_deref(), Some("cross-site"));
    assert!(
        !attack.had_cookies,
        "SameSite=Lax: no cookie on a cross-site post"
    );

    // The same page on another origin of the same site (`127.0.0.1`, another port): Lax
    // lets the cookies through, and the Origin / Sec-Fetch-Site check alone refuses it.
    c.goto(&format!("http://127.0.0.1:{port}/")).await?;
    arrive(c, "p[role='alert']", &format!("{base}/logout-all")).await?;
    let attack = last_for(seen, &Method::POST, "/logout-all")?;
    assert_eq!(attack.status, 403, "{attack:?}");
    assert_eq!(attack.sec_fetch_site.as_deref(), Some("same-site"));
    assert!(
        attack.had_cookies,
        "same-site: the browser sent the cookies"
    );

    // The session outlived both attacks.
    c.goto(&account).await?;
    arrive(c, on_account, &account).await?;
    assert_eq!(last_for(seen, &Method::GET, "/account")?.status, 200);

    // Two-factor: set up on the page (the secret read off the page, a code computed from
    // it), sign out, sign in with a code of the next step (the confirming one is used up).
    let set_up = c
        .form(Locator::Css("form[action='/two-factor/enrol']"))
        .await?;
    set_up.set_by_name("password", PASSWORD).await?;
    set_up.submit_with(Locator::Css("button")).await?;
    arrive(c, "#totp-secret", &format!("{base}/two-factor/enrol")).await?;
    assert!(
        c.find(Locator::Css("#totp-qr svg")).await.is_ok(),
        "the QR code is shown"
    );
    let secret = c.find(Locator::Css("#totp-secret")).await?.text().await?;
    let confirm = c
        .form(Locator::Css("form[action='/two-factor/confirm']"))
        .await?;
    confirm.set_by_name("code", &totp_code(&secret, 0)?).await?;
    confirm.submit_with(Locator::Css("button")).await?;
    arrive(c, "#recovery-codes", &format!("{base}/two-factor/confirm")).await?;
    c.goto(&account).await?;
    arrive(c, on_account, &account).await?;
    let text = c.find(Locator::Css("#two-factor")).await?.text().await?;
    assert_eq!(text, "Two-factor: on");
    c.form(Locator::Css("form[action='/logout']"))
        .await?
        .submit_with(Locator::Css("button"))
        .await?;
    arrive(c, on_home, &home).await?;
    submit_credentials(c, "/login").await?;
    arrive(c, "form[action='/login/code']", &format!("{base}/login")).await?;
    let step = c.form(Locator::Css("form[action='/login/code']")).await?;
    step.set_by_name("code", &totp_code(&secret, 1)?).await?;
    step.submit_with(Locator::Css("button")).await?;
    arrive(c, on_account, &account).await?;
    assert_eq!(last_for(seen, &Method::POST, "/login/code")?.status, 303);

    // Sign out everywhere, for real: the account page then sends us home.
    c.form(Locator::Css(on_account))
        .await?
        .submit_with(Locator::Css("button"))
        .await?;
    arrive(c, on_home, &home).await?;
    assert_eq!(last_for(seen, &Method::POST, "/logout-all")?.status, 303);
    c.goto(&account).await?;
    arrive(c, on_home, &home).await?;
    assert_eq!(last_for(seen, &Method::GET, "/account")?.status, 303);
    let left: Vec<_> = c
        .get_all_cookies()
        .await?
        .into_iter()
        .filter(|k| [&o.access_cookie, &o.refresh_cookie].contains(&&k.name().to_owned()))
        .collect();
    assert!(left.is_empty(), "session cookies cleared: {left:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_page_in_headless_chromium() -> TestResult {
    let Some(path) = find_chromedriver() else {
        if is_ci() {
            return Err("chromedriver not found and CI is set: install chromium-driver".into());
        }
        eprintln!("skipped: chromedriver not found (install chromium and chromium-driver)");
        return Ok(());
    };
    let driver = start_driver(&path)?;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (app, addr) = start_app(Arc::clone(&seen)).await?;
    let base = format!("http://{addr}");
    let run = async {
        let client = connect(&driver).await?;
        let result = scenario(&client, &app, &base, &seen).await;
        // Ends the browser session whatever happened; the driver guard ends the processes.
        let closed = client.close().await;
        result?;
        closed?;
        TestResult::Ok(())
    };
    tokio::time::timeout(WHOLE_TEST, run)
        .await
        .map_err(|_| format!("the browser test took over {WHOLE_TEST:?}"))??;
    drop(driver);
    Ok(())
}
