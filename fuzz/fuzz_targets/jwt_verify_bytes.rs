//! `JwtBackend::verify_token` (through the `TokenBackend` trait) on arbitrary bytes, for an
//! HS256 and an RS256 backend and both token types. Must never panic or hang.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use testudo_config::JwtAlgorithm;
use testudo_core::{TokenBackend, TokenType};
use testudo_tokens_jwt::{JwtBackend, JwtKeys};

fn backends() -> &'static [JwtBackend; 2] {
    static B: OnceLock<[JwtBackend; 2]> = OnceLock::new();
    B.get_or_init(|| {
        let hs = JwtBackend::new(Arc::new(testudo_fuzz::cheap_config()))
            .expect("an HS256 backend")
            .with_clock(testudo_fuzz::clock());
        let mut c = testudo_fuzz::cheap_config();
        c.jwt_algorithm = JwtAlgorithm::RS256;
        c.jwt_secret = None;
        let keys = JwtKeys::new()
            .signing_key(None, testudo_fuzz::RSA_KEY)
            .verification_key(None, testudo_fuzz::RSA_PUB);
        let rs = JwtBackend::with_keys(Arc::new(c), keys)
            .expect("an RS256 backend")
            .with_clock(testudo_fuzz::clock());
        [hs, rs]
    })
}

fuzz_target!(|data: &[u8]| {
    // Tokens are text: invalid UTF-8 is refused before the backend by every caller
    // (`&str` in the API); lossy conversion still exercises the replacement characters.
    let token = String::from_utf8_lossy(data);
    testudo_fuzz::runtime().block_on(async {
        for backend in backends() {
            for expected in [TokenType::Access, TokenType::Refresh] {
                if let Ok(payload) = backend.verify_token(&token, expected).await {
                    // Forging a signature by chance is not expected: a success is a finding
                    // unless the input is a real token (none is in the seeds for these keys).
                    panic!("arbitrary bytes verified: {payload:?}");
                }
            }
        }
    });
});
