//! The example service of testudo: the JSON auth endpoints of `testudo::axum` at `/auth`, and a
//! small server-rendered web page in cookie mode (create an account through onboarding: the
//! emailed code, a password, optional TOTP; a quick sign-up; log in, an account page with
//! sign-out and sign-out-everywhere, two-factor (TOTP with a QR code, recovery codes, the code
//! step of the login), forgot / reset password with the link printed to the
//! console by an event handler, as are the onboarding codes).
//!
//! Run it with `cargo run -p axum_server`: embedded SQLite in `axum_server.db` (created and
//! migrated on start), or PostgreSQL with `DATABASE_URL=postgres://...`. See `README.md`.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use serde::Deserialize;
use testudo::axum::{AuthState, ClientContext, HttpOptions, MaybeAuthenticated};
use testudo::core::{Clock, ExposeSecret, SecretString, SystemClock};
use testudo::events::{Event, EventEmitter, EventKind};
use testudo::service::onboarding::{
    OnboardingStatus, SET_PASSWORD, SETUP_TOTP, StepInput, VERIFY_EMAIL,
};
use testudo::service::{AuthService, AuthUser, DbUserStore, LoginStart};
use testudo::{AuthConfig, Database};

/// How the example is set up (from the environment in `main`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The database URL (`sqlite://axum_server.db` by default).
    pub database_url: String,
    /// The signing secret (random per run when not given: sessions end with the process).
    pub signing_secret: String,
    /// The address the links in the console point to (`http://127.0.0.1:3000`).
    pub public_url: String,
    /// Whether cookies carry `Secure` (off by default: the example serves plain HTTP).
    pub secure_cookies: bool,
    /// Cheap hashing parameters (for tests only).
    pub cheap_hashing: bool,
    /// The clock (the system's when `None`; tests pass a fixed one).
    pub clock: Option<Arc<dyn Clock>>,
}

/// A random 32-byte secret, base64url.
///
/// # Errors
///
/// When the OS random generator fails.
pub fn random_secret() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        bytes,
    ))
}

/// The running parts: the state and the event emitter (attach your own handlers to it).
#[derive(Debug, Clone)]
pub struct App {
    /// The HTTP layer's state.
    pub state: AuthState<DbUserStore>,
    /// The service's event emitter.
    pub events: EventEmitter,
}

/// Connects, migrates, builds the service and the state, and prints reset links.
///
/// # Errors
///
/// When the database cannot be opened or migrated, or the configuration is refused.
pub async fn build(settings: &Settings) -> Result<App, Box<dyn std::error::Error + Send + Sync>> {
    let db = Database::connect(&settings.database_url).await?;
    db.migrate().await?;
    let mut config = AuthConfig::builder()
        .signing_secret(settings.signing_secret.as_str())
        .build()?;
    if settings.cheap_hashing {
        config.argon2_memory_cost = 64;
        config.argon2_time_cost = 1;
        config.argon2_parallelism = 1;
    }
    let config = Arc::new(config);
    let events = EventEmitter::new();
    let base = settings.public_url.clone();
    events.on(EventKind::PasswordResetRequested, move |event: &Event| {
        if let Event::PasswordResetRequested { email, token, .. } = event {
            let link = format!("{base}/reset?token={}", token.expose_secret());
            print_link(email, &link);
        }
        Box::pin(async { Ok(()) })
    });
    events.on(
        EventKind::VerificationCodeGenerated,
        move |event: &Event| {
            if let Event::VerificationCodeGenerated { email, code, .. } = event {
                print_code(email, code.expose_secret());
            }
            Box::pin(async { Ok(()) })
        },
    );
    let clock: Arc<dyn Clock> = settings
        .clock
        .clone()
        .unwrap_or_else(|| Arc::new(SystemClock));
    let limiter = testudo::throttle::DbRateLimiter::new(db.clone(), Arc::clone(&clock));
    let store = DbUserStore::new(db.clone()).with_clock(Arc::clone(&clock));
    let service = AuthService::builder(Arc::clone(&config), store)
        .database(db)
        .events(events.clone())
        .rate_limiter(Arc::new(limiter))
        .clock(clock)
        .build()?;
    // Server-rendered pages refresh transparently only if the refresh cookie reaches them:
    // its path is `/` here (the library's default, `/auth/refresh`, sends it nowhere else).
    let options = HttpOptions::default()
        .secure_cookies(settings.secure_cookies)
        .refresh_cookie_path("/");
    let state = AuthState::builder(service).options(options).build()?;
    Ok(App { state, events })
}

