//! Every `validators`, `validator_help_texts` and `similarity` entry of the conformance vectors
//! produced by tortoise-auth 0.6.0 (or of the file named by `TESTUDO_CONFORMANCE_VECTORS`).

use std::collections::HashMap;
use std::error::Error;

use serde::Deserialize;
use testudo_test_support::Vectors;
use testudo_validators::python::{lower, quick_ratio};
use testudo_validators::{
    PasswordValidator, UserAttributeSimilarityValidator, UserAttributes, Validators,
};

type TestResult = Result<(), Box<dyn Error>>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ValidatorCase {
    password: String,
    user_email: Option<String>,
    expect_errors: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarityCase {
    password: String,
    attribute_value: String,
    ratio: f64,
    ratio_local_part: Option<f64>,
    max_similarity: f64,
    rejected: bool,
}

#[test]
fn every_validators_entry_gives_the_reference_messages_in_order() -> TestResult {
    let vectors = Vectors::load()?;
    let cases: Vec<ValidatorCase> = vectors.section("validators")?;
    assert!(!cases.is_empty());
    let validators = Validators::defaults();
    for (i, case) in cases.iter().enumerate() {
        let user = case
            .user_email
            .as_ref()
            .map(|email| HashMap::from([("email".to_owned(), email.clone())]));
        let got = match validators.validate(
            &case.password,
            user.as_ref().map(|u| u as &dyn UserAttributes),
        ) {
            Ok(()) => Vec::new(),
            Err(e) => e.into_messages(),
        };
        assert_eq!(got, case.expect_errors, "validators entry {i}: {case:?}");
    }
    vectors.report("validators", cases.len());
    Ok(())
}

#[test]
fn the_configured_defaults_agree_with_the_vectors_too() -> TestResult {
    let vectors = Vectors::load()?;
    let cases: Vec<ValidatorCase> = vectors.section("validators")?;
    for case in cases.iter().filter(|c| c.user_email.is_none()) {
        let got = match testudo_validators::validate_password(&case.password, None, None) {
            Ok(()) => Vec::new(),
            Err(testudo_validators::Error::InvalidPassword(e)) => e.into_messages(),
            Err(other) => return Err(other.into()),
        };
        assert_eq!(got, case.expect_errors, "{case:?}");
    }
    Ok(())
}

#[test]
fn the_help_texts_are_the_reference_ones() -> TestResult {
    let vectors = Vectors::load()?;
    let expected: Vec<String> = vectors.section("validator_help_texts")?;
    assert_eq!(Validators::defaults().help_texts(), expected);
    assert_eq!(
        testudo_validators::password_validators_help_texts(None)?,
        expected
    );
    vectors.report("validator_help_texts", expected.len());
    Ok(())
}

#[test]
fn every_similarity_entry_gives_the_reference_ratios_and_decision() -> TestResult {
    let vectors = Vectors::load()?;
    let cases: Vec<SimilarityCase> = vectors.section("similarity")?;
    assert!(!cases.is_empty());
    for (i, case) in cases.iter().enumerate() {
        let pw = lower(&case.password);
        let ratio = quick_ratio(&pw, &lower(&case.attribute_value));
        assert!(
            ratio.to_bits() == case.ratio.to_bits(),
            "similarity entry {i}: ratio {ratio} != {}",
            case.ratio
        );
        // The reference compares the part before the first `@` only when it is not empty
        // (after lower-casing), as the validator does.
        let local = case
            .attribute_value
            .split_once('@')
            .map(|(local, _)| lower(local))
            .filter(|local| !local.is_empty())
            .map(|local| quick_ratio(&pw, &local));
        assert_eq!(
            local.map(f64::to_bits),
            case.ratio_local_part.map(f64::to_bits),
            "similarity entry {i}: local-part ratio"
        );
        let validator = UserAttributeSimilarityValidator::new(["email"], case.max_similarity);
        let user = HashMap::from([("email".to_owned(), case.attribute_value.clone())]);
        let rejected = validator.validate(&case.password, Some(&user)).is_err();
        assert_eq!(rejected, case.rejected, "similarity entry {i}: {case:?}");
    }
    vectors.report("similarity", cases.len());
    Ok(())
}
