//! [`AuthService`]: login, authenticate, refresh, logout, password changes, passwordless login.

use std::sync::Arc;

use secrecy::SecretString;
use testudo_config::{AuthConfig, TokenBackendKind};
use testudo_core::{
    AuthResult, AuthUser, AuthenticationError, CREDENTIAL_VERSION_CLAIM, Claims, Clock, Error,
    Result, SessionContext, SystemClock, TokenBackend, TokenError, TokenPair, TokenPayload,
    TokenType, UserStore, normalize_email,
};
use testudo_events::{Event, EventEmitter, EventUser, LoginFailureReason};
use testudo_hashers::{AsyncHasher, check_password_length};
use testudo_validators::Validators;

use crate::login_step::{LoginChallenge, LoginStart};
use crate::throttle::{Scope, client_ip};
use tracing::field::Empty;

#[cfg(feature = "db")]
use testudo_db::Database;
#[cfg(feature = "db")]
use testudo_tokens_db::{CacheOptions, DatabaseTokenBackend, EmailTokenOptions, EmailTokenStore};

/// `authenticate` in one query: a store that reads an access token together with its user.
#[cfg(feature = "db")]
#[testudo_core::async_trait]
pub(crate) trait JoinedAuthenticate<U>: Send + Sync + std::fmt::Debug {
    /// As the two-step `authenticate`, with the same errors in the same order.
    async fn authenticate(&self, token: &str) -> Result<U>;
}

/// Makes the one-query `authenticate` from the store and the database backend the builder made
/// (`None` when they do not share a pool).
#[cfg(feature = "db")]
type JoinedFactory<S> = fn(
    &S,
    &Arc<DatabaseTokenBackend>,
) -> Option<Arc<dyn JoinedAuthenticate<<S as UserStore>::User>>>;

/// What [`AuthService::logout_all`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutAll {
    /// This many tokens were revoked (zero when the user had none).
    Revoked(u64),
    /// The backend cannot revoke tokens (a JWT backend without a revocation list): nothing was
    /// revoked, the user's tokens stay valid until they expire, and no event was emitted.
    NotSupported,
}

/// Whether [`AuthService::set_password`] runs the configured password validators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ValidatorPolicy {
    /// Run the validators (with the user's attributes, for the similarity check).
    #[default]
    Run,
    /// Only the length limit applies (e.g. an administrator setting a temporary password).
    Skip,
}

/// Logs users in and out and checks their tokens: tortoise-auth's `AuthService`, with its
/// defects fixed (see the crate documentation).
///
/// Cloning is cheap; clones share everything.
pub struct AuthService<S: UserStore> {
    pub(crate) config: Arc<AuthConfig>,
    pub(crate) store: Arc<S>,
    pub(crate) backend: Arc<dyn TokenBackend>,
    pub(crate) hasher: AsyncHasher,
    pub(crate) validators: Arc<Validators>,
    events: EventEmitter,
    clock: Arc<dyn Clock>,
    refresh_claims: Option<RefreshClaims<S::User>>,
    /// The rate limiter and its policies (`None`: no throttling).
    pub(crate) throttle: Option<crate::throttle::Throttle>,
    /// The signers of the account flows (`None` without a signing secret).
    pub(crate) flows: Option<Arc<crate::account::FlowSigners>>,
    /// The pending verification codes (with a database).
    #[cfg(feature = "db")]
    pub(crate) codes: Option<crate::codes::CodeStore>,
    /// The second factors (with a database).
    #[cfg(feature = "db")]
    pub(crate) factors: Option<crate::second_factor::Factors>,
    /// The onboarding sessions and pipeline (with a database).
    #[cfg(feature = "db")]
    pub(crate) onboarding: Option<crate::onboarding::Onboarding>,
    #[cfg(feature = "db")]
    email_tokens: Option<EmailTokenStore>,
    /// The one-query authenticate ([`AuthServiceBuilder::one_query_authenticate`]).
    #[cfg(feature = "db")]
    joined: Option<Arc<dyn JoinedAuthenticate<S::User>>>,
    /// The database backend, when the builder made it (for
    /// [`AuthService::listen_for_revocations`]).
    #[cfg(feature = "db")]
    made_backend: Option<Arc<DatabaseTokenBackend>>,
}

impl<S: UserStore> Clone for AuthService<S> {
    fn clone(&self) -> Self {
        Self {
            config: Arc::clone(&self.config),
            store: Arc::clone(&self.store),
            backend: Arc::clone(&self.backend),
            hasher: self.hasher.clone(),
            validators: Arc::clone(&self.validators),
            events: self.events.clone(),
            clock: Arc::clone(&self.clock),
            refresh_claims: self.refresh_claims.clone(),
            flows: self.flows.clone(),
            throttle: self.throttle.clone(),
            #[cfg(feature = "db")]
            codes: self.codes.clone(),
            #[cfg(feature = "db")]
            factors: self.factors.clone(),
            #[cfg(feature = "db")]
            onboarding: self.onboarding.clone(),
            #[cfg(feature = "db")]
            email_tokens: self.email_tokens.clone(),
            #[cfg(feature = "db")]
            joined: self.joined.clone(),
            #[cfg(feature = "db")]
            made_backend: self.made_backend.clone(),
        }
    }
}

impl<S: UserStore> std::fmt::Debug for AuthService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthService")
            .field("store", &self.store)
            .field("backend", &self.backend)
            .field("hasher", &self.hasher)
            .field("events", &self.events)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

/// Builds an [`AuthService`]; see [`AuthService::builder`].
#[must_use = "call build()"]
pub struct AuthServiceBuilder<S: UserStore> {
    config: Arc<AuthConfig>,
    store: S,
    backend: Option<Arc<dyn TokenBackend>>,
    hasher: Option<AsyncHasher>,
    validators: Option<Validators>,
    events: Option<EventEmitter>,
    clock: Option<Arc<dyn Clock>>,
    refresh_claims: Option<RefreshClaims<S::User>>,
    rate_limiter: Option<Arc<dyn testudo_throttle::RateLimiter>>,
    #[cfg(feature = "db")]
    db: Option<Database>,
    #[cfg(feature = "db")]
    verification_cache: Option<CacheOptions>,
    #[cfg(feature = "db")]
    joined: Option<JoinedFactory<S>>,
    #[cfg(feature = "db")]
    onboarding_steps: Vec<Arc<dyn crate::onboarding::OnboardingStep>>,
}

impl<S: UserStore> std::fmt::Debug for AuthServiceBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthServiceBuilder")
            .field("store", &self.store)
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

impl<S: UserStore> AuthServiceBuilder<S> {
    /// Appends `step` to the onboarding pipeline, after the built-in steps (verify the email,
    /// set the password) and the steps appended before it. Its name must be unique.
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    pub fn onboarding_step(mut self, step: Arc<dyn crate::onboarding::OnboardingStep>) -> Self {
        self.onboarding_steps.push(step);
        self
    }

