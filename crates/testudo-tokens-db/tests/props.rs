//! Property tests (issue 17): the stored digest of an opaque token is stable and equals a
//! reference SHA-256 (lowercase hex of the UTF-8 bytes), for any text; generated tokens have
//! the requested length and alphabet.

use std::fmt::Write as _;

use proptest::prelude::*;
use sha2::{Digest as _, Sha256};
use testudo_tokens_db::{generate_token, hash_token};

fn reference(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, b| {
            let _ = write!(hex, "{b:02x}");
            hex
        })
}

#[test]
fn the_digest_of_known_inputs_is_the_standard_sha256() {
    // FIPS 180-2 examples.
    assert_eq!(
        hash_token("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        hash_token(""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn the_digest_of_any_text_is_its_reference_sha256(token in any::<String>()) {
        let digest = hash_token(&token);
        prop_assert_eq!(&digest, &reference(&token));
        prop_assert_eq!(digest.len(), 64);
        prop_assert!(digest.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(hash_token(&token), digest, "stable");
    }

    #[test]
    fn generated_tokens_have_the_length_and_alphabet_asked_for(len in 0_usize..300) {
        let token = generate_token(len).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(token.len(), len);
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric()));
        prop_assert_eq!(hash_token(&token), reference(&token));
    }
}
