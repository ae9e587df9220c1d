//! The synchronous [`PasswordHasher`] and the module-level functions.

use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use testudo_config::AuthConfig;
use testudo_core::InvalidPassword;
use zeroize::Zeroizing;

use crate::custom::PasswordFormat;
use crate::formats::{self, CostBudget, HashFormat, b64};
use crate::{Error, Result, StoredHashError};

/// Salt length of new Argon2 hashes, in bytes (as tortoise-auth / argon2-cffi).
pub const SALT_LEN: usize = 16;
/// Output length of new Argon2 hashes, in bytes (as tortoise-auth / argon2-cffi).
pub const HASH_LEN: usize = 32;

/// How much more a stored hash may cost than the reference cost, for each measure below: a
/// hash planted in (or imported into) the users table holds a hashing slot for at most about
/// this many times as long as a normal login, so it cannot monopolise the slots.
pub const STORED_COST_FACTOR: u32 = 4;
/// The Argon2 memory cost the stored-hash budget is counted from when the configured one is
/// lower: 64 MiB in KiB, the library default (so cheap test or development parameters do not
/// lock out hashes made with the defaults).
pub const REFERENCE_ARGON2_MEMORY_KIB: u32 = 65_536;
/// The Argon2 time cost the budget is counted from when the configured one is lower (the
/// library default).
pub const REFERENCE_ARGON2_TIME_COST: u32 = 3;
/// The bcrypt cost the budget is counted from when the configured one is lower.
pub const REFERENCE_BCRYPT_COST: u32 = 12;
/// The PBKDF2 iteration count the budget is counted from when the configured one is lower.
pub const REFERENCE_PBKDF2_ITERATIONS: u32 = 600_000;
/// The scrypt work `N * r * p` the budget is counted from: passlib's default (`ln=16, r=8,
/// p=1`, 64 MiB, as Argon2's default memory). Django's default (`N=2^14, r=8, p=1`) is a
/// quarter of it.
pub const REFERENCE_SCRYPT_WORK: u64 = 1 << 19;
/// Fixed ceiling on a stored Argon2 time cost (or the configured cost, if higher), on top of
/// the work budget.
pub const MAX_ARGON2_TIME_COST: u32 = 64;
/// Fixed ceiling on a stored Argon2 parallelism (or the configured value, if higher).
pub const MAX_ARGON2_PARALLELISM: u32 = 255;

/// The outcome of [`check_password`] / [`PasswordHasher::verify`].
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verification {
    /// Whether the password matched the stored hash.
    pub valid: bool,
    /// When `valid` and the stored hash is not an Argon2id hash with the current parameters: a
    /// fresh Argon2id hash of the same password, to store in place of the old one.
    pub upgraded: Option<String>,
}

impl Verification {
    /// The answer for a password that did not match.
    #[must_use]
    pub const fn invalid() -> Self {
        Self {
            valid: false,
            upgraded: None,
        }
    }
}

impl std::fmt::Debug for Verification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash is not a secret in the strict sense, but it is crackable material: omit it.
        f.debug_struct("Verification")
            .field("valid", &self.valid)
            .field("upgraded", &self.upgraded.is_some())
            .finish()
    }
}

/// Argon2id (primary) with the legacy formats of [`HashFormat`] as secondary hashers (and any
/// registered [`PasswordFormat`]), parameters from an [`AuthConfig`]. Cheap to clone; all work
/// is synchronous and CPU-bound (async code should use [`crate::AsyncHasher`]).
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    budget: CostBudget,
    max_password_length: usize,
    allow_insecure: bool,
    /// Devise's pepper, appended to the password for bare bcrypt hashes (`Debug` redacts it).
    pepper: Option<SecretString>,
    /// Registered formats, tried before the built-in ones.
    formats: Vec<Arc<dyn PasswordFormat>>,
}

