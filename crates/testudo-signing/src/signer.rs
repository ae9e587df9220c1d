//! [`Signer`]: `value SEP SIG` with HMAC-SHA256.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use testudo_config::AuthConfig;
use testudo_core::{BadSignature, ExposeSecret, SecretString};

use crate::error::{Error, Result, SeparatorReason};

type HmacSha256 = Hmac<Sha256>;

/// The separator tortoise-auth uses by default.
pub const DEFAULT_SEPARATOR: &str = ":";

/// Prefix of the salted-key derivation (see [`Signer::with_salt`]).
pub const SALT_PREFIX: &str = "testudo.signing:";

/// Length of an encoded signature: base64url without padding of 32 bytes.
pub(crate) const SIG_LEN: usize = 43;

/// Signs values as `value SEP SIG`, SIG = base64url (no padding) of HMAC-SHA256(key, value).
///
/// Byte-compatible with tortoise-auth's `Signer` when no salt is set: the key is the secret's
/// UTF-8 bytes. Verification tries the current secret, then each fallback secret (key
/// rotation); signing always uses the current one.
///
/// `Debug` never shows a secret or key.
#[derive(Clone)]
pub struct Signer {
    current_secret: SecretString,
    /// The fallback secrets, in order.
    secrets: Vec<SecretString>,
    salt: Option<String>,
    separator: String,
    /// The current secret's initialised MAC (derived from `secrets[0]` and `salt`).
    current: HmacSha256,
    /// One initialised MAC per fallback secret, in order.
    fallbacks: Vec<HmacSha256>,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("separator", &self.separator)
            .field("salt", &self.salt)
            .field("secret", &"[REDACTED]")
            .field(
                "fallback_secrets",
                &format_args!("[REDACTED; {}]", self.secrets.len()),
            )
            .finish()
    }
}

/// The shortest secret [`Signer::new`], [`Signer::from_config`] and
/// [`Signer::with_fallback_secrets`] accept, in bytes (as `AuthConfig::validate` requires).
pub const MIN_SECRET_BYTES: usize = 32;

/// Refuses an empty secret or one shorter than [`MIN_SECRET_BYTES`].
fn check_secret(secret: &str) -> Result<()> {
    if secret.is_empty() {
        Err(Error::MissingSecret)
    } else if secret.len() < MIN_SECRET_BYTES {
        Err(Error::ShortSecret {
            min_bytes: MIN_SECRET_BYTES,
        })
    } else {
        Ok(())
    }
}

fn key_for(secret: &SecretString, salt: Option<&str>) -> HmacSha256 {
    let secret = secret.expose_secret().as_bytes();
    match salt {
        None => mac_from(secret),
        Some(salt) => {
            let mut derive = mac_from(secret);
            derive.update(SALT_PREFIX.as_bytes());
            derive.update(salt.as_bytes());
            mac_from(&derive.finalize().into_bytes())
        }
    }
}

