//! Criterion benches: sign / unsign / timestamp sign / timestamp unsign through the library,
//! and their raw-crate twins (`raw/...`): the same bytes signed with `hmac` + `sha2` and encoded
//! with `base64` by hand, the least a hand-rolled equivalent must do.

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use testudo_signing::{Signer, TimestampSigner};

const SECRET: &str = "a-benchmark-signing-secret-of-32-bytes";
const VALUE: &str = "user-42";

fn bench(c: &mut Criterion) {
    let Ok(signer) = Signer::new(SECRET) else {
        return;
    };
    let ts = TimestampSigner::from(signer.clone());
    let signed = signer.sign(VALUE);
    let stamped = ts.sign_with_timestamp(VALUE);

    c.bench_function("sign", |b| b.iter(|| signer.sign(black_box(VALUE))));
    c.bench_function("unsign", |b| {
        b.iter(|| signer.unsign(black_box(&signed)).is_ok())
    });
    c.bench_function("timestamp_sign", |b| {
        b.iter(|| ts.sign_with_timestamp(black_box(VALUE)))
    });
    c.bench_function("timestamp_unsign", |b| {
        b.iter(|| {
            ts.unsign_with_timestamp(black_box(&stamped), Some(3600))
                .is_ok()
        })
    });
}

type HmacSha256 = Hmac<Sha256>;

/// `value:SIG`, SIG = base64url (no padding) of HMAC-SHA256(key, value); the key is set up
/// once, as any sensible hand-rolled signer would.
fn raw_sign(key: &HmacSha256, value: &str) -> String {
    let mut mac = key.clone();
    mac.update(value.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    let mut out = String::with_capacity(value.len() + 1 + sig.len());
    out.push_str(value);
    out.push(':');
    out.push_str(&sig);
    out
}

/// Splits at the last `:`, recomputes the signature and compares in constant time.
fn raw_unsign<'a>(key: &HmacSha256, signed: &'a str) -> Option<&'a str> {
    let (value, sig) = signed.rsplit_once(':')?;
    let mut mac = key.clone();
    mac.update(value.as_bytes());
    let expected = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    bool::from(expected.as_bytes().ct_eq(sig.as_bytes())).then_some(value)
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `value:TS:SIG`, TS = base64url of the decimal Unix time.
fn raw_timestamp_sign(key: &HmacSha256, value: &str) -> String {
    let ts = URL_SAFE_NO_PAD.encode(unix_seconds().to_string());
    raw_sign(key, &format!("{value}:{ts}"))
}

/// Verifies the signature, decodes the timestamp and checks the age.
fn raw_timestamp_unsign<'a>(key: &HmacSha256, signed: &'a str, max_age: u64) -> Option<&'a str> {
    let inner = raw_unsign(key, signed)?;
    let (value, ts) = inner.rsplit_once(':')?;
    let digits = URL_SAFE_NO_PAD.decode(ts).ok()?;
    let ts: u64 = std::str::from_utf8(&digits).ok()?.parse().ok()?;
    (unix_seconds().saturating_sub(ts) <= max_age).then_some(value)
}

fn bench_raw(c: &mut Criterion) {
    let Ok(key) = HmacSha256::new_from_slice(SECRET.as_bytes()) else {
        return;
    };
    let signed = raw_sign(&key, VALUE);
    let stamped = raw_timestamp_sign(&key, VALUE);
    // The twins must produce what the library produces, or the comparison means nothing.
    if Signer::new(SECRET).map(|s| s.sign(VALUE)).ok().as_ref() != Some(&signed) {
        eprintln!("raw/sign differs from Signer::sign: the raw twins are not comparable");
    }

    c.bench_function("raw/sign", |b| b.iter(|| raw_sign(&key, black_box(VALUE))));
    c.bench_function("raw/unsign", |b| {
        b.iter(|| raw_unsign(&key, black_box(&signed)).is_some())
    });
    c.bench_function("raw/timestamp_sign", |b| {
        b.iter(|| raw_timestamp_sign(&key, black_box(VALUE)))
    });
    c.bench_function("raw/timestamp_unsign", |b| {
        b.iter(|| raw_timestamp_unsign(&key, black_box(&stamped), 3600).is_some())
    });
}

criterion_group!(benches, bench, bench_raw);
criterion_main!(benches);