impl PasswordHasher {
    /// Builds the hasher from the Argon2, bcrypt, PBKDF2, length and legacy-format settings of
    /// `config` (`allow_insecure_legacy_hashes`, `bcrypt_pepper`).
    ///
    /// # Errors
    ///
    /// [`Error::Parameters`] when the Argon2 parameters are out of the algorithm's range.
    pub fn from_config(config: &AuthConfig) -> Result<Self> {
        let params = Params::new(
            config.argon2_memory_cost,
            config.argon2_time_cost,
            config.argon2_parallelism,
            Some(HASH_LEN),
        )
        .map_err(|e| Error::Parameters(Box::new(e)))?;
        let factor = STORED_COST_FACTOR;
        let m = config.argon2_memory_cost.max(REFERENCE_ARGON2_MEMORY_KIB);
        let t = config.argon2_time_cost.max(REFERENCE_ARGON2_TIME_COST);
        // Work grows with m * t; bcrypt's doubles with each cost step (log2 of the factor).
        let budget = CostBudget {
            argon2_max_m: m.saturating_mul(factor),
            argon2_max_t: MAX_ARGON2_TIME_COST.max(config.argon2_time_cost),
            argon2_max_work: u64::from(m) * u64::from(t) * u64::from(factor),
            argon2_max_p: MAX_ARGON2_PARALLELISM.max(config.argon2_parallelism),
            bcrypt_max_cost: (config.bcrypt_rounds.max(REFERENCE_BCRYPT_COST) + factor.ilog2())
                .min(31),
            pbkdf2_max_iterations: config
                .pbkdf2_iterations
                .max(REFERENCE_PBKDF2_ITERATIONS)
                .saturating_mul(factor),
            scrypt_max_work: REFERENCE_SCRYPT_WORK * u64::from(factor),
        };
        Ok(Self {
            params,
            budget,
            max_password_length: config.max_password_length,
            allow_insecure: config.allow_insecure_legacy_hashes,
            pepper: config.bcrypt_pepper.clone(),
            formats: Vec::new(),
        })
    }

    /// Registers `format`, a stored-hash format testudo does not know, so that its hashes
    /// verify (and are upgraded to Argon2id on login, like every legacy format). Registered
    /// formats are asked first, in the order of registration: a format that claims a string
    /// decides it, even one a built-in format would read.
    #[must_use]
    pub fn with_format(mut self, format: impl PasswordFormat + 'static) -> Self {
        self.formats.push(Arc::new(format));
        self
    }

    /// The ceilings stored hashes are held to.
    #[must_use]
    pub fn cost_budget(&self) -> &CostBudget {
        &self.budget
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with Argon2id and the configured parameters, with a fresh 16-byte salt
    /// from the operating system, as a PHC string (`$argon2id$v=19$m=..,t=..,p=..$salt$hash`).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPassword`] ("Password exceeds maximum length of N characters") when the
    /// password is longer than `max_password_length` characters; [`Error::Hashing`] when the OS
    /// random generator or the hash fails.
    pub fn hash(&self, password: &str) -> Result<String> {
        check_password_length(password, self.max_password_length)?;
        let mut salt = [0_u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(Error::hashing)?;
        self.hash_with_salt(password.as_bytes(), &salt)
    }

    fn hash_with_salt(&self, password: &[u8], salt: &[u8]) -> Result<String> {
        let mut out = Zeroizing::new([0_u8; HASH_LEN]);
        self.argon2()
            .hash_password_into(password, salt, &mut *out)
            .map_err(Error::hashing)?;
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            b64::NO_PAD.encode(salt),
            b64::NO_PAD.encode(out.as_slice())
        ))
    }

    /// Checks `password` against `stored` and, when it matches a hash that is not Argon2id with
    /// the current parameters, returns a fresh Argon2id hash in [`Verification::upgraded`].
    ///
    /// Never fails and never panics: an empty, unusable, unknown, malformed or over-cost stored
    /// string, or a password longer than `max_password_length`, gives `valid: false`
    /// ([`PasswordHasher::try_verify`] says which).
    #[must_use]
    pub fn verify(&self, password: &str, stored: &str) -> Verification {
        self.try_verify(password, stored)
            .unwrap_or_else(|_| Verification::invalid())
    }

