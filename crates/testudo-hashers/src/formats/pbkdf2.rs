//! PBKDF2-HMAC: tortoise-auth's and Django's `pbkdf2_sha256$` / `pbkdf2_sha1$`, passlib's
//! `$pbkdf2$` / `$pbkdf2-sha256$` / `$pbkdf2-sha512$`, PHC `$pbkdf2-sha256$i=..` (the `pbkdf2` crate).

use sha1::Sha1;
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{CostBudget, HashFormat, b64, parse_u32};
use crate::error::{CostKind, HashPart, StoredHashError};

/// The longest salt accepted, in bytes (every writer uses 12 to 64).
const MAX_SALT_LEN: usize = 1024;

/// The HMAC hash of a PBKDF2 string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Prf {
    const fn output_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// How many budget iterations one iteration costs: an HMAC-SHA512 iteration (two
    /// 128-byte blocks) costs about twice an HMAC-SHA256 one.
    const fn weight(self) -> u128 {
        match self {
            Self::Sha1 | Self::Sha256 => 1,
            Self::Sha512 => 2,
        }
    }
}

/// A parsed PBKDF2 string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pbkdf2Hash {
    pub(crate) format: HashFormat,
    prf: Prf,
    iterations: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// Parses `pbkdf2_sha256$<iter>$<salt>$<hash>` and `pbkdf2_sha1$..`. The salt rule for
/// `pbkdf2_sha256$` (see the crate docs): a salt field that contains `=` and is canonical
/// padded base64 is tortoise-auth's (decoded bytes); any other salt is Django's (its UTF-8
/// text). Django salts are alphanumeric, tortoise-auth's are 16 random bytes, whose padded
/// encoding always ends in `==`. tortoise-auth never wrote `pbkdf2_sha1$`.
pub(crate) fn parse_django(stored: &str) -> Result<Pbkdf2Hash, StoredHashError> {
    let (mut format, prf, rest) = if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        (HashFormat::DjangoPbkdf2Sha256, Prf::Sha256, rest)
    } else if let Some(rest) = stored.strip_prefix("pbkdf2_sha1$") {
        (HashFormat::DjangoPbkdf2Sha1, Prf::Sha1, rest)
    } else {
        return Err(StoredHashError::UnknownFormat);
    };
    let malformed = |format, part| StoredHashError::Malformed { format, part };
    let mut parts = rest.split('$');
    let iterations = parts
        .next()
        .and_then(parse_u32)
        .filter(|i| *i > 0)
        .ok_or(malformed(format, HashPart::Parameters))?;
    let salt_field = parts.next().unwrap_or_default();
    let hash = parts
        .next()
        .and_then(b64::decode)
        .ok_or(malformed(format, HashPart::Hash))?;
    if parts.next().is_some() {
        return Err(malformed(format, HashPart::Layout));
    }
    let tortoise = if prf == Prf::Sha256 && salt_field.contains('=') {
        b64::decode_strict(salt_field)
    } else {
        None
    };
    let salt = match tortoise {
        Some(bytes) => {
            format = HashFormat::Pbkdf2Sha256;
            bytes
        }
        None if !salt_field.is_empty() => salt_field.as_bytes().to_vec(),
        None => return Err(malformed(format, HashPart::Salt)),
    };
    Pbkdf2Hash::new(format, prf, iterations, salt, hash, None)
}

