//! Account flows end to end: `cargo run --example account_flows`.
//!
//! On embedded SQLite (in memory, no setup): a user registers, verifies the address with an
//! emailed six-digit code, forgets the password, resets it with the emailed link, logs in with
//! the new one, and finds that the link does not work twice. "Sending mail" is a handler that
//! puts each message in an in-memory mailbox, where an application would queue a real mail.

use std::sync::{Arc, Mutex, PoisonError};

use testudo::events::{Event, EventEmitter, EventKind};
use testudo::service::DbUserStore;
use testudo::{AuthConfig, AuthService, Claims, Database, ExposeSecret};

/// What the mail handler "sent": (to, secret).
type Mailbox = Arc<Mutex<Vec<(String, String)>>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Links and codes are signed with keys derived from signing_secret (one key per purpose).
    let config = Arc::new(
        AuthConfig::builder()
            .signing_secret("change-me: at least 32 random bytes, from a secret store")
            .build()?,
    );
    let db = Database::connect("sqlite::memory:").await?;
    db.migrate().await?;

    let mailbox = Mailbox::default();
    let events = EventEmitter::new();
    for kind in [
        EventKind::EmailVerificationRequested,
        EventKind::PasswordResetRequested,
    ] {
        let mailbox = Arc::clone(&mailbox);
        events.on(kind, move |event: &Event| {
            let mail = match event {
                Event::EmailVerificationRequested { email, secret, .. } => {
                    Some((email.clone(), secret.expose_secret().to_owned()))
                }
                Event::PasswordResetRequested { email, token, .. } => {
                    Some((email.clone(), token.expose_secret().to_owned()))
                }
                _ => None,
            };
            if let Some(mail) = mail {
                mailbox
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(mail);
            }
            Box::pin(async { Ok(()) })
        });
    }
    let auth = AuthService::builder(Arc::clone(&config), DbUserStore::new(db.clone()))
        .database(db)
        .events(events)
        .build()?;
    let last_mail = || {
        mailbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .ok_or("no mail was sent")
    };

    let user = auth
        .create_user("bob@example.com", "correct horse battery staple")
        .await?;
    say(&format!("1. {} registered (unverified)", user.email));

    auth.request_verification_code(&user).await?;
    let (to, code) = last_mail()?;
    say(&format!(
        "2. a six-digit code was mailed to {to} (stored only as a keyed digest)"
    ));
    match auth.verify_email_code(&user, "000000").await {
        Err(e) => say(&format!("3. a wrong code is refused: {e}")),
        Ok(_) => say("3. unexpected: a wrong code was accepted"),
    }
    let user = auth.verify_email_code(&user, &code).await?;
    say(&format!(
        "4. the right code verified the address: verified = {}",
        user.is_verified
    ));

    auth.request_reset("Bob@Example.com", None).await?;
    auth.request_reset("nobody@example.com", None).await?;
    let (to, link) = last_mail()?;
    say(&format!(
        "5. forgot password: one reset link, mailed to the stored address {to}; the unknown \
         address got the same answer and no mail"
    ));

    auth.confirm_reset(&link, "a brand new long passphrase")
        .await?;
    say("6. password reset with the link: every session ended, pending links deleted");
    auth.login(
        "bob@example.com",
        "a brand new long passphrase",
        Claims::new(),
    )
    .await?;
    say("7. logged in with the new password");
    match auth.confirm_reset(&link, "yet another passphrase!").await {
        Err(e) => say(&format!("8. the link does not work twice: {e}")),
        Ok(_) => say("8. unexpected: the link worked twice"),
    }
    Ok(())
}

#[expect(clippy::print_stdout, reason = "an example prints what it does")]
fn say(line: &str) {
    println!("{line}");
}
