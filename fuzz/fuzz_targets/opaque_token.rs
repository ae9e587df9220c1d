//! Opaque-token input handling: `DatabaseTokenBackend::verify_token` (through `TokenBackend`)
//! on an in-memory SQLite database holding one real pair, for arbitrary text and both types;
//! and `hash_token` against a reference SHA-256. Only the real tokens verify, each as its own
//! type.

#![no_main]

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use sha2::{Digest as _, Sha256};
use testudo_core::{Claims, TokenBackend, TokenType};
use testudo_db::Database;
use testudo_tokens_db::{DatabaseTokenBackend, hash_token};

struct Fixture {
    backend: DatabaseTokenBackend,
    access: String,
    refresh: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        testudo_fuzz::runtime().block_on(async {
            let db = Database::connect("sqlite::memory:")
                .await
                .expect("in-memory SQLite");
            db.migrate().await.expect("migrations");
            let backend = DatabaseTokenBackend::new(db, Arc::new(testudo_fuzz::cheap_config()))
                .with_clock(testudo_fuzz::clock());
            let pair = backend
                .create_tokens("42", Claims::new())
                .await
                .expect("a pair");
            Fixture {
                backend,
                access: pair.access_token().to_owned(),
                refresh: pair.refresh_token().to_owned(),
            }
        })
    })
}

fn reference_digest(token: &str) -> String {
    let mut hex = String::with_capacity(64);
    for b in Sha256::digest(token.as_bytes()) {
        let _ = write!(hex, "{b:02x}");
    }
    hex
}

fuzz_target!(|token: &str| {
    assert_eq!(
        hash_token(token),
        reference_digest(token),
        "digest of {token:?}"
    );
    let f = fixture();
    testudo_fuzz::runtime().block_on(async {
        for expected in [TokenType::Access, TokenType::Refresh] {
            let r = f.backend.verify_token(token, expected).await;
            let real = match expected {
                TokenType::Access => &f.access,
                _ => &f.refresh,
            };
            if let Ok(p) = r {
                assert_eq!(
                    token,
                    real.as_str(),
                    "another token verified as {expected:?}"
                );
                assert_eq!(p.sub, "42");
            } else {
                assert_ne!(token, real.as_str(), "the real token was refused");
            }
        }
    });
});
