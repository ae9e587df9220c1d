//! scrypt: Django's `scrypt$<n>$<salt>$<r>$<p>$<hash>` and PHC `$scrypt$ln=..,r=..,p=..$..`.

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{CostBudget, HashFormat, b64, parse_u32};
use crate::error::{CostKind, HashPart, StoredHashError};

/// The longest salt accepted, in bytes (every writer uses 16 to 32).
const MAX_SALT_LEN: usize = 1024;
/// The hash length of Django's scrypt (`dklen=64`).
const DJANGO_HASH_LEN: usize = 64;
/// The hash lengths accepted in a PHC string (the PHC output rule; passlib writes 32).
const PHC_HASH_LEN: std::ops::RangeInclusive<usize> = 10..=64;

/// A parsed scrypt string. `log_n` is `log2(N)`, as read (not yet checked against anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ScryptHash {
    log_n: u32,
    r: u32,
    p: u32,
    salt: Vec<u8>,
    hash: Vec<u8>,
}

/// Parses Django's layout, after its `scrypt$` prefix: `<n>$<salt text>$<r>$<p>$<b64 hash>`,
/// `n` a power of two (as Django's `hashlib.scrypt` requires).
pub(crate) fn parse_django(rest: &str) -> Result<ScryptHash, HashPart> {
    let mut parts = rest.split('$');
    let n = parts
        .next()
        .filter(|s| !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|n| n.is_power_of_two())
        .ok_or(HashPart::Parameters)?;
    let salt = parts
        .next()
        .filter(|s| !s.is_empty() && s.len() <= MAX_SALT_LEN)
        .ok_or(HashPart::Salt)?
        .as_bytes()
        .to_vec();
    let r = parts
        .next()
        .and_then(parse_u32)
        .ok_or(HashPart::Parameters)?;
    let p = parts
        .next()
        .and_then(parse_u32)
        .ok_or(HashPart::Parameters)?;
    let hash = parts.next().and_then(b64::decode).ok_or(HashPart::Hash)?;
    if parts.next().is_some() {
        return Err(HashPart::Layout);
    }
    if hash.len() != DJANGO_HASH_LEN {
        return Err(HashPart::Hash);
    }
    Ok(ScryptHash {
        log_n: n.trailing_zeros(),
        r,
        p,
        salt,
        hash,
    })
}

/// Parses `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<b64 salt>$<b64 hash>` (each parameter once, in
/// any order; the salt is the decoded bytes, as passlib and the `scrypt` crate use it).
pub(crate) fn parse_phc(stored: &str) -> Result<ScryptHash, HashPart> {
    let rest = stored.strip_prefix("$scrypt$").ok_or(HashPart::Layout)?;
    let mut parts = rest.split('$');
    let (mut ln, mut r, mut p) = (None, None, None);
    for field in parts.next().unwrap_or_default().split(',') {
        let (slot, value) = match field.split_once('=') {
            Some(("ln", v)) => (&mut ln, v),
            Some(("r", v)) => (&mut r, v),
            Some(("p", v)) => (&mut p, v),
            _ => return Err(HashPart::Parameters),
        };
        if slot
            .replace(parse_u32(value).ok_or(HashPart::Parameters)?)
            .is_some()
        {
            return Err(HashPart::Parameters);
        }
    }
    let salt = parts
        .next()
        .filter(|s| !s.is_empty())
        .and_then(b64::decode)
        .filter(|s| s.len() <= MAX_SALT_LEN)
        .ok_or(HashPart::Salt)?;
    let hash = parts.next().and_then(b64::decode).ok_or(HashPart::Hash)?;
    if parts.next().is_some() {
        return Err(HashPart::Layout);
    }
    if !PHC_HASH_LEN.contains(&hash.len()) {
        return Err(HashPart::Hash);
    }
    Ok(ScryptHash {
        log_n: ln.ok_or(HashPart::Parameters)?,
        r: r.ok_or(HashPart::Parameters)?,
        p: p.ok_or(HashPart::Parameters)?,
        salt,
        hash,
    })
}

impl ScryptHash {
    /// scrypt's parameters, when they are valid (N >= 2, r >= 1, p >= 1) and within `budget`:
    /// memory `128 * r * (N + p)` bytes within the memory ceiling, work `N * r * p` within the
    /// scrypt work ceiling. Computed in `u128`, so no stored value overflows.
    pub(crate) fn params_within(
        &self,
        format: HashFormat,
        budget: &CostBudget,
    ) -> Result<::scrypt::Params, StoredHashError> {
        let malformed = StoredHashError::Malformed {
            format,
            part: HashPart::Parameters,
        };
        if self.log_n == 0 || self.r == 0 || self.p == 0 {
            return Err(malformed);
        }
        let over = |cost| StoredHashError::OverBudget { format, cost };
        // 2^log_n fits in u128 for log_n < 128; anything at or beyond 2^64 is over any budget.
        if self.log_n >= 64 {
            return Err(over(CostKind::Memory));
        }
        let n = 1_u128 << self.log_n;
        // scrypt holds `V` (128 * r * N bytes) and `B` (128 * r * p bytes) at once.
        let memory = 128 * u128::from(self.r) * (n + u128::from(self.p));
        CostBudget::within(
            format,
            CostKind::Memory,
            memory,
            u128::from(budget.argon2_max_m) * 1024,
        )?;
        let work = n * u128::from(self.r) * u128::from(self.p);
        CostBudget::within(
            format,
            CostKind::Work,
            work,
            u128::from(budget.scrypt_max_work),
        )?;
        let log_n = u8::try_from(self.log_n).map_err(|_| malformed)?;
        ::scrypt::Params::new(log_n, self.r, self.p).map_err(|_| malformed)
    }

    pub(crate) fn verify(&self, password: &[u8], format: HashFormat, budget: &CostBudget) -> bool {
        let Ok(params) = self.params_within(format, budget) else {
            return false;
        };
        let mut out = Zeroizing::new(vec![0_u8; self.hash.len()]);
        if ::scrypt::scrypt(password, &self.salt, &params, &mut out).is_err() {
            return false;
        }
        out.ct_eq(&self.hash).into()
    }
}
