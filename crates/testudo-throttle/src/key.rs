//! [`RateKey`]: what a rate limiter counts attempts of.

use std::fmt;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

/// A key: a scope (`"login"`, `"reset"`, `"code"`...), an identifier (the normalised email
/// address) and, when given, the client's address.
///
/// Every backend stores only the key's SHA-256 digest ([`RateKey::digest_hex`]), of fixed size
/// whatever the identifier's length (an empty identifier and a 1 MiB one are keys like any
/// other) and never the address or email in clear. The parts are length-prefixed before
/// hashing, so no two different keys share a digest by concatenation (`("ab", "c")` is not
/// `("a", "bc")`).
///
/// A key with an address is another key than the one without: [`RateLimiter::hit`] counts
/// one key. To limit both the identifier and the (identifier, address) pair, hit each (the
/// identifier alone protects the account against guessing from many addresses; the pair,
/// with a stricter policy, slows one client without letting it lock the owner out).
///
/// `Debug` shows the scope and whether an address is part of the key, never the identifier
/// or the address.
///
/// [`RateLimiter::hit`]: crate::RateLimiter::hit
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RateKey {
    scope: String,
    identifier: String,
    ip: Option<IpAddr>,
}

impl RateKey {
    /// The key of `identifier` in `scope`, without a client address. Normalise the identifier
    /// first (`testudo_core::normalize_email` for addresses): the key is exact bytes.
    pub fn new(scope: impl Into<String>, identifier: impl Into<String>) -> Self {
        Self {
            scope: scope.into(),
            identifier: identifier.into(),
            ip: None,
        }
    }

    /// The same key, for the client at `ip`.
    ///
    /// An IPv4-mapped IPv6 address counts as its IPv4 address, and any other IPv6 address as
    /// its /64 network: one subscriber usually holds a whole /64, so counting single addresses
    /// would let it rotate through 2^64 of them.
    #[must_use]
    pub fn with_ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(match ip {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let network = u128::from(v6) & !((1u128 << 64) - 1);
                    IpAddr::V6(network.into())
                }
            },
            v4 @ IpAddr::V4(_) => v4,
        });
        self
    }

    /// The scope.
    #[must_use]
    pub fn scope(&self) -> &str {
        &self.scope
    }

    /// The client address the key counts (IPv6 reduced to its /64), if any.
    #[must_use]
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The SHA-256 digest of the key: what the backends store.
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"testudo rate key v1\0");
        for part in [self.scope.as_bytes(), self.identifier.as_bytes()] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part);
        }
        match self.ip {
            None => h.update([0u8]),
            Some(IpAddr::V4(v4)) => {
                h.update([4u8]);
                h.update(v4.octets());
            }
            Some(IpAddr::V6(v6)) => {
                h.update([6u8]);
                h.update(v6.octets());
            }
        }
        h.finalize().into()
    }

    /// The digest in lowercase hex (64 characters): the database's and Redis' key.
    #[must_use]
    pub fn digest_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(64);
        for b in self.digest() {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
    }
}

impl fmt::Debug for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateKey")
            .field("scope", &self.scope)
            .field("with_ip", &self.ip.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    #[test]
    fn keys_differ_by_every_part_and_never_by_concatenation() {
        let k = |s: &str, i: &str| RateKey::new(s, i).digest();
        assert_ne!(k("ab", "c"), k("a", "bc"));
        assert_ne!(k("login", "a@example.com"), k("reset", "a@example.com"));
        assert_eq!(k("login", "a@example.com"), k("login", "a@example.com"));
        let ip = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let with_ip = RateKey::new("login", "a@example.com").with_ip(ip);
        assert_ne!(with_ip.digest(), k("login", "a@example.com"));
        assert_eq!(with_ip.digest_hex().len(), 64);
        assert!(with_ip.digest_hex().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn ipv6_counts_by_its_64_network_and_mapped_ipv4_as_ipv4() {
        let a: Ipv6Addr = "2001:db8:1:2:aaaa::1".parse().expect("address");
        let b: Ipv6Addr = "2001:db8:1:2:bbbb::2".parse().expect("address");
        let c: Ipv6Addr = "2001:db8:1:3::1".parse().expect("address");
        let key = |ip: IpAddr| RateKey::new("login", "x").with_ip(ip);
        assert_eq!(key(a.into()).digest(), key(b.into()).digest());
        assert_ne!(key(a.into()).digest(), key(c.into()).digest());
        let mapped: Ipv6Addr = "::ffff:192.0.2.1".parse().expect("address");
        let v4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(key(mapped.into()).digest(), key(v4).digest());
        assert_eq!(key(mapped.into()).ip(), Some(v4));
    }

    #[test]
    fn debug_shows_neither_the_identifier_nor_the_address() {
        let key = RateKey::new("login", "alice@example.com")
            .with_ip(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)));
        let shown = format!("{key:?}");
        assert!(shown.contains("login"), "{shown}");
        assert!(
            !shown.contains("alice") && !shown.contains("198.51"),
            "{shown}"
        );
    }
}
