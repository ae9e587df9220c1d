//! Recovery codes: format, randomness, lenient reading, refusals.

use secrecy::ExposeSecret as _;
use testudo_test_support::TestResult;
use testudo_totp::{canonical_recovery_code, generate_recovery_codes, normalize_recovery_code};

#[test]
fn codes_are_ten_crockford_characters_with_a_hyphen_and_distinct() -> TestResult {
    let codes = generate_recovery_codes(50)?;
    assert_eq!(codes.len(), 50);
    let mut seen = std::collections::HashSet::new();
    for code in &codes {
        let c = code.expose_secret();
        assert_eq!(c.len(), 11, "{c}");
        assert_eq!(c.as_bytes()[5], b'-');
        assert!(
            c.chars()
                .filter(|c| *c != '-')
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        );
        assert!(!c.contains(['I', 'L', 'O', 'U']), "{c}");
        assert_eq!(canonical_recovery_code(code).len(), 10);
        assert!(seen.insert(c.to_owned()), "duplicate {c}");
    }
    Ok(())
}

#[test]
fn typed_codes_are_read_leniently_and_refused_when_they_cannot_be_codes() {
    let canonical = |s: &str| normalize_recovery_code(s).map(|z| z.as_str().to_owned());
    assert_eq!(canonical("abcde-fgh01").as_deref(), Some("ABCDEFGH01"));
    assert_eq!(canonical(" ABCDE FGHOl ").as_deref(), Some("ABCDEFGH01"));
    assert_eq!(canonical("abcdefghi0").as_deref(), Some("ABCDEFGH10"));
    let long = "A".repeat(100_000);
    for bad in [
        "",
        "ABCDE-FGH0",
        "ABCDE-FGH012",
        "ABCDE-FGHU1",
        "ÄBCDE-FGH01",
        "ABCDE_FGH01",
        long.as_str(),
    ] {
        assert_eq!(canonical(bad), None, "{bad:.20}");
    }
}