/// Parses passlib's `$pbkdf2[-sha256|-sha512]$<rounds>$<ab64 salt>$<ab64 hash>` and PHC
/// `$pbkdf2-sha256$i=<iterations>[,l=<length>]$<b64 salt>$<b64 hash>` (the `pbkdf2` crate).
pub(crate) fn parse_dollar(stored: &str) -> Result<Pbkdf2Hash, StoredHashError> {
    let mut parts = stored.split('$');
    let _empty = parts.next();
    let id = parts.next().unwrap_or_default();
    let params = parts.next().unwrap_or_default();
    let phc = params.starts_with("i=") || params.starts_with("l=");
    let (format, prf) = match (id, phc) {
        ("pbkdf2", false) => (HashFormat::PasslibPbkdf2Sha1, Prf::Sha1),
        ("pbkdf2-sha256", false) => (HashFormat::PasslibPbkdf2Sha256, Prf::Sha256),
        ("pbkdf2-sha512", false) => (HashFormat::PasslibPbkdf2Sha512, Prf::Sha512),
        ("pbkdf2-sha256", true) => (HashFormat::PhcPbkdf2Sha256, Prf::Sha256),
        ("pbkdf2-sha512", true) => (HashFormat::PhcPbkdf2Sha512, Prf::Sha512),
        _ => return Err(StoredHashError::UnknownFormat),
    };
    let malformed = |part| StoredHashError::Malformed { format, part };
    let decode = if phc { b64::decode } else { b64::decode_ab64 };
    let salt = parts
        .next()
        .filter(|s| !s.is_empty())
        .and_then(decode)
        .ok_or(malformed(HashPart::Salt))?;
    let hash = parts
        .next()
        .and_then(decode)
        .ok_or(malformed(HashPart::Hash))?;
    if parts.next().is_some() {
        return Err(malformed(HashPart::Layout));
    }
    let (iterations, length) = if phc {
        let (mut i, mut l) = (None, None);
        for field in params.split(',') {
            let (slot, value) = match field.split_once('=') {
                Some(("i", v)) => (&mut i, v),
                Some(("l", v)) => (&mut l, v),
                _ => return Err(malformed(HashPart::Parameters)),
            };
            if slot
                .replace(parse_u32(value).ok_or(malformed(HashPart::Parameters))?)
                .is_some()
            {
                return Err(malformed(HashPart::Parameters));
            }
        }
        (i.ok_or(malformed(HashPart::Parameters))?, l)
    } else {
        (
            parse_u32(params).ok_or(malformed(HashPart::Parameters))?,
            None,
        )
    };
    if iterations == 0 {
        return Err(malformed(HashPart::Parameters));
    }
    Pbkdf2Hash::new(format, prf, iterations, salt, hash, length)
}

impl Pbkdf2Hash {
    /// Checks the lengths: the hash is the digest's length (passlib, Django, tortoise-auth) or,
    /// for PHC strings, 10 to 64 bytes and equal to `l=` when given.
    fn new(
        format: HashFormat,
        prf: Prf,
        iterations: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
        length: Option<u32>,
    ) -> Result<Self, StoredHashError> {
        let malformed = |part| StoredHashError::Malformed { format, part };
        if salt.len() > MAX_SALT_LEN {
            return Err(malformed(HashPart::Salt));
        }
        let phc = matches!(
            format,
            HashFormat::PhcPbkdf2Sha256 | HashFormat::PhcPbkdf2Sha512
        );
        let length_ok = if phc {
            (10..=64).contains(&hash.len())
                && length.is_none_or(|l| usize::try_from(l).is_ok_and(|l| l == hash.len()))
        } else {
            hash.len() == prf.output_len()
        };
        if !length_ok {
            return Err(malformed(HashPart::Hash));
        }
        Ok(Self {
            format,
            prf,
            iterations,
            salt,
            hash,
        })
    }

    /// Whether the work (iterations, times the output blocks, times the hash's weight) is
    /// within `budget`.
    pub(crate) fn within(&self, budget: &CostBudget) -> Result<(), StoredHashError> {
        let blocks = self.hash.len().div_ceil(self.prf.output_len());
        let work = u128::from(self.iterations)
            * self.prf.weight()
            * u128::try_from(blocks).unwrap_or(u128::MAX);
        CostBudget::within(
            self.format,
            CostKind::Iterations,
            work,
            u128::from(budget.pbkdf2_max_iterations),
        )
    }

    pub(crate) fn verify(&self, password: &[u8], budget: &CostBudget) -> bool {
        if self.within(budget).is_err() {
            return false;
        }
        let mut out = Zeroizing::new(vec![0_u8; self.hash.len()]);
        match self.prf {
            Prf::Sha1 => {
                ::pbkdf2::pbkdf2_hmac::<Sha1>(password, &self.salt, self.iterations, &mut out)
            }
            Prf::Sha256 => {
                ::pbkdf2::pbkdf2_hmac::<Sha256>(password, &self.salt, self.iterations, &mut out);
            }
            Prf::Sha512 => {
                ::pbkdf2::pbkdf2_hmac::<Sha512>(password, &self.salt, self.iterations, &mut out);
            }
        }
        out.ct_eq(&self.hash).into()
    }
}
