//! Raw token generation and hashing (behaviour doc section 4).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::{Error, Result};

const ALPHABET: &[u8; 62] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// A token of `len` characters of `[A-Za-z0-9]` from the OS random generator, by rejection
/// sampling (bytes >= 248 are dropped, so each character is uniform: no modulo bias).
///
/// # Errors
///
/// [`Error::Random`] when the OS generator fails.
pub fn generate_token(len: usize) -> Result<String> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).map_err(|e| Error::Random(Box::new(e)))?;
        for &b in &buf {
            if b < 248 && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
            }
        }
    }
    Ok(out)
}

/// SHA-256 of the token's UTF-8 bytes, lowercase hex (what is stored).
#[must_use]
pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push(char::from(b"0123456789abcdef"[usize::from(b >> 4)]));
        s.push(char::from(b"0123456789abcdef"[usize::from(b & 15)]));
    }
    s
}

/// Whether `token` can be a token of `len` characters (checked before any database access).
pub(crate) fn plausible(token: &str, len: usize) -> bool {
    token.len() == len && token.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Constant-time comparison of two digests.
pub(crate) fn digest_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A new jti / family id: a UUID v4 as 32 hex digits.
pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
