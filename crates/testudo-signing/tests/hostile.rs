//! Hostile-input table (issue 17): signed values an attacker can send to `Signer::unsign`,
//! `TimestampSigner::unsign_with_timestamp_at` and `verify_token`, each with its exact error:
//! empty, 1 MiB, NUL bytes, a signature of the right length in the wrong alphabet, overlong
//! or non-canonical timestamps, timestamps at the integer limits. Each within a time bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use testudo_core::{BadSignature, FixedClock, SignatureError, SignatureExpired};
use testudo_signing::{Error, MaxAge, Signer, TimestampSigner, verify_token};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SECRET: &str = "a-hostile-input-signing-secret-32-bytes";
const NOW: i64 = 1_700_000_000;
const MIB: usize = 1 << 20;

/// A timestamp case: what, the signed text, the max age, the answer.
type Case = (&'static str, String, Option<u64>, Result<(), Error>);

fn bad(b: BadSignature) -> Result<(), Error> {
    Err(Error::Signature(SignatureError::Bad(b)))
}

#[test]
fn every_hostile_signed_value_gets_its_exact_error_within_the_bound() -> TestResult {
    let signer = Signer::new(SECRET)?;
    let ts =
        TimestampSigner::from(signer.clone()).with_clock(Arc::new(FixedClock::from_unix(NOW)?));
    let good = signer.sign("value");
    let sig = good.rsplit_once(':').map(|(_, s)| s).ok_or("a signature")?;
    // A timestamped value whose timestamp field is `t`, correctly signed.
    let stamped = |t: &str| signer.sign(&format!("value:{t}"));
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    };
    let big = "a".repeat(MIB);

    let unsign_table: Vec<(&str, String, Result<(), Error>)> = vec![
        ("baseline", good.clone(), Ok(())),
        ("empty", String::new(), bad(BadSignature::NoSeparator)),
        (
            "1 MiB without separator",
            big.clone(),
            bad(BadSignature::NoSeparator),
        ),
        (
            "1 MiB value",
            format!("{big}:{sig}"),
            bad(BadSignature::Mismatch),
        ),
        (
            "1 MiB signature",
            format!("value:{big}"),
            bad(BadSignature::Mismatch),
        ),
        (
            "NUL bytes",
            "\0\0:\0\0".to_owned(),
            bad(BadSignature::Mismatch),
        ),
        (
            "NUL inside the value",
            format!("val\0ue:{sig}"),
            bad(BadSignature::Mismatch),
        ),
        (
            "right length, wrong alphabet",
            format!("value:{}", "*".repeat(sig.len())),
            bad(BadSignature::Mismatch),
        ),
        (
            "right length, non-ASCII",
            format!("value:{}", "\u{e9}".repeat(sig.len() / 2)),
            bad(BadSignature::Mismatch),
        ),
        (
            "signature one short",
            format!("value:{}", &sig[1..]),
            bad(BadSignature::Mismatch),
        ),
        (
            "only separators",
            ":".repeat(MIB),
            bad(BadSignature::Mismatch),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, signed, expected) in &unsign_table {
        let started = Instant::now();
        let got = signer.unsign(signed).map(|_| ());
        if got != *expected {
            wrong.push(format!("unsign {what}: expected {expected:?}, got {got:?}"));
        }
        if started.elapsed() > Duration::from_secs(1) {
            wrong.push(format!("unsign {what}: took {:?}", started.elapsed()));
        }
    }

    let future = u64::try_from(NOW)? + 10;
    let timestamp_table: Vec<Case> = vec![
        ("baseline", ts.sign_with_timestamp("value"), Some(0), Ok(())),
        (
            "no timestamp",
            signer.sign("value"),
            None,
            bad(BadSignature::NoTimestamp),
        ),
        (
            "empty timestamp",
            stamped(""),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp not base64",
            stamped("*"),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp of letters",
            stamped(&b64("abc")),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp with a sign",
            stamped(&b64("-1")),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp leading zero",
            stamped(&b64("01700000000")),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp with NUL",
            stamped(&b64("17\0")),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp i64::MAX + 1",
            stamped(&b64("9223372036854775808")),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp u64::MAX",
            stamped(&b64("18446744073709551615")),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp 1 MiB of digits",
            stamped(&b64(&"9".repeat(MIB))),
            None,
            bad(BadSignature::InvalidTimestamp),
        ),
        (
            "timestamp i64::MAX, no max age",
            stamped(&b64("9223372036854775807")),
            None,
            Ok(()),
        ),
        (
            "timestamp i64::MAX, max age",
            stamped(&b64("9223372036854775807")),
            Some(u64::MAX),
            Err(Error::Signature(SignatureError::Expired(
                SignatureExpired::InFuture,
            ))),
        ),
        (
            "timestamp 0, max age u64::MAX",
            stamped(&b64("0")),
            Some(u64::MAX),
            Ok(()),
        ),
        (
            "timestamp 0, max age 1 day",
            stamped(&b64("0")),
            Some(86_400),
            Err(Error::Signature(SignatureError::Expired(
                SignatureExpired::TooOld {
                    age: 1_700_000_000,
                    max_age: 86_400,
                },
            ))),
        ),
        (
            "timestamp 10 s ahead",
            stamped(&b64(&future.to_string())),
            Some(60),
            Err(Error::Signature(SignatureExpired::InFuture.into())),
        ),
    ];
    for (what, signed, max_age, expected) in &timestamp_table {
        let started = Instant::now();
        let got = ts.unsign_with_timestamp_at(signed, *max_age).map(|_| ());
        if got != *expected {
            wrong.push(format!(
                "timestamp {what}: expected {expected:?}, got {got:?}"
            ));
        }
        if started.elapsed() > Duration::from_secs(1) {
            wrong.push(format!("timestamp {what}: took {:?}", started.elapsed()));
        }
    }
    // The module function: the same answers with an explicit secret.
    let got = verify_token(&big, MaxAge::Unlimited, SECRET).map(|_| ());
    if got != bad(BadSignature::NoSeparator) {
        wrong.push(format!("verify_token 1 MiB: {got:?}"));
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}
