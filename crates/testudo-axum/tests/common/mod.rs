//! Fixtures: a real server on 127.0.0.1:0 over a fresh database, a reqwest client, the events.

#![allow(dead_code, unreachable_pub, reason = "each test file uses a part")]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use testudo_axum::{AuthState, HttpOptions};
use testudo_config::AuthConfig;
use testudo_core::{ExposeSecret, FixedClock, TokenBackend};
use testudo_events::{Event, EventEmitter, EventKind};
use testudo_service::{AuthService, DbUserStore};
use testudo_test_support::TestResult;
use testudo_test_support::db::{Backend, TestDb};
use testudo_tokens_jwt::JwtBackend;

/// The fixed start time of every test.
pub const T0: i64 = 1_800_000_000;
/// A password every validator accepts.
pub const PASSWORD: &str = "correct horse battery staple 42";
/// The signing secret (cookie mode, reset links).
pub const SIGNING_SECRET: &str = "http-test-signing-secret-0123456789abcdef-0123456789";
/// The JWT secret.
pub const JWT_SECRET: &str = "http-test-jwt-secret-0123456789abcdef-0123456789abcdef";

/// A configuration with cheap hashing, both secrets, and `f` applied.
pub fn config(f: impl FnOnce(&mut AuthConfig)) -> Arc<AuthConfig> {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 64;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 1000;
    c.signing_secret = Some(SIGNING_SECRET.to_owned().into());
    c.jwt_secret = Some(JWT_SECRET.to_owned().into());
    f(&mut c);
    Arc::new(c)
}

/// Records every built-in event.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    pub fn attach(&self, emitter: &EventEmitter) {
        for kind in EventKind::ALL {
            let log = Arc::clone(&self.0);
            emitter.on(kind, move |event: &Event| {
                log.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(event.clone());
                Box::pin(async { Ok(()) })
            });
        }
    }

    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The token of the last reset link.
    pub fn reset_token(&self) -> Option<String> {
        self.take().into_iter().rev().find_map(|e| match e {
            Event::PasswordResetRequested { token, .. } => Some(token.expose_secret().to_owned()),
            _ => None,
        })
    }

    /// The token of the last login link.
    pub fn login_link_token(&self) -> Option<String> {
        self.take().into_iter().rev().find_map(|e| match e {
            Event::EmailTokenCreated { token, .. } => Some(token.expose_secret().to_owned()),
            _ => None,
        })
    }

    /// The code of the last onboarding mail (`verification_code_generated`).
    pub fn onboarding_code(&self) -> Option<String> {
        self.take().into_iter().rev().find_map(|e| match e {
            Event::VerificationCodeGenerated { code, .. } => Some(code.expose_secret().to_owned()),
            _ => None,
        })
    }

    /// The token of the last verification link.
    pub fn verification_token(&self) -> Option<String> {
        self.take().into_iter().rev().find_map(|e| match e {
            Event::EmailVerificationRequested { secret, .. } => {
                Some(secret.expose_secret().to_owned())
            }
            _ => None,
        })
    }
}

/// Which token backend the service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    Database,
    Jwt,
    /// EdDSA JWTs, their public key published at `/.well-known/jwks.json`.
    JwtEdDsa,
}

