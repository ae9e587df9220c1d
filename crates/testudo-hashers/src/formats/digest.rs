//! Django's insecure digests: salted `sha1$<salt>$<hex>` / `md5$<salt>$<hex>` (digest of salt
//! then password) and unsalted `sha1$$<hex>`, `md5$$<hex>`, bare 32-hex MD5.

use md5::Md5;
use sha1::{Digest as _, Sha1};
use subtle::ConstantTimeEq as _;

use super::{HashFormat, b64};
use crate::error::HashPart;

/// A parsed digest string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestHash {
    sha1: bool,
    salt: Vec<u8>,
    digest: Vec<u8>,
}

/// Which digest format `stored` claims to be, by Django's `identify_hasher` rules: 32
/// characters without `$`, or 37 starting `md5$$`, is unsalted MD5; 46 starting `sha1$$` is
/// unsalted SHA-1; else the prefix `sha1$` / `md5$` names the salted ones.
pub(crate) fn identify(stored: &str) -> Option<HashFormat> {
    if (stored.len() == 32 && !stored.contains('$'))
        || (stored.len() == 37 && stored.starts_with("md5$$"))
    {
        Some(HashFormat::DjangoUnsaltedMd5)
    } else if stored.len() == 46 && stored.starts_with("sha1$$") {
        Some(HashFormat::DjangoUnsaltedSha1)
    } else if stored.starts_with("sha1$") {
        Some(HashFormat::DjangoSha1)
    } else if stored.starts_with("md5$") {
        Some(HashFormat::DjangoMd5)
    } else {
        None
    }
}

/// Parses `stored`, which [`identify`] said is in `format`.
pub(crate) fn parse(stored: &str, format: HashFormat) -> Result<DigestHash, HashPart> {
    let (sha1, salt, hex) = match format {
        HashFormat::DjangoUnsaltedMd5 => {
            (false, "", stored.strip_prefix("md5$$").unwrap_or(stored))
        }
        _ => {
            let sha1 = matches!(
                format,
                HashFormat::DjangoSha1 | HashFormat::DjangoUnsaltedSha1
            );
            let rest = stored
                .strip_prefix(if sha1 { "sha1$" } else { "md5$" })
                .ok_or(HashPart::Layout)?;
            // Django splits at the first `$`: the salt has none, the digest is the rest.
            let (salt, hex) = rest.split_once('$').ok_or(HashPart::Layout)?;
            (sha1, salt, hex)
        }
    };
    let digest = b64::decode_lower_hex(hex)
        .filter(|d| d.len() == if sha1 { 20 } else { 16 })
        .ok_or(HashPart::Hash)?;
    Ok(DigestHash {
        sha1,
        salt: salt.as_bytes().to_vec(),
        digest,
    })
}

impl DigestHash {
    /// Compares the digest of salt and password with the stored one in constant time.
    pub(crate) fn verify(&self, password: &[u8]) -> bool {
        if self.sha1 {
            let d = Sha1::new()
                .chain_update(&self.salt)
                .chain_update(password)
                .finalize();
            d.as_slice().ct_eq(&self.digest).into()
        } else {
            let d = Md5::new()
                .chain_update(&self.salt)
                .chain_update(password)
                .finalize();
            d.as_slice().ct_eq(&self.digest).into()
        }
    }
}
