//! PHC Argon2 (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`), also inside Django's `argon2$`.

use ::argon2::{Algorithm, Argon2, Params, Version};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use super::{CostBudget, HashFormat, b64, parse_u32};
use crate::error::{CostKind, HashPart, StoredHashError};

/// Salt lengths accepted in a stored Argon2 hash, in bytes.
const SALT_LEN: std::ops::RangeInclusive<usize> = 8..=1024;
/// Output lengths accepted in a stored Argon2 hash, in bytes.
const OUTPUT_LEN: std::ops::RangeInclusive<usize> = 4..=1024;

/// A parsed PHC Argon2 string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Argon2Hash {
    pub(crate) algorithm: Algorithm,
    pub(crate) version: Version,
    pub(crate) m: u32,
    pub(crate) t: u32,
    pub(crate) p: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) hash: Vec<u8>,
}

/// Parses `$argon2(id|i|d)$[v=N$]m=N,t=N,p=N$salt$hash` (pwdlib's identify, then the salt and
/// hash that verification needs). A string without `v=` is version 1.0, as libargon2 reads it.
pub(crate) fn parse_argon2(stored: &str) -> Result<Argon2Hash, HashPart> {
    let rest = stored.strip_prefix('$').ok_or(HashPart::Layout)?;
    let mut parts = rest.split('$');
    let algorithm = match parts.next() {
        Some("argon2id") => Algorithm::Argon2id,
        Some("argon2i") => Algorithm::Argon2i,
        Some("argon2d") => Algorithm::Argon2d,
        _ => return Err(HashPart::Layout),
    };
    let mut field = parts.next().ok_or(HashPart::Layout)?;
    let version = if let Some(v) = field.strip_prefix("v=") {
        let v = match parse_u32(v) {
            Some(0x10) => Version::V0x10,
            Some(0x13) => Version::V0x13,
            _ => return Err(HashPart::Parameters),
        };
        field = parts.next().ok_or(HashPart::Layout)?;
        v
    } else {
        Version::V0x10
    };
    let mut params = field.split(',');
    let mut param = |name: &str| {
        params
            .next()
            .and_then(|p| p.strip_prefix(name))
            .and_then(parse_u32)
            .ok_or(HashPart::Parameters)
    };
    let (m, t, p) = (param("m=")?, param("t=")?, param("p=")?);
    if params.next().is_some() {
        return Err(HashPart::Parameters);
    }
    let salt = parts.next().and_then(b64::decode).ok_or(HashPart::Salt)?;
    let hash = parts.next().and_then(b64::decode).ok_or(HashPart::Hash)?;
    if parts.next().is_some() {
        return Err(HashPart::Layout);
    }
    Ok(Argon2Hash {
        algorithm,
        version,
        m,
        t,
        p,
        salt,
        hash,
    })
}

impl Argon2Hash {
    /// The algorithm's parameters, when they are valid and within `budget` (memory, passes,
    /// lanes, and the work `m * t`).
    pub(crate) fn params_within(
        &self,
        format: HashFormat,
        budget: &CostBudget,
    ) -> Result<Params, StoredHashError> {
        let over = |cost| StoredHashError::OverBudget { format, cost };
        let malformed = |part| StoredHashError::Malformed { format, part };
        if self.m > budget.argon2_max_m {
            return Err(over(CostKind::Memory));
        }
        if self.t > budget.argon2_max_t {
            return Err(over(CostKind::Time));
        }
        if u64::from(self.m) * u64::from(self.t) > budget.argon2_max_work {
            return Err(over(CostKind::Work));
        }
        if self.p > budget.argon2_max_p {
            return Err(over(CostKind::Parallelism));
        }
        if !SALT_LEN.contains(&self.salt.len()) {
            return Err(malformed(HashPart::Salt));
        }
        if !OUTPUT_LEN.contains(&self.hash.len()) {
            return Err(malformed(HashPart::Hash));
        }
        Params::new(self.m, self.t, self.p, Some(self.hash.len()))
            .map_err(|_| malformed(HashPart::Parameters))
    }

    /// Verifies `password`, refusing parameters beyond `budget` before allocating.
    pub(crate) fn verify(&self, password: &[u8], format: HashFormat, budget: &CostBudget) -> bool {
        let Ok(params) = self.params_within(format, budget) else {
            return false;
        };
        let argon = Argon2::new(self.algorithm, self.version, params);
        let mut out = Zeroizing::new(vec![0_u8; self.hash.len()]);
        if argon
            .hash_password_into(password, &self.salt, &mut out)
            .is_err()
        {
            return false;
        }
        out.ct_eq(&self.hash).into()
    }
}
