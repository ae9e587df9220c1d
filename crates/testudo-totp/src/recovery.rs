//! Recovery codes: single-use codes that stand in for a lost authenticator.
//!
//! A code is 10 characters of Crockford's base32 (`0-9`, `A-Z` without `I L O U`), 50 bits,
//! shown as `XXXXX-XXXXX`. Input is read leniently (case, hyphens, spaces, and the look-alikes
//! `O` → `0`, `I` / `L` → `1`), so a code copied from paper still works; it is stored only as a
//! keyed digest ([`crate::Keyring::digest`]).

use secrecy::{ExposeSecret as _, SecretString};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Crockford's base32 alphabet.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Characters of a code (without its hyphen).
pub const RECOVERY_CODE_LEN: usize = 10;
/// The longest input looked at.
const MAX_INPUT: usize = 64;

/// `n` new codes from the OS random generator, formatted `XXXXX-XXXXX`.
///
/// # Errors
///
/// [`Error::Random`] when the generator fails.
pub fn generate_recovery_codes(n: usize) -> Result<Vec<SecretString>> {
    (0..n).map(|_| generate_one()).collect()
}

fn generate_one() -> Result<SecretString> {
    let mut bytes = Zeroizing::new([0_u8; RECOVERY_CODE_LEN]);
    getrandom::fill(&mut bytes[..]).map_err(Error::Random)?;
    let mut code = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN + 1));
    for (i, b) in bytes.iter().enumerate() {
        if i == RECOVERY_CODE_LEN / 2 {
            code.push('-');
        }
        // 256 is a multiple of 32: the low five bits are uniform.
        let c = ALPHABET.get(usize::from(b & 0x1f)).copied().unwrap_or(b'0');
        code.push(char::from(c));
    }
    Ok(SecretString::from(code.as_str()))
}

/// The canonical form of a typed recovery code (upper case, no separators, look-alikes
/// mapped), or `None` when it cannot be one (wrong length or characters).
#[must_use]
pub fn normalize_recovery_code(input: &str) -> Option<Zeroizing<String>> {
    if input.len() > MAX_INPUT {
        return None;
    }
    let mut out = Zeroizing::new(String::with_capacity(RECOVERY_CODE_LEN));
    for c in input.chars() {
        let c = match c.to_ascii_uppercase() {
            '-' | ' ' => continue,
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        };
        if !u8::try_from(c).is_ok_and(|b| ALPHABET.contains(&b)) {
            return None;
        }
        out.push(c);
    }
    (out.len() == RECOVERY_CODE_LEN).then_some(out)
}

/// The canonical form of a generated code (for digests made at generation).
#[must_use]
pub fn canonical(code: &SecretString) -> Zeroizing<String> {
    normalize_recovery_code(code.expose_secret()).unwrap_or_default()
}
