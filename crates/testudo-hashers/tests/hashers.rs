//! Public-API tests: round trips, Django known answers, limits, the async bound.

use std::sync::Arc;

use proptest::prelude::*;
use secrecy::SecretString;
use testudo_config::AuthConfig;
use testudo_hashers::{AsyncHasher, Error, HashFormat, PasswordHasher, identify};
use testudo_test_support::TestResult;

fn cheap_config() -> AuthConfig {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 64;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 1000;
    c
}

fn cheap_with(change: impl FnOnce(&mut AuthConfig)) -> AuthConfig {
    let mut c = cheap_config();
    change(&mut c);
    c
}

fn cheap() -> TestResult<PasswordHasher> {
    Ok(PasswordHasher::from_config(&cheap_config())?)
}

#[test]
fn argon2id_verifies_its_own_output_and_needs_no_upgrade() -> TestResult {
    let h = cheap()?;
    for pw in ["", "pw", "pässwörd ✓", "with\0nul", &"x".repeat(4096)] {
        let stored = h.hash(pw)?;
        assert_eq!(identify(&stored), Some(HashFormat::Argon2));
        let v = h.verify(pw, &stored);
        assert!(v.valid && v.upgraded.is_none(), "{pw:?}");
        assert!(!h.verify(&format!("{pw}!"), &stored).valid);
        assert!(!h.needs_rehash(&stored));
    }
    Ok(())
}

#[test]
fn argon2_hashes_with_other_parameters_are_upgraded() -> TestResult {
    let old = cheap()?.hash("pw")?;
    let newer = PasswordHasher::from_config(&cheap_with(|c| c.argon2_time_cost = 2))?;
    let v = newer.verify("pw", &old);
    let up = v.upgraded.ok_or("upgrade expected")?;
    assert!(v.valid && up.contains("m=64,t=2,p=1$"));
    Ok(())
}

#[test]
fn bcrypt_hashes_verify_and_are_upgraded() -> TestResult {
    let h = cheap()?;
    for prefix in ["$2a$", "$2b$", "$2x$", "$2y$"] {
        let stored = bcrypt::hash("secret", 4)?;
        let stored = format!("{prefix}{}", &stored[4..]);
        let v = h.verify("secret", &stored);
        assert!(v.valid && v.upgraded.is_some(), "{prefix}");
        assert!(!h.verify("Secret", &stored).valid);
    }
    Ok(())
}

#[test]
fn tortoise_pbkdf2_hashes_decode_their_salt() -> TestResult {
    // Python: base64(pbkdf2_hmac('sha256', b'tortoise pw', bytes(range(16)), 1000))
    let stored =
        "pbkdf2_sha256$1000$AAECAwQFBgcICQoLDA0ODw==$p1wrk7xTXPR4RZZILyAcnGkvSd4NH26i7Wm+/MZk+Lw=";
    assert_eq!(identify(stored), Some(HashFormat::Pbkdf2Sha256));
    let h = cheap()?;
    let v = h.verify("tortoise pw", stored);
    assert!(v.valid && v.upgraded.is_some());
    assert!(!h.verify("tortoise pw ", stored).valid);
    Ok(())
}

/// Known answers computed with Django's documented algorithm:
/// `base64(pbkdf2_hmac('sha256', password_utf8, salt_text_utf8, iterations, 32))`.
#[test]
fn django_pbkdf2_hashes_use_their_salt_as_text() -> TestResult {
    let h = cheap()?;
    let cases = [
        (
            "pbkdf2_sha256$1000$abcdefghijklmnopqrstuv$3sV/SVfT6ME4dIgYVdSlH0jEvyK0z+y3AJvov9Y+8MA=",
            "correct horse",
        ),
        (
            "pbkdf2_sha256$1200$Q8xZ1rV2kLmN$Fu1qUwTZGH9AoT6+uqyU3QlcdeDgJ4rmeq1FwyB5/Kk=",
            "pässwörd",
        ),
        (
            "pbkdf2_sha256$1$aaaaaaaaaaaaaaaaaaaaaa$/3iz6NdHLjN/9OuYTvyiK+/zID5yuK89ot4EmrWF65E=",
            "x",
        ),
        // 24 characters that are valid unpadded base64: no `=`, so still Django's text salt.
        (
            "pbkdf2_sha256$1000$ABCDEFGHIJKLMNOPQRSTUVWX$GMOb5zLVcejm9HXQKZ17SA1WaULUrM1D7Ec6a8qGGGw=",
            "tortoise pw",
        ),
    ];
    for (stored, pw) in cases {
        assert_eq!(
            identify(stored),
            Some(HashFormat::DjangoPbkdf2Sha256),
            "{stored}"
        );
        let v = h.verify(pw, stored);
        assert!(v.valid && v.upgraded.is_some(), "{stored}");
        assert!(!h.verify("wrong", stored).valid);
    }
    Ok(())
}

