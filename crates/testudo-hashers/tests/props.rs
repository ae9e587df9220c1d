//! Property tests (issue 17): a hash verifies its own password and no other, for Argon2id
//! (made by `PasswordHasher`), bcrypt and tortoise-auth's PBKDF2-SHA256 (made with their crates,
//! as legacy data would be), with cheap parameters and bounded case counts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use proptest::prelude::*;
use sha2::Sha256;
use testudo_config::AuthConfig;
use testudo_hashers::{HashFormat, PasswordHasher, identify};

fn cheap_hasher() -> Result<PasswordHasher, TestCaseError> {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 64;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 10;
    PasswordHasher::from_config(&c).map_err(|e| TestCaseError::fail(e.to_string()))
}

/// tortoise-auth's `pbkdf2_sha256$<iterations>$<base64 salt>$<base64 hash>`.
fn pbkdf2(password: &str, salt: &[u8; 16], iterations: u32) -> String {
    let mut out = [0_u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut out);
    format!(
        "pbkdf2_sha256${iterations}${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    )
}

/// Two distinct passwords: distinct in their first 72 bytes (bcrypt compares those only), and
/// distinct once trailing NUL bytes are dropped. `"abc"` and `"abc\0"` are one key for HMAC
/// (PBKDF2 pads its key with zeros) and for bcrypt (which appends a NUL and cycles the key), a
/// property of those algorithms that the legacy formats share with every implementation of
/// them (Argon2 has no such equivalence; its test uses the same pairs).
fn two_passwords() -> impl Strategy<Value = (String, String)> {
    (".{0,40}", ".{0,40}").prop_filter("distinct as bcrypt and HMAC keys", |(a, b)| {
        let key = |s: &str| {
            let bytes = &s.as_bytes()[..s.len().min(72)];
            let end = bytes.iter().rposition(|&c| c != 0).map_or(0, |i| i + 1);
            bytes[..end].to_vec()
        };
        key(a) != key(b)
    })
}

/// The pair a CI run found (`"\0"` and `""`): one key for bcrypt and HMAC, two for Argon2id.
#[test]
fn trailing_nul_bytes_are_one_key_for_the_legacy_formats_only() -> Result<(), TestCaseError> {
    let h = cheap_hasher()?;
    let argon2 = h
        .hash("\0")
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    assert!(!h.verify("", &argon2).valid);
    let pbkdf2 = pbkdf2("\0", &[7; 16], 3);
    assert!(h.verify("", &pbkdf2).valid, "HMAC pads its key with zeros");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn an_argon2_hash_verifies_only_its_own_password((right, wrong) in two_passwords()) {
        let h = cheap_hasher()?;
        let stored = h.hash(&right).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(identify(&stored), Some(HashFormat::Argon2));
        let ok = h.verify(&right, &stored);
        prop_assert!(ok.valid && ok.upgraded.is_none(), "{ok:?}");
        prop_assert!(!h.verify(&wrong, &stored).valid);
        prop_assert!(!h.needs_rehash(&stored));
    }

    #[test]
    fn a_bcrypt_hash_verifies_only_its_own_password(
        (right, wrong) in two_passwords(),
        salt in any::<[u8; 16]>(),
    ) {
        let h = cheap_hasher()?;
        let stored = bcrypt::hash_with_salt(right.as_bytes(), 4, salt)
            .map_err(|e| TestCaseError::fail(e.to_string()))?
            .format_for_version(bcrypt::Version::TwoB);
        prop_assert_eq!(identify(&stored), Some(HashFormat::Bcrypt));
        let ok = h.verify(&right, &stored);
        prop_assert!(ok.valid, "{stored}");
        // A legacy hash that verifies is upgraded to Argon2id, which verifies the same password.
        let upgraded = ok.upgraded.ok_or_else(|| TestCaseError::fail("no upgrade"))?;
        prop_assert!(h.verify(&right, &upgraded).valid);
        prop_assert!(!h.verify(&wrong, &stored).valid);
        prop_assert!(!h.verify(&wrong, &upgraded).valid);
    }

    #[test]
    fn a_pbkdf2_hash_verifies_only_its_own_password(
        (right, wrong) in two_passwords(),
        salt in any::<[u8; 16]>(),
        iterations in 1_u32..20,
    ) {
        let h = cheap_hasher()?;
        let stored = pbkdf2(&right, &salt, iterations);
        prop_assert_eq!(identify(&stored), Some(HashFormat::Pbkdf2Sha256));
        let ok = h.verify(&right, &stored);
        prop_assert!(ok.valid && ok.upgraded.is_some(), "{stored}");
        prop_assert!(!h.verify(&wrong, &stored).valid);
    }

    #[test]
    fn a_hash_of_one_password_never_verifies_under_another_hash_of_it(password in ".{0,40}") {
        // Two hashes of one password differ (fresh salts) and each verifies it.
        let h = cheap_hasher()?;
        let a = h.hash(&password).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let b = h.hash(&password).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_ne!(&a, &b);
        prop_assert!(h.verify(&password, &a).valid && h.verify(&password, &b).valid);
    }
}
