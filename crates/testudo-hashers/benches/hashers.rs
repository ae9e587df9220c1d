//! Argon2id with the default parameters (hash and verify), bcrypt cost 12 and PBKDF2-SHA256
//! 600 000 iterations (verify; testudo never writes those).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_config::AuthConfig;
use testudo_hashers::PasswordHasher;

const PBKDF2_600K: &str =
    "pbkdf2_sha256$600000$AAECAwQFBgcICQoLDA0ODw==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn hashers(c: &mut Criterion) {
    let Ok(hasher) = PasswordHasher::from_config(&AuthConfig::default()) else {
        return;
    };
    let Ok(argon) = hasher.hash("correct horse battery staple") else {
        return;
    };
    let Ok(bcrypt12) = bcrypt::hash("correct horse battery staple", 12) else {
        return;
    };
    let mut group = c.benchmark_group("hashers");
    group.sample_size(10);
    group.bench_function("argon2id_default_hash", |b| {
        b.iter(|| hasher.hash(black_box("correct horse battery staple")));
    });
    group.bench_function("argon2id_default_verify", |b| {
        b.iter(|| hasher.verify(black_box("correct horse battery staple"), &argon));
    });
    group.bench_function("bcrypt_12_verify", |b| {
        b.iter(|| hasher.verify(black_box("wrong"), &bcrypt12));
    });
    group.bench_function("pbkdf2_600000_verify", |b| {
        b.iter(|| hasher.verify(black_box("wrong"), PBKDF2_600K));
    });
    group.finish();
}

criterion_group!(benches, hashers);
criterion_main!(benches);