#[test]
fn django_bcrypt_formats_verify() -> TestResult {
    let h = cheap()?;
    // Django's bcrypt_sha256: bcrypt of the lowercase hex SHA-256 of the password. The hex is a
    // Python known answer: hashlib.sha256(b"x" * 100).hexdigest().
    let hex = "09ecb6ebc8bcefc733f6f2ec44f791abeed6a99edf0cc31519637898aebd52d8";
    let long = "x".repeat(100);
    let stored = format!("bcrypt_sha256${}", bcrypt::hash(hex, 4)?);
    assert_eq!(identify(&stored), Some(HashFormat::DjangoBcryptSha256));
    let v = h.verify(&long, &stored);
    assert!(v.valid && v.upgraded.is_some());
    // The pre-hash sees every byte: no 72-byte truncation.
    assert!(!h.verify(&"x".repeat(99), &stored).valid);

    // Django's plain bcrypt: "bcrypt$" + the modular-crypt string.
    let stored = format!("bcrypt${}", bcrypt::hash("plain", 4)?);
    assert_eq!(identify(&stored), Some(HashFormat::DjangoBcrypt));
    assert!(h.verify("plain", &stored).valid);
    assert!(!h.verify("plain2", &stored).valid);
    Ok(())
}

#[test]
fn django_argon2_hashes_verify() -> TestResult {
    let h = cheap()?;
    // Django writes "argon2" + argon2-cffi's PHC string.
    let phc = h.hash("dj")?;
    let stored = format!("argon2{phc}");
    assert!(stored.starts_with("argon2$argon2id$v=19$"));
    assert_eq!(identify(&stored), Some(HashFormat::DjangoArgon2));
    let v = h.verify("dj", &stored);
    assert!(v.valid && v.upgraded.is_some());
    assert!(!h.verify("dj2", &stored).valid);
    Ok(())
}

#[test]
fn a_too_long_password_is_refused_with_the_reference_message() -> TestResult {
    let h = PasswordHasher::from_config(&cheap_with(|c| c.max_password_length = 10))?;
    let Err(Error::InvalidPassword(e)) = h.hash("12345678901") else {
        return Err("expected InvalidPassword".into());
    };
    assert_eq!(
        e.messages(),
        ["Password exceeds maximum length of 10 characters"]
    );
    // Ten characters of two bytes each are fine: the limit counts characters.
    let stored = h.hash("éééééééééé")?;
    assert!(h.verify("éééééééééé", &stored).valid);
    let core: testudo_core::Error = Error::InvalidPassword(e).into();
    assert!(matches!(core, testudo_core::Error::InvalidPassword(_)));
    Ok(())
}