    /// The token backend (by default: the database backend on the builder's database, or a
    /// `JwtBackend` when `config.token_backend` is `jwt` and the `jwt` feature is on, with its
    /// revocation list in the builder's database when `config.jwt_blacklist_enabled`).
    pub fn backend(mut self, backend: Arc<dyn TokenBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The password hasher (by default one made from the configuration). Give one to share its
    /// concurrency limit and its dummy hash with other code.
    pub fn hasher(mut self, hasher: AsyncHasher) -> Self {
        self.hasher = Some(hasher);
        self
    }

    /// The password validators (by default those of `config.password_validators`).
    pub fn validators(mut self, validators: Validators) -> Self {
        self.validators = Some(validators);
        self
    }

    /// The emitter events go to (by default the process-wide one, [`testudo_events::emitter`],
    /// so handlers registered with [`testudo_events::on`] see them).
    pub fn events(mut self, events: EventEmitter) -> Self {
        self.events = Some(events);
        self
    }

    /// Throttles logins, reset and login-link requests and verification codes with `limiter`
    /// (see the [`throttle`](crate::throttle) module for what is counted); the limiter should
    /// use the same clock as the service. Without it nothing is throttled, except with
    /// [`AuthService::new`], which uses a database rate limiter on its database.
    pub fn rate_limiter(mut self, limiter: Arc<dyn testudo_throttle::RateLimiter>) -> Self {
        self.rate_limiter = Some(limiter);
        self
    }

    /// The clock deciding expiry and login times (by default the system clock). It is handed to
    /// the token backend and the email-token store this builder makes; not to a backend given
    /// with [`AuthServiceBuilder::backend`], nor to the store (give a [`crate::DbUserStore`] the
    /// same clock with [`crate::DbUserStore::with_clock`]).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Recomputes a session's extra claims on every [`AuthService::refresh`] instead of
    /// carrying the login's forever: `hook` gets the (active) user and the claims the presented
    /// refresh token carries (with the database backend the login's; a JWT refresh token
    /// carries none but testudo's reserved ones), and returns the claims of the next pair. The
    /// reserved [`CREDENTIAL_VERSION_CLAIM`] is set by the service whatever `hook` returns.
    ///
    /// The refresh then reads the token and the user before rotating (one lookup more).
    pub fn refresh_claims(
        mut self,
        hook: impl Fn(&S::User, &Claims) -> Claims + Send + Sync + 'static,
    ) -> Self {
        self.refresh_claims = Some(Arc::new(hook));
        self
    }

    /// The database for the default token backend and for passwordless login (the email-token
    /// store).
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    pub fn database(mut self, db: Database) -> Self {
        self.db = Some(db);
        self
    }

    /// Turns on the token-verification cache of the default database backend this builder
    /// makes (see [`DatabaseTokenBackend::with_cache`]); no effect on a backend given with
    /// [`AuthServiceBuilder::backend`] or on JWTs. Off by default.
    ///
    /// Revocations made through this service (logout, `logout_all`, refresh, password change)
    /// are seen at once by this process; by other processes at most `options.ttl` later. The
    /// user lookup has its own cache, on the store: [`crate::DbUserStore::with_cache`]. With
    /// both on, a repeated `authenticate` makes no database query.
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    pub fn verification_cache(mut self, options: CacheOptions) -> Self {
        self.verification_cache = Some(options);
        self
    }

    /// Builds the service.
    ///
    /// The configuration is validated first. The token backend is the one given with
    /// [`AuthServiceBuilder::backend`], or else the one `config.token_backend` names, made
    /// here with the builder's clock (the database backend on the builder's database, or a
    /// `JwtBackend` with its revocation list in that database when
    /// `config.jwt_blacklist_enabled`). The builder's clock also reaches the email-token store.
    ///
    /// # Errors
    ///
    /// [`Error::Configuration`] for an invalid configuration, invalid hashing parameters, an
    /// unreadable common-password list, a JWT configuration `JwtBackend` refuses, or no token
    /// backend at all ([`crate::Error::NoTokenBackend`]).
    pub fn build(self) -> Result<AuthService<S>> {
        let config = self.config;
        config.validate()?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let hasher = match self.hasher {
            Some(h) => h,
            None => AsyncHasher::new(&config)?,
        };
        let validators = match self.validators {
            Some(v) => v,
            None => Validators::from_config(&config)?,
        };
        let chosen = match self.backend {
            Some(given) => Chosen::Given(given),
            None => Chosen::made(
                &config,
                &clock,
                #[cfg(feature = "db")]
                self.db.as_ref(),
                #[cfg(feature = "db")]
                self.verification_cache,
            )?,
        };
        #[cfg(feature = "db")]
        let joined = match (&chosen, self.joined) {
            (Chosen::Database(backend), Some(make)) => make(&self.store, backend),
            _ => None,
        };
        #[cfg(feature = "db")]
        let made_backend = match &chosen {
            Chosen::Database(backend) => Some(Arc::clone(backend)),
            _ => None,
        };
        let flows = crate::account::FlowSigners::new(&config, &clock)?.map(Arc::new);
        #[cfg(feature = "db")]
        let factors = match &self.db {
            Some(db) => Some(crate::second_factor::Factors::new(
                db.clone(),
                crate::second_factor::SecondFactorKeys::new(&config)?,
            )),
            None => None,
        };
        #[cfg(feature = "db")]
        let onboarding = self
            .db
            .as_ref()
            .map(|db| crate::onboarding::Onboarding::new(db.clone(), self.onboarding_steps));
        Ok(AuthService {
            #[cfg(feature = "db")]
            factors,
            #[cfg(feature = "db")]
            onboarding,
            flows,
            throttle: self
                .rate_limiter
                .map(|limiter| crate::throttle::Throttle::new(limiter, &config)),
            #[cfg(feature = "db")]
            codes: self
                .db
                .as_ref()
                .map(|db| crate::codes::CodeStore::new(db.clone(), Arc::clone(&clock))),
            #[cfg(feature = "db")]
            joined,
            #[cfg(feature = "db")]
            made_backend,
            #[cfg(feature = "db")]
            email_tokens: self.db.map(|db| {
                EmailTokenStore::new(db, Arc::clone(&config)).with_clock(Arc::clone(&clock))
            }),
            config,
            store: Arc::new(self.store),
            backend: chosen.into_backend(),
            hasher,
            validators: Arc::new(validators),
            events: self
                .events
                .unwrap_or_else(|| testudo_events::emitter().clone()),
            clock,
            refresh_claims: self.refresh_claims,
        })
    }
}

#[cfg(feature = "db")]
impl AuthServiceBuilder<crate::DbUserStore> {
    /// Makes `authenticate` read the access token and its user in one query (a `LEFT JOIN`)
    /// instead of two, when the token backend is the database backend this builder makes (no
    /// [`AuthServiceBuilder::backend`]) on the same pool as the store (clones of one
    /// [`Database`]); otherwise `authenticate` stays two-step. The answers and errors are those
    /// of the two-step path (see the crate documentation). [`AuthService::new`] turns it on.
    pub fn one_query_authenticate(mut self) -> Self {
        self.joined = Some(|store, backend| {
            crate::joined::Joined::new(store, backend)
                .map(|j| -> Arc<dyn JoinedAuthenticate<crate::User>> { Arc::new(j) })
        });
        self
    }
}

/// The token backend [`AuthServiceBuilder::build`] settled on.
enum Chosen {
    /// Given with [`AuthServiceBuilder::backend`].
    Given(Arc<dyn TokenBackend>),
    /// The database backend, made by the builder.
    #[cfg(feature = "db")]
    Database(Arc<DatabaseTokenBackend>),
    /// A JWT backend, made by the builder.
    #[cfg(feature = "jwt")]
    Jwt(Arc<testudo_tokens_jwt::JwtBackend>),
}

impl Chosen {
    /// The backend `config.token_backend` names, made with `clock`.
    fn made(
        config: &Arc<AuthConfig>,
        clock: &Arc<dyn Clock>,
        #[cfg(feature = "db")] db: Option<&Database>,
        #[cfg(feature = "db")] cache: Option<CacheOptions>,
    ) -> Result<Self> {
        match config.token_backend {
            TokenBackendKind::Jwt => Self::jwt(
                config,
                clock,
                #[cfg(feature = "db")]
                db,
            ),
            _ => {
                #[cfg(feature = "db")]
                if let Some(db) = db {
                    let backend = DatabaseTokenBackend::new(db.clone(), Arc::clone(config))
                        .with_clock(Arc::clone(clock));
                    let backend = match cache {
                        Some(options) => backend.with_cache(options),
                        None => backend,
                    };
                    return Ok(Self::Database(Arc::new(backend)));
                }
                Err(crate::Error::NoTokenBackend.into())
            }
        }
    }