/// A running server.
pub struct Server {
    pub base: String,
    pub addr: SocketAddr,
    pub db: TestDb,
    pub clock: Arc<FixedClock>,
    pub events: Recorder,
    pub state: AuthState<DbUserStore>,
    pub keys: testudo_tokens_db::ApiKeyStore,
    pub http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

/// Extra application routes, given the state.
type Extra = Box<
    dyn FnOnce(
        Router<AuthState<DbUserStore>>,
        &AuthState<DbUserStore>,
    ) -> Router<AuthState<DbUserStore>>,
>;

/// Builds a server on a fresh `backend` database.
pub struct ServerBuilder {
    backend: Backend,
    tokens: Tokens,
    config: Box<dyn FnOnce(&mut AuthConfig)>,
    options: HttpOptions,
    throttle: bool,
    extra: Option<Extra>,
    s2s: Vec<String>,
    steps: Vec<Arc<dyn testudo_service::onboarding::OnboardingStep>>,
}

impl ServerBuilder {
    pub fn new(backend: Backend) -> Self {
        Self {
            backend,
            tokens: Tokens::Database,
            config: Box::new(|_| {}),
            options: HttpOptions::default(),
            throttle: false,
            extra: None,
            s2s: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Appends an application step to the onboarding pipeline.
    pub fn onboarding_step(
        mut self,
        step: Arc<dyn testudo_service::onboarding::OnboardingStep>,
    ) -> Self {
        self.steps.push(step);
        self
    }

    pub fn tokens(mut self, tokens: Tokens) -> Self {
        self.tokens = tokens;
        self
    }

    pub fn config(mut self, f: impl FnOnce(&mut AuthConfig) + 'static) -> Self {
        self.config = Box::new(f);
        self
    }

    pub fn options(mut self, options: HttpOptions) -> Self {
        self.options = options;
        self
    }

    pub fn throttle(mut self) -> Self {
        self.throttle = true;
        self
    }

    pub fn s2s(mut self, token: &str) -> Self {
        self.s2s.push(token.to_owned());
        self
    }

    /// Extra application routes (state: the auth state), merged at the root.
    pub fn routes(
        mut self,
        f: impl FnOnce(
            Router<AuthState<DbUserStore>>,
            &AuthState<DbUserStore>,
        ) -> Router<AuthState<DbUserStore>>
        + 'static,
    ) -> Self {
        self.extra = Some(Box::new(f));
        self
    }

    pub async fn start(self) -> TestResult<Server> {
        let db = TestDb::new(self.backend).await?;
        let config = config(self.config);
        let clock = Arc::new(FixedClock::from_unix(T0)?);
        let emitter = EventEmitter::new();
        let events = Recorder::default();
        events.attach(&emitter);
        let store = DbUserStore::new(db.db().clone()).with_clock(clock.clone());
        let mut builder = AuthService::builder(Arc::clone(&config), store)
            .database(db.db().clone())
            .events(emitter)
            .clock(clock.clone());
        for step in self.steps {
            builder = builder.onboarding_step(step);
        }
        let mut published = None;
        match self.tokens {
            Tokens::Database => {}
            Tokens::Jwt => {
                let jwt: Arc<dyn TokenBackend> =
                    Arc::new(JwtBackend::new(Arc::clone(&config))?.with_clock(clock.clone()));
                builder = builder.backend(jwt);
            }
            Tokens::JwtEdDsa => {
                let mut c = (*config).clone();
                c.jwt_algorithm = testudo_config::JwtAlgorithm::EdDSA;
                let keys = testudo_tokens_jwt::JwtKeys::new()
                    .signing_key(Some("k1"), include_str!("../keys/ed1.key.pem"))
                    .verification_key(Some("k1"), include_str!("../keys/ed1.pub.pem"));
                let jwt =
                    Arc::new(JwtBackend::with_keys(Arc::new(c), keys)?.with_clock(clock.clone()));
                published = Some(Arc::clone(&jwt));
                builder = builder.backend(jwt);
            }
        }
        if self.throttle {
            builder = builder.rate_limiter(Arc::new(testudo_throttle::DbRateLimiter::new(
                db.db().clone(),
                clock.clone(),
            )));
        }
        let service = builder.build()?;
        let mut state = AuthState::builder(service).options(self.options);
        if let Some(jwt) = &published {
            state = state.jwks(jwt)?;
        }
        if !self.s2s.is_empty() {
            state = state.s2s(testudo_service::S2SService::with_tokens(&config, self.s2s)?);
        }
        let keys = testudo_tokens_db::ApiKeyStore::new(db.db().clone(), Arc::clone(&config))
            .with_clock(clock.clone());
        let state = state.api_keys(keys.clone()).build()?;
        let mut app: Router<AuthState<DbUserStore>> =
            Router::new().nest("/auth", testudo_axum::router(state.clone()));
        if let Some(extra) = self.extra {
            app = extra(app, &state);
        }
        let app = app.with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await;
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Server {
            base: format!("http://{addr}"),
            addr,
            db,
            clock,
            events,
            state,
            keys,
            http,
            task,
        })
    }
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POSTs `body` as JSON to `path`.
    pub async fn post(&self, path: &str, body: serde_json::Value) -> TestResult<reqwest::Response> {
        Ok(self
            .http
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await?)
    }

    /// Registers `email` with [`PASSWORD`].
    pub async fn register(&self, email: &str) -> TestResult {
        let r = self
            .post(
                "/auth/register",
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await?;
        assert_eq!(r.status(), 201, "register {email}");
        Ok(())
    }

    /// How many users the database holds.
    pub async fn user_count(&self) -> TestResult<i64> {
        use sea_orm::ConnectionTrait as _;
        let conn = self.db.conn();
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                "SELECT COUNT(*) AS n FROM testudo_users",
            ))
            .await?
            .ok_or("no count")?;
        Ok(row.try_get::<i64>("", "n")?)
    }

