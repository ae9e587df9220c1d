//! `cargo run -p axum_server`: see the crate's `README.md`.

use std::net::SocketAddr;

use axum_server::{Settings, build, random_secret, router};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let port: u16 = env("PORT").map_or(Ok(3000), |p| p.parse())?;
    let public_url = env("PUBLIC_URL").unwrap_or_else(|| format!("http://127.0.0.1:{port}"));
    let settings = Settings {
        database_url: env("DATABASE_URL").unwrap_or_else(|| "sqlite://axum_server.db".to_owned()),
        signing_secret: match env("SIGNING_SECRET") {
            Some(secret) => secret,
            None => random_secret()?,
        },
        public_url: public_url.clone(),
        secure_cookies: env("SECURE_COOKIES").is_some_and(|v| v == "1" || v == "true"),
        cheap_hashing: false,
        clock: None,
    };
    let app = build(&settings).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!(
        "axum_server: {public_url} (database {}); JSON API at {public_url}/auth",
        redact(&settings.database_url)
    );
    axum::serve(
        listener,
        router(&app).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// The URL without its password (`postgres://user:secret@host` → `postgres://user:***@host`).
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}