    #[cfg(feature = "jwt")]
    fn jwt(
        config: &Arc<AuthConfig>,
        clock: &Arc<dyn Clock>,
        #[cfg(feature = "db")] db: Option<&Database>,
    ) -> Result<Self> {
        let backend =
            testudo_tokens_jwt::JwtBackend::new(Arc::clone(config))?.with_clock(Arc::clone(clock));
        #[cfg(feature = "db")]
        let backend = match db {
            Some(db) if config.jwt_blacklist_enabled => backend.with_revocation_list(db.clone()),
            _ => backend,
        };
        Ok(Self::Jwt(Arc::new(backend)))
    }

    #[cfg(not(feature = "jwt"))]
    fn jwt(
        _: &Arc<AuthConfig>,
        _: &Arc<dyn Clock>,
        #[cfg(feature = "db")] _: Option<&Database>,
    ) -> Result<Self> {
        Err(crate::Error::JwtFeatureDisabled.into())
    }

    fn into_backend(self) -> Arc<dyn TokenBackend> {
        match self {
            Self::Given(b) => b,
            #[cfg(feature = "db")]
            Self::Database(b) => b,
            #[cfg(feature = "jwt")]
            Self::Jwt(b) => b,
        }
    }
}

#[cfg(feature = "db")]
impl AuthService<crate::DbUserStore> {
    /// A service on `db` with the built-in users table, the database token backend (or JWTs when
    /// `config.token_backend` says so), throttling with a database rate limiter (shared by every
    /// node on the database), the system clock and the process-wide event emitter.
    ///
    /// # Errors
    ///
    /// As [`AuthServiceBuilder::build`].
    pub fn new(config: Arc<AuthConfig>, db: Database) -> Result<Self> {
        let limiter = testudo_throttle::DbRateLimiter::new(db.clone(), Arc::new(SystemClock));
        Self::builder(config, crate::DbUserStore::new(db.clone()))
            .database(db)
            .rate_limiter(Arc::new(limiter))
            .one_query_authenticate()
            .build()
    }

    /// Creates an active, unverified user: the email is normalised, the password checked against
    /// the length limit and the configured validators (with the email for the similarity check)
    /// and hashed with Argon2id off the async runtime.
    ///
    /// # Errors
    ///
    /// [`testudo_core::AccountError::InvalidEmail`] for an address that is not one (empty, no `@`, a
    /// control character or whitespace inside, over 254 bytes), checked before any hashing;
    /// [`Error::InvalidPassword`] with every message; [`Error::EmailTaken`]; [`Error::Storage`].
    #[tracing::instrument(name = "testudo.create_user", skip_all, fields(user_id = Empty))]
    pub async fn create_user(&self, email: &str, password: &str) -> Result<crate::User> {
        self.bounded(async move {
            let email = normalize_email(email);
            if !crate::flows::plausible_email(&email) {
                return Err(testudo_core::AccountError::InvalidEmail.into());
            }
            check_password_length(password, self.config.max_password_length)?;
            let attributes = std::collections::HashMap::from([("email".to_owned(), email.clone())]);
            self.validators.validate(password, Some(&attributes))?;
            let hash = self.hasher.hash(SecretString::from(password)).await?;
            let user = self.store.insert_user(&email, &hash).await?;
            tracing::Span::current().record("user_id", user.id);
            Ok(user)
        })
        .await
    }

    /// Self-service registration: [`Self::create_user`] from the client at `ip` (e.g. the
    /// request's peer address), throttled first when a rate limiter is configured (scope
    /// `registration`, the login policy, per normalised address and per client address
    /// [`CLIENT_FACTOR`](crate::throttle::CLIENT_FACTOR) times more), so that a client cannot
    /// test addresses for existing accounts ([`Error::EmailTaken`]) at full speed nor make
    /// the service hash passwords without limit. What `POST /register` calls; keep
    /// [`Self::create_user`] for administration and seeding.
    ///
    /// # Errors
    ///
    /// [`Error::RateLimited`] (before any work); as [`Self::create_user`].
    pub async fn register(
        &self,
        email: &str,
        password: &str,
        ip: Option<&str>,
    ) -> Result<crate::User> {
        let normalised = normalize_email(email);
        self.throttle(Scope::Registration, &normalised, client_ip(ip))
            .await?;
        self.create_user(email, password).await
    }

