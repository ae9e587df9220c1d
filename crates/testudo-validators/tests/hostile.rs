//! Hostile-input table (issue 17): passwords and user attributes given to `validate_password`
//! with the default validators (empty, 1 MiB, NUL bytes, invalid-looking Unicode, attributes of
//! 1 MiB), each with its exact messages, within a time bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use testudo_validators::{Error, Validators, validate_password};

const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(2);
const SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const COMMON: &str = "This password is too common.";
const NUMERIC: &str = "This password is entirely numeric.";
const SIMILAR: &str = "The password is too similar to the email.";

/// What, the password, the user's attributes, the messages expected.
type Case<'a> = (
    &'a str,
    &'a str,
    Option<HashMap<String, String>>,
    Vec<&'a str>,
);

#[test]
fn every_hostile_password_gets_its_exact_messages_within_the_bound() {
    let validators = Validators::defaults();
    let big = "a".repeat(MIB);
    let big_digits = "7".repeat(MIB);
    let nul = "\0".repeat(16);
    let replacement = "\u{FFFD}".repeat(8);
    let attributes = |email: &str| HashMap::from([("email".to_owned(), email.to_owned())]);
    let table: Vec<Case<'_>> = vec![
        ("empty", "", None, vec![SHORT]),
        ("1 MiB", &big, None, vec![]),
        ("1 MiB of digits", &big_digits, None, vec![NUMERIC]),
        ("NUL bytes", &nul, None, vec![]),
        ("a NUL", "\0", None, vec![SHORT]),
        ("replacement characters", &replacement, None, vec![]),
        ("common", "password", None, vec![COMMON]),
        (
            "1 MiB, similar to a 1 MiB email",
            &big,
            Some(attributes(&big)),
            vec![SIMILAR],
        ),
        (
            "1 MiB, unlike a 1 MiB email",
            &big,
            Some(attributes(&big_digits)),
            vec![],
        ),
        ("NUL email", "correct horse", Some(attributes(&nul)), vec![]),
        ("empty email", "correct horse", Some(attributes("")), vec![]),
    ];
    let mut wrong = Vec::new();
    for (what, password, user, expected) in &table {
        let started = Instant::now();
        let user = user
            .as_ref()
            .map(|u| u as &dyn testudo_validators::UserAttributes);
        let got = match validate_password(password, user, Some(validators.as_slice())) {
            Ok(()) => Vec::new(),
            Err(Error::InvalidPassword(e)) => e.into_messages(),
            Err(e) => vec![format!("{e:?}")],
        };
        if got != *expected {
            wrong.push(format!("{what}: expected {expected:?}, got {got:?}"));
        }
        if started.elapsed() > BOUND {
            wrong.push(format!("{what}: took {:?}", started.elapsed()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
