//! Parsing and verifying the stored hash formats. Nothing here panics or allocates more than
//! the ceilings in [`Limits`] allow; every parse failure is `None` / `false`.

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

/// Standard alphabet, padding optional, trailing bits tolerated (as libargon2 / Python do).
const B64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard alphabet, canonical padding required: used to recognise tortoise-auth salts.
const B64_STRICT: GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Standard alphabet, no padding: the PHC encoding written for new hashes.
pub(crate) const B64_NO_PAD: GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// The stored-hash formats this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashFormat {
    /// PHC Argon2 (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`, also `argon2i` / `argon2d`):
    /// what testudo and tortoise-auth write.
    Argon2,
    /// Modular-crypt bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`), as pwdlib writes it.
    Bcrypt,
    /// tortoise-auth's `pbkdf2_sha256$<iter>$<base64 salt>$<base64 hash>`, salt base64-decoded.
    Pbkdf2Sha256,
    /// Django's `pbkdf2_sha256$<iter>$<salt text>$<base64 hash>`, salt used as text.
    DjangoPbkdf2Sha256,
    /// Django's `bcrypt_sha256$$2b$..`: bcrypt of the hex SHA-256 of the password.
    DjangoBcryptSha256,
    /// Django's `bcrypt$$2b$..`: bcrypt of the password.
    DjangoBcrypt,
    /// Django's `argon2$argon2id$..`: PHC Argon2 without its leading `$`.
    DjangoArgon2,
}

/// Ceilings on the cost parameters read from a stored hash. A hash above any of them is refused
/// before any memory is allocated or any work is done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) argon2_max_m: u32,
    pub(crate) argon2_max_t: u32,
    /// The most `m * t` (KiB times passes) a stored Argon2 hash may ask for.
    pub(crate) argon2_max_work: u64,
    pub(crate) argon2_max_p: u32,
    pub(crate) bcrypt_max_cost: u32,
    pub(crate) pbkdf2_max_iterations: u32,
}

/// Salt and output lengths accepted in a stored Argon2 hash, in bytes.
pub(crate) const ARGON2_SALT_LEN: std::ops::RangeInclusive<usize> = 8..=1024;
/// See [`ARGON2_SALT_LEN`].
pub(crate) const ARGON2_OUTPUT_LEN: std::ops::RangeInclusive<usize> = 4..=1024;

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

