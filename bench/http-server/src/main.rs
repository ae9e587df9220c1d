//! `testudo-http-bench MODE DATABASE_FILE`: the server side of `cargo xtask bench --http`
//! (see `docs/benchmarks.md`).
//!
//! Creates a fresh embedded SQLite database in `DATABASE_FILE` (the file must not exist),
//! one user, and logs that user in; prints `TOKEN <access token>`, then `LISTEN <address>`
//! once it accepts connections on a free port of 127.0.0.1, and serves `GET /auth/me` until
//! stdin closes or it is interrupted. `MODE` is one of:
//!
//! - `db`: testudo-axum's router, the database token backend, no cache (the default
//!   service: one query per request, the token and its user joined);
//! - `db-cache`: the same with the token-verification cache and the user cache on (a repeated
//!   request makes no query; the staleness bound is the cache's ttl, 5 s);
//! - `jwt`: the router with the JWT backend (HS256, no revocation list) and the user cache;
//! - `bare`: a plain axum handler answering the same JSON without authentication, nested
//!   at `/auth` as the router is.
//!
//! Hashing parameters are cheap (the login happens once, before the measurement); every
//! other setting is the default.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use testudo::axum::{AuthState, UserView, router};
use testudo::config::TokenBackendKind;
use testudo::db::CacheOptions;
use testudo::service::DbUserStore;
use testudo::{AuthConfig, AuthService, Claims, Database};
use tokio::io::AsyncReadExt;

/// The served variants (see the crate documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Db,
    DbCache,
    Jwt,
    Bare,
}

impl Mode {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "db" => Some(Self::Db),
            "db-cache" => Some(Self::DbCache),
            "jwt" => Some(Self::Jwt),
            "bare" => Some(Self::Bare),
            _ => None,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
#[expect(
    clippy::print_stdout,
    reason = "the driver reads the token and address from stdout"
)]
async fn main() -> Result<(), BoxError> {
    let mut args = std::env::args().skip(1);
    let (Some(mode), Some(file), None) = (args.next(), args.next(), args.next()) else {
        return Err("usage: testudo-http-bench db|db-cache|jwt|bare DATABASE_FILE".into());
    };
    let mode = Mode::parse(&mode).ok_or("MODE is one of db, db-cache, jwt, bare")?;
    if std::path::Path::new(&file).exists() {
        return Err(format!("{file} exists: give a fresh path").into());
    }
    let (app, token) = app(mode, &format!("sqlite://{file}")).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
    println!("TOKEN {token}");
    println!("LISTEN {}", listener.local_addr()?);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(stopped())
    .await?;
    Ok(())
}

/// Resolves when stdin closes (the driver exits or drops the pipe) or on Ctrl-C.
async fn stopped() {
    let stdin = async {
        let mut buf = [0_u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::select! {
        () = stdin => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The router of `mode` on a fresh database at `url`, and an access token of its user.
async fn app(mode: Mode, url: &str) -> Result<(Router, String), BoxError> {
    let db = Database::connect(url).await?;
    db.migrate().await?;
    let mut config = AuthConfig::builder()
        .signing_secret("an-http-bench-signing-secret-of-32-bytes")
        .jwt_secret("an-http-bench-jwt-secret-of-at-least-32-bytes")
        .build()?;
    config.argon2_memory_cost = 64;
    config.argon2_time_cost = 1;
    config.argon2_parallelism = 1;
    if mode == Mode::Jwt {
        config.token_backend = TokenBackendKind::Jwt;
    }
    let config = Arc::new(config);
    let store = match mode {
        Mode::DbCache | Mode::Jwt => {
            DbUserStore::new(db.clone()).with_cache(CacheOptions::default())
        }
        Mode::Db | Mode::Bare => DbUserStore::new(db.clone()),
    };
    let builder = AuthService::builder(config, store).database(db);
    let service = match mode {
        Mode::Db | Mode::Bare => builder.one_query_authenticate().build()?,
        Mode::DbCache => builder
            .verification_cache(CacheOptions::default())
            .build()?,
        Mode::Jwt => builder.build()?,
    };
    let password = "correct horse battery staple";
    let user = service.create_user("bench@example.com", password).await?;
    let login = service
        .login("bench@example.com", password, Claims::new())
        .await?;
    let token = login.access_token().to_owned();
    let app = match mode {
        Mode::Bare => {
            let view = UserView::of(&user);
            let me = get(move || std::future::ready(Json(view.clone())));
            // Nested as the auth router is, so both pay for the same routing.
            Router::new().nest("/auth", Router::new().route("/me", me))
        }
        Mode::Db | Mode::DbCache | Mode::Jwt => {
            let state = AuthState::builder(service).build()?;
            Router::new().nest("/auth", router(state))
        }
    };
    Ok((app, token))
}
