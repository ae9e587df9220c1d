//! testudo quickstart: `cargo run --example quickstart`.
//!
//! Walks through what testudo offers today, printing each step. It needs no setup.

use std::time::Duration;

use testudo::{AuthConfig, Clock, FixedClock, TokenType};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = AuthConfig::builder()
        .access_token_lifetime(Duration::from_secs(600))
        .signing_secret("quickstart-only-secret-0123456789abcdef")
        .build()?;
    say(&format!(
        "1. configuration validated: access tokens live {}s, refresh tokens {}s, \
         Argon2id m={} KiB t={} p={}",
        config.access_token_lifetime.as_secs(),
        config.refresh_token_lifetime.as_secs(),
        config.argon2_memory_cost,
        config.argon2_time_cost,
        config.argon2_parallelism,
    ));
    say(&format!("2. Debug never shows secrets: {config:?}")
        .chars()
        .take(160)
        .collect::<String>());

    match AuthConfig::builder().token_length(8).build() {
        Err(e) => say(&format!("3. unsafe settings are refused: {e}")),
        Ok(_) => say("3. unexpected: an 8-character token length was accepted"),
    }

    let clock = FixedClock::from_unix(1_700_000_000)?;
    clock.advance(Duration::from_secs(90));
    say(&format!(
        "4. a fixed clock for tests reads {} ({} seconds since the epoch)",
        clock.now(),
        clock.unix_seconds()
    ));
    say(&format!(
        "5. token types parse from their reference names: {:?}",
        "refresh".parse::<TokenType>()?
    ));
    Ok(())
}

#[expect(clippy::print_stdout, reason = "an example prints what it does")]
fn say(line: &str) {
    println!("{line}");
}