/// Canonical decimal digits only (what every writer produces), at most 10 of them.
fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `$argon2(id|i|d)$[v=N$]m=N,t=N,p=N$salt$hash` (pwdlib's identify, then the salt and
/// hash that verification needs).
pub(crate) fn parse_argon2(stored: &str) -> Option<Argon2Hash> {
    let rest = stored.strip_prefix('$')?;
    let mut parts = rest.split('$');
    let algorithm = match parts.next()? {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return None,
    };
    let mut field = parts.next()?;
    let version = if let Some(v) = field.strip_prefix("v=") {
        let v = match parse_u32(v)? {
            0x10 => Version::V0x10,
            0x13 => Version::V0x13,
            _ => return None,
        };
        field = parts.next()?;
        v
    } else {
        // libargon2: a string without `v=` is version 1.0.
        Version::V0x10
    };
    let mut params = field.split(',');
    let m = parse_u32(params.next()?.strip_prefix("m=")?)?;
    let t = parse_u32(params.next()?.strip_prefix("t=")?)?;
    let p = parse_u32(params.next()?.strip_prefix("p=")?)?;
    if params.next().is_some() {
        return None;
    }
    let salt = B64_LENIENT.decode(parts.next()?).ok()?;
    let hash = B64_LENIENT.decode(parts.next()?).ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some(Argon2Hash {
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
    /// The algorithm's parameters, when they are valid and within `limits` (memory, passes,
    /// lanes, and the work `m * t`).
    fn params_within(&self, limits: &Limits) -> Option<Params> {
        if self.m > limits.argon2_max_m
            || self.t > limits.argon2_max_t
            || u64::from(self.m) * u64::from(self.t) > limits.argon2_max_work
            || self.p > limits.argon2_max_p
            || !ARGON2_SALT_LEN.contains(&self.salt.len())
            || !ARGON2_OUTPUT_LEN.contains(&self.hash.len())
        {
            return None;
        }
        Params::new(self.m, self.t, self.p, Some(self.hash.len())).ok()
    }

    /// Verifies `password`, refusing parameters beyond `limits` before allocating.
    pub(crate) fn verify(&self, password: &[u8], limits: &Limits) -> bool {
        let Some(params) = self.params_within(limits) else {
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

/// Checks pwdlib's bcrypt shape: `$2[abxy]$NN$` + 53 characters of `[A-Za-z0-9./+]`, and
/// returns the cost.
pub(crate) fn parse_bcrypt(stored: &str) -> Option<u32> {
    let b = stored.as_bytes();
    if b.len() != 60 || b[0] != b'$' || b[1] != b'2' || b[3] != b'$' || b[6] != b'$' {
        return None;
    }
    if !matches!(b[2], b'a' | b'b' | b'x' | b'y') {
        return None;
    }
    if !b[7..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'/' | b'+'))
    {
        return None;
    }
    if !(b[4].is_ascii_digit() && b[5].is_ascii_digit()) {
        return None;
    }
    Some(u32::from(b[4] - b'0') * 10 + u32::from(b[5] - b'0'))
}

/// Whether `stored` is a bcrypt string whose cost the bcrypt crate accepts (4 or more) and is
/// within `limits`.
fn bcrypt_within(stored: &str, limits: &Limits) -> bool {
    parse_bcrypt(stored).is_some_and(|cost| (4..=limits.bcrypt_max_cost).contains(&cost))
}

/// bcrypt verification with bcrypt's own 72-byte truncation (bcrypt 4.x behaviour).
pub(crate) fn verify_bcrypt(password: &[u8], stored: &str, limits: &Limits) -> bool {
    if !bcrypt_within(stored, limits) {
        return false;
    }
    // The bcrypt crate reads `$2x$`/`$2y$`/`$2a$` itself; pyca treats them all as `$2b$`.
    let normalised = format!("$2b{}", &stored[3..]);
    let key = Zeroizing::new(password[..password.len().min(72)].to_vec());
    bcrypt::verify(&*key, &normalised).unwrap_or(false)
}

/// A parsed `pbkdf2_sha256$` string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pbkdf2Hash {
    pub(crate) iterations: u32,
    pub(crate) salt: Vec<u8>,
    pub(crate) hash: Vec<u8>,
    pub(crate) django: bool,
}

/// Parses `pbkdf2_sha256$<iter>$<salt>$<hash>`. The salt rule (see the crate docs): a salt
/// field that contains `=` and is canonical padded base64 is tortoise-auth's (decoded bytes);
/// any other salt is Django's (its UTF-8 text). Django salts are alphanumeric, tortoise-auth's
/// are 16 random bytes, whose padded encoding always ends in `==`.
pub(crate) fn parse_pbkdf2(stored: &str) -> Option<Pbkdf2Hash> {
    let rest = stored.strip_prefix("pbkdf2_sha256$")?;
    let mut parts = rest.split('$');
    let iterations = parse_u32(parts.next()?)?;
    let salt_field = parts.next()?;
    let hash = B64_LENIENT.decode(parts.next()?).ok()?;
    if parts.next().is_some() || iterations == 0 {
        return None;
    }
    let decoded = if salt_field.contains('=') {
        B64_STRICT.decode(salt_field).ok()
    } else {
        None
    };
    let (salt, django) = match decoded {
        Some(bytes) => (bytes, false),
        None if !salt_field.is_empty() => (salt_field.as_bytes().to_vec(), true),
        None => return None,
    };
    Some(Pbkdf2Hash {
        iterations,
        salt,
        hash,
        django,
    })
}

impl Pbkdf2Hash {
    /// Whether the iteration count is within `limits` and the hash has SHA-256's length.
    fn within(&self, limits: &Limits) -> bool {
        self.iterations <= limits.pbkdf2_max_iterations && self.hash.len() == 32
    }

    pub(crate) fn verify(&self, password: &[u8], limits: &Limits) -> bool {
        if !self.within(limits) {
            return false;
        }
        let mut out = Zeroizing::new([0_u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, &self.salt, self.iterations, &mut *out);
        out.ct_eq(&self.hash[..]).into()
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

/// Which format a stored string is in, by its shape alone.
pub(crate) fn identify(stored: &str) -> Option<HashFormat> {
    if stored.starts_with("$argon2") {
        parse_argon2(stored).map(|_| HashFormat::Argon2)
    } else if stored.starts_with("$2") {
        parse_bcrypt(stored).map(|_| HashFormat::Bcrypt)
    } else if stored.starts_with("pbkdf2_sha256$") {
        parse_pbkdf2(stored).map(|h| {
            if h.django {
                HashFormat::DjangoPbkdf2Sha256
            } else {
                HashFormat::Pbkdf2Sha256
            }
        })
    } else if let Some(rest) = stored.strip_prefix("bcrypt_sha256$") {
        parse_bcrypt(rest).map(|_| HashFormat::DjangoBcryptSha256)
    } else if let Some(rest) = stored.strip_prefix("bcrypt$") {
        parse_bcrypt(rest).map(|_| HashFormat::DjangoBcrypt)
    } else if let Some(rest) = stored.strip_prefix("argon2$argon2") {
        parse_argon2(&format!("$argon2{rest}")).map(|_| HashFormat::DjangoArgon2)
    } else {
        None
    }
}

/// Django's `argon2$argon2id$...` as the PHC string `$argon2id$...`.
fn django_argon2(stored: &str) -> Option<Argon2Hash> {
    stored
        .strip_prefix("argon2")
        .and_then(|rest| parse_argon2(&format!("${}", rest.strip_prefix('$')?)))
}

/// Whether [`verify_any`] would do the work for `stored`: a known, well-formed format whose
/// cost is within `limits` (nothing is hashed here).
pub(crate) fn acceptable(stored: &str, limits: &Limits) -> bool {
    let Some(format) = identify(stored) else {
        return false;
    };
    match format {
        HashFormat::Argon2 => {
            parse_argon2(stored).is_some_and(|h| h.params_within(limits).is_some())
        }
        HashFormat::DjangoArgon2 => {
            django_argon2(stored).is_some_and(|h| h.params_within(limits).is_some())
        }
        HashFormat::Bcrypt => bcrypt_within(stored, limits),
        HashFormat::DjangoBcrypt => stored
            .strip_prefix("bcrypt$")
            .is_some_and(|h| bcrypt_within(h, limits)),
        HashFormat::DjangoBcryptSha256 => stored
            .strip_prefix("bcrypt_sha256$")
            .is_some_and(|h| bcrypt_within(h, limits)),
        HashFormat::Pbkdf2Sha256 | HashFormat::DjangoPbkdf2Sha256 => {
            parse_pbkdf2(stored).is_some_and(|h| h.within(limits))
        }
    }
}

/// Verifies `password` against `stored` in whatever format it is. Returns the format when the
/// password matched.
pub(crate) fn verify_any(password: &[u8], stored: &str, limits: &Limits) -> Option<HashFormat> {
    let format = identify(stored)?;
    let ok = match format {
        HashFormat::Argon2 => parse_argon2(stored).is_some_and(|h| h.verify(password, limits)),
        HashFormat::DjangoArgon2 => {
            django_argon2(stored).is_some_and(|h| h.verify(password, limits))
        }
        HashFormat::Bcrypt => verify_bcrypt(password, stored, limits),
        HashFormat::DjangoBcrypt => stored
            .strip_prefix("bcrypt$")
            .is_some_and(|h| verify_bcrypt(password, h, limits)),
        HashFormat::DjangoBcryptSha256 => stored
            .strip_prefix("bcrypt_sha256$")
            .is_some_and(|h| verify_bcrypt(&sha256_hex(password), h, limits)),
        HashFormat::Pbkdf2Sha256 | HashFormat::DjangoPbkdf2Sha256 => {
            parse_pbkdf2(stored).is_some_and(|h| h.verify(password, limits))
        }
    };
    ok.then_some(format)
}
