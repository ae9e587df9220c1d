//! testudo quickstart: `cargo run --example quickstart`.
//!
//! On embedded SQLite (in memory, no setup): migrates, creates a user, refuses a weak password
//! with every message, logs in, authenticates the access token, refreshes, shows that the old
//! refresh token is now refused, logs out, and shows that a wrong password and an unknown email
//! get the same answer. Each step is printed, with the events the service emitted.

use std::sync::Arc;

use testudo::events::{Event, EventEmitter, EventKind};
use testudo::service::DbUserStore;
use testudo::{AuthConfig, AuthService, Claims, Database};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // tortoise-auth's defaults: Argon2id m=64 MiB t=3 p=4, 15-minute access and 7-day refresh
    // tokens, the four password validators.
    let config = Arc::new(AuthConfig::builder().build()?);
    say("1. configuration validated (Argon2id m=64 MiB t=3 p=4, the four password validators)");

    let db = Database::connect("sqlite::memory:").await?;
    db.migrate().await?;
    say("2. embedded SQLite database migrated (every testudo_ table)");

    // Print every event the service emits (an application would send mail, audit, ...).
    let events = EventEmitter::new();
    for kind in EventKind::ALL {
        events.on(kind, |event: &Event| {
            let line = describe(event);
            Box::pin(async move {
                say(&format!("   event: {line}"));
                Ok(())
            })
        });
    }
    let auth = AuthService::builder(Arc::clone(&config), DbUserStore::new(db.clone()))
        .database(db)
        .one_query_authenticate()
        .events(events)
        .build()?;

    match auth.create_user("alice@example.com", "alice123").await {
        Err(testudo::Error::InvalidPassword(e)) => {
            say("3. weak password refused, with every message:");
            for message in e.messages() {
                say(&format!("   - {message}"));
            }
        }
        Err(e) => return Err(e.into()),
        Ok(_) => say("3. unexpected: a weak password was accepted"),
    }

    let password = "correct horse battery staple";
    let alice = auth.create_user(" Alice@Example.com ", password).await?;
    say(&format!(
        "4. user {} created as {:?} (email normalised; password hashed with Argon2id off the runtime)",
        alice.id, alice.email
    ));

    let mut claims = Claims::new();
    claims.insert("role".into(), "admin".into());
    let login = auth.login("alice@example.com", password, claims).await?;
    say(&format!(
        "5. logged in: a token pair issued (only SHA-256 digests are stored), last login {:?}",
        login.user.last_login.map(|t| t.to_rfc3339())
    ));

    let me = auth.authenticate(login.access_token()).await?;
    say(&format!(
        "6. access token authenticated as user {} ({})",
        me.id, me.email
    ));

    let next = auth.refresh(login.refresh_token()).await?;
    say("7. refreshed: the refresh token was rotated into a new pair, atomically");
    // Presented again within the rotation grace window (5 s), the old token is only refused:
    // that is what the loser of two concurrent refreshes looks like. Presented later, it would
    // be taken for a stolen token replayed, and reuse detection would revoke the whole family.
    match auth.refresh(login.refresh_token()).await {
        Err(e) => say(&format!("8. the old refresh token is refused: {e}")),
        Ok(_) => say("8. unexpected: the old refresh token still works"),
    }

    // Logout ends the session: the access token and the refresh token it came with.
    auth.logout(next.access_token()).await?;
    match (
        auth.authenticate(next.access_token()).await,
        auth.refresh(next.refresh_token()).await,
    ) {
        (Err(a), Err(r)) => say(&format!(
            "9. logged out: the access token is refused ({a}), and so is its refresh token ({r})"
        )),
        _ => say("9. unexpected: a token of the ended session still works"),
    }

    let wrong = auth
        .login("alice@example.com", "guess", Claims::new())
        .await;
    let unknown = auth
        .login("mallory@example.com", password, Claims::new())
        .await;
    say(&format!(
        "10. wrong password: {:?}; unknown email: {:?} (same answer, same work: one password verification each)",
        wrong.err().map(|e| e.to_string()),
        unknown.err().map(|e| e.to_string()),
    ));
    Ok(())
}

fn describe(event: &Event) -> String {
    match event {
        Event::UserLoginFailed { identifier, reason } => {
            format!(
                "{} (identifier {identifier}, reason {reason})",
                event.name()
            )
        }
        other => match other.user() {
            Some(user) => format!("{} (user {} {})", other.name(), user.id, user.email),
            None => other.name().to_owned(),
        },
    }
}

#[expect(clippy::print_stdout, reason = "an example prints what it does")]
fn say(line: &str) {
    println!("{line}");
}
