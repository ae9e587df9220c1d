//! Property tests (issue 17): sign / unsign round trips for `Signer` and `TimestampSigner`
//! (separators, salts, fallback secrets, any time), and any single-bit flip of a signed value
//! refused. Bounded case counts keep the suite fast.

use std::sync::Arc;

use proptest::prelude::*;
use testudo_core::{BadSignature, FixedClock, SignatureError};
use testudo_signing::{Error, Signer, TimestampSigner};

const SECRET: &str = "a-property-test-secret-of-32-bytes!";
const OLD: &str = "an-older-property-test-secret-32-bytes";

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// A signer with `separator`, an optional salt and, optionally, `OLD` as fallback.
fn signer(separator: &str, salt: Option<&str>, fallback: bool) -> Result<Signer, TestCaseError> {
    let mut s = Signer::new(SECRET)
        .map_err(fail)?
        .with_separator(separator)
        .map_err(fail)?;
    if let Some(salt) = salt {
        s = s.with_salt(salt);
    }
    if fallback {
        s = s.with_fallback_secrets([OLD]).map_err(fail)?;
    }
    Ok(s)
}

/// `text` with bit `bit` of byte `at` flipped, when the result is still UTF-8 (signed values
/// are `&str` at every entry point: other bytes never reach `unsign`).
fn flip(text: &str, at: usize, bit: u8) -> Option<String> {
    let mut bytes = text.as_bytes().to_vec();
    let at = at % bytes.len();
    bytes[at] ^= 1 << (bit % 8);
    String::from_utf8(bytes).ok()
}

fn separators() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![":", ".", "|", "::", "§", " "])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn signer_round_trips_any_value(
        value in any::<String>(),
        sep in separators(),
        salt in proptest::option::of("[a-z.]{0,12}"),
        fallback in any::<bool>(),
    ) {
        let s = signer(sep, salt.as_deref(), fallback)?;
        let signed = s.sign(&value);
        prop_assert_eq!(s.unsign(&signed).ok(), Some(value.as_str()));
        // A value signed under the fallback secret still verifies when the fallback is set.
        let old = Signer::new(OLD).map_err(fail)?.with_separator(sep).map_err(fail)?;
        let old = match salt.as_deref() { Some(salt) => old.with_salt(salt), None => old };
        let by_old = old.sign(&value);
        prop_assert_eq!(s.unsign(&by_old).is_ok(), fallback);
    }

    #[test]
    fn timestamp_signer_round_trips_any_value_at_any_time(
        value in any::<String>(),
        sep in separators(),
        at in 0_i64..=253_402_300_799,
        max_age in proptest::option::of(any::<u64>()),
    ) {
        let clock = Arc::new(FixedClock::from_unix(at).map_err(fail)?);
        let ts = TimestampSigner::from(signer(sep, None, false)?).with_clock(clock);
        let signed = ts.sign_with_timestamp(&value);
        let back = ts.unsign_with_timestamp_at(&signed, max_age).map_err(fail)?;
        prop_assert_eq!(back, (value.as_str(), u64::try_from(at).map_err(fail)?));
    }

    #[test]
    fn any_single_bit_flip_of_a_signed_value_is_refused(
        value in any::<String>(),
        sep in separators(),
        at in any::<usize>(),
        bit in 0_u8..8,
    ) {
        let s = signer(sep, None, true)?;
        let signed = s.sign(&value);
        let Some(tampered) = flip(&signed, at, bit) else {
            return Ok(());
        };
        let refused = s.unsign(&tampered);
        prop_assert!(
            matches!(
                refused,
                Err(Error::Signature(SignatureError::Bad(
                    BadSignature::Mismatch | BadSignature::NoSeparator
                )))
            ),
            "{tampered:?} gave {refused:?}"
        );
    }

    #[test]
    fn any_single_bit_flip_of_a_timestamped_value_is_refused(
        value in any::<String>(),
        at in any::<usize>(),
        bit in 0_u8..8,
    ) {
        let clock = Arc::new(FixedClock::from_unix(1_700_000_000).map_err(fail)?);
        let ts = TimestampSigner::from(signer(":", Some("salt"), false)?).with_clock(clock);
        let signed = ts.sign_with_timestamp(&value);
        let Some(tampered) = flip(&signed, at, bit) else {
            return Ok(());
        };
        for max_age in [None, Some(u64::MAX)] {
            let refused = ts.unsign_with_timestamp_at(&tampered, max_age);
            prop_assert!(refused.as_ref().err().and_then(Error::bad_signature).is_some(),
                "{tampered:?} gave {refused:?}");
        }
    }
}
