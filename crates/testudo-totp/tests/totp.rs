//! TOTP against RFC 6238 appendix B, replay and skew, hostile input, the URI and QR code.

use secrecy::ExposeSecret as _;
use testudo_test_support::TestResult;
use testudo_totp::{Error, Totp, TotpAlgorithm, TotpParams, TotpSecret, looks_like_totp_code};

const SHA1_KEY: &[u8] = b"12345678901234567890";
const SHA256_KEY: &[u8] = b"12345678901234567890123456789012";
const SHA512_KEY: &[u8] = b"1234567890123456789012345678901234567890123456789012345678901234";

/// RFC 6238 appendix B: time, then the 8-digit codes for SHA-1, SHA-256, SHA-512.
const VECTORS: [(i64, [&str; 3]); 6] = [
    (59, ["94287082", "46119246", "90693936"]),
    (1_111_111_109, ["07081804", "68084774", "25091201"]),
    (1_111_111_111, ["14050471", "67062674", "99943326"]),
    (1_234_567_890, ["89005924", "91819424", "93441116"]),
    (2_000_000_000, ["69279037", "90698825", "38618901"]),
    (20_000_000_000, ["65353130", "77737706", "47863826"]),
];

fn factor(
    key: &[u8],
    algorithm: TotpAlgorithm,
    digits: u8,
    skew: u8,
) -> testudo_totp::Result<Totp> {
    let params = TotpParams {
        algorithm,
        digits,
        skew,
    };
    Totp::new(
        &TotpSecret::from_bytes(key.to_vec()),
        params,
        "RFC",
        "alice@example.com",
    )
}

