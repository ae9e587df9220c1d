//! Behaviour beyond the vectors: secrets, rotation, salts, separators, time, odd inputs.

use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use testudo_config::AuthConfig;
use testudo_core::{ExposeSecret, FixedClock, SecretString};
use testudo_signing::{
    BadSignature, Error, MaxAge, SeparatorReason, SignatureExpired, Signer, TimestampSigner,
    check_separator, make_token, purpose, verify_token,
};
use testudo_test_support::TestResult;

const SECRET: &str = "a-test-signing-secret-of-32-bytes!";
const OLD: &str = "an-old-signing-secret-of-32-bytes!!";

fn clocked(signer: Signer, at: i64) -> TestResult<(TimestampSigner, Arc<FixedClock>)> {
    let clock = Arc::new(FixedClock::from_unix(at)?);
    Ok((
        TimestampSigner::from(signer).with_clock(clock.clone()),
        clock,
    ))
}

/// Everything touching the process-wide configuration, in one test to avoid races.
#[test]
fn only_the_module_functions_fall_back_to_the_configured_secret() -> TestResult {
    assert_eq!(Signer::new("").err(), Some(Error::MissingSecret));
    assert_eq!(make_token("v", "").err(), Some(Error::MissingSecret));
    assert_eq!(
        verify_token("v:x:y", MaxAge::Unlimited, "").err(),
        Some(Error::MissingSecret)
    );
    let mut config = AuthConfig::default();
    config.signing_secret = Some(SecretString::from(SECRET));
    config.signing_token_lifetime = Duration::from_secs(100);
    testudo_config::configure(config)?;
    // The types never read the global configuration.
    assert_eq!(Signer::new("").err(), Some(Error::MissingSecret));
    assert_eq!(TimestampSigner::new("").err(), Some(Error::MissingSecret));
    // The module functions do: the secret, and the lifetime behind `MaxAge::Default`.
    let token = make_token("42", "")?;
    assert_eq!(
        TimestampSigner::new(SECRET)?.unsign_with_timestamp(&token, None)?,
        "42"
    );
    assert_eq!(verify_token(&token, MaxAge::Default, SECRET)?, "42");
    assert_eq!(verify_token(&token, MaxAge::Seconds(5), "")?, "42");
    let old = TimestampSigner::new(SECRET)?
        .with_clock(Arc::new(FixedClock::from_unix(1_700_000_000)?))
        .sign_with_timestamp("42");
    assert!(matches!(
        verify_token(&old, MaxAge::Default, "")
            .err()
            .and_then(|e| e.expired()),
        Some(SignatureExpired::TooOld { max_age: 100, .. })
    ));
    Ok(())
}

#[test]
fn max_age_default_must_be_opted_out_of() {
    let lifetime = Duration::from_secs(86_400);
    assert_eq!(MaxAge::default(), MaxAge::Default);
    assert_eq!(MaxAge::Default.resolve(lifetime), Some(86_400));
    assert_eq!(MaxAge::Unlimited.resolve(lifetime), None);
    assert_eq!(MaxAge::Seconds(3).resolve(lifetime), Some(3));
    assert_eq!(MaxAge::from(None), MaxAge::Unlimited);
    assert_eq!(MaxAge::from(Some(9)), MaxAge::Seconds(9));
}

#[test]
fn from_config_needs_a_secret_and_uses_fallbacks() -> TestResult {
    assert_eq!(
        Signer::from_config(&AuthConfig::default()).err(),
        Some(Error::MissingSecret)
    );
    let old_token = Signer::new(OLD)?.sign("v");
    let mut config = AuthConfig::default();
    config.signing_secret = Some(SecretString::from(SECRET));
    config.signing_fallback_secrets = vec![SecretString::from(OLD)];
    let signer = Signer::from_config(&config)?;
    assert_eq!(signer.unsign(&old_token)?, "v");
    assert_eq!(signer.sign("v"), Signer::new(SECRET)?.sign("v"));
    Ok(())
}

