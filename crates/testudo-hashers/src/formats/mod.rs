//! Parsing and verifying the stored hash formats. Nothing here panics or allocates more than
//! the ceilings in [`CostBudget`] allow; every failure is a typed [`StoredHashError`] (or
//! `false` for a password that does not match).
//!
//! A stored string is parsed once into a [`Parsed`] (its format and what verifying it needs),
//! whose [`Parsed::check`] compares its cost with the budget before any work and whose
//! [`Parsed::verify`] does the work.

mod argon2;
pub(crate) mod b64;
mod bcrypt;
mod digest;
mod pbkdf2;
mod scrypt;

use std::fmt;

use self::argon2::Argon2Hash;
pub(crate) use self::argon2::parse_argon2;
use self::bcrypt::sha256_hex;
use crate::error::{CostKind, HashPart, StoredHashError};

/// The stored-hash formats this crate reads.
///
/// Its `Display` is [`HashFormat::name`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashFormat {
    /// PHC Argon2 (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`, also `argon2i` / `argon2d`):
    /// what testudo and tortoise-auth write.
    Argon2,
    /// Modular-crypt bcrypt (`$2a$`, `$2b$`, `$2x$`, `$2y$`), as pwdlib, passlib, PHP's
    /// `password_hash` and Devise (with [`AuthConfig::bcrypt_pepper`]) write it.
    ///
    /// [`AuthConfig::bcrypt_pepper`]: testudo_config::AuthConfig::bcrypt_pepper
    Bcrypt,
    /// tortoise-auth's `pbkdf2_sha256$<iter>$<base64 salt>$<base64 hash>`, salt base64-decoded.
    Pbkdf2Sha256,
    /// Django's `pbkdf2_sha256$<iter>$<salt text>$<base64 hash>`, salt used as text.
    DjangoPbkdf2Sha256,
    /// Django's `pbkdf2_sha1$<iter>$<salt text>$<base64 hash>`.
    DjangoPbkdf2Sha1,
    /// Django's `bcrypt_sha256$$2b$..`: bcrypt of the hex SHA-256 of the password.
    DjangoBcryptSha256,
    /// Django's `bcrypt$$2b$..`: bcrypt of the password.
    DjangoBcrypt,
    /// Django's `argon2$argon2id$..`: PHC Argon2 without its leading `$`, any variant, with or
    /// without the `v=` field (Django 1.10's `argon2$argon2i$m=512,t=2,p=2$..`).
    DjangoArgon2,
    /// Django's `scrypt$<n>$<salt text>$<r>$<p>$<base64 hash>` (Django 4.0 and later).
    DjangoScrypt,
    /// Django's salted `sha1$<salt>$<hex>` (SHA-1 of salt and password). Insecure: read only
    /// with [`AuthConfig::allow_insecure_legacy_hashes`].
    ///
    /// [`AuthConfig::allow_insecure_legacy_hashes`]: testudo_config::AuthConfig::allow_insecure_legacy_hashes
    DjangoSha1,
    /// Django's salted `md5$<salt>$<hex>`. Insecure, as [`HashFormat::DjangoSha1`].
    DjangoMd5,
    /// Django's `sha1$$<hex>` (unsalted SHA-1). Insecure, as [`HashFormat::DjangoSha1`].
    DjangoUnsaltedSha1,
    /// Django's bare 32-hex unsalted MD5 (also `md5$$<hex>`). Insecure, as
    /// [`HashFormat::DjangoSha1`].
    DjangoUnsaltedMd5,
    /// PHC scrypt `$scrypt$ln=..,r=..,p=..$<base64 salt>$<base64 hash>`, as passlib and
    /// the `scrypt` crate write it.
    Scrypt,
    /// passlib's `$pbkdf2$<rounds>$<ab64 salt>$<ab64 hash>` (PBKDF2-HMAC-SHA1).
    PasslibPbkdf2Sha1,
    /// passlib's `$pbkdf2-sha256$<rounds>$<ab64 salt>$<ab64 hash>`.
    PasslibPbkdf2Sha256,
    /// passlib's `$pbkdf2-sha512$<rounds>$<ab64 salt>$<ab64 hash>`.
    PasslibPbkdf2Sha512,
    /// PHC `$pbkdf2-sha256$i=..,l=..$<base64 salt>$<base64 hash>`, as the `pbkdf2` crate
    /// writes it.
    PhcPbkdf2Sha256,
    /// PHC `$pbkdf2-sha512$i=..,l=..$<base64 salt>$<base64 hash>`.
    PhcPbkdf2Sha512,
    /// A format the application registered with
    /// [`PasswordHasher::with_format`](crate::PasswordHasher::with_format), by its
    /// [`PasswordFormat::name`](crate::PasswordFormat::name).
    Custom(&'static str),
}

