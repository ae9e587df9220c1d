//! TOTP codes (RFC 6238 over RFC 4226) through `totp-rs`, the `otpauth://` URI and its QR code.

use std::fmt;

use secrecy::SecretString;
use subtle::ConstantTimeEq as _;
use testudo_config::{AuthConfig, TotpAlgorithm};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The length of a TOTP step, in seconds (RFC 6238's default, the only one authenticator
/// apps agree on).
pub const STEP_SECONDS: u64 = 30;

/// The longest code input looked at: anything longer is refused before any work.
const MAX_CODE_INPUT: usize = 32;

/// How a factor's codes are made: the HMAC, the digits and the accepted drift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC (SHA-1 by default).
    pub algorithm: TotpAlgorithm,
    /// Digits of a code, 6 to 8.
    pub digits: u8,
    /// Steps a code may be early or late (1: the previous and next codes are accepted too).
    pub skew: u8,
}

impl Default for TotpParams {
    fn default() -> Self {
        Self {
            algorithm: TotpAlgorithm::SHA1,
            digits: 6,
            skew: 1,
        }
    }
}

impl TotpParams {
    /// The parameters of new factors: `totp_algorithm`, `totp_digits`, `totp_skew`.
    #[must_use]
    pub fn from_config(config: &AuthConfig) -> Self {
        Self {
            algorithm: config.totp_algorithm,
            digits: config.totp_digits,
            skew: config.totp_skew,
        }
    }

    /// The secret length RFC 6238's reference uses for the algorithm: the HMAC's output size
    /// (20, 32 or 64 bytes).
    #[must_use]
    pub const fn secret_len(self) -> usize {
        match self.algorithm {
            TotpAlgorithm::SHA256 => 32,
            TotpAlgorithm::SHA512 => 64,
            // SHA-1, and any algorithm added later: at least 160 bits.
            _ => 20,
        }
    }
}

/// A factor's shared secret: raw bytes, zeroed on drop, never shown by `Debug`.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSecret").finish_non_exhaustive()
    }
}

impl TotpSecret {
    /// A new secret of `len` bytes from the OS random generator.
    ///
    /// # Errors
    ///
    /// [`Error::Random`] when the generator fails.
    pub fn generate(len: usize) -> Result<Self> {
        let mut bytes = Zeroizing::new(vec![0_u8; len]);
        getrandom::fill(&mut bytes).map_err(Error::Random)?;
        Ok(Self(bytes))
    }

