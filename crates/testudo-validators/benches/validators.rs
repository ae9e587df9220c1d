//! `validate_password` with the default validators, on a typical password and on a
//! 4096-character one, with and without a user; and the raw twin of the typical case without
//! a user (`raw/validate_password/typical`): the four default checks written inline on the same
//! bundled list, parsed into a `HashSet` once before timing.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::collections::{HashMap, HashSet};
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_validators::{BUNDLED_COMMON_PASSWORDS, UserAttributes, Validators, validate_password};

fn bench(c: &mut Criterion) {
    let validators = Validators::defaults();
    let list = validators.as_slice();
    let user = HashMap::from([("email".to_owned(), "john.smith@example.com".to_owned())]);
    let user: &dyn UserAttributes = &user;
    let typical = "Tr0ub4dor&3-correct";
    let long: String = "correct horse battery staple "
        .chars()
        .cycle()
        .take(4096)
        .collect();

    c.bench_function("validate_password/typical", |b| {
        b.iter(|| validate_password(black_box(typical), None, Some(list)));
    });
    c.bench_function("validate_password/typical_with_user", |b| {
        b.iter(|| validate_password(black_box(typical), Some(user), Some(list)));
    });
    c.bench_function("validate_password/4096_chars", |b| {
        b.iter(|| validate_password(black_box(&long), None, Some(list)));
    });
    c.bench_function("validate_password/4096_chars_with_user", |b| {
        b.iter(|| validate_password(black_box(&long), Some(user), Some(list)));
    });
}

/// The default checks, the most direct way: at least 8 characters, not in the common list
/// (lower-cased), not all digits; the similarity check has no user to compare with. Returns
/// every message, as `validate_password` does.
fn raw_validate(password: &str, common: &HashSet<String>) -> Result<(), Vec<&'static str>> {
    let mut errors = Vec::new();
    if password.chars().count() < 8 {
        errors.push("This password is too short. It must contain at least 8 characters.");
    }
    if common.contains(&password.to_lowercase()) {
        errors.push("This password is too common.");
    }
    if !password.is_empty() && password.chars().all(char::is_numeric) {
        errors.push("This password is entirely numeric.");
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

fn bench_raw(c: &mut Criterion) {
    let common: HashSet<String> = BUNDLED_COMMON_PASSWORDS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_lowercase)
        .collect();
    let typical = "Tr0ub4dor&3-correct";
    c.bench_function("raw/validate_password/typical", |b| {
        b.iter(|| raw_validate(black_box(typical), &common));
    });
}

criterion_group!(benches, bench, bench_raw);
criterion_main!(benches);