/// Prints a reset link to the console: this example's "mailer".
#[expect(
    clippy::print_stdout,
    reason = "the example mails links to the console"
)]
fn print_link(email: &str, link: &str) {
    println!("password reset link for {email}: {link}");
}

/// Prints an onboarding code to the console: this example's "mailer".
#[expect(
    clippy::print_stdout,
    reason = "the example mails codes to the console"
)]
fn print_code(email: &str, code: &str) {
    println!("account creation code for {email}: {code}");
}

/// The whole application: the pages, and the JSON API at `/auth`.
pub fn router(app: &App) -> Router {
    let pages = Router::new()
        .route("/", get(home))
        .route("/signup", axum::routing::post(signup))
        .route("/create", axum::routing::post(create))
        .route("/create/resend", axum::routing::post(create_resend))
        .route("/create/code", axum::routing::post(create_code))
        .route("/create/password", axum::routing::post(create_password))
        .route("/create/totp", axum::routing::post(create_totp))
        .route(
            "/create/totp/confirm",
            axum::routing::post(create_totp_confirm),
        )
        .route("/create/skip", axum::routing::post(create_skip))
        .route("/login", axum::routing::post(login))
        .route("/login/code", axum::routing::post(login_code))
        .route("/two-factor/enrol", axum::routing::post(two_factor_enrol))
        .route(
            "/two-factor/confirm",
            axum::routing::post(two_factor_confirm),
        )
        .route("/two-factor/remove", axum::routing::post(two_factor_remove))
        .route("/account", get(account))
        .route("/logout", axum::routing::post(logout))
        .route("/logout-all", axum::routing::post(logout_all))
        .route("/logout-others", axum::routing::post(logout_others))
        .route("/sessions/revoke", axum::routing::post(revoke_session))
        .route("/forgot", get(forgot_page).post(forgot))
        .route("/reset", get(reset_page).post(reset))
        .layer(axum::middleware::from_fn(testudo::axum::session_layer))
        .with_state(app.state.clone());
    Router::new()
        .nest("/auth", testudo::axum::router(app.state.clone()))
        .merge(pages)
}

/// `s` with `& < > " '` escaped, for HTML text and attribute values.
#[must_use]
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// A page: `body` is trusted markup (every value in it escaped by the caller).
fn page(title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{} · testudo</title></head><body><h1>{}</h1>\n{body}\n</body></html>",
        escape(title),
        escape(title)
    );
    let mut r = Html(html).into_response();
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; form-action 'self'"),
    );
    r
}

fn error_page(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<p role=\"alert\">{}</p><p><a href=\"/\">Back</a></p>",
        escape(message)
    );
    (status, page("Something went wrong", &body)).into_response()
}

/// A testudo-axum error as a page (its status, its message: never a secret).
fn refused(e: &testudo::axum::Error) -> Response {
    error_page(e.status(), &e.to_string())
}