    /// Deletes a user: every token of theirs is revoked first (when the backend can revoke;
    /// a stateless JWT is refused anyway once its user is gone), their pending email tokens
    /// are deleted, then the row. Returns whether the user existed.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`].
    #[tracing::instrument(name = "testudo.delete_user", skip_all, fields(user_id = id))]
    pub async fn delete_user(&self, id: &str) -> Result<bool> {
        self.bounded(async move {
            if self.backend.supports_revocation() {
                let n = self.backend.revoke_all_for_user(id).await?;
                tracing::info!(revoked = n, "tokens revoked before deleting the user");
            }
            if let Some(user) = self.store.find_by_id(id).await? {
                self.clear_email_tokens(&user).await?;
            }
            // A later user given the same id must not inherit this one's second factor.
            if let Some(factors) = &self.factors {
                self.delete_second_factor(factors, id).await?;
            }
            self.store.delete_user(id).await
        })
        .await
    }
}

impl<S: UserStore> AuthService<S> {
    /// A builder for a service with `store` as its users.
    pub fn builder(config: Arc<AuthConfig>, store: S) -> AuthServiceBuilder<S> {
        AuthServiceBuilder {
            config,
            store,
            backend: None,
            hasher: None,
            validators: None,
            events: None,
            clock: None,
            refresh_claims: None,
            rate_limiter: None,
            #[cfg(feature = "db")]
            db: None,
            #[cfg(feature = "db")]
            verification_cache: None,
            #[cfg(feature = "db")]
            joined: None,
            #[cfg(feature = "db")]
            onboarding_steps: Vec::new(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &Arc<AuthConfig> {
        &self.config
    }

    /// The user store.
    #[must_use]
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The token backend.
    #[must_use]
    pub fn backend(&self) -> &Arc<dyn TokenBackend> {
        &self.backend
    }

    /// The password hasher every hash and verification of this service goes through.
    #[must_use]
    pub fn hasher(&self) -> &AsyncHasher {
        &self.hasher
    }

    /// The password validators.
    #[must_use]
    pub fn validators(&self) -> &Validators {
        &self.validators
    }

    /// The event emitter.
    #[must_use]
    pub fn events(&self) -> &EventEmitter {
        &self.events
    }

    /// The clock.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Runs one public call under `storage_call_timeout`: a call still waiting when it runs
    /// out is abandoned (dropped: an open transaction rolls back, a statement the server
    /// already received may still commit, as with any lost connection) and fails with a
    /// storage error of kind connection lost.
    pub(crate) async fn bounded<T>(&self, call: impl Future<Output = Result<T>>) -> Result<T> {
        let limit = self.config.storage_call_timeout;
        if let Ok(answer) = tokio::time::timeout(limit, call).await {
            answer
        } else {
            tracing::warn!(
                ?limit,
                "call abandoned: no answer within storage_call_timeout"
            );
            Err(timed_out(limit))
        }
    }

    pub(crate) async fn emit(&self, event: Event) -> Result<()> {
        self.events.emit(&event).await.map_err(Error::from)
    }

    async fn login_failed<T>(&self, identifier: String, reason: LoginFailureReason) -> Result<T> {
        tracing::info!(reason = reason.as_str(), "login failed");
        self.emit(Event::UserLoginFailed { identifier, reason })
            .await?;
        Err(AuthenticationError::InvalidCredentials.into())
    }

    pub(crate) async fn active_user(&self, id: &str) -> Result<S::User> {
        match self.store.find_by_id(id).await? {
            None => Err(AuthenticationError::UserNotFound.into()),
            Some(user) if !user.is_active() => Err(AuthenticationError::UserInactive.into()),
            Some(user) => Ok(user),
        }
    }

    /// Logs in with an email and a password and returns the user and a fresh token pair;
    /// `extra` claims go into the access token (and, with the database backend, into the access
    /// tokens [`Self::refresh`] issues later; JWT refresh tokens carry no claims).
    ///
    /// An unknown email, an inactive user and a wrong password all give
    /// [`AuthenticationError::InvalidCredentials`] and cost exactly one password verification
    /// with the current parameters (a dummy one where there is no usable hash: unknown or
    /// inactive users, unusable or unreadable stored hashes, over-long passwords), so neither the
    /// answer nor its timing tells whether the email exists. The real reason goes to the
    /// `user_login_failed` event (`not_found`, `inactive`, `bad_password`; the identifier is the
    /// normalised email) and to tracing.
    ///
    /// On success a legacy or outdated hash is replaced by a fresh Argon2id hash, the pair is
    /// issued, `last_login` is saved and `user_login` is emitted. If a `user_login` handler fails
    /// with error propagation on, the pair is revoked and the handler's error returned.
    ///
    /// # Errors
    ///
    /// [`AuthenticationError::InvalidCredentials`]; [`Error::RateLimited`] when throttling
    /// refuses the attempt (before any lookup or hashing); [`Error::Storage`]; [`Error::Event`]
    /// from a propagating handler; [`AuthenticationError::SecondFactorRequired`] (after the
    /// password check, no tokens issued) when the account has a confirmed second factor: use
    /// [`Self::login_start`] for such accounts.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
    ) -> Result<AuthResult<S::User>> {
        self.login_from(email, password, extra, None).await
    }

    /// [`Self::login`] from the client at `ip` (its address as text, e.g. the socket's peer):
    /// throttling then also counts the attempts of that client (see [`crate::throttle`]).
    ///
    /// # Errors
    ///
    /// As [`Self::login`].
    pub async fn login_from(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
        ip: Option<&str>,
    ) -> Result<AuthResult<S::User>> {
        self.login_with_context(email, password, extra, &SessionContext::from_ip(ip))
            .await
    }

    /// [`Self::login`] from the client `client` describes: throttling counts the attempts of
    /// its IP address (as [`Self::login_from`]), and the session the login starts records its
    /// IP and user agent (see [`Self::list_sessions`]).
    ///
    /// # Errors
    ///
    /// As [`Self::login`].
    #[tracing::instrument(name = "testudo.login", skip_all, fields(user_id = Empty))]
    pub async fn login_with_context(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
        client: &SessionContext,
    ) -> Result<AuthResult<S::User>> {
        let answer = self
            .login_first_factor(email, password, extra, client, SecondStep::Refuse)
            .await?;
        match answer {
            LoginStart::Complete(result) => Ok(result),
            // Not answered with `SecondStep::Refuse`; refused all the same, never bypassed.
            LoginStart::SecondFactor(_) => Err(AuthenticationError::SecondFactorRequired.into()),
        }
    }

    /// A password login that can answer with a second step: [`LoginStart::Complete`] with the
    /// pair, as [`Self::login_from`], when the account has no second factor; otherwise (the
    /// password being right) [`LoginStart::SecondFactor`] with a single-use challenge valid
    /// for `login_challenge_lifetime`, and no tokens: finish with [`Self::complete_login`]
    /// and a code. Throttled, timed and reported as [`Self::login`] (the login counter of the
    /// address is reset once the password is right).
    ///
    /// # Errors
    ///
    /// As [`Self::login`] (never [`AuthenticationError::SecondFactorRequired`]);
    /// [`crate::Error::NoSigningSecret`] (as [`Error::Configuration`]) when an account has a
    /// factor and the service no signing secret.
    pub async fn login_start(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
        ip: Option<&str>,
    ) -> Result<LoginStart<S::User>> {
        self.login_start_with_context(email, password, extra, &SessionContext::from_ip(ip))
            .await
    }

    /// [`Self::login_start`] from the client `client` describes (see
    /// [`Self::login_with_context`]).
    ///
    /// # Errors
    ///
    /// As [`Self::login_start`].
    #[tracing::instrument(name = "testudo.login_start", skip_all, fields(user_id = Empty))]
    pub async fn login_start_with_context(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
        client: &SessionContext,
    ) -> Result<LoginStart<S::User>> {
        self.login_first_factor(email, password, extra, client, SecondStep::Challenge)
            .await
    }

    /// The password step of [`Self::login_from`] and [`Self::login_start`].
    async fn login_first_factor(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
        client: &SessionContext,
        second: SecondStep,
    ) -> Result<LoginStart<S::User>> {
        self.bounded(async move {
            let email = normalize_email(email);
            self.throttle(Scope::Login, &email, client_ip(client.ip()))
                .await?;
            let result = self
                .login_checked(&email, password, extra, client, second)
                .await;
            if result.is_ok() {
                // The pair is issued: a limiter that fails to forget the count must not turn the
                // login into an error (the caller would never get the tokens it was issued).
                if let Err(e) = self.throttle_reset(Scope::Login, &email).await {
                    tracing::warn!(error = %e, "login throttling: the counter was not reset");
                }
            }
            result
        })
        .await
    }

    /// The login after throttling let it through.
    async fn login_checked(
        &self,
        email: &str,
        password: &str,
        extra: Claims,
        client: &SessionContext,
        second: SecondStep,
    ) -> Result<LoginStart<S::User>> {
        let email = email.to_owned();
        let Some(user) = self.store.find_by_email(&email).await? else {
            self.hasher.verify_dummy().await?;
            return self.login_failed(email, LoginFailureReason::NotFound).await;
        };
        let id = user.id();
        tracing::Span::current().record("user_id", id.as_str());
        if !user.is_active() {
            self.hasher.verify_dummy().await?;
            return self.login_failed(email, LoginFailureReason::Inactive).await;
        }
        let verification = self
            .hasher
            .verify(
                SecretString::from(password),
                user.password_hash().to_owned(),
            )
            .await?;
        if !verification.valid {
            return self
                .login_failed(email, LoginFailureReason::BadPassword)
                .await;
        }
        if self.config.require_verified_email && !user.is_verified() {
            tracing::info!(reason = "unverified", "login failed");
            self.emit(Event::UserLoginFailed {
                identifier: email,
                reason: LoginFailureReason::Unverified,
            })
            .await?;
            return Err(AuthenticationError::EmailNotVerified.into());
        }
        // The worst moment for a concurrent password change: verified, nothing written yet.
        testudo_core::pause::point("service.login.after_verify").await;
        if let Some(upgraded) = verification.upgraded {
            self.upgrade_hash(&id, user.password_hash(), &upgraded)
                .await?;
        }
        if self.second_factor_required(&id).await? {
            return match second {
                SecondStep::Refuse => {
                    tracing::info!("login refused: the account has a second factor");
                    Err(AuthenticationError::SecondFactorRequired.into())
                }
                SecondStep::Challenge => self
                    .second_step(&user, &extra)
                    .await
                    .map(LoginStart::SecondFactor),
            };
        }
        self.finish_login(user, extra, &email, client)
            .await
            .map(LoginStart::Complete)
    }

    /// Whether a login of `user_id` must pass a second factor.
    async fn second_factor_required(&self, user_id: &str) -> Result<bool> {
        #[cfg(feature = "db")]
        {
            self.second_factor_enrolled(user_id).await
        }
        #[cfg(not(feature = "db"))]
        {
            let _ = user_id;
            Ok(false)
        }
    }

    /// The challenge of a login with a second factor.
    async fn second_step(&self, user: &S::User, extra: &Claims) -> Result<LoginChallenge> {
        #[cfg(feature = "db")]
        {
            self.issue_challenge(user, extra).await
        }
        #[cfg(not(feature = "db"))]
        {
            let _ = (user, extra);
            Err(AuthenticationError::SecondFactorRequired.into())
        }
    }

    /// Saves the rehash of a verified password, only if the stored hash is still the one
    /// verified (a password changed meanwhile is not undone).
    async fn upgrade_hash(&self, id: &str, old: &str, upgraded: &str) -> Result<()> {
        if self.store.upgrade_password_hash(id, old, upgraded).await? {
            tracing::info!("password hash upgraded");
        } else {
            tracing::info!("password hash not upgraded: the password changed meanwhile");
        }
        Ok(())
    }

    /// Issues the pair of a successful login, bound to the credential version `user` was read
    /// with; saves `last_login` and emits `user_login`. When the version changed since (a
    /// password change raced this login), the pair is revoked and the login fails as
    /// [`LoginFailureReason::CredentialsChanged`]. The session records `client`.
    pub(crate) async fn finish_login(
        &self,
        user: S::User,
        mut extra: Claims,
        identifier: &str,
        client: &SessionContext,
    ) -> Result<AuthResult<S::User>> {
        let id = user.id();
        let version = user.credential_version();
        bind_version(&mut extra, version);
        let tokens = self.backend.create_tokens_for(&id, extra, client).await?;
        self.store.record_login(&id, self.clock.now()).await?;
        let current = self.store.find_by_id(&id).await?;
        let Some(user) = current.filter(|u| u.credential_version() == version) else {
            // Changed (or deleted) after it was read: this pair must not outlive the change.
            self.backend.revoke_session(tokens.access_token()).await?;
            return self
                .login_failed(
                    identifier.to_owned(),
                    LoginFailureReason::CredentialsChanged,
                )
                .await;
        };
        let event = Event::UserLogin {
            user: EventUser::from_user(&user),
        };
        if let Err(e) = self.events.emit(&event).await {
            // A propagating handler refused the login: leave no valid pair behind.
            self.backend.revoke_session(tokens.access_token()).await?;
            return Err(e.into());
        }
        Ok(AuthResult { user, tokens })
    }

    /// The user of a verified token: active, and with the credential version the token was
    /// issued under (a token from before a password change is [`TokenError::Revoked`]).
    async fn token_user(&self, payload: &TokenPayload) -> Result<S::User> {
        let user = self.active_user(&payload.sub).await?;
        check_version(payload, &user)?;
        Ok(user)
    }

    /// The active user an access token belongs to.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] (expired, invalid, revoked) from the backend;
    /// [`AuthenticationError::UserNotFound`] / [`AuthenticationError::UserInactive`] for a valid
    /// token of a deleted or deactivated user; [`Error::Storage`].
    #[tracing::instrument(name = "testudo.authenticate", skip_all, fields(user_id = Empty))]
    pub async fn authenticate(&self, access_token: &str) -> Result<S::User> {
        self.bounded(async move {
            #[cfg(feature = "db")]
            if let Some(joined) = &self.joined {
                return joined.authenticate(access_token).await;
            }
            let payload = self
                .backend
                .verify_token(access_token, TokenType::Access)
                .await?;
            tracing::Span::current().record("user_id", payload.sub.as_str());
            self.token_user(&payload).await
        })
        .await
    }

    /// Exchanges a refresh token for a new pair, atomically (of concurrent refreshes with one
    /// token exactly one succeeds; with reuse detection on, presenting an already rotated token
    /// revokes the user's tokens). The database backend carries the login's extra claims over;
    /// a JWT backend cannot (its refresh tokens carry none); with
    /// [`AuthServiceBuilder::refresh_claims`] the hook recomputes them instead.
    ///
    /// Unlike tortoise-auth, the user must still exist and be active, and the token must carry
    /// the user's current credential version: otherwise the refresh fails (a deleted or
    /// inactive user's tokens are all revoked, so the chain ends). No pair outlives
    /// `session_max_lifetime` from its login.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] (expired, invalid, revoked); [`AuthenticationError::UserNotFound`] /
    /// [`AuthenticationError::UserInactive`]; [`Error::Storage`].
    #[tracing::instrument(name = "testudo.refresh", skip_all, fields(user_id = Empty))]
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenPair> {
        self.bounded(async move {
            let (payload, pair) = match &self.refresh_claims {
                None => self.backend.rotate(refresh_token).await?,
                Some(hook) => {
                    let presented = self
                        .backend
                        .verify_token(refresh_token, TokenType::Refresh)
                        .await?;
                    let user = match self.token_user(&presented).await {
                        Ok(user) => user,
                        Err(e) => return Err(self.end_refused_chain(&presented.sub, e).await),
                    };
                    let mut extra = hook(&user, presented.extra.as_ref().unwrap_or(&Claims::new()));
                    // The session stays bound to the version it was issued under.
                    bind_version(&mut extra, presented.credential_version());
                    self.backend
                        .rotate_with_claims(refresh_token, extra)
                        .await?
                }
            };
            tracing::Span::current().record("user_id", payload.sub.as_str());
            // The rotation has committed: the presented token is spent, so an error from here on
            // would lose the new pair (and the client's next try with the spent token would look
            // like reuse). A user who cannot be read is therefore given the pair: it grants
            // nothing the user's state forbids, because every `authenticate` and every later
            // refresh reads the user again.
            match self.token_user(&payload).await {
                Ok(_) => Ok(pair),
                Err(e @ Error::Storage(_)) => {
                    tracing::warn!(
                        error = %e,
                        "refreshed, but the user could not be read again; the pair is returned"
                    );
                    Ok(pair)
                }
                Err(e) => {
                    if let Err(revoke) = self.backend.revoke_session(pair.access_token()).await {
                        tracing::warn!(error = %revoke, "could not revoke the pair of a refused refresh");
                    }
                    Err(self.end_refused_chain(&payload.sub, e).await)
                }
            }
        })
        .await
    }

    /// A refresh refused for `e`: when the user is deleted, inactive or their credentials
    /// changed, every token of theirs is revoked so the chain ends. Returns `e`, or the
    /// storage error that stopped the revocation.
    async fn end_refused_chain(&self, user_id: &str, e: Error) -> Error {
        if matches!(e, Error::Authentication(_)) {
            match self.backend.revoke_all_for_user(user_id).await {
                Ok(n) => tracing::info!(revoked = n, "refresh refused: user deleted or inactive"),
                Err(revoke) => return revoke,
            }
        }
        e
    }

    /// Revokes a token and emits `user_logout` when it was a valid access token of a known user.
    ///
    /// An expired, revoked, unknown or refresh token is revoked quietly (no error, no event), as
    /// the reference does. With a backend that cannot revoke (a JWT backend without revocation
    /// list) nothing is revoked; see [`TokenBackend::supports_revocation`].
    ///
    /// # Errors
    ///
    /// [`Error::Storage`]; [`Error::Event`] from a propagating handler (after the revocation).
    #[tracing::instrument(name = "testudo.logout", skip_all, fields(user_id = Empty))]
    pub async fn logout(&self, token: &str) -> Result<()> {
        self.bounded(async move {
            match self.backend.verify_token(token, TokenType::Access).await {
                Ok(payload) => {
                    tracing::Span::current().record("user_id", payload.sub.as_str());
                    self.backend.revoke_session(token).await?;
                    if let Some(user) = self.store.find_by_id(&payload.sub).await? {
                        self.emit(Event::UserLogout {
                            user: EventUser::from_user(&user),
                        })
                        .await?;
                    }
                }
                Err(Error::Token(_)) => self.backend.revoke_session(token).await?,
                Err(e) => return Err(e),
            }
            Ok(())
        })
        .await
    }

    /// Revokes every token of `user_id`, deletes the user's pending email tokens and emits
    /// `user_logout` when the user exists.
    ///
    /// With a backend that cannot revoke, answers [`LogoutAll::NotSupported`] and emits nothing,
    /// instead of pretending as tortoise-auth does.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`]; [`Error::Event`] from a propagating handler (after the revocation).
    #[tracing::instrument(name = "testudo.logout_all", skip_all, fields(user_id = user_id))]
    pub async fn logout_all(&self, user_id: &str) -> Result<LogoutAll> {
        self.bounded(async move {
            if !self.backend.supports_revocation() {
                tracing::warn!("logout_all: the token backend cannot revoke tokens");
                return Ok(LogoutAll::NotSupported);
            }
            let revoked = self.backend.revoke_all_for_user(user_id).await?;
            if let Some(user) = self.store.find_by_id(user_id).await? {
                self.clear_email_tokens(&user).await?;
                self.emit(Event::UserLogout {
                    user: EventUser::from_user(&user),
                })
                .await?;
            }
            Ok(LogoutAll::Revoked(revoked))
        })
        .await
    }

    /// Sets a new password and returns the updated user: length limit, the validators when
    /// `policy` is [`ValidatorPolicy::Run`], Argon2id off the runtime, save (hash and
    /// [credential version](AuthUser::credential_version) in one write, so every token issued
    /// before stops authenticating, whatever the backend); then, when
    /// `config.revoke_tokens_on_password_change` is on (the default) and the backend can revoke,
    /// every token of the user is revoked too; the user's pending email tokens are deleted;
    /// then `password_changed` is emitted.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPassword`] with every message; [`AuthenticationError::UserNotFound`] when
    /// the user no longer exists; [`Error::Storage`]; [`Error::Event`].
    #[tracing::instrument(name = "testudo.set_password", skip_all, fields(user_id = Empty))]
    pub async fn set_password(
        &self,
        user: &S::User,
        password: &str,
        policy: ValidatorPolicy,
    ) -> Result<S::User> {
        self.bounded(async move {
            let id = user.id();
            tracing::Span::current().record("user_id", id.as_str());
            check_password_length(password, self.config.max_password_length)?;
            if policy == ValidatorPolicy::Run {
                self.validators.validate(password, Some(user))?;
            }
            let hash = self.hasher.hash(SecretString::from(password)).await?;
            self.store.set_password_hash(&id, &hash).await?;
            let updated = self
                .store
                .find_by_id(&id)
                .await?
                .ok_or(AuthenticationError::UserNotFound)?;
            if self.config.revoke_tokens_on_password_change && self.backend.supports_revocation() {
                let n = self.backend.revoke_all_for_user(&id).await?;
                tracing::info!(revoked = n, "tokens revoked after a password change");
            }
            self.clear_email_tokens(&updated).await?;
            self.emit(Event::PasswordChanged {
                user: EventUser::from_user(&updated),
            })
            .await?;
            Ok(updated)
        })
        .await
    }

    /// Whether `password` is the user's; on success with a legacy (bcrypt, PBKDF2) or outdated
    /// Argon2 hash, the upgraded hash is saved (the `user` value passed in is not changed).
    /// Costs one verification whatever the stored value.
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when saving the upgraded hash fails.
    #[tracing::instrument(name = "testudo.check_password", skip_all, fields(user_id = Empty))]
    pub async fn check_password(&self, user: &S::User, password: &str) -> Result<bool> {
        let id = user.id();
        tracing::Span::current().record("user_id", id.as_str());
        let verification = self
            .hasher
            .verify(
                SecretString::from(password),
                user.password_hash().to_owned(),
            )
            .await?;
        if let (true, Some(upgraded)) = (verification.valid, verification.upgraded) {
            self.upgrade_hash(&id, user.password_hash(), &upgraded)
                .await?;
        }
        Ok(verification.valid)
    }

    /// Saves an unusable password for the user and returns the updated user: no password login
    /// any more, and, as with any credential change, the user's sessions end (their tokens
    /// carry the old credential version); passwordless login still works.
    ///
    /// # Errors
    ///
    /// [`AuthenticationError::UserNotFound`]; [`Error::Storage`].
    #[tracing::instrument(name = "testudo.set_unusable_password", skip_all, fields(user_id = Empty))]
    pub async fn set_unusable_password(&self, user: &S::User) -> Result<S::User> {
        self.bounded(async move {
            let id = user.id();
            tracing::Span::current().record("user_id", id.as_str());
            let sentinel = testudo_hashers::make_unusable_password()?;
            self.store.set_password_hash(&id, &sentinel).await?;
            self.store
                .find_by_id(&id)
                .await?
                .ok_or_else(|| AuthenticationError::UserNotFound.into())
        })
        .await
    }

    /// Whether the user's stored password can ever verify.
    #[must_use]
    pub fn has_usable_password(&self, user: &S::User) -> bool {
        testudo_hashers::is_usable(user.password_hash())
    }

    /// Makes the verification cache of the database backend this service built
    /// ([`AuthServiceBuilder::verification_cache`]) exact across nodes on PostgreSQL: the
    /// backend listens for the revocations every node announces and drops those entries, as
    /// [`DatabaseTokenBackend::listen_for_revocations`] describes (its guarantees and its
    /// remaining window). Call it once after building; does nothing without the cache, or
    /// when the backend was given with [`AuthServiceBuilder::backend`] (call it on that
    /// backend).
    ///
    /// # Errors
    ///
    /// [`Error::Storage`] when the first `LISTEN` fails, [`Error::Configuration`] when the
    /// database is not PostgreSQL.
    #[cfg(feature = "postgres")]
    #[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
    pub async fn listen_for_revocations(&self) -> Result<()> {
        if let Some(backend) = &self.made_backend {
            backend.listen_for_revocations().await?;
        }
        Ok(())
    }

    /// Deletes the user's pending email tokens (login links), when there is an email-token
    /// store: called wherever the user's sessions end, so no mailed link outlives them.
    pub(crate) async fn clear_email_tokens(&self, user: &S::User) -> Result<()> {
        #[cfg(feature = "db")]
        if let Some(tokens) = &self.email_tokens {
            let n = tokens.remove_tokens(user.email()).await?;
            tracing::debug!(removed = n, "pending email tokens removed");
        }
        #[cfg(not(feature = "db"))]
        let _ = user;
        Ok(())
    }

    #[cfg(feature = "db")]
    fn email_tokens(&self) -> Result<&EmailTokenStore> {
        self.email_tokens
            .as_ref()
            .ok_or_else(|| crate::Error::NoEmailTokenStore.into())
    }

    /// Starts a passwordless login: for an active user with this email, creates a single-use
    /// email token (bound to `ip` when given, valid for `config.email_token_lifetime`) and emits
    /// `email_token_created` with the raw token and purpose `login`; the application's handler
    /// mails the link. For an unknown or inactive email nothing is created or emitted, and the
    /// answer is the same `Ok(())`.
    ///
    /// # Errors
    ///
    /// [`crate::Error::NoEmailTokenStore`] (as [`Error::Configuration`]) without a database;
    /// [`Error::Storage`]; [`Error::Event`].
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[tracing::instrument(name = "testudo.request_login_link", skip_all, fields(user_id = Empty))]
    pub async fn request_login_link(&self, email: &str, ip: Option<&str>) -> Result<()> {
        self.bounded(async move {
            let tokens = self.email_tokens()?;
            let email = normalize_email(email);
            self.throttle(Scope::LoginLink, &email, client_ip(ip))
                .await?;
            let user = self.store.find_by_email(&email).await?;
            let Some(user) = user.filter(AuthUser::is_active) else {
                tracing::info!("login link not sent: unknown or inactive address");
                return Ok(());
            };
            tracing::Span::current().record("user_id", user.id().as_str());
            let mut options = EmailTokenOptions::new();
            if let Some(ip) = ip {
                options = options.ip(ip);
            }
            // The stored address, never the typed one: the link goes where the account's mail goes.
            let email = user.email().to_owned();
            let token = tokens.create_token(&email, options).await?;
            self.emit(Event::EmailTokenCreated {
                email,
                token: SecretString::from(token),
                purpose: "login".into(),
                user: Some(EventUser::from_user(&user)),
            })
            .await
        })
        .await
    }

    /// Logs in with a token from [`Self::request_login_link`] (used from `ip`): the token is
    /// consumed, the email marked verified, and the login finished as [`Self::login`] does
    /// (pair issued, `last_login` saved, `user_login` emitted). The first verification of an
    /// address first resets the account (see `reset_account_on_first_verification`): a
    /// password set before it is discarded and earlier sessions revoked.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] for an unknown, expired or wrong-address token (a token used from
    /// another address than the one it is bound to is deleted);
    /// [`AuthenticationError::InvalidCredentials`] when the user is gone or inactive;
    /// [`AuthenticationError::SecondFactorRequired`] when the account has a confirmed second
    /// factor (a login link does not stand in for it; the token is used up);
    /// [`Error::Storage`]; [`Error::Event`].
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    pub async fn login_with_email_token(
        &self,
        email: &str,
        token: &str,
        ip: Option<&str>,
    ) -> Result<AuthResult<S::User>> {
        self.login_with_email_token_with_context(email, token, &SessionContext::from_ip(ip))
            .await
    }

    /// [`Self::login_with_email_token`] from the client `client` describes: the link's IP
    /// binding is checked against its IP, and the session records its IP and user agent.
    ///
    /// # Errors
    ///
    /// As [`Self::login_with_email_token`].
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[tracing::instrument(name = "testudo.login_with_email_token", skip_all, fields(user_id = Empty))]
    pub async fn login_with_email_token_with_context(
        &self,
        email: &str,
        token: &str,
        client: &SessionContext,
    ) -> Result<AuthResult<S::User>> {
        match self
            .email_token_login(email, token, client, SecondStep::Refuse)
            .await?
        {
            LoginStart::Complete(result) => Ok(result),
            LoginStart::SecondFactor(_) => Err(AuthenticationError::SecondFactorRequired.into()),
        }
    }

    /// [`Self::login_with_email_token`] for accounts that may have a second factor: answers
    /// [`LoginStart::SecondFactor`] with a challenge (no tokens yet; finish with
    /// [`Self::complete_login`]) when the account has one, [`LoginStart::Complete`] otherwise.
    /// The link is used up either way.
    ///
    /// # Errors
    ///
    /// As [`Self::login_with_email_token`] (never
    /// [`AuthenticationError::SecondFactorRequired`]).
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    pub async fn login_with_email_token_start(
        &self,
        email: &str,
        token: &str,
        ip: Option<&str>,
    ) -> Result<LoginStart<S::User>> {
        self.login_with_email_token_start_with_context(email, token, &SessionContext::from_ip(ip))
            .await
    }

    /// [`Self::login_with_email_token_start`] from the client `client` describes (see
    /// [`Self::login_with_email_token_with_context`]).
    ///
    /// # Errors
    ///
    /// As [`Self::login_with_email_token_start`].
    #[cfg(feature = "db")]
    #[cfg_attr(docsrs, doc(cfg(feature = "db")))]
    #[tracing::instrument(name = "testudo.login_with_email_token_start", skip_all, fields(user_id = Empty))]
    pub async fn login_with_email_token_start_with_context(
        &self,
        email: &str,
        token: &str,
        client: &SessionContext,
    ) -> Result<LoginStart<S::User>> {
        self.email_token_login(email, token, client, SecondStep::Challenge)
            .await
    }

    /// The login-link step of [`Self::login_with_email_token`] and
    /// [`Self::login_with_email_token_start`].
    #[cfg(feature = "db")]
    async fn email_token_login(
        &self,
        email: &str,
        token: &str,
        client: &SessionContext,
        second: SecondStep,
    ) -> Result<LoginStart<S::User>> {
        self.bounded(async move {
            let tokens = self.email_tokens()?;
            let email = normalize_email(email);
            tokens.auth_token(&email, token, client.ip()).await?;
            // The token was made for the stored address of the account: the one found must have
            // exactly that address (a store that matched a look-alike does not log anyone in).
            let found = self.store.find_by_email(&email).await?;
            let Some(user) = found.filter(|u| u.email() == email) else {
                return self.login_failed(email, LoginFailureReason::NotFound).await;
            };
            tracing::Span::current().record("user_id", user.id().as_str());
            if !user.is_active() {
                return self.login_failed(email, LoginFailureReason::Inactive).await;
            }
            let user = if user.is_verified() {
                user
            } else {
                self.first_verification(&user).await?
            };
            // A login link is one factor: it does not stand in for the second.
            if self.second_factor_required(&user.id()).await? {
                return match second {
                    SecondStep::Refuse => {
                        tracing::info!("login link refused: the account has a second factor");
                        Err(AuthenticationError::SecondFactorRequired.into())
                    }
                    SecondStep::Challenge => self
                        .second_step(&user, &Claims::new())
                        .await
                        .map(LoginStart::SecondFactor),
                };
            }
            self.finish_login(user, Claims::new(), &email, client)
                .await
                .map(LoginStart::Complete)
        })
        .await
    }

    /// Marks the user's address verified, the first time it is proven (an emailed link used).
    /// With `reset_account_on_first_verification` (the default) the account is first taken
    /// from whoever registered the address before its owner proved it (pre-account takeover):
    /// a password set before is replaced by an unusable one (which also ends every session
    /// through the credential version), the user's tokens are revoked and a second factor
    /// enrolled before is removed. Returns the user as stored afterwards.
    #[cfg(feature = "db")]
    async fn first_verification(&self, user: &S::User) -> Result<S::User> {
        let id = user.id();
        if self.config.reset_account_on_first_verification {
            if testudo_hashers::is_usable(user.password_hash()) {
                let sentinel = testudo_hashers::make_unusable_password()?;
                self.store.set_password_hash(&id, &sentinel).await?;
                tracing::info!("first verification: the password set before it was discarded");
            }
            if self.backend.supports_revocation() {
                let n = self.backend.revoke_all_for_user(&id).await?;
                tracing::info!(revoked = n, "first verification: earlier sessions revoked");
            }
            // A factor enrolled before the address was proven is whoever registered it's, not
            // the owner's: left in place it would lock the owner out.
            if let Some(factors) = &self.factors
                && self.delete_second_factor(factors, &id).await?
            {
                tracing::info!("first verification: a second factor enrolled before it removed");
            }
        }
        self.store.mark_verified(&id).await?;
        self.store
            .find_by_id(&id)
            .await?
            .ok_or_else(|| AuthenticationError::UserNotFound.into())
    }
}

/// What a password login does when the account has a second factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SecondStep {
    /// Refuse ([`AuthService::login`]: it can only answer tokens).
    Refuse,
    /// Answer a challenge ([`AuthService::login_start`]).
    Challenge,
}

/// Sets the reserved [`CREDENTIAL_VERSION_CLAIM`] of `extra` to `version` (absent for 0).
pub(crate) fn bind_version(extra: &mut Claims, version: u64) {
    if version == 0 {
        extra.remove(CREDENTIAL_VERSION_CLAIM);
    } else {
        extra.insert(CREDENTIAL_VERSION_CLAIM.to_owned(), version.into());
    }
}

/// A refresh-claims hook ([`AuthServiceBuilder::refresh_claims`]).
type RefreshClaims<U> = Arc<dyn Fn(&U, &Claims) -> Claims + Send + Sync>;

/// The error of a call abandoned after `limit` ([`AuthService::bounded`]).
fn timed_out(limit: std::time::Duration) -> Error {
    #[cfg(feature = "db")]
    {
        testudo_db::Error::timed_out(limit).into()
    }
    #[cfg(not(feature = "db"))]
    {
        Error::Storage(format!("no answer from the storage within {limit:?}").into())
    }
}

/// Refuses a token issued under another credential version than the user's current one.
pub(crate) fn check_version<U: AuthUser>(payload: &TokenPayload, user: &U) -> Result<()> {
    if payload.credential_version() == user.credential_version() {
        Ok(())
    } else {
        tracing::info!("token refused: issued before the user's credentials changed");
        Err(TokenError::Revoked.into())
    }
}