impl HashFormat {
    /// A short stable name: `"django_scrypt"`, `"passlib_pbkdf2_sha256"`, or a registered
    /// format's own name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Argon2 => "argon2",
            Self::Bcrypt => "bcrypt",
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::DjangoPbkdf2Sha256 => "django_pbkdf2_sha256",
            Self::DjangoPbkdf2Sha1 => "django_pbkdf2_sha1",
            Self::DjangoBcryptSha256 => "django_bcrypt_sha256",
            Self::DjangoBcrypt => "django_bcrypt",
            Self::DjangoArgon2 => "django_argon2",
            Self::DjangoScrypt => "django_scrypt",
            Self::DjangoSha1 => "django_sha1",
            Self::DjangoMd5 => "django_md5",
            Self::DjangoUnsaltedSha1 => "django_unsalted_sha1",
            Self::DjangoUnsaltedMd5 => "django_unsalted_md5",
            Self::Scrypt => "scrypt",
            Self::PasslibPbkdf2Sha1 => "passlib_pbkdf2_sha1",
            Self::PasslibPbkdf2Sha256 => "passlib_pbkdf2_sha256",
            Self::PasslibPbkdf2Sha512 => "passlib_pbkdf2_sha512",
            Self::PhcPbkdf2Sha256 => "phc_pbkdf2_sha256",
            Self::PhcPbkdf2Sha512 => "phc_pbkdf2_sha512",
            Self::Custom(name) => name,
        }
    }

    /// Whether the format is an unsalted or salted SHA-1 / MD5 digest, read only with
    /// [`AuthConfig::allow_insecure_legacy_hashes`](testudo_config::AuthConfig::allow_insecure_legacy_hashes).
    #[must_use]
    pub const fn is_insecure(self) -> bool {
        matches!(
            self,
            Self::DjangoSha1 | Self::DjangoMd5 | Self::DjangoUnsaltedSha1 | Self::DjangoUnsaltedMd5
        )
    }
}

impl fmt::Display for HashFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The ceilings on the cost parameters read from a stored hash (see
/// [`STORED_COST_FACTOR`](crate::STORED_COST_FACTOR)). A hash above any of them is refused
/// before any memory is allocated or any work is done.
///
/// Made by [`PasswordHasher::from_config`](crate::PasswordHasher::from_config); a
/// [`PasswordFormat`](crate::PasswordFormat) reads it to judge its own parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostBudget {
    pub(crate) argon2_max_m: u32,
    pub(crate) argon2_max_t: u32,
    /// The most `m * t` (KiB times passes) a stored Argon2 hash may ask for.
    pub(crate) argon2_max_work: u64,
    pub(crate) argon2_max_p: u32,
    pub(crate) bcrypt_max_cost: u32,
    pub(crate) pbkdf2_max_iterations: u32,
    /// The most `N * r * p` a stored scrypt hash may ask for.
    pub(crate) scrypt_max_work: u64,
}

impl CostBudget {
    /// The most memory a stored hash may ask for, in KiB (Argon2's `m`; scrypt's
    /// `128 * r * (N + p)` bytes are held to it too).
    #[must_use]
    pub const fn max_memory_kib(&self) -> u32 {
        self.argon2_max_m
    }

