//! Hostile-input table (issue 17): stored hashes with absurd, negative, zero or overlong cost
//! parameters, salts and lengths, each with the format it is identified as and refused before
//! any work (no verification, a dummy one through `AsyncHasher`), within a time bound; and
//! passwords of 1 MiB, with NUL bytes or empty, refused before any hashing.

use std::time::{Duration, Instant};

use testudo_config::AuthConfig;
use testudo_core::SecretString;
use testudo_hashers::{AsyncHasher, Error, HashFormat, PasswordHasher, identify};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(5);
/// 16 bytes of salt and 32 of hash, base64 without padding.
const SALT: &str = "c2FsdHNhbHRzYWx0c2FsdA";
const HASH: &str = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g";
/// 53 characters of bcrypt's alphabet (22 of salt, 31 of hash).
const BCRYPT_TAIL: &str = "abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234";

fn cheap_config() -> AuthConfig {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 64;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 1000;
    c
}

fn argon2(params: &str) -> String {
    format!("$argon2id$v=19${params}${SALT}${HASH}")
}

/// The hostile stored values, with the format each is identified as (`None`: unreadable).
fn table() -> Vec<(&'static str, String, Option<HashFormat>)> {
    use HashFormat::{Argon2, Bcrypt, DjangoArgon2, DjangoBcryptSha256, DjangoPbkdf2Sha256};
    let pbkdf2_hash = "c2hhMjU2c2hhMjU2c2hhMjU2c2hhMjU2c2hhMjU2c2g=";
    vec![
        ("empty", String::new(), None),
        ("NUL bytes", "\0\0\0\0".to_owned(), None),
        (
            "argon2 with NUL salt",
            "$argon2id$v=19$m=64,t=1,p=1$\0\0$\0".to_owned(),
            None,
        ),
        ("argon2 m negative", argon2("m=-1,t=3,p=4"), None),
        ("argon2 t negative", argon2("m=64,t=-3,p=4"), None),
        (
            "argon2 m u32::MAX",
            argon2("m=4294967295,t=3,p=4"),
            Some(Argon2),
        ),
        ("argon2 m 11 digits", argon2("m=99999999999,t=3,p=4"), None),
        ("argon2 m past u32", argon2("m=4294967296,t=3,p=4"), None),
        (
            "argon2 t u32::MAX",
            argon2("m=64,t=4294967295,p=1"),
            Some(Argon2),
        ),
        ("argon2 t zero", argon2("m=64,t=0,p=1"), Some(Argon2)),
        ("argon2 p zero", argon2("m=64,t=1,p=0"), Some(Argon2)),
        (
            "argon2 p u32::MAX",
            argon2("m=64,t=1,p=4294967295"),
            Some(Argon2),
        ),
        ("argon2 m below 8p", argon2("m=1,t=1,p=4"), Some(Argon2)),
        (
            "argon2 1 GiB x 64 passes",
            argon2("m=1048576,t=64,p=4"),
            Some(Argon2),
        ),
        (
            "argon2 v=16, 4 GiB",
            format!("$argon2i$v=16$m=4194304,t=1,p=1${SALT}${HASH}"),
            Some(Argon2),
        ),
        (
            "argon2 salt of 2 KiB",
            format!("$argon2id$v=19$m=64,t=1,p=1${}${HASH}", "A".repeat(2732)),
            Some(Argon2),
        ),
        (
            "argon2 hash of 2 KiB",
            format!("$argon2id$v=19$m=64,t=1,p=1${SALT}${}", "A".repeat(2732)),
            Some(Argon2),
        ),
        (
            "argon2 salt of 1 MiB",
            format!("$argon2id$v=19$m=64,t=1,p=1${}${HASH}", "A".repeat(MIB)),
            Some(Argon2),
        ),
        (
            "django argon2 m u32::MAX",
            format!("argon2$argon2id$v=19$m=4294967295,t=1,p=1${SALT}${HASH}"),
            Some(DjangoArgon2),
        ),
        (
            "bcrypt cost 99",
            format!("$2b$99${BCRYPT_TAIL}"),
            Some(Bcrypt),
        ),
        (
            "bcrypt cost 31",
            format!("$2b$31${BCRYPT_TAIL}"),
            Some(Bcrypt),
        ),
        (
            "bcrypt cost 3",
            format!("$2b$03${BCRYPT_TAIL}"),
            Some(Bcrypt),
        ),
        (
            "bcrypt cost 00",
            format!("$2y$00${BCRYPT_TAIL}"),
            Some(Bcrypt),
        ),
        (
            "bcrypt cost negative",
            format!("$2b$-1${BCRYPT_TAIL}"),
            None,
        ),
        (
            "bcrypt right length, wrong alphabet",
            format!("$2b$04${}", "!".repeat(53)),
            None,
        ),
        (
            "django bcrypt_sha256 cost 31",
            format!("bcrypt_sha256$$2b$31${BCRYPT_TAIL}"),
            Some(DjangoBcryptSha256),
        ),
        (
            "pbkdf2 iterations negative",
            format!("pbkdf2_sha256$-1$salt${pbkdf2_hash}"),
            None,
        ),
        (
            "pbkdf2 iterations zero",
            format!("pbkdf2_sha256$0$salt${pbkdf2_hash}"),
            None,
        ),
        (
            "pbkdf2 iterations u32::MAX",
            format!("pbkdf2_sha256$4294967295$salt${pbkdf2_hash}"),
            Some(DjangoPbkdf2Sha256),
        ),
        (
            "pbkdf2 iterations 11 digits",
            format!("pbkdf2_sha256$10000000000$salt${pbkdf2_hash}"),
            None,
        ),
        (
            "pbkdf2 iterations as a float",
            format!("pbkdf2_sha256$1e9$salt${pbkdf2_hash}"),
            None,
        ),
        (
            // A digest that cannot be PBKDF2-SHA256's 32 bytes is not taken for the format.
            "pbkdf2 hash of the wrong length",
            "pbkdf2_sha256$1000$salt$AAAA".to_owned(),
            None,
        ),
        ("1 MiB of text", "a".repeat(MIB), None),
    ]
}

