//! Sealing TOTP secrets and keyed digests: binding, tampering, rotation.

use testudo_test_support::TestResult;
use testudo_totp::keys::{LOGIN_CHALLENGE, RECOVERY_CODE, TOTP_SECRET};
use testudo_totp::{Error, Keyring, Opened};

const NEW: &[u8] = b"0123456789abcdef0123456789abcdef-new";
const OLD: &[u8] = b"0123456789abcdef0123456789abcdef-old";

#[test]
fn a_sealed_secret_opens_for_its_user_only() -> TestResult {
    let ring = Keyring::from_secrets(&[NEW], TOTP_SECRET)?;
    let sealed = ring.seal(b"12345678901234567890", "user-1")?;
    let (plain, which) = ring.open(&sealed, "user-1")?;
    assert_eq!(&plain[..], b"12345678901234567890");
    assert_eq!(which, Opened::Current);
    assert!(matches!(ring.open(&sealed, "user-2"), Err(Error::Unseal)));
    assert!(!sealed.contains("1234567890"), "{sealed}");
    assert_ne!(
        sealed,
        ring.seal(b"12345678901234567890", "user-1")?,
        "random nonces"
    );
    Ok(())
}

#[test]
fn tampered_truncated_or_foreign_values_do_not_open() -> TestResult {
    let ring = Keyring::from_secrets(&[NEW], TOTP_SECRET)?;
    let sealed = ring.seal(b"secret bytes here!!!", "u")?;
    let mut flipped = sealed.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped)?;
    let long = format!("v1.{}", "A".repeat(100_000));
    for bad in [
        "",
        "v1.",
        "v2.AAAA",
        "v1.!!!!",
        "v1.AAAAAAAA",
        &sealed[..sealed.len() - 4],
        flipped.as_str(),
        long.as_str(),
    ] {
        assert!(
            matches!(ring.open(bad, "u"), Err(Error::Unseal)),
            "{bad:.20}"
        );
    }
    let other_purpose = Keyring::from_secrets(&[NEW], RECOVERY_CODE)?;
    assert!(matches!(
        other_purpose.open(&sealed, "u"),
        Err(Error::Unseal)
    ));
    Ok(())
}

#[test]
fn after_a_rotation_old_values_open_with_the_fallback_and_say_so() -> TestResult {
    let before = Keyring::from_secrets(&[OLD], TOTP_SECRET)?;
    let sealed = before.seal(b"12345678901234567890", "u")?;
    let after = Keyring::from_secrets(&[NEW, OLD], TOTP_SECRET)?;
    let (plain, which) = after.open(&sealed, "u")?;
    assert_eq!(&plain[..], b"12345678901234567890");
    assert_eq!(which, Opened::Fallback);
    let dropped = Keyring::from_secrets(&[NEW], TOTP_SECRET)?;
    assert!(matches!(dropped.open(&sealed, "u"), Err(Error::Unseal)));
    let old_digest = before.digest(&["u", "CODE"]);
    let digests = after.digests(&["u", "CODE"]);
    assert_eq!(digests.len(), 2);
    assert_eq!(digests[0], after.digest(&["u", "CODE"]));
    assert_eq!(digests[1], old_digest);
    Ok(())
}

#[test]
fn digests_depend_on_the_purpose_and_on_part_boundaries() -> TestResult {
    let codes = Keyring::from_secrets(&[NEW], RECOVERY_CODE)?;
    let challenges = Keyring::from_secrets(&[NEW], LOGIN_CHALLENGE)?;
    let d = codes.digest(&["ab", "c"]);
    assert_eq!(d.len(), 64);
    assert!(
        d.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_ne!(d, codes.digest(&["a", "bc"]));
    assert_ne!(d, challenges.digest(&["ab", "c"]));
    assert_eq!(d, codes.digest(&["ab", "c"]));
    Ok(())
}

#[test]
fn keys_need_a_signing_secret_and_are_never_shown_by_debug() -> TestResult {
    let config = testudo_config::AuthConfig::default();
    assert!(matches!(
        Keyring::from_config(&config, TOTP_SECRET),
        Err(Error::NoSigningSecret)
    ));
    assert!(matches!(
        Keyring::from_secrets(&[], TOTP_SECRET),
        Err(Error::NoSigningSecret)
    ));
    let mut config = config;
    config.signing_secret = Some(String::from_utf8(NEW.to_vec())?.into());
    let ring = Keyring::from_config(&config, TOTP_SECRET)?;
    let same = Keyring::from_secrets(&[NEW], TOTP_SECRET)?;
    assert_eq!(ring.digest(&["x"]), same.digest(&["x"]));
    assert!(!format!("{ring:?}").contains("0123456789"));
    Ok(())
}