#[test]
fn fallback_secrets_verify_but_never_sign() -> TestResult {
    let old = Signer::new(OLD)?;
    let rotated = Signer::new(SECRET)?.with_fallback_secrets(["", OLD])?;
    let old_token = old.sign("user-1");
    assert_eq!(rotated.unsign(&old_token)?, "user-1");
    assert_eq!(rotated.sign("user-1"), Signer::new(SECRET)?.sign("user-1"));
    assert!(old.unsign(&rotated.sign("user-1")).is_err());
    // Once the old secret is dropped, its tokens stop verifying.
    let err = Signer::new(SECRET)?.unsign(&old_token).err();
    assert_eq!(
        err.and_then(|e| e.bad_signature()),
        Some(BadSignature::Mismatch)
    );
    // Timestamped tokens rotate the same way.
    let (old_ts, _) = clocked(old, 1_000)?;
    let (new_ts, _) = clocked(rotated, 1_010)?;
    let token = old_ts.sign_with_timestamp("x");
    assert_eq!(new_ts.unsign_with_timestamp(&token, Some(60))?, "x");
    Ok(())
}

#[test]
fn salts_separate_purposes_and_none_is_compatible() -> TestResult {
    let plain = Signer::new(SECRET)?;
    let reset = Signer::new(SECRET)?.with_salt("password-reset");
    let verify = Signer::new(SECRET)?.with_salt("email-verification");
    let token = reset.sign("42");
    assert_eq!(reset.unsign(&token)?, "42");
    assert!(verify.unsign(&token).is_err());
    assert!(plain.unsign(&token).is_err());
    assert!(reset.unsign(&plain.sign("42")).is_err());
    assert_eq!(reset.salt(), Some("password-reset"));
    // Salt applies to fallbacks too.
    let rotated = Signer::new(SECRET)?
        .with_fallback_secrets([OLD])?
        .with_salt("password-reset");
    let old = Signer::new(OLD)?.with_salt("password-reset");
    assert_eq!(rotated.unsign(&old.sign("7"))?, "7");
    Ok(())
}

#[test]
fn bad_separators_are_refused_at_construction() -> TestResult {
    for sep in ["", "a", "Z", "0", "-", "_", ":a", "x:"] {
        let expected = if sep.is_empty() {
            SeparatorReason::Empty
        } else {
            SeparatorReason::Base64urlCharacter
        };
        assert_eq!(
            Signer::new(SECRET)?.with_separator(sep).err(),
            Some(Error::InvalidSeparator { reason: expected }),
            "{sep:?}"
        );
    }
    for sep in [":", "::", "|", ".", "/", "§", " ~ "] {
        let s = Signer::new(SECRET)?.with_separator(sep)?;
        assert_eq!(s.separator(), sep);
        assert_eq!(s.unsign(&s.sign("a:b|c.d"))?, "a:b|c.d");
    }
    Ok(())
}

#[test]
fn values_with_separators_empty_non_ascii_and_long() -> TestResult {
    let s = Signer::new(SECRET)?;
    let long = "é".repeat(100_000);
    for value in ["", ":", "a:b:c", "::", "ünïcødé 🐢", "\0", long.as_str()] {
        let signed = s.sign(value);
        assert_eq!(s.unsign(&signed)?, value);
        let (ts, _) = clocked(s.clone(), 1_700_000_000)?;
        let stamped = ts.sign_with_timestamp(value);
        assert_eq!(ts.unsign_with_timestamp(&stamped, Some(0))?, value);
    }
    Ok(())
}