#[test]
fn every_hostile_stored_hash_is_identified_and_refused_without_work() -> TestResult {
    let h = PasswordHasher::from_config(&cheap_config())?;
    let mut wrong = Vec::new();
    for (what, stored, format) in table() {
        let started = Instant::now();
        let got = identify(&stored);
        if got != format {
            wrong.push(format!(
                "{what}: identified as {got:?}, expected {format:?}"
            ));
        }
        if h.accepts_stored(&stored) {
            wrong.push(format!("{what}: accepted for verification"));
        }
        let v = h.verify("password", &stored);
        if v.valid || v.upgraded.is_some() {
            wrong.push(format!("{what}: verified {v:?}"));
        }
        if !h.needs_rehash(&stored) {
            wrong.push(format!("{what}: no rehash needed"));
        }
        // Refused before any work: a few string operations, far from a hash's cost.
        if started.elapsed() > Duration::from_millis(500) {
            wrong.push(format!("{what}: took {:?}", started.elapsed()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}

#[tokio::test]
async fn hostile_stored_hashes_cost_exactly_one_dummy_verification_each() -> TestResult {
    let hasher = AsyncHasher::new(&cheap_config())?;
    hasher.verify_dummy().await?;
    for (what, stored, _) in table() {
        let (dummies, verifications) = (hasher.dummy_verifications(), hasher.verifications());
        let v = tokio::time::timeout(BOUND, hasher.verify(SecretString::from("pw"), stored))
            .await
            .map_err(|_| format!("{what}: longer than {BOUND:?}"))??;
        assert!(!v.valid, "{what}");
        assert_eq!(hasher.dummy_verifications(), dummies + 1, "{what}");
        assert_eq!(hasher.verifications(), verifications + 1, "{what}");
    }
    Ok(())
}

#[tokio::test]
async fn hostile_passwords_are_refused_before_any_hashing() -> TestResult {
    let config = cheap_config();
    let hasher = AsyncHasher::new(&config)?;
    let long = "a".repeat(MIB);
    let long_nul = "\0".repeat(MIB);
    let long_multibyte = "\u{1F600}".repeat(config.max_password_length + 1);
    for (what, password) in [
        ("1 MiB", &long),
        ("1 MiB of NUL", &long_nul),
        ("one character too many (4-byte)", &long_multibyte),
    ] {
        let r = tokio::time::timeout(BOUND, hasher.hash(SecretString::from(password.as_str())))
            .await
            .map_err(|_| format!("{what}: longer than {BOUND:?}"))?;
        let Err(Error::InvalidPassword(e)) = r else {
            return Err(format!("{what}: {r:?}").into());
        };
        assert_eq!(
            e.messages(),
            ["Password exceeds maximum length of 4096 characters"],
            "{what}"
        );
    }
    assert_eq!(hasher.peak_in_flight(), 0, "nothing was hashed");
    assert_eq!(hasher.verifications(), 0);

    // Verifying a 1 MiB password against a real hash: one dummy verification (uniform timing),
    // the password itself never hashed.
    let stored = hasher.hash(SecretString::from("pw")).await?;
    let v = tokio::time::timeout(
        BOUND,
        hasher.verify(SecretString::from(long.as_str()), stored),
    )
    .await??;
    assert!(!v.valid);
    assert_eq!(hasher.dummy_verifications(), 1);
    assert_eq!(hasher.verifications(), 1);

    // NUL bytes and the empty password are passwords like any other (within the limit).
    for password in ["", "\0", "a\0b"] {
        let stored = hasher.hash(SecretString::from(password)).await?;
        assert!(
            hasher
                .verify(SecretString::from(password), stored.clone())
                .await?
                .valid
        );
        assert!(!hasher.verify(SecretString::from("a"), stored).await?.valid);
    }
    Ok(())
}