    /// The most Argon2 passes (`t`) a stored hash may ask for.
    #[must_use]
    pub const fn argon2_max_time_cost(&self) -> u32 {
        self.argon2_max_t
    }

    /// The most Argon2 work `m * t` (KiB times passes) a stored hash may ask for.
    #[must_use]
    pub const fn argon2_max_work(&self) -> u64 {
        self.argon2_max_work
    }

    /// The most Argon2 lanes (`p`) a stored hash may ask for.
    #[must_use]
    pub const fn argon2_max_parallelism(&self) -> u32 {
        self.argon2_max_p
    }

    /// The highest bcrypt cost (log2 rounds) a stored hash may have.
    #[must_use]
    pub const fn bcrypt_max_cost(&self) -> u32 {
        self.bcrypt_max_cost
    }

    /// The most PBKDF2 work a stored hash may ask for, in HMAC-SHA1 / HMAC-SHA256 iterations
    /// per output block (an HMAC-SHA512 iteration counts as two).
    #[must_use]
    pub const fn pbkdf2_max_iterations(&self) -> u32 {
        self.pbkdf2_max_iterations
    }

    /// The most scrypt work `N * r * p` a stored hash may ask for.
    #[must_use]
    pub const fn scrypt_max_work(&self) -> u64 {
        self.scrypt_max_work
    }

    /// Refuses `needed` of `kind` over `limit`.
    fn within(
        format: HashFormat,
        kind: CostKind,
        needed: u128,
        limit: u128,
    ) -> Result<(), StoredHashError> {
        if needed > limit {
            Err(StoredHashError::OverBudget { format, cost: kind })
        } else {
            Ok(())
        }
    }
}

/// What the password is turned into before bcrypt sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BcryptKey {
    /// The password itself.
    Password,
    /// Django's `bcrypt_sha256`: the lowercase hex SHA-256 of the password.
    Sha256Hex,
    /// The password followed by [`AuthConfig::bcrypt_pepper`](testudo_config::AuthConfig::bcrypt_pepper)
    /// when one is configured (Devise), else the password.
    Peppered,
}

/// What verifying a parsed hash needs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Argon2(Argon2Hash),
    Bcrypt(bcrypt::BcryptHash, BcryptKey),
    Pbkdf2(pbkdf2::Pbkdf2Hash),
    Scrypt(scrypt::ScryptHash),
    Digest(digest::DigestHash),
}

/// A stored string parsed into its format and what verifying it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) format: HashFormat,
    kind: Kind,
}

/// A malformed-hash error for `format`.
const fn malformed(format: HashFormat, part: HashPart) -> StoredHashError {
    StoredHashError::Malformed { format, part }
}

