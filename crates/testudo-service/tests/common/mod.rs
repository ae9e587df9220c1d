//! Fixtures: cheap configurations, services on a fresh database with each token backend, and an
//! event recorder.

#![allow(dead_code, unreachable_pub, reason = "each test file uses a part")]

use std::sync::{Arc, Mutex, PoisonError};

use testudo_config::AuthConfig;
use testudo_core::{FixedClock, TokenBackend};
use testudo_events::{Event, EventEmitter, EventKind};
use testudo_service::{AuthService, DbUserStore};
use testudo_test_support::TestResult;
use testudo_test_support::db::{Backend, TestDb};
use testudo_tokens_jwt::JwtBackend;

/// The fixed start time of every test (whole seconds, so every database stores it exactly).
pub const T0: i64 = 1_800_000_000;

/// Which token backend a service uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tokens {
    /// Opaque database tokens.
    Database,
    /// Stateless JWTs (no revocation list).
    Jwt,
    /// JWTs with the database revocation list.
    JwtRevocable,
}

impl Tokens {
    /// Every token backend, in the order the tests run them on each database.
    pub const ALL: [Self; 3] = [Self::Database, Self::Jwt, Self::JwtRevocable];
}

/// A configuration with cheap hashing parameters and a JWT secret.
pub fn config(f: impl FnOnce(&mut AuthConfig)) -> Arc<AuthConfig> {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 64;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 1000;
    c.jwt_secret = Some(
        "0123456789abcdef0123456789abcdef-test-secret"
            .to_owned()
            .into(),
    );
    f(&mut c);
    Arc::new(c)
}

/// Records every built-in event emitted on an emitter.
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<Event>>>);

impl Recorder {
    /// An emitter whose built-in events this recorder sees.
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

    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

/// A service on a fresh database.
pub struct Env {
    pub db: TestDb,
    pub auth: AuthService<DbUserStore>,
    pub clock: Arc<FixedClock>,
    pub events: Recorder,
    pub tokens: Tokens,
    pub name: String,
}

impl Env {
    /// A service with `tokens` on a fresh `backend` database and a configuration tweaked by `f`.
    pub async fn new(
        backend: Backend,
        tokens: Tokens,
        f: impl FnOnce(&mut AuthConfig),
    ) -> TestResult<Self> {
        let name = format!("{}/{tokens:?}", backend.name());
        let db = TestDb::new(backend).await?;
        let config = config(f);
        let clock = Arc::new(FixedClock::from_unix(T0)?);
        let emitter = EventEmitter::new();
        let events = Recorder::default();
        events.attach(&emitter);
        let store = DbUserStore::new(db.db().clone()).with_clock(clock.clone());
        let mut builder = AuthService::builder(Arc::clone(&config), store)
            .database(db.db().clone())
            .events(emitter)
            .clock(clock.clone());
        match tokens {
            Tokens::Database => {}
            Tokens::Jwt => {
                let jwt: Arc<dyn TokenBackend> =
                    Arc::new(JwtBackend::new(config)?.with_clock(clock.clone()));
                builder = builder.backend(jwt);
            }
            Tokens::JwtRevocable => {
                let jwt: Arc<dyn TokenBackend> = Arc::new(
                    JwtBackend::new(config)?
                        .with_revocation_list(db.db().clone())
                        .with_clock(clock.clone()),
                );
                builder = builder.backend(jwt);
            }
        }
        let auth = builder.build()?;
        Ok(Self {
            db,
            auth,
            clock,
            events,
            tokens,
            name,
        })
    }

    /// Whether the backend really revokes.
    pub fn revokes(&self) -> bool {
        self.auth.backend().supports_revocation()
    }

    /// Drops the database.
    pub async fn cleanup(self) -> TestResult {
        self.db.cleanup().await
    }
}
