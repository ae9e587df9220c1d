//! `validate_password` with the default validators (minimum length, the bundled common list,
//! numeric, similarity to the user's attributes) on an arbitrary password and attributes; and
//! the similarity ratio stays in [0, 1]. `Ok` or the refusal messages, never a panic.

#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use testudo_validators::{UserAttributeSimilarityValidator, Validators, validate_password};

fn validators() -> &'static Validators {
    static V: OnceLock<Validators> = OnceLock::new();
    V.get_or_init(Validators::defaults)
}

fuzz_target!(|text: &str| {
    // Layout (what the seed generator writes): the password, then one `name=value` attribute
    // per line (at most 8 are read).
    let mut lines = text.split('\n');
    let password = lines.next().unwrap_or_default();
    let user: HashMap<String, String> = lines
        .take(8)
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or(("email", l));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let r = validate_password(password, Some(&user), Some(validators().as_slice()));
    if let Err(e) = &r {
        let _ = format!("{e} {e:?}");
    }
    let _ = validate_password(password, None, Some(validators().as_slice()));
    for value in user.values() {
        if let Some(ratio) = UserAttributeSimilarityValidator::similarity(password, value) {
            assert!(
                (0.0..=1.0).contains(&ratio),
                "ratio {ratio} for {password:?} / {value:?}"
            );
        }
    }
});
