//! [`TimestampSigner`]: `value SEP TS SEP SIG`, with expiry.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use testudo_core::{BadSignature, Clock, SignatureExpired, SystemClock};

use crate::error::Result;
use crate::signer::Signer;

/// Signs values with the time they were signed, and refuses them once too old.
///
/// `sign_with_timestamp(value)` = `sign(value SEP TS)` = `value SEP TS SEP SIG`, where TS is
/// base64url without padding of the decimal text of the Unix time in whole seconds
/// (`1700000000` -> `MTcwMDAwMDAwMA`), byte-identical to tortoise-auth.
///
/// Differences from the reference, all on the safe side:
/// - the timestamp must be canonical: base64url without padding of ASCII digits only, no sign,
///   space or `_`, no leading zero (except `"0"` itself); anything else is
///   [`BadSignature::InvalidTimestamp`] (tortoise-auth only ever writes canonical timestamps);
/// - a timestamp in the future is refused as [`SignatureExpired::InFuture`] when a max age is
///   given, beyond a configurable leeway (default 0 s, as the reference).
///
/// Time comes from the injected [`Clock`] ([`SystemClock`] by default).
#[derive(Debug, Clone)]
pub struct TimestampSigner {
    signer: Signer,
    clock: Arc<dyn Clock>,
    leeway: u64,
}

impl From<Signer> for TimestampSigner {
    fn from(signer: Signer) -> Self {
        Self {
            signer,
            clock: Arc::new(SystemClock),
            leeway: 0,
        }
    }
}

impl TimestampSigner {
    /// A timestamp signer with `secret` and the `:` separator (an empty or short secret is
    /// refused, as by [`Signer::new`]; wrap [`Signer::from_config`] for the configured one).
    ///
    /// # Errors
    ///
    /// As [`Signer::new`].
    pub fn new(secret: &str) -> Result<Self> {
        Signer::new(secret).map(Self::from)
    }

    /// A timestamp signer for one `purpose` ([`Signer::for_purpose`]): the configured secret
    /// and fallback secrets, keys separated by purpose.
    ///
    /// # Errors
    ///
    /// As [`Signer::from_config`].
    pub fn for_purpose(config: &testudo_config::AuthConfig, purpose: &str) -> Result<Self> {
        Signer::for_purpose(config, purpose).map(Self::from)
    }

    /// Uses `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Accepts timestamps up to `seconds` in the future (clock skew between servers) when a max
    /// age is given. Default 0.
    #[must_use]
    pub fn with_leeway(mut self, seconds: u64) -> Self {
        self.leeway = seconds;
        self
    }

    /// The underlying [`Signer`] (separator, salt, secrets).
    #[must_use]
    pub fn signer(&self) -> &Signer {
        &self.signer
    }

    /// `value SEP TS SEP SIG` with the clock's current time.
    ///
    /// A clock before 1970 writes a negative timestamp, which [`Self::unsign_with_timestamp`]
    /// refuses as non-canonical.
    #[must_use]
    pub fn sign_with_timestamp(&self, value: &str) -> String {
        let ts = URL_SAFE_NO_PAD.encode(self.clock.unix_seconds().to_string());
        let sep = self.signer.separator();
        let mut inner = String::with_capacity(value.len() + sep.len() + ts.len());
        inner.push_str(value);
        inner.push_str(sep);
        inner.push_str(&ts);
        self.signer.sign(&inner)
    }

