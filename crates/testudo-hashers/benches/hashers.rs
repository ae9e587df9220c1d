//! Argon2id with the default parameters (hash and verify), bcrypt cost 12 and PBKDF2-SHA256
//! 600 000 iterations (verify; testudo never writes those).
//!
//! Argon2id hashing is measured twice: with the `argon2` crate's parallel lanes (its `parallel`
//! feature, rayon's global pool: what testudo ships) and with the lanes computed one after
//! another (the same call inside a one-thread rayon pool).
//!
//! Raw-crate twins (`raw/hashers/...`): bcrypt and PBKDF2 hash and verify through the `bcrypt`
//! and `pbkdf2` crates directly, the baselines of "within 1.1x of the raw crate loop".

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use testudo_config::AuthConfig;
use testudo_hashers::PasswordHasher;

const PASSWORD: &str = "correct horse battery staple";

const PBKDF2_600K: &str =
    "pbkdf2_sha256$600000$AAECAwQFBgcICQoLDA0ODw==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

fn hashers(c: &mut Criterion) {
    let Ok(hasher) = PasswordHasher::from_config(&AuthConfig::default()) else {
        return;
    };
    let Ok(argon) = hasher.hash(PASSWORD) else {
        return;
    };
    let Ok(bcrypt12) = bcrypt::hash(PASSWORD, 12) else {
        return;
    };
    let mut group = c.benchmark_group("hashers");
    group.sample_size(10);
    group.bench_function("argon2id_default_hash", |b| {
        b.iter(|| hasher.hash(black_box(PASSWORD)));
    });
    if let Ok(one_thread) = rayon::ThreadPoolBuilder::new().num_threads(1).build() {
        group.bench_function("argon2id_default_hash_sequential", |b| {
            b.iter(|| one_thread.install(|| hasher.hash(black_box(PASSWORD))));
        });
    }
    group.bench_function("argon2id_default_verify", |b| {
        b.iter(|| hasher.verify(black_box(PASSWORD), &argon));
    });
    group.bench_function("bcrypt_12_verify", |b| {
        b.iter(|| hasher.verify(black_box("wrong"), &bcrypt12));
    });
    group.bench_function("pbkdf2_600000_verify", |b| {
        b.iter(|| hasher.verify(black_box("wrong"), PBKDF2_600K));
    });
    group.finish();
}

/// `pbkdf2_sha256$600000$<salt>$<hash>` with a fresh 16-byte salt (tortoise-auth's format).
fn raw_pbkdf2_hash(password: &str) -> Option<String> {
    let mut salt = [0_u8; 16];
    getrandom::fill(&mut salt).ok()?;
    let mut out = [0_u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, 600_000, &mut out);
    Some(format!(
        "pbkdf2_sha256$600000${}${}",
        STANDARD.encode(salt),
        STANDARD.encode(out)
    ))
}

/// Parses the stored string, derives, compares in constant time.
fn raw_pbkdf2_verify(password: &str, stored: &str) -> bool {
    let mut parts = stored.split('$');
    let (Some("pbkdf2_sha256"), Some(iterations), Some(salt), Some(hash), None) = (
        parts.next(),
        parts.next().and_then(|i| i.parse::<u32>().ok()),
        parts.next().and_then(|s| STANDARD.decode(s).ok()),
        parts.next().and_then(|h| STANDARD.decode(h).ok()),
        parts.next(),
    ) else {
        return false;
    };
    let mut out = [0_u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), &salt, iterations, &mut out);
    out.ct_eq(hash.as_slice()).into()
}

fn raw(c: &mut Criterion) {
    let Ok(bcrypt12) = bcrypt::hash(PASSWORD, 12) else {
        return;
    };
    let mut group = c.benchmark_group("raw/hashers");
    group.sample_size(10);
    group.bench_function("bcrypt_12_hash", |b| {
        b.iter(|| bcrypt::hash(black_box(PASSWORD), 12));
    });
    group.bench_function("bcrypt_12_verify", |b| {
        b.iter(|| bcrypt::verify(black_box("wrong"), &bcrypt12));
    });
    group.bench_function("pbkdf2_600000_hash", |b| {
        b.iter(|| raw_pbkdf2_hash(black_box(PASSWORD)));
    });
    group.bench_function("pbkdf2_600000_verify", |b| {
        b.iter(|| raw_pbkdf2_verify(black_box("wrong"), PBKDF2_600K));
    });
    group.finish();
}

criterion_group!(benches, hashers, raw);
criterion_main!(benches);
