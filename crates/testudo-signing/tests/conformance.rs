//! Every `signer`, `unsign_bad`, `timestamp_signer`, `timestamp_unsign_bad` and
//! `timestamp_parse_quirks` entry of the conformance vectors, byte for byte, through the shared
//! loader (`TESTUDO_CONFORMANCE_VECTORS=<file>` checks another file of the same schema).
//! Entries that do not fit these types fail the test (`deny_unknown_fields`).

use std::sync::Arc;

use serde::Deserialize;
use testudo_core::FixedClock;
use testudo_signing::{Error, Signer, TimestampSigner};
use testudo_test_support::{TestResult, Vectors};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerEntry {
    secret: String,
    separator: String,
    value: String,
    signed: String,
}

#[derive(Debug, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Expect {
    Ok,
    Expired,
    BadSignature,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnsignBad {
    secret: String,
    separator: String,
    signed: String,
    expect: Expect,
    why: String,
    #[serde(default)]
    python_error: Option<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    now: i64,
    max_age: Option<u64>,
    expect: Expect,
    #[serde(default)]
    python_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Via {
    #[serde(rename = "TimestampSigner")]
    TimestampSigner,
    MakeToken,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampEntry {
    secret: String,
    separator: String,
    value: String,
    timestamp: i64,
    #[serde(default)]
    time_time: Option<f64>,
    signed: String,
    timestamp_b64: String,
    via: Via,
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TimestampBad {
    secret: String,
    separator: String,
    signed: String,
    now: i64,
    max_age: Option<u64>,
    expect: Expect,
    why: String,
    #[serde(default)]
    python_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ParseQuirk {
    secret: String,
    separator: String,
    signed: String,
    timestamp_ascii: String,
    now: i64,
    max_age: Option<u64>,
    python_result: Expect,
    python_error: Option<String>,
}

fn signer(secret: &str, separator: &str) -> Result<Signer, Error> {
    // tortoise-auth's vectors use short secrets: the reference-compatible constructor.
    Signer::new_unchecked(secret)?.with_separator(separator)
}

fn ts_signer(secret: &str, separator: &str, now: i64) -> TestResult<TimestampSigner> {
    let clock = Arc::new(FixedClock::from_unix(now)?);
    Ok(TimestampSigner::from(signer(secret, separator)?).with_clock(clock))
}

fn outcome<T>(result: &Result<T, Error>) -> TestResult<Expect> {
    match result {
        Ok(_) => Ok(Expect::Ok),
        Err(e) if e.bad_signature().is_some() => Ok(Expect::BadSignature),
        Err(e) if e.expired().is_some() => Ok(Expect::Expired),
        Err(e) => Err(format!("unexpected error kind: {e}").into()),
    }
}

#[test]
fn signer_entries_are_byte_identical() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<SignerEntry> = vectors.section("signer")?;
    assert!(!entries.is_empty());
    for e in &entries {
        let s = signer(&e.secret, &e.separator)?;
        assert_eq!(s.sign(&e.value), e.signed, "{e:?}");
        assert_eq!(s.unsign(&e.signed)?, e.value, "{e:?}");
    }
    vectors.report("signer", entries.len());
    Ok(())
}

#[test]
fn unsign_bad_entries_are_bad_signatures() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<UnsignBad> = vectors.section("unsign_bad")?;
    assert!(!entries.is_empty());
    for e in &entries {
        // `python_error` / `note` are information only (one entry made Python raise TypeError
        // for a non-ASCII signature; the expected outcome is still a bad signature).
        let _ = (&e.why, &e.python_error, &e.note);
        let got = outcome(&signer(&e.secret, &e.separator)?.unsign(&e.signed))?;
        assert_eq!(got, e.expect, "{e:?}");
        assert_eq!(e.expect, Expect::BadSignature, "{e:?}");
    }
    vectors.report("unsign_bad", entries.len());
    Ok(())
}

#[test]
fn timestamp_signer_entries_and_every_check() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<TimestampEntry> = vectors.section("timestamp_signer")?;
    assert!(!entries.is_empty());
    let mut checks = 0;
    for e in &entries {
        // Python floors `time.time()`; `time_time` is the fractional clock when recorded.
        let signed_at = e.time_time.map_or(Ok(e.timestamp), |t| {
            let floored = t.floor();
            format!("{floored:.0}").parse::<i64>()
        })?;
        assert_eq!(signed_at, e.timestamp, "{e:?}");
        let s = ts_signer(&e.secret, &e.separator, signed_at)?;
        assert_eq!(s.sign_with_timestamp(&e.value), e.signed, "{e:?}");
        assert!(
            e.signed
                .contains(&format!("{}{}", e.separator, e.timestamp_b64)),
            "{e:?}"
        );
        if matches!(e.via, Via::MakeToken) {
            assert_eq!(e.separator, ":", "make_token always uses ':'");
        }
        for c in &e.checks {
            let _ = &c.python_error;
            let s = ts_signer(&e.secret, &e.separator, c.now)?;
            let result = s.unsign_with_timestamp_at(&e.signed, c.max_age);
            assert_eq!(outcome(&result)?, c.expect, "{e:?} {c:?}");
            if let Ok((value, ts)) = result {
                assert_eq!(value, e.value);
                assert_eq!(i64::try_from(ts)?, e.timestamp);
            }
            checks += 1;
        }
    }
    vectors.report("timestamp_signer", entries.len());
    vectors.report("timestamp_signer checks", checks);
    Ok(())
}

#[test]
fn timestamp_unsign_bad_entries() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<TimestampBad> = vectors.section("timestamp_unsign_bad")?;
    assert!(!entries.is_empty());
    for e in &entries {
        let _ = (&e.why, &e.python_error);
        let s = ts_signer(&e.secret, &e.separator, e.now)?;
        let got = outcome(&s.unsign_with_timestamp(&e.signed, e.max_age))?;
        assert_eq!(got, e.expect, "{e:?}");
    }
    vectors.report("timestamp_unsign_bad", entries.len());
    Ok(())
}

