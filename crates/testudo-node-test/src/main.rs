//! `testudo-node`: one testudo node (an `AuthService` with the verification cache on) in its own
//! process, for the many-nodes tests of this crate. Not published.
//!
//! It connects to the database named by `TESTUDO_NODE_DATABASE_URL` (already migrated), builds
//! the service with cheap hashing parameters, the database token backend and a verification
//! cache of `--ttl-ms N` milliseconds (default 60 000), listens for revocations when given
//! `--listen` (PostgreSQL LISTEN/NOTIFY), prints `ready`, then answers one line per command
//! read from stdin:
//!
//! | command                     | answer                                                   |
//! |-----------------------------|----------------------------------------------------------|
//! | `create_user EMAIL PASSWORD`| `ok ID`                                                  |
//! | `login EMAIL PASSWORD`      | `ok ACCESS REFRESH`                                      |
//! | `authenticate TOKEN`        | `ok ID`                                                  |
//! | `refresh TOKEN`             | `ok ACCESS REFRESH`                                      |
//! | `logout_all ID`             | `ok START END`: the wall clock (Unix µs) when it was called and when it returned |
//! | `reauthenticate ID PASSWORD`| `ok`                                                     |
//! | `enroll_totp ID`            | `ok SECRET` (base32)                                     |
//! | `confirm_totp ID CODE`      | `ok RECOVERY_CODE...`                                    |
//! | `login_start EMAIL PASSWORD`| `ok challenge TOKEN`, or `ok complete ACCESS REFRESH`    |
//! | `complete_login CHALLENGE CODE` | `ok ACCESS REFRESH`                                  |
//! | `watch TOKEN POLL_MS MAX_MS`| `watching` once the token authenticates, then `refused MICROS POLLS KIND` at the first refusal (polled every `POLL_MS`), or `timeout` after `MAX_MS` |
//!
//! A failed command answers `err KIND` (`revoked`, `expired`, `invalid`, `authentication`,
//! `second_factor`, `storage`, `other`). End of input ends the process.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testudo_config::AuthConfig;
use testudo_core::ExposeSecret as _;
use testudo_core::{Claims, Error, TokenError};
use testudo_db::Database;
use testudo_service::{
    AuthService, AuthUser, CacheOptions, DbUserStore, LoginStart, UserStore as _,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The signing secret of every node (the tests derive nothing from it).
const SIGNING_SECRET: &str = "the-signing-secret-of-every-testudo-node-0123";

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let url = std::env::var("TESTUDO_NODE_DATABASE_URL")
        .map_err(|_| "set TESTUDO_NODE_DATABASE_URL to a migrated database")?;
    let mut ttl = Duration::from_secs(60);
    let mut listen = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = true,
            "--ttl-ms" => {
                let ms = args.next().ok_or("--ttl-ms needs a value")?.parse()?;
                ttl = Duration::from_millis(ms);
            }
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let db = Database::connect(&url).await?;
    let auth = service(db, ttl)?;
    if listen {
        auth.listen_for_revocations().await?;
    }
    let mut out = tokio::io::stdout();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    say(&mut out, "ready").await?;
    while let Some(line) = lines.next_line().await? {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["watch", token, poll_ms, max_ms] => {
                watch(&auth, &mut out, token, poll_ms.parse()?, max_ms.parse()?).await?;
            }
            _ => {
                let answer = answer(&auth, &words).await;
                say(&mut out, &answer).await?;
            }
        }
    }
    Ok(())
}

/// The node's service: cheap hashing, the database backend with the verification cache.
fn service(db: Database, ttl: Duration) -> Result<AuthService<DbUserStore>, Failure> {
    let mut config = AuthConfig::default();
    config.argon2_memory_cost = 64;
    config.argon2_time_cost = 1;
    config.argon2_parallelism = 1;
    // The same on every node: second-factor keys are derived from it.
    config.signing_secret = Some(SIGNING_SECRET.to_owned().into());
    let store = DbUserStore::new(db.clone());
    Ok(AuthService::builder(Arc::new(config), store)
        .database(db)
        .events(testudo_events::EventEmitter::new())
        .verification_cache(CacheOptions::default().ttl(ttl))
        .build()?)
}