#[test]
fn every_rfc_6238_appendix_b_vector_is_generated_and_accepted() -> TestResult {
    let algorithms = [
        (TotpAlgorithm::SHA1, SHA1_KEY),
        (TotpAlgorithm::SHA256, SHA256_KEY),
        (TotpAlgorithm::SHA512, SHA512_KEY),
    ];
    let mut checked = 0;
    for (time, codes) in VECTORS {
        for ((algorithm, key), expected) in algorithms.iter().zip(codes) {
            let totp = factor(key, *algorithm, 8, 0)?;
            assert_eq!(
                totp.code_at(time)?.expose_secret(),
                expected,
                "{algorithm} at {time}"
            );
            let step = u64::try_from(time)? / 30;
            assert_eq!(
                totp.verify(expected, time, None)?,
                Some(step),
                "{algorithm} at {time}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 18);
    Ok(())
}

#[test]
fn six_digit_codes_are_the_last_six_digits_of_the_rfc_codes() -> TestResult {
    let totp = factor(SHA1_KEY, TotpAlgorithm::SHA1, 6, 0)?;
    assert_eq!(totp.code_at(59)?.expose_secret(), "287082");
    assert_eq!(totp.code_at(1_111_111_109)?.expose_secret(), "081804");
    let seven = factor(SHA1_KEY, TotpAlgorithm::SHA1, 7, 0)?;
    assert_eq!(seven.code_at(1_234_567_890)?.expose_secret(), "9005924");
    Ok(())
}

#[test]
fn a_code_is_accepted_once_and_no_older_code_after_it() -> TestResult {
    let totp = factor(SHA1_KEY, TotpAlgorithm::SHA1, 6, 1)?;
    let now = 1_800_000_000;
    let code = totp.code_at(now)?;
    let used = totp.verify(code.expose_secret(), now, None)?;
    assert_eq!(used, Some(60_000_000));
    assert_eq!(
        totp.verify(code.expose_secret(), now, used)?,
        None,
        "replay"
    );
    let previous = totp.code_at(now - 30)?;
    assert_eq!(
        totp.verify(previous.expose_secret(), now, used)?,
        None,
        "older than the used one"
    );
    let next = totp.code_at(now + 30)?;
    assert_eq!(
        totp.verify(next.expose_secret(), now, used)?,
        Some(60_000_001),
        "a later one still works"
    );
    Ok(())
}

#[test]
fn the_skew_accepts_one_step_each_way_by_default_and_no_more() -> TestResult {
    let totp = factor(SHA1_KEY, TotpAlgorithm::SHA1, 6, 1)?;
    let now = 1_800_000_015;
    for (offset, accepted) in [
        (-60, false),
        (-30, true),
        (0, true),
        (30, true),
        (60, false),
    ] {
        let code = totp.code_at(now + offset)?;
        let answer = totp.verify(code.expose_secret(), now, None)?;
        assert_eq!(answer.is_some(), accepted, "offset {offset}");
    }
    let strict = factor(SHA1_KEY, TotpAlgorithm::SHA1, 6, 0)?;
    let late = strict.code_at(now - 30)?;
    assert_eq!(strict.verify(late.expose_secret(), now, None)?, None);
    Ok(())
}

#[test]
fn look_alike_and_hostile_codes_are_refused_without_panicking() -> TestResult {
    let totp = factor(SHA1_KEY, TotpAlgorithm::SHA1, 8, 1)?;
    let long = "9".repeat(10_000);
    for bad in [
        "",
        "9428708",
        "942870822",
        "９４２８７０８２",
        "94287O82",
        "+4287082",
        "94287082\0",
        "-94287082",
        long.as_str(),
    ] {
        assert_eq!(totp.verify(bad, 59, None)?, None, "{bad:?}");
    }
    assert_eq!(
        totp.verify(" 9428 7082 ", 59, None)?,
        Some(1),
        "spaces are ignored"
    );
    assert!(matches!(
        totp.verify("94287082", -1, None),
        Err(Error::TimeBeforeEpoch)
    ));
    assert!(matches!(
        totp.code_at(i64::MIN),
        Err(Error::TimeBeforeEpoch)
    ));
    assert!(looks_like_totp_code("123 456", 6));
    assert!(!looks_like_totp_code("ABCDE-12345", 6));
    Ok(())
}

#[test]
fn parameters_outside_the_rfcs_are_refused() {
    for digits in [0, 5, 9, 10, 255] {
        assert!(
            matches!(
                factor(SHA1_KEY, TotpAlgorithm::SHA1, digits, 1),
                Err(Error::InvalidParameters)
            ),
            "{digits} digits"
        );
    }
    assert!(matches!(
        factor(b"short", TotpAlgorithm::SHA1, 6, 1),
        Err(Error::InvalidParameters)
    ));
    let secret = TotpSecret::from_bytes(SHA1_KEY.to_vec());
    for (issuer, account) in [
        ("Ex:ample", "alice"),
        ("Example", "al:ice"),
        ("Example", ""),
    ] {
        assert!(matches!(
            Totp::new(&secret, TotpParams::default(), issuer, account),
            Err(Error::InvalidLabel)
        ));
    }
}

#[test]
fn the_uri_carries_the_label_secret_and_parameters() -> TestResult {
    let totp = factor(SHA256_KEY, TotpAlgorithm::SHA256, 8, 1)?;
    let uri = totp.uri()?;
    let uri = uri.expose_secret();
    let base32 = TotpSecret::from_bytes(SHA256_KEY.to_vec()).to_base32();
    assert!(
        uri.starts_with("otpauth://totp/RFC:alice%40example.com?"),
        "{uri}"
    );
    assert!(
        uri.contains(&format!("secret={}", base32.expose_secret())),
        "{uri}"
    );
    assert!(uri.contains("digits=8"), "{uri}");
    assert!(uri.contains("algorithm=SHA256"), "{uri}");
    assert!(uri.contains("issuer=RFC"), "{uri}");
    assert_eq!(
        base32.expose_secret(),
        "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZA"
    );
    Ok(())
}

#[test]
fn the_qr_code_is_an_svg_document_of_the_uri() -> TestResult {
    let totp = factor(SHA1_KEY, TotpAlgorithm::SHA1, 6, 1)?;
    let svg = totp.qr_svg()?;
    let svg = svg.expose_secret();
    assert!(svg.starts_with("<?xml"), "{}", &svg[..40.min(svg.len())]);
    assert!(svg.contains("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg, testudo_totp::qr_svg(totp.uri()?.expose_secret())?);
    assert!(matches!(
        testudo_totp::qr_svg(&"x".repeat(8000)),
        Err(Error::QrTooLong)
    ));
    Ok(())
}

#[test]
fn secrets_are_random_of_the_asked_length_and_never_shown_by_debug() -> TestResult {
    let a = TotpSecret::generate(20)?;
    let b = TotpSecret::generate(20)?;
    assert_eq!(a.as_bytes().len(), 20);
    assert_ne!(a.as_bytes(), b.as_bytes());
    let totp = Totp::new(&a, TotpParams::default(), "Example", "alice@example.com")?;
    let base32 = a.to_base32();
    for shown in [format!("{a:?}"), format!("{totp:?}"), format!("{base32:?}")] {
        assert!(!shown.contains(base32.expose_secret()), "{shown}");
    }
    assert_eq!(
        TotpParams {
            algorithm: TotpAlgorithm::SHA512,
            ..TotpParams::default()
        }
        .secret_len(),
        64
    );
    Ok(())
}
