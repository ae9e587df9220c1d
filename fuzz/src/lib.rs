//! Shared set-up of testudo's fuzz targets (`fuzz_targets/*.rs`): cheap configurations, a
//! one-thread runtime, the JWT test keys, and the budget filter of the hashing target.
//!
//! Every target treats an `Err` as a fine answer: a finding is a panic, an abort, a hang
//! (libFuzzer's `-timeout`), an allocation past `-rss_limit_mb`, or a broken invariant that the
//! target asserts (e.g. a JWT that verifies but says something else than what was signed).

use std::sync::{Arc, OnceLock};

use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::FixedClock;

/// The fixed "now" of every target (2023-11-14T22:13:20Z).
pub const NOW: i64 = 1_700_000_000;

/// The HS256 secret of the JWT targets (64 bytes: long enough for HS512 too).
pub const JWT_SECRET: &str = "fuzz-jwt-secret-0123456789abcdef0123456789abcdef0123456789abcdef";

/// An RSA private key (PKCS#8 PEM), the one testudo-tokens-jwt's tests use.
pub const RSA_KEY: &str = include_str!("../../crates/testudo-tokens-jwt/tests/keys/rsa.key.pem");
/// Its public half (SPKI PEM).
pub const RSA_PUB: &str = include_str!("../../crates/testudo-tokens-jwt/tests/keys/rsa.pub.pem");
/// An Ed25519 private key (PKCS#8 PEM).
pub const ED_KEY: &str = include_str!("../../crates/testudo-tokens-jwt/tests/keys/ed1.key.pem");
/// Its public half.
pub const ED_PUB: &str = include_str!("../../crates/testudo-tokens-jwt/tests/keys/ed1.pub.pem");

/// A configuration with the cheapest hashing parameters the hashers accept, and a JWT secret.
#[must_use]
pub fn cheap_config() -> AuthConfig {
    let mut c = AuthConfig::default();
    c.argon2_memory_cost = 8;
    c.argon2_time_cost = 1;
    c.argon2_parallelism = 1;
    c.bcrypt_rounds = 4;
    c.pbkdf2_iterations = 1;
    c.jwt_secret = Some(JWT_SECRET.to_owned().into());
    c.jwt_algorithm = JwtAlgorithm::HS256;
    c
}

/// A clock fixed at [`NOW`].
///
/// # Panics
///
/// Never: [`NOW`] is a valid time.
#[must_use]
pub fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::from_unix(NOW).expect("NOW is a valid time"))
}

/// The process's one-thread tokio runtime (built once).
///
/// # Panics
///
/// If the runtime cannot be built (out of file descriptors): no input reaches it.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime")
    })
}

/// The cost ceilings the hashing target keeps each input under, on top of the library's own
/// stored-cost budget (which is counted from the library defaults, so it still admits hashes
/// of ~64 MiB x 3 passes: correct for a login, far too slow for millions of fuzz inputs).
/// An input above them is still parsed (`identify`, `accepts_stored`, `needs_rehash`) but not
/// verified.
#[derive(Debug, Clone, Copy)]
pub struct FuzzBudget {
    /// Most Argon2 memory, KiB.
    pub argon2_m: u64,
    /// Most Argon2 passes.
    pub argon2_t: u64,
    /// Most Argon2 lanes.
    pub argon2_p: u64,
    /// Most bcrypt cost.
    pub bcrypt_cost: u64,
    /// Most PBKDF2 iterations.
    pub pbkdf2_iterations: u64,
}

/// The budget of the `hash_verify` target: every verification well under a millisecond.
pub const FUZZ_BUDGET: FuzzBudget = FuzzBudget {
    argon2_m: 256,
    argon2_t: 2,
    argon2_p: 4,
    bcrypt_cost: 5,
    pbkdf2_iterations: 2_000,
};

/// The first run of ASCII digits after `key` in `s`, saturating.
fn number_after(s: &str, key: &str) -> Option<u64> {
    let at = s.find(key)? + key.len();
    let digits: String = s[at..].chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return None;
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// Whether verifying `stored` stays within [`FUZZ_BUDGET`], judged from its text alone (a
/// conservative over-approximation: anything that looks costly is skipped).
#[must_use]
pub fn within_fuzz_budget(stored: &str) -> bool {
    let b = FUZZ_BUDGET;
    if stored.contains("argon2") {
        // Any `m=`, `t=`, `p=` anywhere: the parser reads the first of each.
        let over = |key: &str, max: u64| number_after(stored, key).is_some_and(|n| n > max);
        return !(over("m=", b.argon2_m) || over("t=", b.argon2_t) || over("p=", b.argon2_p));
    }
    if let Some(at) = stored.find("$2") {
        // `$2b$NN$`: the cost is the two characters after the second `$`.
        let cost = stored
            .get(at + 4..at + 6)
            .and_then(|c| c.parse::<u64>().ok());
        return cost.is_none_or(|c| c <= b.bcrypt_cost);
    }
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        return digits
            .parse::<u64>()
            .map_or(true, |n| n <= b.pbkdf2_iterations);
    }
    true
}