async fn say(out: &mut tokio::io::Stdout, line: &str) -> std::io::Result<()> {
    out.write_all(line.as_bytes()).await?;
    out.write_all(b"\n").await?;
    out.flush().await
}

/// The wall clock in Unix microseconds (comparable across the processes of one machine).
fn micros() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Token(TokenError::Revoked) => "revoked",
        Error::Token(TokenError::Expired) => "expired",
        Error::Token(_) => "invalid",
        Error::Authentication(_) => "authentication",
        Error::SecondFactor(_) => "second_factor",
        Error::Storage(_) => "storage",
        _ => "other",
    }
}

async fn answer(auth: &AuthService<DbUserStore>, words: &[&str]) -> String {
    let r = match words {
        ["create_user", email, password] => auth
            .create_user(email, password)
            .await
            .map(|u| u.id().to_string()),
        ["login", email, password] => auth
            .login(email, password, Claims::new())
            .await
            .map(|r| format!("{} {}", r.tokens.access_token(), r.tokens.refresh_token())),
        ["authenticate", token] => auth.authenticate(token).await.map(|u| u.id()),
        ["refresh", token] => auth
            .refresh(token)
            .await
            .map(|p| format!("{} {}", p.access_token(), p.refresh_token())),
        ["logout_all", id] => {
            let started = micros();
            auth.logout_all(id)
                .await
                .map(|_| format!("{started} {}", micros()))
        }
        ["reauthenticate", id, password] => match user(auth, id).await {
            Ok(u) => auth
                .reauthenticate(&u, password)
                .await
                .map(|()| String::new()),
            Err(e) => Err(e),
        },
        ["enroll_totp", id] => match user(auth, id).await {
            Ok(u) => auth
                .enroll_totp(&u)
                .await
                .map(|e| e.secret_base32().expose_secret().to_owned()),
            Err(e) => Err(e),
        },
        ["confirm_totp", id, code] => match user(auth, id).await {
            Ok(u) => auth.confirm_totp(&u, code).await.map(|codes| {
                codes
                    .iter()
                    .map(|c| c.expose_secret().to_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
            Err(e) => Err(e),
        },
        ["login_start", email, password] => auth
            .login_start(email, password, Claims::new(), None)
            .await
            .map(|step| match step {
                LoginStart::SecondFactor(ch) => format!("challenge {}", ch.token().expose_secret()),
                LoginStart::Complete(r) => format!(
                    "complete {} {}",
                    r.tokens.access_token(),
                    r.tokens.refresh_token()
                ),
                _ => "other".to_owned(),
            }),
        ["complete_login", challenge, code] => auth
            .complete_login(challenge, code, None)
            .await
            .map(|r| format!("{} {}", r.tokens.access_token(), r.tokens.refresh_token())),
        _ => return format!("err unknown command {:?}", words.first()),
    };
    match r {
        Ok(s) => format!("ok {s}"),
        Err(e) => {
            eprintln!("testudo-node: {:?} failed: {e:?}", words.first());
            format!("err {}", kind(&e))
        }
    }
}

/// The user with this id.
async fn user(auth: &AuthService<DbUserStore>, id: &str) -> Result<testudo_service::User, Error> {
    auth.store()
        .find_by_id(id)
        .await?
        .ok_or_else(|| testudo_core::AuthenticationError::UserNotFound.into())
}

/// Authenticates `token` every `poll_ms` until it is refused (or `max_ms` passed).
async fn watch(
    auth: &AuthService<DbUserStore>,
    out: &mut tokio::io::Stdout,
    token: &str,
    poll_ms: u64,
    max_ms: u64,
) -> Result<(), Failure> {
    if let Err(e) = auth.authenticate(token).await {
        say(out, &format!("err {}", kind(&e))).await?;
        return Ok(());
    }
    say(out, "watching").await?;
    let start = Instant::now();
    let mut polls = 0u64;
    loop {
        polls += 1;
        if let Err(e) = auth.authenticate(token).await {
            say(out, &format!("refused {} {polls} {}", micros(), kind(&e))).await?;
            return Ok(());
        }
        if start.elapsed() > Duration::from_millis(max_ms) {
            say(out, "timeout").await?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(poll_ms)).await;
    }
}