    /// Verifies a timestamped value and returns the value and its timestamp (Unix seconds).
    ///
    /// With `max_age` `None` there is no time check at all (as the reference). With
    /// `Some(max)`: age = now - timestamp; age > max is [`SignatureExpired::TooOld`] (age == max
    /// is accepted), a timestamp more than the leeway in the future is
    /// [`SignatureExpired::InFuture`].
    ///
    /// # Errors
    ///
    /// [`BadSignature`] (in the reference's order: signature, then missing timestamp, then
    /// malformed timestamp) or [`SignatureExpired`], as [`crate::Error::Signature`].
    pub fn unsign_with_timestamp_at<'a>(
        &self,
        signed: &'a str,
        max_age: Option<u64>,
    ) -> Result<(&'a str, u64)> {
        let inner = self.signer.unsign(signed)?;
        let (value, ts) = inner
            .rsplit_once(self.signer.separator())
            .ok_or(BadSignature::NoTimestamp)?;
        let ts = parse_timestamp(ts).ok_or(BadSignature::InvalidTimestamp)?;
        if let Some(max_age) = max_age {
            let now = i128::from(self.clock.unix_seconds());
            let age = now - i128::from(ts);
            if age < 0 {
                if age.unsigned_abs() > u128::from(self.leeway) {
                    return Err(SignatureExpired::InFuture.into());
                }
            } else if age > i128::from(max_age) {
                let age = u64::try_from(age).unwrap_or(u64::MAX);
                return Err(SignatureExpired::TooOld { age, max_age }.into());
            }
        }
        Ok((value, ts))
    }

    /// Verifies a timestamped value and returns the value; see
    /// [`Self::unsign_with_timestamp_at`].
    ///
    /// # Errors
    ///
    /// As [`Self::unsign_with_timestamp_at`].
    pub fn unsign_with_timestamp<'a>(
        &self,
        signed: &'a str,
        max_age: Option<u64>,
    ) -> Result<&'a str> {
        self.unsign_with_timestamp_at(signed, max_age)
            .map(|(value, _)| value)
    }

    /// [`Signer::sign`] with the underlying signer (no timestamp).
    #[must_use]
    pub fn sign(&self, value: &str) -> String {
        self.signer.sign(value)
    }

    /// [`Signer::unsign`] with the underlying signer (no timestamp check).
    ///
    /// # Errors
    ///
    /// As [`Signer::unsign`].
    pub fn unsign<'a>(&self, signed: &'a str) -> Result<&'a str> {
        self.signer.unsign(signed)
    }
}

/// Decodes a canonical timestamp: strict base64url without padding of ASCII digits, without
/// leading zeros (except `"0"`), fitting in an `i64`.
fn parse_timestamp(encoded: &str) -> Option<u64> {
    // 19 digits fit an i64; their encoding is at most 26 characters.
    if encoded.is_empty() || encoded.len() > 26 {
        return None;
    }
    let digits = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    let canonical = match digits.as_slice() {
        [] => false,
        [b'0'] => true,
        [b'0', ..] => false,
        d => d.iter().all(u8::is_ascii_digit),
    };
    if !canonical {
        return None;
    }
    let text = std::str::from_utf8(&digits).ok()?;
    let ts: u64 = text.parse().ok()?;
    i64::try_from(ts).ok()?;
    Some(ts)
}

#[cfg(test)]
mod tests {
    use super::parse_timestamp;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn enc(s: &str) -> String {
        URL_SAFE_NO_PAD.encode(s)
    }

    #[test]
    fn canonical_timestamps_parse() {
        assert_eq!(parse_timestamp("MTcwMDAwMDAwMA"), Some(1_700_000_000));
        assert_eq!(parse_timestamp("Nw"), Some(7));
        assert_eq!(parse_timestamp(&enc("0")), Some(0));
        assert_eq!(
            parse_timestamp(&enc("9223372036854775807")),
            Some(9_223_372_036_854_775_807)
        );
    }

    #[test]
    fn non_canonical_timestamps_are_refused() {
        for text in [
            "",
            " 1",
            "1 ",
            "+1",
            "-1",
            "1_0",
            "01",
            "00",
            "1\n",
            "x",
            "1.0",
            "٣",
            "9223372036854775808",
            "99999999999999999999",
        ] {
            assert_eq!(parse_timestamp(&enc(text)), None, "{text:?}");
        }
        // Padding, standard-alphabet characters, impossible lengths.
        for raw in ["Nw==", "A", "MTcw+DAw", "!!!!"] {
            assert_eq!(parse_timestamp(raw), None, "{raw:?}");
        }
    }
}
