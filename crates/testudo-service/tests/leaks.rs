//! Nothing leaked (issue 17): a subscriber records every tracing event and span field at every
//! level, and the test records the `Debug` and `Display` of every value crossing the API
//! (users, results, token pairs, payloads, errors, the events a handler received, the
//! configuration, the service) during a full create-user / login / authenticate / refresh /
//! magic link / password change / logout / logout-all cycle, with each token backend, on
//! SQLite and (when their URLs are set) PostgreSQL and MariaDB. No password, raw token (nor a
//! JWT's signature), signing or JWT secret, or password hash may appear in any of it.

mod common;

use std::fmt::{Debug, Display, Write as _};

use common::{Env, Tokens};
use testudo_core::{Claims, ExposeSecret as _, TokenType};
use testudo_events::Event;
use testudo_service::ValidatorPolicy;
use testudo_test_support::db::Backend;
use testudo_test_support::{TestResult, per_database};
use tracing::Level;

const PASSWORD: &str = "leak-test password: correct horse battery staple";
const NEW_PASSWORD: &str = "leak-test password: a different passphrase entirely";
const SIGNING_SECRET: &str = "leak-test-signing-secret-0123456789abcdef-0123456789";
const JWT_SECRET: &str = "leak-test-jwt-secret-0123456789abcdef-0123456789abcdef";

/// The `Debug` (and `Display`, when there is one) of the values seen.
#[derive(Default)]
struct Seen(String);

impl Seen {
    fn debug(&mut self, what: &str, value: &dyn Debug) {
        let _ = write!(self.0, "\n{what}: {value:?} {value:#?}");
    }
    fn both(&mut self, what: &str, value: &(impl Debug + Display + ?Sized)) {
        let _ = write!(self.0, "\n{what}: {value} {value:?}");
    }
    fn result<T: Debug>(&mut self, what: &str, r: &Result<T, testudo_core::Error>) {
        match r {
            Ok(v) => self.debug(what, v),
            Err(e) => self.error(what, e),
        }
    }
    fn error(&mut self, what: &str, e: &testudo_core::Error) {
        self.both(what, e);
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let _ = write!(self.0, " caused by {s} {s:?}");
            source = s.source();
        }
    }
}

/// A JWT's signature segment (the part only the key holder can make), or the whole token.
fn signature(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or(token)
}