/// Canonical decimal digits only (what every writer produces), at most 10 of them: a sign,
/// spaces, leading `+`, or a value over `u32::MAX` is refused.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `stored` by its shape. `insecure` admits the SHA-1 / MD5 digests; without it they
/// are [`StoredHashError::UnknownFormat`], as if testudo did not know them.
///
/// # Errors
///
/// [`StoredHashError::UnknownFormat`] when no format claims the string,
/// [`StoredHashError::Malformed`] when one does but the string does not follow it.
pub(crate) fn parse(stored: &str, insecure: bool) -> Result<Parsed, StoredHashError> {
    let (format, kind) = if stored.starts_with("$argon2") {
        let f = HashFormat::Argon2;
        (
            f,
            Kind::Argon2(parse_argon2(stored).map_err(|p| malformed(f, p))?),
        )
    } else if stored.starts_with("$2") {
        let f = HashFormat::Bcrypt;
        let h = bcrypt::parse(stored).map_err(|p| malformed(f, p))?;
        (f, Kind::Bcrypt(h, BcryptKey::Peppered))
    } else if let Some(rest) = stored.strip_prefix("bcrypt_sha256$") {
        let f = HashFormat::DjangoBcryptSha256;
        let h = bcrypt::parse(rest).map_err(|p| malformed(f, p))?;
        (f, Kind::Bcrypt(h, BcryptKey::Sha256Hex))
    } else if let Some(rest) = stored.strip_prefix("bcrypt$") {
        let f = HashFormat::DjangoBcrypt;
        let h = bcrypt::parse(rest).map_err(|p| malformed(f, p))?;
        (f, Kind::Bcrypt(h, BcryptKey::Password))
    } else if let Some(rest) = stored.strip_prefix("argon2$") {
        let f = HashFormat::DjangoArgon2;
        if !rest.starts_with("argon2") {
            return Err(malformed(f, HashPart::Layout));
        }
        let h = parse_argon2(&format!("${rest}")).map_err(|p| malformed(f, p))?;
        (f, Kind::Argon2(h))
    } else if stored.starts_with("$scrypt$") {
        let f = HashFormat::Scrypt;
        (
            f,
            Kind::Scrypt(scrypt::parse_phc(stored).map_err(|p| malformed(f, p))?),
        )
    } else if let Some(rest) = stored.strip_prefix("scrypt$") {
        let f = HashFormat::DjangoScrypt;
        (
            f,
            Kind::Scrypt(scrypt::parse_django(rest).map_err(|p| malformed(f, p))?),
        )
    } else if stored.starts_with("pbkdf2_sha256$") || stored.starts_with("pbkdf2_sha1$") {
        let h = pbkdf2::parse_django(stored)?;
        (h.format, Kind::Pbkdf2(h))
    } else if stored.starts_with("$pbkdf2") {
        let h = pbkdf2::parse_dollar(stored)?;
        (h.format, Kind::Pbkdf2(h))
    } else if let Some(format) = digest::identify(stored) {
        if !insecure {
            return Err(StoredHashError::UnknownFormat);
        }
        let h = digest::parse(stored, format).map_err(|p| malformed(format, p))?;
        (format, Kind::Digest(h))
    } else {
        return Err(StoredHashError::UnknownFormat);
    };
    Ok(Parsed { format, kind })
}

/// Which format a stored string is in, by its shape alone (insecure digests included).
pub(crate) fn identify(stored: &str) -> Option<HashFormat> {
    parse(stored, true).ok().map(|p| p.format)
}

impl Parsed {
    /// Refuses parameters beyond `budget` (or out of the algorithm's range) without any work.
    ///
    /// # Errors
    ///
    /// [`StoredHashError::OverBudget`] naming the measure over its ceiling, or
    /// [`StoredHashError::Malformed`] for parameters the algorithm refuses.
    pub(crate) fn check(&self, budget: &CostBudget) -> Result<(), StoredHashError> {
        let f = self.format;
        match &self.kind {
            Kind::Argon2(h) => h.params_within(f, budget).map(drop),
            Kind::Bcrypt(h, _) => h.within(f, budget),
            Kind::Pbkdf2(h) => h.within(budget),
            Kind::Scrypt(h) => h.params_within(f, budget).map(drop),
            Kind::Digest(_) => Ok(()),
        }
    }

    /// Verifies `password` (refusing parameters beyond `budget` first). `pepper` is the
    /// configured bcrypt pepper, used by bare bcrypt hashes only.
    pub(crate) fn verify(&self, password: &[u8], budget: &CostBudget, pepper: &[u8]) -> bool {
        let f = self.format;
        match &self.kind {
            Kind::Argon2(h) => h.verify(password, f, budget),
            Kind::Bcrypt(h, key) => {
                if h.within(f, budget).is_err() {
                    return false;
                }
                match key {
                    BcryptKey::Password => h.verify(password),
                    BcryptKey::Sha256Hex => h.verify(&sha256_hex(password)),
                    BcryptKey::Peppered if pepper.is_empty() => h.verify(password),
                    BcryptKey::Peppered => {
                        let mut key = zeroize::Zeroizing::new(password.to_vec());
                        key.extend_from_slice(pepper);
                        h.verify(&key)
                    }
                }
            }
            Kind::Pbkdf2(h) => h.verify(password, budget),
            Kind::Scrypt(h) => h.verify(password, f, budget),
            Kind::Digest(h) => h.verify(password),
        }
    }
}
