//! Criterion benches: sign / unsign / timestamp sign / timestamp unsign.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use testudo_signing::{Signer, TimestampSigner};

fn bench(c: &mut Criterion) {
    let Ok(signer) = Signer::new("a-benchmark-signing-secret-of-32-bytes") else {
        return;
    };
    let ts = TimestampSigner::from(signer.clone());
    let signed = signer.sign("user-42");
    let stamped = ts.sign_with_timestamp("user-42");

    c.bench_function("sign", |b| b.iter(|| signer.sign(black_box("user-42"))));
    c.bench_function("unsign", |b| {
        b.iter(|| signer.unsign(black_box(&signed)).is_ok())
    });
    c.bench_function("timestamp_sign", |b| {
        b.iter(|| ts.sign_with_timestamp(black_box("user-42")))
    });
    c.bench_function("timestamp_unsign", |b| {
        b.iter(|| {
            ts.unsign_with_timestamp(black_box(&stamped), Some(3600))
                .is_ok()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