fn mac_from(key: &[u8]) -> HmacSha256 {
    // HMAC hashes keys longer than the block and zero-pads shorter ones; doing it here gives
    // the identical MAC through the infallible `KeyInit::new`.
    let mut block = hmac::digest::Key::<HmacSha256>::default();
    if key.len() > block.len() {
        let hashed = Sha256::digest(key);
        block[..hashed.len()].copy_from_slice(&hashed);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    HmacSha256::new(&block)
}

/// Checks a separator: not empty, and no character of the base64url alphabet.
///
/// # Errors
///
/// [`Error::InvalidSeparator`] when it is empty or contains `[A-Za-z0-9_-]`.
pub fn check_separator(separator: &str) -> Result<()> {
    if separator.is_empty() {
        return Err(Error::InvalidSeparator {
            reason: SeparatorReason::Empty,
        });
    }
    if separator
        .bytes()
        .any(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(Error::InvalidSeparator {
            reason: SeparatorReason::Base64urlCharacter,
        });
    }
    Ok(())
}

impl Signer {
    /// A signer with `secret` and the `:` separator.
    ///
    /// Unlike tortoise-auth's `Signer("")`, an empty `secret` does not fall back to the
    /// process-wide configuration: no type of testudo reads it. Build the signer from the
    /// configuration you hold with [`Signer::from_config`]; the module functions
    /// [`make_token`](crate::make_token) / [`verify_token`](crate::verify_token) keep the
    /// reference's fallback to [`testudo_config::get_config`].
    ///
    /// # Errors
    ///
    /// [`Error::MissingSecret`] if `secret` is empty: nothing is ever signed with an empty key;
    /// [`Error::ShortSecret`] if it is shorter than [`MIN_SECRET_BYTES`].
    pub fn new(secret: &str) -> Result<Self> {
        check_secret(secret)?;
        Self::new_unchecked(secret)
    }

    /// As [`Signer::new`] but accepting any non-empty secret, however short, as tortoise-auth
    /// does: only to verify (or reproduce) values tortoise-auth signed with a short secret,
    /// such as its conformance vectors. The reference-compatible
    /// [`make_token`](crate::make_token) / [`verify_token`](crate::verify_token) use it.
    ///
    /// # Errors
    ///
    /// [`Error::MissingSecret`] if `secret` is empty.
    pub fn new_unchecked(secret: &str) -> Result<Self> {
        if secret.is_empty() {
            return Err(Error::MissingSecret);
        }
        Ok(Self::from_resolved(SecretString::from(secret), Vec::new()))
    }

    /// As [`Signer::new`], from a [`SecretString`].
    ///
    /// # Errors
    ///
    /// As [`Signer::new`].
    pub fn from_secret(secret: &SecretString) -> Result<Self> {
        Self::new(secret.expose_secret())
    }

    /// A signer using `config.signing_secret`, with `config.signing_fallback_secrets` accepted
    /// when verifying.
    ///
    /// # Errors
    ///
    /// [`Error::MissingSecret`] if `signing_secret` is unset or empty; [`Error::ShortSecret`]
    /// if it or a fallback secret is shorter than [`MIN_SECRET_BYTES`].
    pub fn from_config(config: &AuthConfig) -> Result<Self> {
        let current = config
            .effective_signing_secret()
            .filter(|s| !s.expose_secret().is_empty())
            .ok_or(Error::MissingSecret)?;
        check_secret(current.expose_secret())?;
        let fallbacks: Vec<SecretString> = config
            .signing_fallback_secrets
            .iter()
            .filter(|s| !s.expose_secret().is_empty())
            .cloned()
            .collect();
        for s in &fallbacks {
            check_secret(s.expose_secret())?;
        }
        Ok(Self::from_resolved(current.clone(), fallbacks))
    }

    /// A signer for one `purpose`: [`Signer::from_config`] (the configured secret, with the
    /// fallback secrets accepted when verifying) with [`Signer::with_salt`]`(purpose)`, so what
    /// it signs verifies for this purpose only. The purposes testudo itself uses are in
    /// [`crate::purpose`]; an application picks its own names for its own values.
    ///
    /// ```
    /// use testudo_config::AuthConfig;
    /// use testudo_signing::Signer;
    ///
    /// let config = AuthConfig::builder()
    ///     .signing_secret("a-secret-of-at-least-32-bytes-long!")
    ///     .build()?;
    /// let invites = Signer::for_purpose(&config, "myapp.invite")?;
    /// let unsubscribes = Signer::for_purpose(&config, "myapp.unsubscribe")?;
    /// let link = invites.sign("team-7");
    /// assert_eq!(invites.unsign(&link)?, "team-7");
    /// assert!(unsubscribes.unsign(&link).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Signer::from_config`].
    pub fn for_purpose(config: &AuthConfig, purpose: &str) -> Result<Self> {
        Ok(Self::from_config(config)?.with_salt(purpose))
    }

    fn from_resolved(current: SecretString, fallbacks: Vec<SecretString>) -> Self {
        let mut signer = Self {
            current: key_for(&current, None),
            fallbacks: Vec::new(),
            secrets: fallbacks,
            current_secret: current,
            salt: None,
            separator: DEFAULT_SEPARATOR.to_owned(),
        };
        signer.rebuild_keys();
        signer
    }

    fn rebuild_keys(&mut self) {
        let salt = self.salt.as_deref();
        self.current = key_for(&self.current_secret, salt);
        self.fallbacks = self.secrets.iter().map(|s| key_for(s, salt)).collect();
    }

    /// Uses `separator` instead of `:`. Multi-character separators are allowed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSeparator`] if it is empty or contains a base64url character
    /// (`[A-Za-z0-9_-]`), which could occur inside a signature (tortoise-auth accepts these and
    /// then fails to verify some of its own signatures).
    pub fn with_separator(mut self, separator: &str) -> Result<Self> {
        check_separator(separator)?;
        separator.clone_into(&mut self.separator);
        Ok(self)
    }

    /// Adds older secrets still accepted by [`Signer::unsign`] (key rotation), tried in order
    /// after the current one. Empty secrets are ignored.
    ///
    /// # Errors
    ///
    /// [`Error::ShortSecret`] if one is shorter than [`MIN_SECRET_BYTES`] (nothing is added).
    pub fn with_fallback_secrets<I, S>(mut self, secrets: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut added = Vec::new();
        for s in secrets {
            let s = s.as_ref();
            if !s.is_empty() {
                check_secret(s)?;
                added.push(SecretString::from(s));
            }
        }
        self.secrets.extend(added);
        self.rebuild_keys();
        Ok(self)
    }

    /// Separates purposes (beyond the reference): the HMAC key becomes
    /// `HMAC-SHA256(secret, "testudo.signing:" + salt)` instead of the secret itself, so a value
    /// signed for one purpose (say `"password-reset"`) never verifies for another (say
    /// `"email-verification"`). Applies to the fallback secrets too.
    ///
    /// Signatures made with a salt are *not* compatible with tortoise-auth; without a salt they
    /// are byte-identical.
    #[must_use]
    pub fn with_salt(mut self, salt: &str) -> Self {
        self.salt = Some(salt.to_owned());
        self.rebuild_keys();
        self
    }

    /// The separator.
    #[must_use]
    pub fn separator(&self) -> &str {
        &self.separator
    }

    /// The purpose salt, if any.
    #[must_use]
    pub fn salt(&self) -> Option<&str> {
        self.salt.as_deref()
    }

    /// The encoded signature of `value` under key `key`, on the stack (no allocation).
    fn signature_with(key: &HmacSha256, value: &str) -> [u8; SIG_LEN] {
        let mut mac = key.clone();
        mac.update(value.as_bytes());
        let mut out = [0_u8; SIG_LEN];
        // 32 bytes are exactly SIG_LEN characters of unpadded base64, so this cannot fail; if
        // it ever did, the zero bytes could match no ASCII signature.
        let _ = URL_SAFE_NO_PAD.encode_slice(mac.finalize().into_bytes(), &mut out);
        out
    }

    /// A signature from [`Signer::signature_with`] as text (always ASCII base64).
    fn sig_str(sig: &[u8; SIG_LEN]) -> &str {
        std::str::from_utf8(sig).unwrap_or_default()
    }

    /// The encoded signature of `value` with the current secret (43 ASCII characters).
    #[must_use]
    pub fn signature(&self, value: &str) -> String {
        let sig = Self::signature_with(&self.current, value);
        Self::sig_str(&sig).to_owned()
    }

    /// `value SEP SIG`.
    #[must_use]
    pub fn sign(&self, value: &str) -> String {
        let sig = Self::signature_with(&self.current, value);
        let mut out = String::with_capacity(value.len() + self.separator.len() + SIG_LEN);
        out.push_str(value);
        out.push_str(&self.separator);
        out.push_str(Self::sig_str(&sig));
        out
    }

    /// Verifies `signed` and returns the value.
    ///
    /// Splits at the last separator; the signature is compared in constant time with the one
    /// computed under each secret (current first, then the fallbacks).
    ///
    /// # Errors
    ///
    /// [`BadSignature::NoSeparator`] if the separator does not occur; [`BadSignature::Mismatch`]
    /// if no secret gives the same signature (tampered value or signature, wrong secret,
    /// non-ASCII signature).
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<&'a str> {
        let (value, sig) = signed
            .rsplit_once(self.separator.as_str())
            .ok_or(BadSignature::NoSeparator)?;
        if self.verify(value, sig) {
            Ok(value)
        } else {
            Err(BadSignature::Mismatch.into())
        }
    }

    /// Whether `sig` is the signature of `value` under any of the secrets (constant-time
    /// comparison for each).
    fn verify(&self, value: &str, sig: &str) -> bool {
        // A signature of the wrong length can never match; its length is no secret.
        if sig.len() != SIG_LEN {
            return false;
        }
        std::iter::once(&self.current)
            .chain(&self.fallbacks)
            .any(|key| {
                let expected = Self::signature_with(key, value);
                bool::from(expected.as_slice().ct_eq(sig.as_bytes()))
            })
    }
}