/// The messages of `e` and of every source below it, top first.
fn chain(e: &(dyn std::error::Error + 'static)) -> Vec<String> {
    std::iter::successors(Some(e), |e| e.source())
        .map(ToString::to_string)
        .collect()
}

#[test]
fn parameters_the_hash_function_refuses_are_a_configuration_error_with_the_cause_in_source()
-> TestResult {
    let config = cheap_with(|c| c.argon2_parallelism = 0);
    let Err(err) = PasswordHasher::from_config(&config) else {
        return Err("zero lanes must be refused".into());
    };
    assert!(matches!(err, Error::Parameters(_)), "{err:?}");
    let messages = chain(&err);
    assert_eq!(messages[0], "invalid password hashing parameters");
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(!messages[0].contains(&messages[1]), "{messages:?}");

    let core = testudo_core::Error::from(err);
    assert!(
        matches!(core, testudo_core::Error::Configuration(_)),
        "{core:?}"
    );
    assert_eq!(
        chain(&core),
        messages,
        "Configuration shows the error itself"
    );
    Ok(())
}

#[tokio::test]
async fn a_cancelled_hashing_task_is_an_internal_error_with_the_cause_in_source() -> TestResult {
    let task = tokio::spawn(std::future::pending::<()>());
    task.abort();
    let Err(join) = task.await else {
        return Err("an aborted task cannot complete".into());
    };
    let cause = join.to_string();
    let err = Error::Task(Box::new(join));
    assert_eq!(
        chain(&err),
        ["the password hashing task did not complete", cause.as_str()]
    );

    let core = testudo_core::Error::from(err);
    assert!(matches!(core, testudo_core::Error::Internal(_)), "{core:?}");
    assert_eq!(
        chain(&core),
        [
            "internal error",
            "the password hashing task did not complete",
            cause.as_str()
        ]
    );
    Ok(())
}

#[test]
fn a_failing_hash_function_or_random_generator_is_an_internal_error() {
    let err = Error::Hashing(Box::new(std::io::Error::other("no entropy")));
    assert_eq!(chain(&err), ["password hashing failed", "no entropy"]);
    let core = testudo_core::Error::from(err);
    assert!(matches!(core, testudo_core::Error::Internal(_)), "{core:?}");
    assert_eq!(
        chain(&core),
        ["internal error", "password hashing failed", "no entropy"]
    );
}

#[test]
fn garbage_stored_strings_never_verify() -> TestResult {
    let h = cheap()?;
    let good = h.hash("pw")?;
    let mut cases: Vec<String> = (0..good.len()).map(|n| good[..n].to_owned()).collect();
    cases.extend(
        [
            "$argon2id$v=19$m=4294967295,t=4294967295,p=4294967295$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
            "$argon2id$v=19$m=64,t=1,p=1,keyid=x$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=20$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA",
            "$argon2id$v=19$m=64,t=1,p=1$é$AAAA",
            "$2b$99$......................21jzCB1r6pN6rp5O2Ev0ejjTAboskKm",
            "pbkdf2_sha256$-1$abc$AAAA",
            "pbkdf2_sha256$$abc$AAAA",
            "pbkdf2_sha256$1000$$AAAA",
            "bcrypt_sha256$",
            "argon2$",
            "md5$abc$def",
            "ü",
        ]
        .map(str::to_owned),
    );
    for c in &cases {
        assert!(!h.verify("pw", c).valid, "{c:?}");
    }
    Ok(())
}

#[test]
fn default_parameters_write_the_reference_layout() -> TestResult {
    let h = PasswordHasher::from_config(&AuthConfig::default())?;
    let stored = h.hash("correct horse battery staple")?;
    assert!(stored.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"));
    assert_eq!(stored.len(), 97);
    Ok(())
}

#[test]
fn module_functions_use_the_global_configuration() -> TestResult {
    // The global default configuration: one default-cost hash and verify.
    let stored = testudo_hashers::make_password("global")?;
    let v = testudo_hashers::check_password("global", &stored);
    assert!(v.valid && v.upgraded.is_none());
    assert!(!testudo_hashers::check_password("Global", &stored).valid);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_most_hash_concurrency_hashes_run_at_once() -> TestResult {
    let hasher = AsyncHasher::new(&cheap_with(|c| {
        c.hash_concurrency = 2;
        c.argon2_memory_cost = 256;
    }))?;
    let mut tasks = Vec::new();
    for i in 0..32 {
        let hasher = hasher.clone();
        tasks.push(tokio::spawn(async move {
            hasher.hash(SecretString::from(format!("pw{i}"))).await
        }));
    }
    for t in tasks {
        let stored = t.await??;
        assert!(stored.starts_with("$argon2id$"));
    }
    assert!(hasher.peak_in_flight() >= 1);
    assert!(
        hasher.peak_in_flight() <= 2,
        "peak {}",
        hasher.peak_in_flight()
    );
    Ok(())
}

#[tokio::test]
async fn unknown_users_and_wrong_passwords_cost_one_verification_each() -> TestResult {
    let hasher = Arc::new(AsyncHasher::new(&cheap_config())?);
    let stored = hasher.hash(SecretString::from("right")).await?;
    let before = hasher.verifications();
    let v = hasher
        .verify(SecretString::from("wrong"), stored.clone())
        .await?;
    assert!(!v.valid);
    assert_eq!(hasher.verifications(), before + 1);
    hasher.verify_dummy().await?;
    assert_eq!(hasher.verifications(), before + 2);
    // Unusable stored passwords also cost a (dummy) verification.
    let v = hasher
        .verify(SecretString::from("x"), "!unusable".to_owned())
        .await?;
    assert!(!v.valid);
    assert_eq!(hasher.verifications(), before + 3);
    // So do stored strings in no known format.
    let v = hasher
        .verify(SecretString::from("x"), "md5$abc$def".to_owned())
        .await?;
    assert!(!v.valid);
    assert_eq!(hasher.verifications(), before + 4);
    let v = hasher.verify(SecretString::from("right"), stored).await?;
    assert!(v.valid && v.upgraded.is_none());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_inputs_never_panic(password in ".{0,80}", stored in ".{0,120}") {
        let h = PasswordHasher::from_config(&cheap_config())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let v = h.verify(&password, &stored);
        prop_assert!(!v.valid || v.upgraded.is_some() || stored.starts_with("$argon2id$"));
    }

    #[test]
    fn mutated_hashes_never_panic(
        password in ".{0,20}",
        prefix in prop::sample::select(vec![
            "$argon2id$v=19$m=64,t=1,p=1$", "$argon2i$m=8,t=1,p=1$", "$2b$04$",
            "pbkdf2_sha256$1$", "bcrypt_sha256$$2b$04$", "argon2$argon2id$v=19$m=64,t=1,p=1$",
        ]),
        tail in "[A-Za-z0-9+/=$.,]{0,70}",
    ) {
        let h = PasswordHasher::from_config(&cheap_config())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let stored = format!("{prefix}{tail}");
        let v = h.verify(&password, &stored);
        prop_assert!(!v.valid || v.upgraded.is_some() || stored.starts_with("$argon2id$"));
    }
}

/// Finding 9 (security review): a call waited for a hashing slot without bound, so a login
/// storm queued every request behind the slots. It now waits at most `hash_queue_timeout` and
/// fails with `Busy` (core `Error::Busy`, an HTTP 503), having hashed nothing. The slot is held
/// deterministically by a call paused inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finding_9_a_saturated_hasher_answers_busy_instead_of_queueing_forever() -> TestResult {
    let config = cheap_with(|c| {
        c.hash_concurrency = 1;
        c.hash_queue_timeout = std::time::Duration::from_millis(50);
    });
    let hasher = AsyncHasher::new(&config)?;
    let paused = testudo_core::pause::arm("hashers.slot_taken");
    let holder = tokio::spawn({
        let hasher = hasher.clone();
        async move { hasher.hash(SecretString::from("first")).await }
    });
    paused.reached().await;
    // Bounded here too, so a hasher that queues without end fails this test instead of
    // hanging it.
    let second = hasher.hash(SecretString::from("second"));
    let busy = tokio::time::timeout(std::time::Duration::from_secs(5), second).await;
    assert!(matches!(busy, Ok(Err(Error::Busy))), "{busy:?}");
    let verify = hasher
        .verify(SecretString::from("x"), "unusable".to_owned())
        .await;
    assert!(matches!(verify, Err(Error::Busy)), "{verify:?}");
    assert!(matches!(
        testudo_core::Error::from(Error::Busy),
        testudo_core::Error::Busy
    ));
    assert_eq!(hasher.verifications(), 0, "nothing was verified while busy");
    paused.release();
    assert!(holder.await??.starts_with("$argon2id$"));
    // With the slot free again, calls go through.
    hasher.hash(SecretString::from("third")).await?;
    Ok(())
}

/// `hash_queue_timeout = 0` means "never queue" (load shedding), not "always busy": a call
/// runs when a slot is free at once, and fails with `Busy` without waiting when none is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_queue_timeout_sheds_load_but_uses_a_free_slot() -> TestResult {
    let config = cheap_with(|c| {
        c.hash_concurrency = 1;
        c.hash_queue_timeout = std::time::Duration::ZERO;
    });
    config.validate()?;
    let hasher = AsyncHasher::new(&config)?;
    assert!(
        hasher
            .hash(SecretString::from("free"))
            .await?
            .starts_with("$argon2id$")
    );
    let paused = testudo_core::pause::arm("hashers.slot_taken");
    let holder = tokio::spawn({
        let hasher = hasher.clone();
        async move { hasher.hash(SecretString::from("first")).await }
    });
    paused.reached().await;
    let second = hasher.hash(SecretString::from("second"));
    let busy = tokio::time::timeout(std::time::Duration::from_secs(5), second).await;
    assert!(matches!(busy, Ok(Err(Error::Busy))), "{busy:?}");
    paused.release();
    assert!(holder.await??.starts_with("$argon2id$"));
    Ok(())
}

/// A syntactically valid Argon2id string with these parameters (its salt and hash are
/// placeholders: only whether verification would run is checked, nothing is hashed).
fn argon2_with(m: u32, t: u32, p: u32) -> String {
    format!(
        "$argon2id$v=19$m={m},t={t},p={p}$c29tZXNhbHRzb21lc2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
    )
}

/// Finding 9 (security review): stored-hash ceilings were fixed (Argon2 up to 1 GiB and 64
/// passes, bcrypt 20, PBKDF2 10 million), so one planted hash could hold a hashing slot for
/// minutes. The budget is now 4x the configured cost (counted from the library defaults when
/// the configuration is cheaper), for Argon2 memory and work `m * t` together.
#[test]
fn finding_9_stored_hash_costs_are_bounded_relative_to_the_configuration() -> TestResult {
    let defaults = PasswordHasher::from_config(&AuthConfig::default())?;
    let cheap = cheap()?;
    for hasher in [&defaults, &cheap] {
        // Within: the defaults, Django's argon2 parameters, 4x the work.
        assert!(hasher.accepts_stored(&argon2_with(65_536, 3, 4)));
        assert!(hasher.accepts_stored(&argon2_with(102_400, 2, 8)));
        assert!(hasher.accepts_stored(&argon2_with(262_144, 3, 4)));
        assert!(hasher.accepts_stored(&argon2_with(65_536, 12, 4)));
        // Over: memory over 4x, work over 4x with memory within, the old 1 GiB / 64 ceiling.
        assert!(!hasher.accepts_stored(&argon2_with(262_145, 1, 4)));
        assert!(!hasher.accepts_stored(&argon2_with(131_072, 7, 4)));
        assert!(!hasher.accepts_stored(&argon2_with(1_048_576, 64, 4)));
        // bcrypt: the reference cost 12 plus 2; PBKDF2: 4 x 600 000.
        let bcrypt = |cost: u32| {
            format!("$2b${cost:02}$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234")
        };
        assert!(hasher.accepts_stored(&bcrypt(14)));
        assert!(!hasher.accepts_stored(&bcrypt(15)));
        assert!(!hasher.accepts_stored(&bcrypt(3)));
        let pbkdf2 =
            |n: u32| format!("pbkdf2_sha256${n}$salt$c2hhMjU2c2hhMjU2c2hhMjU2c2hhMjU2c2hhMjU2c2g=");
        assert!(hasher.accepts_stored(&pbkdf2(2_400_000)));
        assert!(!hasher.accepts_stored(&pbkdf2(2_400_001)));
        assert!(!hasher.accepts_stored("!unusable"));
        assert!(!hasher.accepts_stored("$argon2id$v=19$m=65536,t=3,p=4$broken"));
    }
    // A configuration dearer than the defaults raises the budget with it.
    let dear = PasswordHasher::from_config(&cheap_with(|c| {
        c.argon2_memory_cost = 262_144;
        c.argon2_time_cost = 4;
    }))?;
    assert!(dear.accepts_stored(&argon2_with(1_048_576, 4, 4)));
    assert!(!dear.accepts_stored(&argon2_with(1_048_576, 5, 4)));
    Ok(())
}

/// Finding 9: an over-budget or malformed stored hash answered at once (no work), faster than
/// a wrong password; it now costs one dummy verification, counted by the hasher.
#[tokio::test]
async fn finding_9_refused_stored_hashes_still_cost_a_dummy_verification() -> TestResult {
    let hasher = AsyncHasher::new(&cheap_config())?;
    for (i, stored) in [
        argon2_with(1_048_576, 64, 4),
        "$argon2id$v=19$m=64,t=1,p=1$broken".to_owned(),
        "!unusable".to_owned(),
        "not a hash".to_owned(),
    ]
    .into_iter()
    .enumerate()
    {
        let v = hasher
            .verify(SecretString::from("pw"), stored.clone())
            .await?;
        assert!(!v.valid, "{stored}");
        let n = u64::try_from(i)? + 1;
        assert_eq!(
            hasher.dummy_verifications(),
            n,
            "{stored}: no dummy verification"
        );
        assert_eq!(hasher.verifications(), n, "{stored}");
    }
    // A real hash: a real verification, no dummy.
    let stored = hasher.hash(SecretString::from("pw")).await?;
    assert!(hasher.verify(SecretString::from("pw"), stored).await?.valid);
    assert_eq!(hasher.dummy_verifications(), 4);
    assert_eq!(hasher.verifications(), 5);
    Ok(())
}
