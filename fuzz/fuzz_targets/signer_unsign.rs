//! `Signer::unsign` and `TimestampSigner::unsign_with_timestamp_at` on arbitrary input, with
//! the conformance vectors' secrets and separators; and, for the same text as a value, `sign`
//! then `unsign` gives it back and a signature under another secret is refused.
//!
//! Input (what the seed generator writes): a settings byte (bits 0-1 secret, 2-3 separator,
//! 4 salt, 5 fallback secret, 6-7 max age: none / 0 / 1 day / u64::MAX), a leeway byte, then
//! the signed text (lossy UTF-8).

#![no_main]

use libfuzzer_sys::fuzz_target;
use testudo_signing::{Signer, TimestampSigner};

/// Secrets of the conformance vectors, and a long one.
const SECRETS: [&str; 4] = [
    "signing-secret-1",
    "ts-secret",
    "signing-secret-2",
    "a-fuzzing-secret-of-at-least-32-bytes-0123456789",
];
const SEPARATORS: [&str; 4] = [":", ".", "|", "::"];
const MAX_AGES: [Option<u64>; 4] = [None, Some(0), Some(86_400), Some(u64::MAX)];

fuzz_target!(|data: &[u8]| {
    let [settings, leeway, rest @ ..] = data else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    let secret = SECRETS[usize::from(settings & 3)];
    let separator = SEPARATORS[usize::from((settings >> 2) & 3)];
    let max_age = MAX_AGES[usize::from(settings >> 6)];
    let Ok(mut signer) = Signer::new_unchecked(secret).and_then(|s| s.with_separator(separator))
    else {
        return;
    };
    if settings & 16 != 0 {
        signer = signer.with_salt("fuzz-salt");
    }
    if settings & 32 != 0 {
        let Ok(s) = signer.with_fallback_secrets([SECRETS[3]]) else {
            return;
        };
        signer = s;
    }

    // Arbitrary input: Ok or Err, never a panic; an accepted value is a prefix of the input.
    if let Ok(value) = signer.unsign(text) {
        assert!(text.starts_with(value));
    }
    let ts = TimestampSigner::from(signer.clone())
        .with_clock(testudo_fuzz::clock())
        .with_leeway(u64::from(*leeway));
    if let Ok((value, _)) = ts.unsign_with_timestamp_at(text, max_age) {
        assert!(text.starts_with(value));
    }

    // Round trips of the text as a value.
    let signed = signer.sign(text);
    assert_eq!(signer.unsign(&signed).ok(), Some(text), "round trip");
    let stamped = ts.sign_with_timestamp(text);
    let back = ts.unsign_with_timestamp_at(&stamped, Some(0));
    assert_eq!(
        back.ok(),
        Some((text, 1_700_000_000)),
        "timestamped round trip"
    );
    // Another secret's signature is refused.
    if let Ok(other) = Signer::new_unchecked("another-secret-entirely-0123456789abcdef")
        .and_then(|s| s.with_separator(separator))
    {
        let forged = other.sign(text);
        assert!(
            signer.unsign(&forged).is_err(),
            "a foreign signature was accepted"
        );
    }
});