#[test]
fn malformed_signatures_are_bad_not_panics() -> TestResult {
    let s = Signer::new(SECRET)?;
    let good = s.sign("v");
    let sig = good.rsplit_once(':').map(|(_, sig)| sig).ok_or("no sig")?;
    let non_ascii = format!("v:{}é", &sig[..41]);
    for bad in [
        "",
        "v",
        "v:",
        ":",
        "v:é",
        non_ascii.as_str(),
        "v:🐢🐢🐢🐢🐢🐢🐢🐢🐢🐢",
        &format!("{good}x"),
        &format!("w:{sig}"),
    ] {
        let err = s.unsign(bad).err().and_then(|e| e.bad_signature());
        assert!(
            matches!(
                err,
                Some(BadSignature::Mismatch | BadSignature::NoSeparator)
            ),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(
        s.unsign("no separator")
            .err()
            .and_then(|e| e.bad_signature()),
        Some(BadSignature::NoSeparator)
    );
    Ok(())
}

#[test]
fn expiry_follows_the_clock() -> TestResult {
    let (ts, clock) = clocked(Signer::new(SECRET)?, 1_700_000_000)?;
    let token = ts.sign_with_timestamp("v");
    clock.advance(Duration::from_secs(60));
    assert_eq!(ts.unsign_with_timestamp(&token, Some(60))?, "v");
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        ts.unsign_with_timestamp(&token, Some(60))
            .err()
            .and_then(|e| e.expired()),
        Some(SignatureExpired::TooOld {
            age: 61,
            max_age: 60
        })
    );
    // No max age: no time check at all.
    assert_eq!(ts.unsign_with_timestamp(&token, None)?, "v");
    let (value, at) = ts.unsign_with_timestamp_at(&token, None)?;
    assert_eq!((value, at), ("v", 1_700_000_000));
    Ok(())
}

#[test]
fn future_timestamps_are_refused_beyond_the_leeway() -> TestResult {
    let (ts, clock) = clocked(Signer::new(SECRET)?, 1_700_000_010)?;
    let token = ts.sign_with_timestamp("v");
    clock.advance(Duration::ZERO);
    let (behind, _) = clocked(Signer::new(SECRET)?, 1_700_000_000)?;
    let in_future = |s: &TimestampSigner, max: Option<u64>| {
        s.unsign_with_timestamp(&token, max)
            .err()
            .and_then(|e| e.expired())
    };
    assert_eq!(
        in_future(&behind, Some(3600)),
        Some(SignatureExpired::InFuture)
    );
    // Without a max age nothing is checked, as the reference.
    assert_eq!(in_future(&behind, None), None);
    let lenient = behind.clone().with_leeway(10);
    assert_eq!(lenient.unsign_with_timestamp(&token, Some(3600))?, "v");
    let tight = behind.with_leeway(9);
    assert_eq!(
        in_future(&tight, Some(3600)),
        Some(SignatureExpired::InFuture)
    );
    Ok(())
}

#[test]
fn plain_and_timestamped_formats_are_not_separated_like_the_reference() -> TestResult {
    let (ts, _) = clocked(Signer::new(SECRET)?, 7)?;
    let token = ts.sign_with_timestamp("v");
    assert_eq!(ts.unsign(&token)?, "v:Nw");
    assert_eq!(
        ts.unsign_with_timestamp(&ts.sign("v"), None)
            .err()
            .and_then(|e| e.bad_signature()),
        Some(BadSignature::NoTimestamp)
    );
    Ok(())
}

#[test]
fn separator_errors_read_as_messages_and_are_configuration_errors() {
    let cases = [
        (
            check_separator(""),
            "invalid separator: the separator must not be empty",
        ),
        (
            check_separator(":a"),
            "invalid separator: the separator must not contain base64url characters \
             [A-Za-z0-9_-]",
        ),
    ];
    for (result, message) in cases {
        let Err(err) = result else {
            panic!("{message}: expected an error");
        };
        assert_eq!(err.to_string(), message);
        assert!(std::error::Error::source(&err).is_none());
        let core = testudo_core::Error::from(err);
        assert!(
            matches!(core, testudo_core::Error::Configuration(_)),
            "{core:?}"
        );
        assert_eq!(core.to_string(), message);
        assert!(std::error::Error::source(&core).is_none());
    }
}

#[test]
fn debug_and_errors_never_show_secrets() -> TestResult {
    let s = Signer::new(SECRET)?.with_fallback_secrets([OLD])?;
    let debug = format!("{s:?} {:?}", TimestampSigner::from(s.clone()));
    assert!(!debug.contains(SECRET) && !debug.contains(OLD), "{debug}");
    let core: testudo_core::Error = Error::MissingSecret.into();
    assert!(matches!(core, testudo_core::Error::Configuration(_)));
    let core: testudo_core::Error = Error::from(BadSignature::Mismatch).into();
    assert!(matches!(core, testudo_core::Error::Signature(_)));
    assert_eq!(SecretString::from(SECRET).expose_secret(), SECRET);
    Ok(())
}

proptest! {
    #[test]
    fn unsign_never_panics(input in any::<String>(), sep in prop::sample::select(vec![":", "::", "|", "§"])) {
        let s = Signer::new(SECRET).map_err(|e| TestCaseError::fail(e.to_string()))?
            .with_separator(sep).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let ts = TimestampSigner::from(s.clone());
        let _ = s.unsign(&input);
        let _ = ts.unsign_with_timestamp(&input, None);
        let _ = ts.unsign_with_timestamp(&input, Some(0));
        // A forged signature over arbitrary input never verifies.
        let forged = format!("{input}{sep}{}", "A".repeat(43));
        prop_assert!(s.unsign(&forged).is_err() || s.sign(&input).ends_with(&"A".repeat(43)));
    }

    #[test]
    fn sign_then_unsign_round_trips(value in any::<String>(), at in 0_i64..10_000_000_000) {
        let s = Signer::new(SECRET).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let signed = s.sign(&value);
        prop_assert_eq!(s.unsign(&signed).ok(), Some(value.as_str()));
        let clock = Arc::new(FixedClock::from_unix(at).map_err(|e| TestCaseError::fail(e.to_string()))?);
        let ts = TimestampSigner::from(s).with_clock(clock);
        let token = ts.sign_with_timestamp(&value);
        prop_assert_eq!(ts.unsign_with_timestamp(&token, Some(0)).ok(), Some(value.as_str()));
    }
}

/// Finding 9 (security review): signers took secrets of any length; `new`, `from_config` and
/// `with_fallback_secrets` now refuse one shorter than 32 bytes, and only the explicitly named
/// `new_unchecked` (and the reference-compatible module functions) accept it.
#[test]
fn finding_9_short_secrets_are_refused_except_by_the_unchecked_constructor() -> TestResult {
    let short = "x".repeat(testudo_signing::MIN_SECRET_BYTES - 1);
    let short_error = Some(Error::ShortSecret { min_bytes: 32 });
    assert_eq!(Signer::new(&short).err(), short_error);
    assert_eq!(TimestampSigner::new(&short).err(), short_error);
    assert_eq!(
        Signer::new(SECRET)?
            .with_fallback_secrets([short.as_str()])
            .err(),
        short_error
    );
    let mut config = AuthConfig::default();
    config.signing_secret = Some(short.clone().into());
    assert_eq!(Signer::from_config(&config).err(), short_error);
    config.signing_secret = Some(SECRET.into());
    config.signing_fallback_secrets = vec![short.clone().into()];
    assert_eq!(Signer::from_config(&config).err(), short_error);
    let unchecked = Signer::new_unchecked(&short)?;
    assert_eq!(unchecked.unsign(&unchecked.sign("v"))?, "v");
    assert_eq!(
        Signer::new(&"x".repeat(32))?.sign("v").len(),
        "v:".len() + 43
    );
    let token = make_token("v", &short)?;
    assert_eq!(verify_token(&token, MaxAge::Unlimited, &short)?, "v");
    Ok(())
}

#[test]
fn each_purpose_refuses_what_another_signed_both_ways_with_fallbacks_too() -> TestResult {
    let old = AuthConfig::builder().signing_secret(OLD).build()?;
    let rotated = AuthConfig::builder()
        .signing_secret(SECRET)
        .signing_fallback_secret(OLD)
        .build()?;
    let plain = Signer::from_config(&rotated)?;
    for (i, a) in purpose::ALL.iter().enumerate() {
        let signer = Signer::for_purpose(&rotated, a)?;
        let before_rotation = Signer::for_purpose(&old, a)?;
        // Own purpose: current and fallback secret both verify.
        let signed = signer.sign("42");
        assert_eq!(signer.unsign(&signed)?, "42");
        assert_eq!(signer.unsign(&before_rotation.sign("42"))?, "42");
        // Not with no purpose, either way.
        assert!(plain.unsign(&signed).is_err(), "{a} passed as unsalted");
        assert!(
            signer.unsign(&plain.sign("42")).is_err(),
            "unsalted passed as {a}"
        );
        for b in &purpose::ALL[i + 1..] {
            let other = Signer::for_purpose(&rotated, b)?;
            assert!(other.unsign(&signed).is_err(), "{a} passed as {b}");
            assert!(
                signer.unsign(&other.sign("42")).is_err(),
                "{b} passed as {a}"
            );
            assert!(
                other.unsign(&before_rotation.sign("42")).is_err(),
                "{a} (old secret) passed as {b}"
            );
        }
    }
    let ts = TimestampSigner::for_purpose(&rotated, purpose::PASSWORD_RESET)?;
    let other = TimestampSigner::for_purpose(&rotated, purpose::EMAIL_VERIFICATION)?;
    let link = ts.sign_with_timestamp("7");
    assert_eq!(ts.unsign_with_timestamp(&link, Some(60))?, "7");
    assert!(other.unsign_with_timestamp(&link, Some(60)).is_err());
    // No secret configured: refused, nothing signed with an empty key.
    assert!(matches!(
        Signer::for_purpose(&AuthConfig::default(), purpose::PASSWORD_RESET),
        Err(Error::MissingSecret)
    ));
    Ok(())
}
