//! The base64 flavours stored hashes use.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Standard alphabet, padding optional, trailing bits tolerated (as libargon2 / Python do).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard alphabet, canonical padding required: used to recognise tortoise-auth salts.
const STRICT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Standard alphabet, no padding: the PHC encoding written for new hashes.
pub(crate) const NO_PAD: GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Standard base64, padded or not (PHC strings, Django's hash fields).
pub(crate) fn decode(s: &str) -> Option<Vec<u8>> {
    LENIENT.decode(s).ok()
}

/// Canonical padded standard base64 only.
pub(crate) fn decode_strict(s: &str) -> Option<Vec<u8>> {
    STRICT.decode(s).ok()
}

/// passlib's "adapted base64" (`ab64`): the standard alphabet with `.` in place of `+`, no
/// padding. Standard base64 never contains `.`, so replacing it back is exact; a `+` (not
/// part of ab64) is refused.
pub(crate) fn decode_ab64(s: &str) -> Option<Vec<u8>> {
    if s.contains(['+', '=']) {
        return None;
    }
    decode(&s.replace('.', "+"))
}

/// Lowercase hex, as Django writes digests; anything else (upper case included) is refused,
/// since Django compares the whole string and would refuse it too.
pub(crate) fn decode_lower_hex(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    b.chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}
