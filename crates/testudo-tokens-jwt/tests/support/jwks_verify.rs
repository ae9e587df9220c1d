//! The second process of the JWK Set test (`tests/jwks.rs`): verifies an access token with a
//! `JwtBackend` built from nothing but a JWK Set, as another service would, and says what it
//! found on stdout.
//!
//! Usage: `testudo-jwks-verify <algorithm> <jwks-file> <token>`. Prints `ok <sub>` (exit 0)
//! or `refused <reason>` (exit 1); anything else exits with 2.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{TokenBackend as _, TokenType};
use testudo_tokens_jwt::JwtBackend;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [algorithm, jwks_file, token] = args.as_slice() else {
        eprintln!("usage: testudo-jwks-verify <algorithm> <jwks-file> <token>");
        return ExitCode::from(2);
    };
    let (Ok(algorithm), Ok(jwks)) = (
        algorithm.parse::<JwtAlgorithm>(),
        std::fs::read_to_string(jwks_file),
    ) else {
        eprintln!("unusable algorithm or JWK Set file");
        return ExitCode::from(2);
    };
    let mut config = AuthConfig::default();
    config.jwt_algorithm = algorithm;
    let backend = match JwtBackend::from_jwks(Arc::new(config), &jwks) {
        Ok(backend) => backend,
        Err(e) => return report(&format!("refused {e}"), 1),
    };
    // Without the revocation list verification never waits: one poll completes it.
    let mut verify = backend.verify_token(token, TokenType::Access);
    match verify
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(Ok(payload)) => report(&format!("ok {}", payload.sub), 0),
        Poll::Ready(Err(e)) => report(&format!("refused {e}"), 1),
        Poll::Pending => {
            eprintln!("verification did not complete");
            ExitCode::from(2)
        }
    }
}

/// Writes `line` to stdout and exits with `code`.
fn report(line: &str, code: u8) -> ExitCode {
    if writeln!(std::io::stdout(), "{line}").is_err() {
        return ExitCode::from(2);
    }
    ExitCode::from(code)
}