    /// Logs in in bearer mode; returns (access, refresh).
    pub async fn login(&self, email: &str) -> TestResult<(String, String)> {
        let r = self
            .post(
                "/auth/login",
                serde_json::json!({"email": email, "password": PASSWORD}),
            )
            .await?;
        assert_eq!(r.status(), 200, "login {email}");
        let v: serde_json::Value = r.json().await?;
        let access = v["access_token"]
            .as_str()
            .ok_or("no access token")?
            .to_owned();
        let refresh = v["refresh_token"]
            .as_str()
            .ok_or("no refresh token")?
            .to_owned();
        Ok((access, refresh))
    }

    /// Logs in in cookie mode (same origin); returns the session cookies.
    pub async fn cookie_login(&self, email: &str) -> TestResult<Jar> {
        self.cookie_login_from(email, &self.base.clone()).await
    }

    /// Logs in in cookie mode from `origin`.
    pub async fn cookie_login_from(&self, email: &str, origin: &str) -> TestResult<Jar> {
        let r = self
            .http
            .post(self.url("/auth/login"))
            .header("content-type", "application/json")
            .header("origin", origin)
            .header("sec-fetch-site", "same-origin")
            .body(
                serde_json::json!({"email": email, "password": PASSWORD, "use_cookies": true})
                    .to_string(),
            )
            .send()
            .await?;
        assert_eq!(r.status(), 200, "cookie login {email}");
        let mut jar = Jar::default();
        jar.update(&r);
        Ok(jar)
    }

    pub async fn stop(self) -> TestResult {
        self.task.abort();
        let _ = self.task.await;
        self.db.cleanup().await
    }
}

/// One `Set-Cookie` as received.
#[derive(Debug, Clone)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    pub attributes: Vec<String>,
}

impl SetCookie {
    pub fn parse(header: &str) -> Option<Self> {
        let mut parts = header.split(';').map(str::trim);
        let (name, value) = parts.next()?.split_once('=')?;
        Some(Self {
            name: name.to_owned(),
            value: value.to_owned(),
            attributes: parts.map(str::to_owned).collect(),
        })
    }

    pub fn has(&self, attribute: &str) -> bool {
        self.attributes
            .iter()
            .any(|a| a.eq_ignore_ascii_case(attribute))
    }
}

/// The `Set-Cookie` headers of a response.
pub fn set_cookies(r: &reqwest::Response) -> Vec<SetCookie> {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(SetCookie::parse)
        .collect()
}

/// A minimal cookie jar that keeps what the tests need to see (and to forge).
#[derive(Debug, Clone, Default)]
pub struct Jar {
    pub access: Option<String>,
    pub refresh: Option<String>,
    pub csrf: Option<String>,
}

impl Jar {
    pub fn update(&mut self, r: &reqwest::Response) {
        for c in set_cookies(r) {
            let value = (!c.value.is_empty()).then_some(c.value);
            match c.name.as_str() {
                "testudo_access" => self.access = value,
                "testudo_refresh" => self.refresh = value,
                "testudo_csrf" => self.csrf = value,
                _ => {}
            }
        }
    }

    /// The `Cookie` header a browser would send to `path`.
    pub fn header(&self, path: &str) -> String {
        let mut parts = Vec::new();
        if let Some(a) = &self.access {
            parts.push(format!("testudo_access={a}"));
        }
        if let Some(c) = &self.csrf {
            parts.push(format!("testudo_csrf={c}"));
        }
        if let Some(r) = self
            .refresh
            .as_ref()
            .filter(|_| path.starts_with("/auth/refresh"))
        {
            parts.push(format!("testudo_refresh={r}"));
        }
        parts.join("; ")
    }
}
