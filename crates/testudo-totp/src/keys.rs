//! Keys derived from the signing secret: sealing TOTP secrets at rest (`XChaCha20-Poly1305`) and
//! keyed digests of recovery codes and login challenges (HMAC-SHA256).
//!
//! Each purpose has its own key, `HKDF-SHA256(ikm = secret, salt = "testudo", info = label)`,
//! for `signing_secret` and for each of `signing_fallback_secrets`: rotating the signing
//! secret (the old one moved to the fallbacks) keeps every sealed secret and every digest
//! readable; [`Keyring::open`] says when a value was opened with a fallback key, so the caller
//! can seal it again under the current one.

use std::fmt;
use std::fmt::Write as _;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac as _};
use secrecy::ExposeSecret as _;
use sha2::Sha256;
use testudo_config::AuthConfig;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The HKDF label of the key sealing TOTP secrets.
pub const TOTP_SECRET: &str = "testudo.totp-secret.v1";
/// The HKDF label of the key of recovery-code digests.
pub const RECOVERY_CODE: &str = "testudo.recovery-code.v1";
/// The HKDF label of the key of login-challenge digests.
pub const LOGIN_CHALLENGE: &str = "testudo.login-challenge.v1";

/// The prefix of a sealed value (the format's version).
const SEALED_PREFIX: &str = "v1.";
/// The nonce of `XChaCha20`: 24 random bytes, safe to draw at random for any number of values.
const NONCE_LEN: usize = 24;
/// The longest sealed value opened (a 64-byte secret seals to 142 characters).
const MAX_SEALED: usize = 512;

/// One 32-byte key per signing secret (the current one first), for one purpose.
#[derive(Clone)]
pub struct Keyring {
    current: Zeroizing<[u8; 32]>,
    fallbacks: Vec<Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("fallbacks", &self.fallbacks.len())
            .finish_non_exhaustive()
    }
}

/// Which key opened a sealed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// The current key.
    Current,
    /// A fallback key: seal the value again under the current one.
    Fallback,
}

fn derive(secret: &[u8], label: &str) -> Zeroizing<[u8; 32]> {
    let hk = hkdf::Hkdf::<Sha256>::new(Some(b"testudo"), secret);
    let mut key = Zeroizing::new([0_u8; 32]);
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32.
    if hk.expand(label.as_bytes(), &mut key[..]).is_err() {
        unreachable!("HKDF-SHA256 expands to 32 bytes");
    }
    key
}

impl Keyring {
    /// The keys of `label` from `signing_secret` and `signing_fallback_secrets`.
    ///
    /// # Errors
    ///
    /// [`Error::NoSigningSecret`] when `signing_secret` is not set.
    pub fn from_config(config: &AuthConfig, label: &str) -> Result<Self> {
        let current = config
            .effective_signing_secret()
            .ok_or(Error::NoSigningSecret)?;
        Ok(Self {
            current: derive(current.expose_secret().as_bytes(), label),
            fallbacks: config
                .signing_fallback_secrets
                .iter()
                .map(|s| derive(s.expose_secret().as_bytes(), label))
                .collect(),
        })
    }

    /// A keyring from raw secrets (the current one first), for tests and applications
    /// managing their own keys.
    ///
    /// # Errors
    ///
    /// [`Error::NoSigningSecret`] when `secrets` is empty.
    pub fn from_secrets(secrets: &[&[u8]], label: &str) -> Result<Self> {
        let (current, fallbacks) = secrets.split_first().ok_or(Error::NoSigningSecret)?;
        Ok(Self {
            current: derive(current, label),
            fallbacks: fallbacks.iter().map(|s| derive(s, label)).collect(),
        })
    }

    fn current(&self) -> &[u8; 32] {
        &self.current
    }

    /// Every key, the current one first.
    fn all(&self) -> impl Iterator<Item = &[u8; 32]> {
        std::iter::once(&*self.current).chain(self.fallbacks.iter().map(|k| &**k))
    }

    /// Seals `plaintext`, bound to `context` (e.g. the user id: a sealed value copied to
    /// another user's row does not open there), under the current key: `v1.` and base64url of
    /// a random nonce, the ciphertext and its tag.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] when the OS random generator fails; [`Error::Seal`] if the AEAD
    /// refuses (it cannot at these sizes).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Result<String> {
        let cipher = XChaCha20Poly1305::new_from_slice(self.current()).map_err(|_| Error::Seal)?;
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(Error::Random)?;
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| Error::Seal)?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", URL_SAFE_NO_PAD.encode(out)))
    }

    /// Opens a value [`Keyring::seal`] made with `context`, with the current key or a
    /// fallback.
    ///
    /// # Errors
    ///
    /// [`Error::Unseal`] for a value tampered with, sealed for another context, under an
    /// unknown key, or not a sealed value.
    pub fn open(&self, sealed: &str, context: &str) -> Result<(Zeroizing<Vec<u8>>, Opened)> {
        if sealed.len() > MAX_SEALED {
            return Err(Error::Unseal);
        }
        let body = sealed.strip_prefix(SEALED_PREFIX).ok_or(Error::Unseal)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| Error::Unseal)?;
        let (nonce, ciphertext) = bytes.split_at_checked(NONCE_LEN).ok_or(Error::Unseal)?;
        let nonce = XNonce::try_from(nonce).map_err(|_| Error::Unseal)?;
        for (i, key) in self.all().enumerate() {
            let cipher = XChaCha20Poly1305::new_from_slice(&key[..]).map_err(|_| Error::Unseal)?;
            let payload = Payload {
                msg: ciphertext,
                aad: context.as_bytes(),
            };
            if let Ok(plain) = cipher.decrypt(&nonce, payload) {
                let which = if i == 0 {
                    Opened::Current
                } else {
                    Opened::Fallback
                };
                return Ok((Zeroizing::new(plain), which));
            }
        }
        Err(Error::Unseal)
    }

    /// The keyed digest of `parts` (each length-prefixed, so no two lists collide) under the
    /// current key: 64 lowercase hex characters.
    #[must_use]
    pub fn digest(&self, parts: &[&str]) -> String {
        mac_hex(self.current(), parts)
    }

    /// The digests of `parts` under every key, the current one first: look a stored digest
    /// up among them to accept values made before a rotation.
    #[must_use]
    pub fn digests(&self, parts: &[&str]) -> Vec<String> {
        self.all().map(|k| mac_hex(k, parts)).collect()
    }
}

type HmacSha256 = Hmac<Sha256>;

fn mac_hex(key: &[u8; 32], parts: &[&str]) -> String {
    let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for p in parts {
        mac.update(&u64::try_from(p.len()).unwrap_or(u64::MAX).to_be_bytes());
        mac.update(p.as_bytes());
    }
    let bytes = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}