/// Adds the `Set-Cookie` values to a redirect.
fn redirect_with(to: &str, cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut r = Redirect::to(to).into_response();
    for c in cookies {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

fn session_cookies(
    state: &AuthState<DbUserStore>,
    pair: &testudo::TokenPair,
) -> Result<[HeaderValue; 3], testudo::axum::Error> {
    let max_age = state.service().config().refresh_token_lifetime.as_secs();
    state.http().session_cookies(pair, max_age)
}

async fn home(MaybeAuthenticated(user): MaybeAuthenticated) -> Response {
    if user.is_some() {
        return Redirect::to("/account").into_response();
    }
    page(
        "Welcome",
        r#"<h2>Create an account</h2>
<p>We send a code to your address, then you choose a password (and, if you like, two-factor).</p>
<form method="post" action="/create">
<label>Email <input name="email" type="email" required></label>
<button>Create an account</button></form>
<h2>Quick sign-up (no email check)</h2>
<form method="post" action="/signup">
<label>Email <input name="email" type="email" required></label>
<label>Password <input name="password" type="password" required></label>
<button>Sign up</button></form>
<h2>Log in</h2>
<form method="post" action="/login">
<label>Email <input name="email" type="email" required></label>
<label>Password <input name="password" type="password" required></label>
<button>Log in</button></form>
<p><a href="/forgot">Forgot your password?</a></p>"#,
    )
}

/// A sign-up or log-in form.
#[derive(Deserialize)]
struct CredentialsForm {
    email: String,
    password: SecretString,
}

async fn signup(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<CredentialsForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let ip = client.ip_string();
    if let Err(e) = state
        .service()
        .register(&form.email, form.password.expose_secret(), ip.as_deref())
        .await
    {
        return refused(&e.into());
    }
    finish_login(&state, &client, &form).await
}

async fn login(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<CredentialsForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    finish_login(&state, &client, &form).await
}

async fn finish_login(
    state: &AuthState<DbUserStore>,
    client: &ClientContext,
    form: &CredentialsForm,
) -> Response {
    let result = state
        .service()
        .login_start_with_context(
            &form.email,
            form.password.expose_secret(),
            testudo::Claims::new(),
            &client.session_context(),
        )
        .await;
    match result.map_err(testudo::axum::Error::from) {
        Ok(LoginStart::Complete(done)) => signed_in(state, &done.tokens),
        Ok(LoginStart::SecondFactor(challenge)) => {
            let body = format!(
                "<form method=\"post\" action=\"/login/code\">\
                 <input type=\"hidden\" name=\"challenge\" value=\"{}\">\
                 <label>Code from your authenticator app, or a recovery code \
                 <input name=\"code\" autocomplete=\"one-time-code\" required></label>\
                 <button>Continue</button></form>",
                escape(challenge.token().expose_secret())
            );
            no_store(page("Two-factor code", &body))
        }
        Ok(_) => error_page(StatusCode::INTERNAL_SERVER_ERROR, "unexpected login step"),
        Err(e) => refused(&e),
    }
}

fn signed_in(state: &AuthState<DbUserStore>, pair: &testudo::TokenPair) -> Response {
    match session_cookies(state, pair) {
        Ok(cookies) => redirect_with("/account", cookies),
        Err(e) => refused(&e),
    }
}

/// `Cache-Control: no-store` (pages showing a challenge, a secret or recovery codes).
fn no_store(mut r: Response) -> Response {
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The second step of a login.
#[derive(Deserialize)]
struct CodeForm {
    challenge: SecretString,
    code: SecretString,
}

async fn login_code(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<CodeForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    match state
        .service()
        .complete_login_with_context(
            form.challenge.expose_secret(),
            form.code.expose_secret(),
            &client.session_context(),
        )
        .await
    {
        Ok(done) => signed_in(&state, &done.tokens),
        Err(e) => refused(&e.into()),
    }
}

/// The QR code's SVG without its XML declaration, if it holds only the `svg`, `rect` and
/// `path` elements and no script, event handler, link or style (it is embedded inline, under
/// a CSP that allows neither scripts nor styles; presentation attributes are not styles).
#[must_use]
pub fn embeddable_svg(svg: &str) -> Option<&str> {
    let start = svg.find("<svg")?;
    let svg = svg[start..].trim_end();
    if !svg.ends_with("</svg>") {
        return None;
    }
    let lower = svg.to_ascii_lowercase();
    if [
        "script",
        "href",
        "style",
        "foreignobject",
        " on",
        "javascript",
        "<!",
    ]
    .iter()
    .any(|bad| lower.contains(bad))
    {
        return None;
    }
    let allowed = ["svg ", "svg>", "rect ", "path ", "/svg>"];
    lower
        .split('<')
        .skip(1)
        .all(|tag| allowed.iter().any(|a| tag.starts_with(a)))
        .then_some(svg)
}

/// A form with the password and the CSRF token.
#[derive(Deserialize)]
struct PasswordForm {
    password: SecretString,
    #[serde(default)]
    csrf_token: String,
}

/// A form with a code and the CSRF token.
#[derive(Deserialize)]
struct ConfirmForm {
    code: SecretString,
    #[serde(default)]
    csrf_token: String,
}

/// The signed-in user of a form post (origin and CSRF token checked), and the token.
async fn form_user(
    state: &AuthState<DbUserStore>,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<testudo::service::User, Response> {
    state
        .http()
        .check_origin(headers)
        .map_err(|e| refused(&e))?;
    state
        .authenticate_request(headers, &Method::POST, Some(csrf), false)
        .await
        .map(|s| s.user)
        .map_err(|e| refused(&e))
}

fn csrf_input(state: &AuthState<DbUserStore>, csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        escape(&state.http().options().csrf_field),
        escape(csrf)
    )
}

async fn two_factor_enrol(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let user = match form_user(&state, &headers, &form.csrf_token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let service = state.service();
    if let Err(e) = service
        .reauthenticate(&user, form.password.expose_secret())
        .await
    {
        return refused(&e.into());
    }
    let enrolment = match service.enroll_totp(&user).await {
        Ok(e) => e,
        Err(e) => return refused(&e.into()),
    };
    let body = totp_form(
        &enrolment,
        "/two-factor/confirm",
        &csrf_input(&state, &form.csrf_token),
        "Turn on",
    );
    no_store(page("Set up two-factor", &body))
}

/// A new TOTP secret (its QR code, and as text) and the form posting a first code to
/// `action` with the `hidden` inputs (trusted markup).
fn totp_form(
    enrolment: &testudo::service::TotpEnrolment,
    action: &str,
    hidden: &str,
    button: &str,
) -> String {
    let qr = embeddable_svg(enrolment.qr_svg().expose_secret())
        .map(|svg| format!("<figure id=\"totp-qr\">{svg}</figure>"))
        .unwrap_or_default();
    format!(
        "<p>Scan the code with your authenticator app, or type the secret \
         <code id=\"totp-secret\">{}</code>.</p>{qr}\
         <form method=\"post\" action=\"{}\">{hidden}\
         <label>Code <input name=\"code\" autocomplete=\"one-time-code\" required></label>\
         <button>{}</button></form>",
        escape(enrolment.secret_base32().expose_secret()),
        escape(action),
        escape(button),
    )
}

async fn two_factor_confirm(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let user = match form_user(&state, &headers, &form.csrf_token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state
        .service()
        .confirm_totp(&user, form.code.expose_secret())
        .await
    {
        Ok(codes) => {
            let items: String = codes
                .iter()
                .map(|c| format!("<li><code>{}</code></li>", escape(c.expose_secret())))
                .collect();
            let body = format!(
                "<p>Two-factor is on. Keep these recovery codes somewhere safe: each works \
                 once, and they are not shown again.</p><ul id=\"recovery-codes\">{items}</ul>\
                 <p><a href=\"/account\">Back to your account</a></p>"
            );
            no_store(page("Recovery codes", &body))
        }
        Err(e) => refused(&e.into()),
    }
}

async fn two_factor_remove(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let user = match form_user(&state, &headers, &form.csrf_token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let service = state.service();
    if let Err(e) = service
        .reauthenticate(&user, form.password.expose_secret())
        .await
    {
        return refused(&e.into());
    }
    match service.remove_totp(&user).await {
        Ok(()) => Redirect::to("/account").into_response(),
        Err(e) => refused(&e.into()),
    }
}

async fn account(State(state): State<AuthState<DbUserStore>>, headers: HeaderMap) -> Response {
    // Authenticated by hand (not the extractor) for the session's CSRF token, which is the
    // new pair's when this request refreshed the session transparently.
    let session = match state
        .authenticate_request(&headers, &Method::GET, None, true)
        .await
    {
        Ok(session) => session,
        Err(e) if e.status() == StatusCode::UNAUTHORIZED => {
            return Redirect::to("/").into_response();
        }
        Err(e) => return refused(&e),
    };
    let field = escape(&state.http().options().csrf_field);
    let csrf = escape(session.csrf_token.as_deref().unwrap_or_default());
    let user = &session.user;
    let verified = if user.is_verified() {
        "verified"
    } else {
        "not verified"
    };
    let two_factor = match state.service().has_second_factor(user).await {
        Ok(on) => on,
        Err(e) => return refused(&e.into()),
    };
    let factor_form = if two_factor {
        format!(
            "<form method=\"post\" action=\"/two-factor/remove\">{}\
             <label>Password <input name=\"password\" type=\"password\" required></label>\
             <button>Turn off two-factor</button></form>",
            csrf_input(&state, session.csrf_token.as_deref().unwrap_or_default())
        )
    } else {
        format!(
            "<form method=\"post\" action=\"/two-factor/enrol\">{}\
             <label>Password <input name=\"password\" type=\"password\" required></label>\
             <button>Set up two-factor</button></form>",
            csrf_input(&state, session.csrf_token.as_deref().unwrap_or_default())
        )
    };
    let state_word = if two_factor { "on" } else { "off" };
    // The current session is the access token's: the new pair's after a transparent refresh.
    let current = match &session.refreshed {
        Some(pair) => Some(pair.access_token().to_owned()),
        None => testudo::axum::cookie(&headers, &state.http().options().access_cookie)
            .map(str::to_owned),
    };
    let sessions = match state
        .service()
        .list_sessions(&user.id(), current.as_deref())
        .await
    {
        Ok(list) => sessions_table(&list, &field, &csrf),
        Err(e) => return refused(&e.into()),
    };
    let body = format!(
        "<p>Signed in as <strong>{}</strong> ({verified}).</p>\n\
         <p id=\"two-factor\">Two-factor: {state_word}</p>\n{factor_form}\n\
         <h2>Where you are signed in</h2>\n{sessions}\n\
         <form method=\"post\" action=\"/logout-others\"><input type=\"hidden\" name=\"{field}\" value=\"{csrf}\">\
         <button>Sign out other devices</button></form>\n\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"{field}\" value=\"{csrf}\">\
         <button>Sign out</button></form>\n\
         <form method=\"post\" action=\"/logout-all\"><input type=\"hidden\" name=\"{field}\" value=\"{csrf}\">\
         <button>Sign out everywhere</button></form>",
        escape(user.email())
    );
    let response = page("Your account", &body);
    match &session.refreshed {
        Some(pair) => match session_cookies(&state, pair) {
            Ok(cookies) => {
                let mut response = response;
                for c in cookies {
                    response.headers_mut().append(header::SET_COOKIE, c);
                }
                response
            }
            Err(e) => refused(&e),
        },
        None => response,
    }
}

/// The sessions as a table: device, address, sign-in and last use, and a sign-out button for
/// every session but this one (each value escaped).
fn sessions_table(list: &[testudo::service::SessionInfo], field: &str, csrf: &str) -> String {
    let mut rows = String::new();
    for s in list {
        let action = if s.current {
            "this device".to_owned()
        } else {
            format!(
                "<form method=\"post\" action=\"/sessions/revoke\">\
                 <input type=\"hidden\" name=\"{field}\" value=\"{csrf}\">\
                 <input type=\"hidden\" name=\"id\" value=\"{}\"><button>Sign out</button></form>",
                escape(&s.id)
            )
        };
        rows.push_str(&format!(
            "<tr class=\"session\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>\n",
            escape(s.user_agent.as_deref().unwrap_or("unknown device")),
            escape(s.ip.as_deref().unwrap_or("")),
            s.created_at.format("%Y-%m-%d %H:%M UTC"),
            s.last_used_at.format("%Y-%m-%d %H:%M UTC"),
        ));
    }
    format!(
        "<table id=\"sessions\"><tr><th>Device</th><th>Address</th><th>Signed in</th>\
         <th>Last used</th><th></th></tr>\n{rows}</table>"
    )
}

/// The sign-out form of one session.
#[derive(Deserialize)]
struct RevokeForm {
    #[serde(default)]
    csrf_token: String,
    id: String,
}

/// `POST /sessions/revoke`: signs one of the user's other sessions out.
async fn revoke_session(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<RevokeForm>,
) -> Response {
    let user = match form_user(&state, &headers, &form.csrf_token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match state.service().revoke_session(&user.id(), &form.id).await {
        Ok(true) => Redirect::to("/account").into_response(),
        Ok(false) => refused(&testudo::axum::Error::NotFound),
        Err(e) => refused(&e.into()),
    }
}

/// `POST /logout-others`: signs every other session of the user out; this one stays.
async fn logout_others(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(r) = form_user(&state, &headers, &form.csrf_token).await {
        return r;
    }
    let Some(access) = testudo::axum::cookie(&headers, &state.http().options().access_cookie)
    else {
        return Redirect::to("/").into_response();
    };
    match state.service().logout_others(access).await {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(e) => refused(&e.into()),
    }
}

/// A form that only carries the CSRF token (missing: empty, so that the CSRF check refuses
/// it with 403 rather than the form extractor with 422).
#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf_token: String,
}

async fn logout(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    // Another site's post is refused as such (403) before its missing cookies are (401).
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let session = state
        .authenticate_request(&headers, &Method::POST, Some(&form.csrf_token), false)
        .await;
    let access = testudo::axum::cookie(&headers, &state.http().options().access_cookie);
    match (session, access) {
        (Ok(_), Some(access)) => {
            if let Err(e) = state.service().logout(access).await {
                return refused(&e.into());
            }
            match state.http().clear_cookies() {
                Ok(cookies) => redirect_with("/", cookies),
                Err(e) => refused(&e),
            }
        }
        (Err(e), _) => refused(&e),
        (Ok(_), None) => Redirect::to("/").into_response(),
    }
}

async fn logout_all(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let user = match form_user(&state, &headers, &form.csrf_token).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    if let Err(e) = state.service().logout_all(&user.id()).await {
        return refused(&e.into());
    }
    match state.http().clear_cookies() {
        Ok(cookies) => redirect_with("/", cookies),
        Err(e) => refused(&e),
    }
}

async fn forgot_page() -> Response {
    page(
        "Forgot your password?",
        r#"<form method="post" action="/forgot">
<label>Email <input name="email" type="email" required></label>
<button>Send me a link</button></form>"#,
    )
}

#[derive(Deserialize)]
struct EmailForm {
    email: String,
}

async fn forgot(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<EmailForm>,
) -> Response {
    // Another site could otherwise have the app mail reset links to any address.
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let ip = client.ip_string();
    if let Err(e) = state
        .service()
        .request_reset(&form.email, ip.as_deref())
        .await
    {
        return refused(&e.into());
    }
    page(
        "Check your mail",
        "<p>If the address has an account, a link is on its way (this example prints it to \
         the server's console).</p><p><a href=\"/\">Back</a></p>",
    )
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

async fn reset_page(Query(q): Query<TokenQuery>) -> Response {
    let body = format!(
        "<form method=\"post\" action=\"/reset\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <label>New password <input name=\"new_password\" type=\"password\" required></label>\
         <button>Set password</button></form>",
        escape(&q.token)
    );
    page("Choose a new password", &body)
}

#[derive(Deserialize)]
struct ResetForm {
    token: SecretString,
    new_password: SecretString,
}

async fn reset(
    State(state): State<AuthState<DbUserStore>>,
    headers: HeaderMap,
    Form(form): Form<ResetForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    match state
        .service()
        .confirm_reset(
            form.token.expose_secret(),
            form.new_password.expose_secret(),
        )
        .await
    {
        Ok(_) => page(
            "Password changed",
            "<p>Every session was signed out. <a href=\"/\">Log in</a></p>",
        ),
        Err(e) => refused(&e.into()),
    }
}

// ---- Create an account: the onboarding pages ----
//
// Every form carries the session's token in a hidden field (posted in the body, never in a
// URL), every post is checked for its origin (another site cannot drive the flow, nor have
// the finish sign the victim in as the attacker), and every page that holds the token is
// `no-store`.

/// The hidden field of the onboarding token.
fn token_input(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"token\" value=\"{}\">",
        escape(token)
    )
}

/// An alert paragraph, or nothing.
fn alert(message: Option<&str>) -> String {
    message
        .map(|m| format!("<p role=\"alert\">{}</p>", escape(m)))
        .unwrap_or_default()
}

/// The page of the session's next step, or (every step done) the finish: the new user is
/// signed in and sent to the account page. `message` is shown above the form.
async fn next_page(
    state: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
    status: &OnboardingStatus,
    message: Option<&str>,
) -> Response {
    let email = escape(&status.email);
    let hidden = token_input(token);
    let alert = alert(message);
    let body = match status.next_step.as_deref() {
        Some(VERIFY_EMAIL) => format!(
            "{alert}<p>We sent a six-digit code to <strong>{email}</strong> (this example prints \
             it to the server's console).</p>\
             <form method=\"post\" action=\"/create/code\">{hidden}\
             <label>Code <input name=\"code\" inputmode=\"numeric\" \
             autocomplete=\"one-time-code\" required></label>\
             <button>Continue</button></form>\
             <form method=\"post\" action=\"/create/resend\">{hidden}\
             <button>Send a new code</button></form>"
        ),
        Some(SET_PASSWORD) => format!(
            "{alert}<p>Your address <strong>{email}</strong> is confirmed. Choose a password.</p>\
             <form method=\"post\" action=\"/create/password\">{hidden}\
             <label>Password <input name=\"password\" type=\"password\" \
             autocomplete=\"new-password\" required></label>\
             <button>Continue</button></form>"
        ),
        Some(SETUP_TOTP) => {
            let skip = if !status.next_step_skippable {
                "<p>This site requires two-factor.</p>".to_owned()
            } else {
                format!(
                    "<form method=\"post\" action=\"/create/skip\">{hidden}\
                     <button>Not now</button></form>"
                )
            };
            format!(
                "{alert}<p>Protect the account with an authenticator app (two-factor)?</p>\
                 <form method=\"post\" action=\"/create/totp\">{hidden}\
                 <button>Set up two-factor</button></form>{skip}"
            )
        }
        Some(other) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("this example has no page for the onboarding step {other}"),
            );
        }
        None => {
            return match state
                .service()
                .finish_onboarding_with_context(token, &client.session_context())
                .await
            {
                Ok(done) => signed_in(state, &done.tokens),
                Err(e) => refused(&e.into()),
            };
        }
    };
    no_store(page("Create an account", &body))
}

/// After a refused step: the session's current page again with the message (status of the
/// refusal), or the refusal alone when the session is gone.
async fn step_refused(
    state: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
    e: &testudo::axum::Error,
) -> Response {
    match state.service().onboarding_status(token).await {
        Ok(status) => {
            let mut r = next_page(state, client, token, &status, Some(&e.to_string())).await;
            *r.status_mut() = e.status();
            r
        }
        Err(_) => refused(e),
    }
}

/// The answer to a step: the next page, or the refusal.
async fn after_step(
    state: &AuthState<DbUserStore>,
    client: &ClientContext,
    token: &str,
    result: Result<OnboardingStatus, testudo::axum::Error>,
) -> Response {
    match result {
        Ok(status) => next_page(state, client, token, &status, None).await,
        Err(e) => step_refused(state, client, token, &e).await,
    }
}

/// `POST /create` `{email}`: starts the onboarding (throttled as the JSON route) and asks for
/// the code.
async fn create(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<EmailForm>,
) -> Response {
    // Another site could otherwise have the app mail codes to any address.
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let started = match testudo::axum::start_onboarding_for(&state, &client, &form.email).await {
        Ok(started) => started,
        Err(e) => return refused(&e),
    };
    let token = started.token().expose_secret();
    match state.service().onboarding_status(token).await {
        Ok(status) => next_page(&state, &client, token, &status, None).await,
        Err(e) => refused(&e.into()),
    }
}

/// A form carrying only the onboarding token.
#[derive(Deserialize)]
struct TokenForm {
    token: SecretString,
}

/// A form with the onboarding token and a code.
#[derive(Deserialize)]
struct TokenCodeForm {
    token: SecretString,
    code: SecretString,
}

/// A form with the onboarding token and the password.
#[derive(Deserialize)]
struct TokenPasswordForm {
    token: SecretString,
    password: SecretString,
}

/// `POST /create/resend`: mails a new code (throttled with the start).
async fn create_resend(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let token = form.token.expose_secret();
    if let Err(e) = testudo::axum::resend_onboarding_code_for(&state, &client, token).await {
        return step_refused(&state, &client, token, &e).await;
    }
    let status = state.service().onboarding_status(token).await;
    after_step(&state, &client, token, status.map_err(Into::into)).await
}

/// `POST /create/code`: the emailed code.
async fn create_code(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<TokenCodeForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let token = form.token.expose_secret();
    let result = testudo::axum::verify_onboarding_code_for(
        &state,
        &client,
        token,
        form.code.expose_secret(),
    )
    .await;
    after_step(&state, &client, token, result).await
}

/// `POST /create/password`: the password.
async fn create_password(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<TokenPasswordForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let token = form.token.expose_secret();
    let result = state
        .service()
        .set_onboarding_password(token, form.password.expose_secret())
        .await
        .map_err(Into::into);
    after_step(&state, &client, token, result).await
}

/// `POST /create/totp`: the TOTP secret and its QR code, and the form for a first code.
async fn create_totp(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let token = form.token.expose_secret();
    let enrolment = match state.service().onboarding_totp_enrolment(token).await {
        Ok(e) => e,
        Err(e) => return step_refused(&state, &client, token, &e.into()).await,
    };
    let body = totp_form(
        &enrolment,
        "/create/totp/confirm",
        &token_input(token),
        "Turn on and create the account",
    );
    no_store(page("Set up two-factor", &body))
}

/// `POST /create/totp/confirm`: a first code from the app; then the account is created.
async fn create_totp_confirm(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<TokenCodeForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let token = form.token.expose_secret();
    let result = testudo::axum::confirm_onboarding_totp_for(
        &state,
        &client,
        token,
        form.code.expose_secret(),
    )
    .await;
    after_step(&state, &client, token, result).await
}

/// `POST /create/skip`: no two-factor (unless the site requires it); the account is created.
async fn create_skip(
    State(state): State<AuthState<DbUserStore>>,
    client: ClientContext,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Err(e) = state.http().check_origin(&headers) {
        return refused(&e);
    }
    let token = form.token.expose_secret();
    let result = state
        .service()
        .onboarding_step(token, SETUP_TOTP, StepInput::Skip)
        .await
        .map_err(Into::into);
    after_step(&state, &client, token, result).await
}