    /// As [`PasswordHasher::verify`], but a stored hash refused without any work, or a password
    /// that is too long, is an error saying why. A wrong password is `Ok` with `valid: false`.
    ///
    /// # Errors
    ///
    /// [`Error::StoredHash`] with the reason of [`PasswordHasher::check_stored`];
    /// [`Error::InvalidPassword`] when the password is longer than `max_password_length`.
    pub fn try_verify(&self, password: &str, stored: &str) -> Result<Verification> {
        check_password_length(password, self.max_password_length)?;
        let (format, valid) = match self.resolve(stored)? {
            Resolved::Custom(custom) => {
                let format = HashFormat::Custom(custom.name());
                (format, custom.verify(password.as_bytes(), stored))
            }
            Resolved::Builtin(parsed) => {
                let pepper = self
                    .pepper
                    .as_ref()
                    .map_or(&[][..], |p| p.expose_secret().as_bytes());
                let valid = parsed.verify(password.as_bytes(), &self.budget, pepper);
                (parsed.format, valid)
            }
        };
        if !valid {
            return Ok(Verification::invalid());
        }
        let upgraded = if self.needs_rehash_format(format, stored) {
            match self.hash(password) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "could not upgrade a password hash");
                    None
                }
            }
        } else {
            None
        };
        Ok(Verification {
            valid: true,
            upgraded,
        })
    }

    /// Finds the format of `stored` (registered formats first) and checks its cost against the
    /// budget, without any hashing.
    fn resolve(&self, stored: &str) -> Result<Resolved<'_>, StoredHashError> {
        if !is_usable(stored) {
            return Err(StoredHashError::Unusable);
        }
        if let Some(custom) = self.formats.iter().find(|f| f.identify(stored)) {
            custom.check(stored, &self.budget)?;
            return Ok(Resolved::Custom(custom.as_ref()));
        }
        let parsed = formats::parse(stored, self.allow_insecure)?;
        parsed.check(&self.budget)?;
        Ok(Resolved::Builtin(parsed))
    }

    /// The format of `stored`, when verifying against it would do the work: it is usable, in a
    /// known (and enabled) or registered format, well formed, and its cost is within the
    /// stored-hash budget ([`STORED_COST_FACTOR`] times the configured cost, or the reference
    /// cost if higher). Nothing is hashed.
    ///
    /// # Errors
    ///
    /// The [`StoredHashError`] saying why the hash is refused: unusable, unknown format
    /// (including the insecure digests while `allow_insecure_legacy_hashes` is off), malformed
    /// (which part), or over the budget (which measure).
    pub fn check_stored(&self, stored: &str) -> Result<HashFormat, StoredHashError> {
        Ok(match self.resolve(stored)? {
            Resolved::Custom(custom) => HashFormat::Custom(custom.name()),
            Resolved::Builtin(parsed) => parsed.format,
        })
    }

    /// Whether verifying against `stored` would do the work ([`PasswordHasher::check_stored`]
    /// is `Ok`). [`crate::AsyncHasher::verify`] spends a dummy verification instead when it
    /// would not, so the answer's timing does not tell a refused hash from a wrong password.
    #[must_use]
    pub fn accepts_stored(&self, stored: &str) -> bool {
        self.check_stored(stored).is_ok()
    }

    /// Whether `stored` should be replaced by a fresh hash: it is not an Argon2 PHC string, or
    /// its type, version, memory, time, parallelism, salt length or hash length differs from the
    /// current ones (argon2-cffi's `check_needs_rehash`). Unreadable strings need a rehash too.
    #[must_use]
    pub fn needs_rehash(&self, stored: &str) -> bool {
        identify(stored).is_none_or(|format| self.needs_rehash_format(format, stored))
    }

    fn needs_rehash_format(&self, format: HashFormat, stored: &str) -> bool {
        if format != HashFormat::Argon2 {
            return true;
        }
        formats::parse_argon2(stored).ok().is_none_or(|h| {
            h.algorithm != Algorithm::Argon2id
                || h.version != Version::V0x13
                || h.m != self.params.m_cost()
                || h.t != self.params.t_cost()
                || h.p != self.params.p_cost()
                || h.salt.len() != SALT_LEN
                || h.hash.len() != HASH_LEN
        })
    }

    /// The longest password accepted, in characters.
    #[must_use]
    pub fn max_password_length(&self) -> usize {
        self.max_password_length
    }
}

/// Whether `password` has more than `max` characters (code points, as Python's `len()`). The byte
/// length bounds the character count from above, so a password of at most `max` bytes (the usual
/// case) is never scanned.
pub(crate) fn exceeds_length(password: &str, max: usize) -> bool {
    password.len() > max && password.chars().count() > max
}

/// What a stored string resolved to.
enum Resolved<'a> {
    Custom(&'a dyn PasswordFormat),
    Builtin(formats::Parsed),
}

/// Refuses a password longer than `max` characters (code points, as tortoise-auth's
/// `max_password_length` counts them), before any hashing: the one length check of testudo,
/// used by [`PasswordHasher::hash`], [`PasswordHasher::verify`], [`crate::AsyncHasher`] and
/// `AuthService`. The byte length is compared first, so a password of at most `max` bytes costs
/// no scan.
///
/// # Errors
///
/// [`InvalidPassword`] with the reference's one message, `Password exceeds maximum length of
/// {max} characters`.
///
/// ```
/// use testudo_hashers::check_password_length;
///
/// assert!(check_password_length("hunter2", 8).is_ok());
/// assert!(check_password_length("ééé", 3).is_ok()); // 6 bytes, but 3 characters
/// let refused = check_password_length("hunter2!!", 8).err().map(|e| e.to_string());
/// assert_eq!(refused.as_deref(), Some("Password exceeds maximum length of 8 characters"));
/// ```
pub fn check_password_length(password: &str, max: usize) -> Result<(), InvalidPassword> {
    if exceeds_length(password, max) {
        return Err(InvalidPassword::new(vec![format!(
            "Password exceeds maximum length of {max} characters"
        )]));
    }
    Ok(())
}