async fn nothing_secret_shows_in_logs_debug_or_display_over_a_full_cycle(b: Backend) -> TestResult {
    testudo_test_support::capture::install();
    tracing::info!("the capture works");
    for tokens in Tokens::ALL {
        let env = Env::new(b.clone(), tokens, |c| {
            c.signing_secret = Some(SIGNING_SECRET.to_owned().into());
            c.jwt_secret = Some(JWT_SECRET.to_owned().into());
        })
        .await?;
        let name = env.name.clone();
        let auth = &env.auth;
        let mut seen = Seen::default();
        let mut secrets: Vec<(String, String)> = vec![
            ("the password".into(), PASSWORD.into()),
            ("the new password".into(), NEW_PASSWORD.into()),
            ("the signing secret".into(), SIGNING_SECRET.into()),
            ("the JWT secret".into(), JWT_SECRET.into()),
        ];
        let token = |what: &str, raw: &str, secrets: &mut Vec<(String, String)>| {
            secrets.push((what.to_owned(), raw.to_owned()));
            secrets.push((format!("{what}'s signature"), signature(raw).to_owned()));
        };
        seen.debug("config", auth.config());
        seen.debug("service", auth);
        seen.debug("backend", auth.backend());

        let user = auth.create_user("Leak@Example.com", PASSWORD).await?;
        seen.debug("created user", &user);
        secrets.push(("the password hash".into(), user.password.clone()));

        let failed = auth.login("leak@example.com", "wrong", Claims::new()).await;
        seen.result("failed login", &failed);
        let unknown = auth
            .login("nobody@example.com", PASSWORD, Claims::new())
            .await;
        seen.result("unknown login", &unknown);

        let login = auth
            .login("leak@example.com", PASSWORD, Claims::new())
            .await?;
        seen.debug("login result", &login);
        seen.debug("login tokens", &login.tokens);
        token(
            "the access token",
            login.tokens.access_token(),
            &mut secrets,
        );
        token(
            "the refresh token",
            login.tokens.refresh_token(),
            &mut secrets,
        );

        let me = auth.authenticate(login.tokens.access_token()).await?;
        seen.debug("authenticated", &me);
        let payload = auth
            .backend()
            .verify_token(login.tokens.access_token(), TokenType::Access)
            .await?;
        seen.debug("payload", &payload);
        let bad = auth.authenticate("not-a-token").await;
        seen.result("bad authenticate", &bad);

        let next = auth.refresh(login.tokens.refresh_token()).await?;
        seen.debug("refreshed", &next);
        token(
            "the rotated access token",
            next.access_token(),
            &mut secrets,
        );
        token(
            "the rotated refresh token",
            next.refresh_token(),
            &mut secrets,
        );
        let reused = auth.refresh(login.tokens.refresh_token()).await;
        seen.result("reused refresh", &reused);

        auth.request_login_link("leak@example.com", Some("192.0.2.1"))
            .await?;
        let link = env
            .events
            .take()
            .into_iter()
            .find_map(|e| match e {
                Event::EmailTokenCreated { token, .. } => Some(token.expose_secret().to_owned()),
                _ => None,
            })
            .ok_or("no login link")?;
        secrets.push(("the login link token".into(), link.clone()));
        let wrong_link = auth
            .login_with_email_token("leak@example.com", &"x".repeat(64), Some("192.0.2.1"))
            .await;
        seen.result("wrong link", &wrong_link);
        let by_link = auth
            .login_with_email_token("leak@example.com", &link, Some("192.0.2.1"))
            .await?;
        seen.debug("link login", &by_link);
        token(
            "the link's access token",
            by_link.tokens.access_token(),
            &mut secrets,
        );
        token(
            "the link's refresh token",
            by_link.tokens.refresh_token(),
            &mut secrets,
        );
        // Its handler saw the user with the hash it had then (reset on first verification).
        let current = auth.authenticate(by_link.tokens.access_token()).await?;
        secrets.push(("the current password hash".into(), current.password.clone()));

        let changed = auth
            .set_password(&current, NEW_PASSWORD, ValidatorPolicy::Run)
            .await?;
        seen.debug("password changed", &changed);
        secrets.push(("the new password hash".into(), changed.password.clone()));
        let weak = auth
            .set_password(&changed, "1234", ValidatorPolicy::Run)
            .await;
        seen.result("weak password", &weak);

        let again = auth
            .login("leak@example.com", NEW_PASSWORD, Claims::new())
            .await?;
        token(
            "the last access token",
            again.tokens.access_token(),
            &mut secrets,
        );
        token(
            "the last refresh token",
            again.tokens.refresh_token(),
            &mut secrets,
        );
        let out = auth.logout(again.tokens.access_token()).await;
        seen.result("logout", &out);
        let all = auth.logout_all(&changed.id.to_string()).await;
        seen.result("logout all", &all);
        for event in env.events.take() {
            seen.debug("event", &event);
        }

        let logs = testudo_test_support::capture::captured();
        assert!(
            logs.contains("the capture works"),
            "{name}: the capture is on"
        );
        assert!(
            logs.contains("span testudo.login"),
            "{name}: spans are captured"
        );
        let leaks: Vec<String> = secrets
            .iter()
            .filter(|(_, s)| !s.is_empty())
            .flat_map(|(what, secret)| {
                [
                    ("tracing", logs.as_str()),
                    ("Debug / Display", seen.0.as_str()),
                ]
                .into_iter()
                .filter(|(_, text)| text.contains(secret.as_str()))
                .map(move |(place, _)| format!("{what} shows in {place}"))
            })
            .collect();
        assert!(leaks.is_empty(), "{name}: {}", leaks.join("\n"));
        env.cleanup().await?;
    }
    // Every level reached the capture (the service logs at debug and info at least).
    let logs = testudo_test_support::capture::captured();
    for level in [Level::INFO, Level::DEBUG] {
        assert!(
            logs.contains(&format!("event {level}")),
            "no {level} event captured"
        );
    }
    Ok(())
}
per_database!(nothing_secret_shows_in_logs_debug_or_display_over_a_full_cycle);
