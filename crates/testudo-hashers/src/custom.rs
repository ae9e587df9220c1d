//! [`PasswordFormat`]: the extension point for stored-hash formats testudo does not know.

use std::fmt;

use crate::{CostBudget, StoredHashError};

/// A stored-hash format an application plugs in, so that hashes testudo does not know verify
/// and are upgraded to Argon2id on the next login like every legacy format.
///
/// Register it with [`PasswordHasher::with_format`](crate::PasswordHasher::with_format);
/// registered formats are asked before the built-in ones, in the order of registration. A
/// login against such a hash goes through the same steps as any other: the length limit, then
/// [`PasswordFormat::identify`] and [`PasswordFormat::check`] (no work yet; a refusal costs
/// the async hasher one dummy verification, as for every refused hash), then
/// [`PasswordFormat::verify`] in a hashing slot, and on success
/// [`Verification::upgraded`](crate::Verification::upgraded) holds a fresh Argon2id hash.
///
/// Implementations must not panic on any stored string, should compare digests in constant
/// time (`subtle`), and should bound their own cost in [`PasswordFormat::check`].
///
/// ```
/// use sha2::{Digest as _, Sha256};
/// use subtle::ConstantTimeEq as _;
/// use testudo_config::AuthConfig;
/// use testudo_hashers::{
///     CostBudget, CostKind, HashFormat, HashPart, PasswordFormat, PasswordHasher,
///     StoredHashError,
/// };
///
/// /// An in-house legacy scheme: `isha256$<rounds>$<salt>$<hex>`, SHA-256 of salt and
/// /// password, re-hashed `rounds` times.
/// #[derive(Debug)]
/// struct IteratedSha256;
///
/// impl IteratedSha256 {
///     const NAME: &'static str = "isha256";
///
///     fn fields(stored: &str) -> Result<(u32, &str, &str), StoredHashError> {
///         let malformed = |part| StoredHashError::Malformed {
///             format: HashFormat::Custom(Self::NAME),
///             part,
///         };
///         let mut parts = stored.strip_prefix("isha256$").unwrap_or_default().split('$');
///         let rounds = parts.next().and_then(|r| r.parse().ok());
///         let rounds = rounds.ok_or(malformed(HashPart::Parameters))?;
///         let salt = parts.next().ok_or(malformed(HashPart::Salt))?;
///         let hex = parts.next().ok_or(malformed(HashPart::Hash))?;
///         Ok((rounds, salt, hex))
///     }
///
///     fn digest(password: &[u8], rounds: u32, salt: &str) -> String {
///         let mut d = Sha256::new().chain_update(salt).chain_update(password).finalize();
///         for _ in 1..rounds {
///             d = Sha256::digest(d);
///         }
///         d.iter().map(|b| format!("{b:02x}")).collect()
///     }
/// }
///
/// impl PasswordFormat for IteratedSha256 {
///     fn name(&self) -> &'static str {
///         Self::NAME
///     }
///
///     fn identify(&self, stored: &str) -> bool {
///         stored.starts_with("isha256$")
///     }
///
///     fn check(&self, stored: &str, budget: &CostBudget) -> Result<(), StoredHashError> {
///         let (rounds, _, _) = Self::fields(stored)?;
///         if rounds > budget.pbkdf2_max_iterations() {
///             return Err(StoredHashError::OverBudget {
///                 format: HashFormat::Custom(Self::NAME),
///                 cost: CostKind::Iterations,
///             });
///         }
///         Ok(())
///     }
///
///     fn verify(&self, password: &[u8], stored: &str) -> bool {
///         let Ok((rounds, salt, hex)) = Self::fields(stored) else {
///             return false;
///         };
///         Self::digest(password, rounds, salt).as_bytes().ct_eq(hex.as_bytes()).into()
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut config = AuthConfig::default();
/// config.argon2_memory_cost = 64; // cheap parameters for the example
/// config.argon2_time_cost = 1;
/// config.argon2_parallelism = 1;
/// let hasher = PasswordHasher::from_config(&config)?.with_format(IteratedSha256);
///
/// let stored = format!("isha256$1000$pepper-salt${}", IteratedSha256::digest(b"hunter2", 1000, "pepper-salt"));
/// assert_eq!(hasher.check_stored(&stored)?, HashFormat::Custom("isha256"));
/// let check = hasher.verify("hunter2", &stored);
/// assert!(check.valid);
/// let upgraded = check.upgraded.ok_or("an upgrade is due")?;
/// assert!(upgraded.starts_with("$argon2id$"));
/// assert!(!hasher.verify("hunter3", &stored).valid);
///
/// // The cost check runs before any work.
/// let absurd = "isha256$4000000000$salt$00";
/// assert!(matches!(
///     hasher.check_stored(absurd),
///     Err(StoredHashError::OverBudget { cost: CostKind::Iterations, .. })
/// ));
/// # Ok(()) }
/// ```
pub trait PasswordFormat: Send + Sync + fmt::Debug {
    /// A short, stable name for the format (`"isha256"`): reported as
    /// [`HashFormat::Custom`](crate::HashFormat::Custom).
    fn name(&self) -> &'static str;

    /// Whether `stored` is in this format, by its shape alone. Cheap: no hashing, no
    /// allocation beyond the string.
    fn identify(&self, stored: &str) -> bool;

    /// Checks a string [`PasswordFormat::identify`] claimed before any work: that it is well
    /// formed and that its cost parameters are within `budget` (or the format's own ceiling).
    /// The default accepts everything, for formats without a cost parameter.
    ///
    /// # Errors
    ///
    /// [`StoredHashError::Malformed`] or [`StoredHashError::OverBudget`], with
    /// [`HashFormat::Custom`](crate::HashFormat::Custom) of [`PasswordFormat::name`]: the hash is
    /// then refused without calling [`PasswordFormat::verify`].
    fn check(&self, stored: &str, budget: &CostBudget) -> Result<(), StoredHashError> {
        let _ = (stored, budget);
        Ok(())
    }

    /// Whether `password` (its UTF-8 bytes) matches `stored`, which passed
    /// [`PasswordFormat::check`]. Compare digests in constant time.
    fn verify(&self, password: &[u8], stored: &str) -> bool;
}
