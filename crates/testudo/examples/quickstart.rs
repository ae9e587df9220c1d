//! testudo quickstart: `cargo run --example quickstart`.
//!
//! On embedded SQLite (in memory, no setup): migrates, refuses a weak password with every
//! message, hashes and checks a good one, issues a token pair, verifies the access token,
//! refreshes, shows that the old refresh token is now refused, and logs out. Each step is printed.
//!
//! The `AuthService` that ties these steps into `login` / `authenticate` / `refresh` / `logout`
//! is added by the service crate; until then this example drives the parts directly.

use std::collections::HashMap;
use std::sync::Arc;

use testudo::migrations::{Migrator, MigratorTrait};
use testudo::tokens_db::{DatabaseTokenBackend, connect};
use testudo::{AuthConfig, Hasher, SecretString, TokenBackend, TokenType, validate_password};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Arc::new(AuthConfig::builder().build()?);
    say("1. configuration validated (tortoise-auth's defaults: Argon2id m=64 MiB t=3 p=4)");

    let db = connect("sqlite::memory:").await?;
    Migrator::up(&db, None).await?;
    say("2. embedded SQLite database migrated (every testudo_ table)");

    let user = HashMap::from([("email".to_owned(), "alice@example.com".to_owned())]);
    match validate_password("alice123", Some(&user), None) {
        Err(e) => say(&format!("3. weak password refused: {e}")),
        Ok(()) => say("3. unexpected: a weak password was accepted"),
    }

    let hasher = Hasher::new(&config)?;
    let password = "correct horse battery staple";
    validate_password(password, Some(&user), None)?;
    let hash = hasher.hash(SecretString::from(password)).await?;
    let good = hasher
        .verify(SecretString::from(password), hash.clone())
        .await?;
    let bad = hasher
        .verify(SecretString::from("guess"), hash.clone())
        .await?;
    say(&format!(
        "4. password hashed off the runtime ({}...); right password valid: {}, wrong: {}",
        &hash[..30],
        good.valid,
        bad.valid
    ));

    let backend = DatabaseTokenBackend::new(db, Arc::clone(&config));
    let pair = backend.create_tokens("1", Default::default()).await?;
    say("5. token pair issued (only SHA-256 digests are stored)");

    let payload = backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    say(&format!(
        "6. access token verified for user {}",
        payload.sub
    ));

    let (_, next) = backend.rotate(pair.refresh_token()).await?;
    say("7. refreshed: the refresh token was rotated into a new pair");
    match backend
        .verify_token(pair.refresh_token(), TokenType::Refresh)
        .await
    {
        Err(e) => say(&format!("8. the old refresh token is refused: {e}")),
        Ok(_) => say("8. unexpected: the old refresh token still works"),
    }

    backend.revoke_token(next.access_token()).await?;
    match backend
        .verify_token(next.access_token(), TokenType::Access)
        .await
    {
        Err(e) => say(&format!("9. logged out: the access token is refused: {e}")),
        Ok(_) => say("9. unexpected: the revoked access token still works"),
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "an example prints what it does")]
fn say(line: &str) {
    println!("{line}");
}
