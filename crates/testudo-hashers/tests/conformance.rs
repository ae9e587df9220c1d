//! Every `password_hashes` and `unusable_passwords` entry of the conformance vectors
//! (`TESTUDO_CONFORMANCE_VECTORS=<file>` checks another file of the same schema).
//!
//! Documented divergences from tortoise-auth (see the crate docs), checked explicitly:
//! - `errors_for` bcrypt passwords (over 72 bytes; Python's bcrypt 5 raised): verified with
//!   bcrypt's 72-byte truncation, so they verify exactly when their first 72 bytes equal those of
//!   the hashed password; `legacy_bcrypt4.valid_for` must verify and be upgraded.
//! - `errors_for` PBKDF2 passwords on a Django-format salt (Python raised): read as Django
//!   hashes, so the hashed password itself verifies.

use serde::Deserialize;
use testudo_config::AuthConfig;
use testudo_hashers::{HashFormat, PasswordHasher, identify, is_usable};
use testudo_test_support::{TestResult, Vectors};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordHashEntry {
    hasher: String,
    password: String,
    hash: String,
    #[expect(dead_code, reason = "information only")]
    params: serde_json::Value,
    valid_for: Vec<String>,
    invalid_for: Vec<String>,
    #[serde(default)]
    errors_for: Vec<ErrorsFor>,
    needs_rehash_under_defaults: Option<bool>,
    #[serde(default)]
    legacy_bcrypt4: Option<LegacyBcrypt4>,
    #[expect(dead_code, reason = "information only")]
    #[serde(default)]
    password_utf8_len: Option<usize>,
    #[expect(dead_code, reason = "information only")]
    generated_by: String,
    #[expect(dead_code, reason = "information only")]
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ErrorsFor {
    password: String,
    #[expect(dead_code, reason = "information only")]
    python_error: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyBcrypt4 {
    #[expect(dead_code, reason = "information only")]
    bcrypt_version: String,
    valid_for: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Unusable {
    is_password_usable: Vec<UsableEntry>,
    check_password_on_other_strings: Vec<OtherString>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UsableEntry {
    value: String,
    is_password_usable: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OtherString {
    hash: String,
    #[expect(
        dead_code,
        reason = "information only: every such string must not verify"
    )]
    python_check_password: String,
}

fn defaults() -> TestResult<PasswordHasher> {
    Ok(PasswordHasher::from_config(&AuthConfig::default())?)
}

fn first_72(s: &str) -> &[u8] {
    &s.as_bytes()[..s.len().min(72)]
}

#[test]
fn every_password_hash_entry_verifies_as_recorded() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<PasswordHashEntry> = vectors.section("password_hashes")?;
    let hasher = defaults()?;
    let mut checks = 0_usize;
    for (i, e) in entries.iter().enumerate() {
        let format = identify(&e.hash);
        let expected_format = match e.hasher.as_str() {
            "argon2id" | "argon2i" | "argon2d" => HashFormat::Argon2,
            "bcrypt" => HashFormat::Bcrypt,
            "pbkdf2_sha256" => match format {
                Some(HashFormat::DjangoPbkdf2Sha256) => HashFormat::DjangoPbkdf2Sha256,
                _ => HashFormat::Pbkdf2Sha256,
            },
            other => return Err(format!("entry {i}: unknown hasher {other:?}").into()),
        };
        assert_eq!(format, Some(expected_format), "entry {i}: identify");
        for pw in &e.valid_for {
            let v = hasher.verify(pw, &e.hash);
            assert!(v.valid, "entry {i}: valid_for {pw:?}");
            let due = e
                .needs_rehash_under_defaults
                .ok_or_else(|| format!("entry {i}: verifies but needs_rehash is null"))?;
            assert_eq!(v.upgraded.is_some(), due, "entry {i}: upgrade for {pw:?}");
            if let Some(new) = &v.upgraded {
                let again = hasher.verify(pw, new);
                assert!(
                    again.valid && again.upgraded.is_none(),
                    "entry {i}: upgraded"
                );
            }
            checks += 1;
        }
        for pw in &e.invalid_for {
            let v = hasher.verify(pw, &e.hash);
            assert!(
                !v.valid && v.upgraded.is_none(),
                "entry {i}: invalid_for {pw:?}"
            );
            checks += 1;
        }
        for err in &e.errors_for {
            let expected = match expected_format {
                HashFormat::Bcrypt => first_72(&err.password) == first_72(&e.password),
                HashFormat::DjangoPbkdf2Sha256 => err.password == e.password,
                other => {
                    return Err(format!("entry {i}: errors_for on {other:?} not understood").into());
                }
            };
            let v = hasher.verify(&err.password, &e.hash);
            assert_eq!(
                v.valid, expected,
                "entry {i}: errors_for {:?}",
                err.password
            );
            assert_eq!(
                v.upgraded.is_some(),
                expected,
                "entry {i}: errors_for upgrade"
            );
            checks += 1;
        }
        if let Some(legacy) = &e.legacy_bcrypt4 {
            for pw in &legacy.valid_for {
                let v = hasher.verify(pw, &e.hash);
                assert!(v.valid, "entry {i}: legacy_bcrypt4 {pw:?}");
                let new = v.upgraded.ok_or("legacy bcrypt must be upgraded")?;
                // The upgrade hashes the full password: no truncation any more.
                assert!(hasher.verify(pw, &new).valid);
                if pw.len() > 72 {
                    assert!(!hasher.verify(&pw[..72], &new).valid, "entry {i}: full pw");
                }
                checks += 1;
            }
        }
    }
    vectors.report("password_hashes", entries.len());
    assert!(checks > entries.len(), "only {checks} checks");
    Ok(())
}

#[test]
fn unusable_passwords_match_the_reference() -> TestResult {
    let vectors = Vectors::load()?;
    let u: Unusable = vectors.object("unusable_passwords")?;
    let hasher = defaults()?;
    for e in &u.is_password_usable {
        assert_eq!(is_usable(&e.value), e.is_password_usable, "{:?}", e.value);
        assert!(!hasher.verify("", &e.value).valid);
    }
    for e in &u.check_password_on_other_strings {
        for pw in ["", "password", "AAAA"] {
            let v = hasher.verify(pw, &e.hash);
            assert!(!v.valid && v.upgraded.is_none(), "{:?}", e.hash);
        }
    }
    vectors.report(
        "unusable_passwords",
        u.is_password_usable.len() + u.check_password_on_other_strings.len(),
    );
    Ok(())
}