/// Which built-in format `stored` is in, by its shape alone (no verification, no budget, and
/// whatever the configuration: the insecure digests are named even though a hasher without
/// `allow_insecure_legacy_hashes` refuses them; see [`PasswordHasher::check_stored`]).
#[must_use]
pub fn identify(stored: &str) -> Option<HashFormat> {
    formats::identify(stored)
}

/// The [`PasswordHasher`] for the global configuration ([`testudo_config::get_config`]): the
/// counterpart of tortoise-auth's `default_password_hash`, named for what it returns (a hasher,
/// not a hash).
///
/// # Errors
///
/// As [`PasswordHasher::from_config`].
pub fn default_password_hasher() -> Result<PasswordHasher> {
    PasswordHasher::from_config(&testudo_config::get_config())
}

/// Hashes `password` with the global configuration's Argon2id parameters.
///
/// Unlike tortoise-auth's module function (which always uses the library defaults), this follows
/// the configuration, so it agrees with [`check_password`] about when to rehash.
///
/// # Errors
///
/// As [`PasswordHasher::hash`] and [`PasswordHasher::from_config`].
pub fn make_password(password: &str) -> Result<String> {
    default_password_hasher()?.hash(password)
}

/// Checks `password` against `stored` with the global configuration. Never fails; see
/// [`PasswordHasher::verify`].
#[must_use]
pub fn check_password(password: &str, stored: &str) -> Verification {
    match default_password_hasher() {
        Ok(h) => h.verify(password, stored),
        Err(e) => {
            tracing::error!(error = %e, "invalid password hashing configuration");
            Verification::invalid()
        }
    }
}

/// Whether `stored` can ever verify: non-empty and not starting with `!` (tortoise-auth's and
/// Django's rule).
#[must_use]
pub fn is_usable(stored: &str) -> bool {
    !stored.is_empty() && !stored.starts_with('!')
}

/// A fresh unusable-password sentinel: `!` followed by 40 characters of `[A-Za-z0-9]` from the
/// operating system's random generator (the reference's format, so data carries over).
///
/// # Errors
///
/// [`Error::Hashing`] when the OS random generator fails.
pub fn make_unusable_password() -> Result<String> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut out = String::with_capacity(41);
    out.push('!');
    let mut buf = [0_u8; 64];
    while out.len() < 41 {
        getrandom::fill(&mut buf).map_err(Error::hashing)?;
        // Rejection sampling: 248 = 4 * 62, so every kept byte is uniform over the alphabet.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == 41 {
                break;
            }
            out.push(char::from(ALPHABET[usize::from(*b % 62)]));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Result<PasswordHasher> {
        let mut config = AuthConfig::default();
        config.argon2_memory_cost = 64;
        config.argon2_time_cost = 1;
        config.argon2_parallelism = 1;
        PasswordHasher::from_config(&config)
    }

    #[test]
    fn a_known_salt_gives_the_argon2_reference_layout() -> Result<()> {
        let h = cheap()?.hash_with_salt(b"pw", &[0_u8; 16])?;
        assert!(h.starts_with("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$"));
        assert_eq!(h.len(), "$argon2id$v=19$m=64,t=1,p=1$".len() + 22 + 1 + 43);
        Ok(())
    }

    #[test]
    fn absurd_stored_parameters_are_refused() -> Result<()> {
        let h = cheap()?;
        let huge = "$argon2id$v=19$m=4294967295,t=3,p=4$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!h.verify("pw", huge).valid);
        let slow_bcrypt = "$2b$31$......................21jzCB1r6pN6rp5O2Ev0ejjTAboskKm";
        assert!(!h.verify("pw", slow_bcrypt).valid);
        let pbkdf2 = "pbkdf2_sha256$4000000000$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        assert!(!h.verify("pw", pbkdf2).valid);
        Ok(())
    }

    #[test]
    fn unusable_sentinels_have_the_reference_shape() -> Result<()> {
        let s = make_unusable_password()?;
        assert_eq!(s.len(), 41);
        assert!(s.starts_with('!'));
        assert!(s[1..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert!(!is_usable(&s));
        assert_ne!(s, make_unusable_password()?);
        Ok(())
    }
}