/// `timestamp_parse_quirks` records what Python did with validly signed but non-canonical
/// timestamps (leading space, `+`, `_`, trailing newline, negative): Python's lenient `int()`
/// accepted them. That is documented reference behaviour, *not* a requirement: tortoise-auth
/// never writes such timestamps, and testudo parses strictly, so every entry must be a bad
/// signature (`InvalidTimestamp`) here. Each entry is still interpreted: its signature must be
/// valid (the plain signer accepts it) and its timestamp field must encode `timestamp_ascii`,
/// so the refusal really comes from the strict parsing.
#[test]
fn timestamp_parse_quirks_are_refused_strictly() -> TestResult {
    use base64::Engine as _;
    let vectors = Vectors::load()?;
    let entries: Vec<ParseQuirk> = vectors.section("timestamp_parse_quirks")?;
    assert!(!entries.is_empty());
    for e in &entries {
        let _ = (&e.python_result, &e.python_error);
        let s = ts_signer(&e.secret, &e.separator, e.now)?;
        let inner = s.unsign(&e.signed)?;
        let (_, ts) = inner
            .rsplit_once(e.separator.as_str())
            .ok_or("quirk entry without timestamp")?;
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(ts)?;
        assert_eq!(decoded, e.timestamp_ascii.as_bytes(), "{e:?}");
        let err = s
            .unsign_with_timestamp(&e.signed, e.max_age)
            .err()
            .and_then(|e| e.bad_signature());
        assert_eq!(
            err,
            Some(testudo_signing::BadSignature::InvalidTimestamp),
            "{e:?}"
        );
        let err = s
            .unsign_with_timestamp(&e.signed, None)
            .err()
            .and_then(|e| e.bad_signature());
        assert_eq!(
            err,
            Some(testudo_signing::BadSignature::InvalidTimestamp),
            "{e:?}"
        );
    }
    vectors.report("timestamp_parse_quirks", entries.len());
    Ok(())
}