    /// A secret from raw bytes (e.g. an RFC test key, or one opened from storage).
    #[must_use]
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A secret typed or scanned as unpadded base32 (what [`TotpSecret::to_base32`] gives).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameters`] when `text` is not base32.
    pub fn from_base32(text: &str) -> Result<Self> {
        let secret =
            totp_rs::Secret::try_from_base32(text).map_err(|_| Error::InvalidParameters)?;
        Ok(Self(Zeroizing::new(secret.as_bytes().to_vec())))
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret in unpadded base32 (RFC 4648), as authenticator apps take it typed in.
    #[must_use]
    pub fn to_base32(&self) -> SecretString {
        SecretString::from(totp_rs::Secret::from(self.0.to_vec()).to_base32())
    }
}

/// A TOTP generator and checker for one factor. `Debug` omits the secret.
#[derive(Clone)]
pub struct Totp {
    inner: totp_rs::Totp,
    params: TotpParams,
}

impl fmt::Debug for Totp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Totp")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn algorithm(a: TotpAlgorithm) -> totp_rs::Algorithm {
    match a {
        TotpAlgorithm::SHA256 => totp_rs::Algorithm::SHA256,
        TotpAlgorithm::SHA512 => totp_rs::Algorithm::SHA512,
        _ => totp_rs::Algorithm::SHA1,
    }
}

impl Totp {
    /// A factor with `secret` and `params`, labelled `issuer:account` in authenticator apps.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidParameters`] for digits outside 6..=8 or a secret under 128 bits;
    /// [`Error::InvalidLabel`] when the issuer or account name has a `:`.
    pub fn new(
        secret: &TotpSecret,
        params: TotpParams,
        issuer: &str,
        account: &str,
    ) -> Result<Self> {
        if !(6..=8).contains(&params.digits) {
            return Err(Error::InvalidParameters);
        }
        if issuer.contains(':') || account.contains(':') || account.is_empty() {
            return Err(Error::InvalidLabel);
        }
        let inner = totp_rs::Builder::new()
            .with_algorithm(algorithm(params.algorithm))
            .with_digits(params.digits)
            .with_skew(u16::from(params.skew))
            .with_step_duration(STEP_SECONDS)
            .with_secret(secret.as_bytes().to_vec())
            .with_issuer(Some(issuer))
            .with_account_name(account)
            .build()
            .map_err(|e| match e {
                totp_rs::TotpError::InvalidAccountName { .. }
                | totp_rs::TotpError::InvalidIssuer { .. } => Error::InvalidLabel,
                _ => Error::InvalidParameters,
            })?;
        Ok(Self { inner, params })
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The step a unix time (seconds) falls in.
    ///
    /// # Errors
    ///
    /// [`Error::TimeBeforeEpoch`] for a negative time.
    pub fn step_at(unix_seconds: i64) -> Result<u64> {
        let t = u64::try_from(unix_seconds).map_err(|_| Error::TimeBeforeEpoch)?;
        Ok(t / STEP_SECONDS)
    }

    /// The code of `step`.
    #[must_use]
    pub fn code_at_step(&self, step: u64) -> SecretString {
        SecretString::from(
            self.inner
                .generate(step.saturating_mul(STEP_SECONDS))
                .to_string(),
        )
    }

    /// The code at a unix time (seconds).
    ///
    /// # Errors
    ///
    /// [`Error::TimeBeforeEpoch`] for a negative time.
    pub fn code_at(&self, unix_seconds: i64) -> Result<SecretString> {
        Ok(self.code_at_step(Self::step_at(unix_seconds)?))
    }

    /// Checks `code` at a unix time: the step it was made for, within the skew around that
    /// time and *after* `after_step` (the last step already used: a code is accepted once, and
    /// none older than one accepted), or `None`.
    ///
    /// Spaces are ignored; anything but exactly `digits` ASCII digits is refused before any
    /// HMAC is computed. Every step of the window is computed and compared in constant time
    /// (no early exit), and the latest matching step wins.
    ///
    /// # Errors
    ///
    /// [`Error::TimeBeforeEpoch`] for a negative time.
    pub fn verify(
        &self,
        code: &str,
        unix_seconds: i64,
        after_step: Option<u64>,
    ) -> Result<Option<u64>> {
        let now = Self::step_at(unix_seconds)?;
        let Some(code) = normalize_code(code, self.params.digits) else {
            return Ok(None);
        };
        let skew = u64::from(self.params.skew);
        let mut found = None;
        for step in now.saturating_sub(skew)..=now.saturating_add(skew) {
            let expected = Zeroizing::new(
                self.inner
                    .generate(step.saturating_mul(STEP_SECONDS))
                    .to_string(),
            );
            let same: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
            let fresh = after_step.is_none_or(|used| step > used);
            if same && fresh {
                found = Some(step);
            }
        }
        Ok(found)
    }

    /// The `otpauth://totp/...` URI authenticator apps import (it contains the secret).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLabel`] when the label cannot be encoded.
    pub fn uri(&self) -> Result<SecretString> {
        self.inner
            .to_url()
            .map(SecretString::from)
            .map_err(|_| Error::InvalidLabel)
    }

    /// The URI as a QR code, an SVG document (it contains the secret: show it once, over
    /// TLS, and do not cache it).
    ///
    /// # Errors
    ///
    /// As [`Totp::uri`]; [`Error::QrTooLong`] when the URI does not fit in a QR code.
    pub fn qr_svg(&self) -> Result<SecretString> {
        use secrecy::ExposeSecret as _;
        let uri = self.uri()?;
        qr_svg(uri.expose_secret()).map(SecretString::from)
    }
}

/// `text` as a QR code in SVG (medium error correction, a quiet zone, 4 px modules at least).
///
/// # Errors
///
/// [`Error::QrTooLong`] when `text` does not fit in a QR code.
pub fn qr_svg(text: &str) -> Result<String> {
    let code = qrcode::QrCode::with_error_correction_level(text.as_bytes(), qrcode::EcLevel::M)
        .map_err(|_| Error::QrTooLong)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// `code` without spaces, if it is exactly `digits` ASCII digits.
fn normalize_code(code: &str, digits: u8) -> Option<Zeroizing<String>> {
    if code.len() > MAX_CODE_INPUT {
        return None;
    }
    let cleaned: Zeroizing<String> = Zeroizing::new(code.chars().filter(|c| *c != ' ').collect());
    (cleaned.len() == usize::from(digits) && cleaned.bytes().all(|b| b.is_ascii_digit()))
        .then_some(cleaned)
}

/// Whether `input` looks like a TOTP code of `digits` digits (spaces ignored) rather than a
/// recovery code: for callers that accept either in one field.
#[must_use]
pub fn looks_like_totp_code(input: &str, digits: u8) -> bool {
    normalize_code(input, digits).is_some()
}
