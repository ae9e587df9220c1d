//! Modular-crypt bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`), bare or inside Django's `bcrypt$` /
//! `bcrypt_sha256$`.

use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{CostBudget, HashFormat};
use crate::error::{CostKind, HashPart, StoredHashError};

/// bcrypt uses at most this many bytes of key.
const MAX_KEY_BYTES: usize = 72;

/// A well-formed bcrypt string and its cost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BcryptHash {
    /// The string with its prefix made `$2b$`: the bcrypt crate reads `$2x$`/`$2y$`/`$2a$`
    /// itself, pyca (and PHP for valid input) treat them all as `$2b$`.
    normalised: String,
    cost: u32,
}

/// Checks pwdlib's bcrypt shape: `$2[abxy]$NN$` + 53 characters of `[A-Za-z0-9./+]`.
pub(crate) fn parse(stored: &str) -> Result<BcryptHash, HashPart> {
    let b = stored.as_bytes();
    if b.len() != 60 || b[0] != b'$' || b[1] != b'2' || b[3] != b'$' || b[6] != b'$' {
        return Err(HashPart::Layout);
    }
    if !matches!(b[2], b'a' | b'b' | b'x' | b'y') {
        return Err(HashPart::Layout);
    }
    if !(b[4].is_ascii_digit() && b[5].is_ascii_digit()) {
        return Err(HashPart::Parameters);
    }
    if !b[7..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/' | b'+'))
    {
        return Err(HashPart::Hash);
    }
    // Every byte is ASCII (checked above), so slicing at 3 is on a character boundary.
    Ok(BcryptHash {
        normalised: format!("$2b{}", &stored[3..]),
        cost: u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0'),
    })
}

impl BcryptHash {
    /// Whether the cost is one the bcrypt crate accepts (4 or more) and is within `budget`.
    pub(crate) fn within(
        &self,
        format: HashFormat,
        budget: &CostBudget,
    ) -> Result<(), StoredHashError> {
        if self.cost < 4 {
            return Err(StoredHashError::Malformed {
                format,
                part: HashPart::Parameters,
            });
        }
        CostBudget::within(
            format,
            CostKind::Time,
            u128::from(self.cost),
            u128::from(budget.bcrypt_max_cost),
        )
    }

    /// bcrypt verification of `key` with bcrypt's own 72-byte truncation (bcrypt 4.x and
    /// bcrypt-ruby behaviour). The cost must have been checked.
    pub(crate) fn verify(&self, key: &[u8]) -> bool {
        let key = Zeroizing::new(key[..key.len().min(MAX_KEY_BYTES)].to_vec());
        ::bcrypt::verify(&*key, &self.normalised).unwrap_or(false)
    }
}

/// Lowercase hex of SHA-256, as Django's `bcrypt_sha256` pre-hash.
pub(crate) fn sha256_hex(password: &[u8]) -> Zeroizing<Vec<u8>> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digest = Zeroizing::new([0_u8; 32]);
    digest.copy_from_slice(&Sha256::digest(password));
    let mut out = Zeroizing::new(Vec::with_capacity(64));
    for b in digest.iter() {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0x0f)]);
    }
    out
}
