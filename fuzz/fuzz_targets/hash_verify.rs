//! Password verification on an arbitrary stored string and password (every format testudo
//! reads), with cheap configured parameters. Input: one byte N, N bytes of password, then the
//! stored string (both read as lossy UTF-8). Must never panic; an input whose text asks for
//! more than the fuzz budget is parsed but not verified (see `testudo_fuzz::FUZZ_BUDGET`).

#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use testudo_hashers::{PasswordHasher, identify, is_usable};

fn hasher() -> &'static PasswordHasher {
    static H: OnceLock<PasswordHasher> = OnceLock::new();
    H.get_or_init(|| {
        PasswordHasher::from_config(&testudo_fuzz::cheap_config()).expect("cheap parameters")
    })
}

fuzz_target!(|data: &[u8]| {
    // Layout (what the seed generator writes): one byte N, N bytes of password, the stored hash.
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let (password, stored) = rest.split_at(usize::from(n).min(rest.len()));
    let (password, stored) = (
        String::from_utf8_lossy(password),
        String::from_utf8_lossy(stored),
    );
    let (password, stored) = (password.as_ref(), stored.as_ref());
    let h = hasher();
    let format = identify(stored);
    let accepted = h.accepts_stored(stored);
    let _ = h.needs_rehash(stored);
    // Accepted implies usable and a known format.
    assert!(
        !accepted || (is_usable(stored) && format.is_some()),
        "accepted {stored:?}"
    );
    if !testudo_fuzz::within_fuzz_budget(stored) {
        return;
    }
    let v = h.verify(password, stored);
    if v.valid {
        // Only a known format can verify, and an upgrade is a fresh Argon2id hash that
        // verifies the same password.
        assert!(format.is_some(), "verified in no known format: {stored:?}");
        if let Some(upgraded) = &v.upgraded {
            assert!(upgraded.starts_with("$argon2id$"), "{upgraded:?}");
            assert!(
                h.verify(password, upgraded).valid,
                "the upgrade does not verify"
            );
        }
    } else {
        assert!(v.upgraded.is_none());
    }
});
