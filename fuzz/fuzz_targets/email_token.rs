//! Email-token (passwordless login) input handling: `EmailTokenStore::auth_token_for` with an
//! arbitrary address, token, purpose and client address, on an in-memory SQLite database that
//! holds one real token; and `normalize_email` is idempotent. Only the real token, for its
//! address (after normalisation) and purpose, authenticates.

#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use testudo_core::normalize_email;
use testudo_db::Database;
use testudo_tokens_db::{EmailTokenOptions, EmailTokenStore, LOGIN_PURPOSE};

const EMAIL: &str = "alice@example.com";

struct Fixture {
    store: EmailTokenStore,
    token: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        testudo_fuzz::runtime().block_on(async {
            let db = Database::connect("sqlite::memory:")
                .await
                .expect("in-memory SQLite");
            db.migrate().await.expect("migrations");
            let store = EmailTokenStore::new(db, Arc::new(testudo_fuzz::cheap_config()))
                .with_clock(testudo_fuzz::clock());
            // Reusable, bound to no address: the fuzzer cannot use it up.
            let token = store
                .create_token(EMAIL, EmailTokenOptions::new().single_use(false))
                .await
                .expect("a token");
            Fixture { store, token }
        })
    })
}

fuzz_target!(|text: &str| {
    // Layout (what the seed generator writes): `email \n token [\n ip [\n purpose]]`.
    let mut lines = text.splitn(4, '\n');
    let email = lines.next().unwrap_or_default();
    let token = lines.next().unwrap_or_default();
    let ip = lines.next();
    let purpose = lines.next().unwrap_or(LOGIN_PURPOSE);
    let once = normalize_email(email);
    assert_eq!(
        normalize_email(&once),
        once,
        "normalize_email is not idempotent"
    );
    let f = fixture();
    testudo_fuzz::runtime().block_on(async {
        let r = f.store.auth_token_for(purpose, email, token, ip).await;
        if r.is_ok() {
            assert_eq!(token, f.token, "another token authenticated");
            assert_eq!(once, EMAIL, "the token authenticated another address");
            assert_eq!(
                purpose, LOGIN_PURPOSE,
                "the token authenticated another purpose"
            );
        }
    });
});
