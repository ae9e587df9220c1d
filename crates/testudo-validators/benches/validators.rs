//! `validate_password` with the default validators, on a typical password and on a
//! 4096-character one, with and without a user.

#![allow(
    missing_docs,
    reason = "criterion's macros generate undocumented items"
)]

use std::collections::HashMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_validators::{UserAttributes, Validators, validate_password};

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

criterion_group!(benches, bench);
criterion_main!(benches);
