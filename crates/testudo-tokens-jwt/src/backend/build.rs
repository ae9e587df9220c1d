//! Building a [`JwtBackend`]: the pinned algorithm, the HMAC secret or the PEM keys, and the
//! `jsonwebtoken` validation settings.

use std::collections::HashSet;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{ExposeSecret, SystemClock};

use super::{DEFAULT_ROTATION_GRACE, JwtBackend};
use crate::error::{Error, KeyId, Result};
use crate::keys::JwtKeys;

/// The `jsonwebtoken` algorithm of a configured one.
fn jwt_algorithm(algorithm: JwtAlgorithm) -> Result<Algorithm> {
    Ok(match algorithm {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return Err(Error::UnsupportedAlgorithm { algorithm }),
    })
}

/// What the HS* key is derived from `signing_secret` with, when `jwt_secret` is unset.
const DERIVED_KEY_LABEL: &[u8] = b"testudo.jwt-key.v1";

/// The HS* key made from `signing_secret`: HMAC-SHA512 keyed with it over
/// [`DERIVED_KEY_LABEL`]. Never the secret itself, which the signer uses raw for unsalted
/// signatures: with one key for both, `Signer::sign(v)` would be the HS256 signature of `v`.
/// (A salted signer key is an HMAC-SHA256 output, 32 bytes, so it is never this 64-byte key
/// either.)
fn derived_key(signing_secret: &[u8]) -> zeroize::Zeroizing<[u8; 64]> {
    use hmac::{KeyInit, Mac as _};
    let mut mac = <hmac::Hmac<sha2::Sha512> as KeyInit>::new_from_slice(signing_secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(DERIVED_KEY_LABEL);
    zeroize::Zeroizing::new(mac.finalize().into_bytes().into())
}

/// A lifetime in whole seconds (saturating at `i64::MAX`).
fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// The error for a PEM key of `kid` that cannot be read for `algorithm`.
fn pem_error(
    algorithm: JwtAlgorithm,
    kid: Option<&String>,
) -> impl FnOnce(jsonwebtoken::errors::Error) -> Error {
    move |e| Error::Pem {
        algorithm,
        kid: kid.map(|k| KeyId::new(k)),
        source: Box::new(e),
    }
}

/// The signing key of an asymmetric algorithm, from its PEM private key.
fn encoding_key(algorithm: JwtAlgorithm, kid: Option<&String>, pem: &[u8]) -> Result<EncodingKey> {
    match algorithm {
        JwtAlgorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
        _ => EncodingKey::from_ed_pem(pem),
    }
    .map_err(pem_error(algorithm, kid))
}

/// A verification key of an asymmetric algorithm, from its PEM public key.
fn decoding_key(algorithm: JwtAlgorithm, kid: Option<&String>, pem: &[u8]) -> Result<DecodingKey> {
    match algorithm {
        JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
        _ => DecodingKey::from_ed_pem(pem),
    }
    .map_err(pem_error(algorithm, kid))
}

impl JwtBackend {
    /// The backend for `config`: with `keys` for an asymmetric algorithm, the configured secret
    /// for HS* (refused when shorter than the digest unless `check_length` is false).
    pub(super) fn build(
        config: Arc<AuthConfig>,
        keys: Option<JwtKeys>,
        check_length: bool,
    ) -> Result<Self> {
        let pinned = config.jwt_algorithm;
        let algorithm = jwt_algorithm(pinned)?;
        let (signing_kid, signing, verification) = if pinned.is_hmac() {
            if keys.is_some() {
                return Err(Error::KeysWithHmac { algorithm: pinned });
            }
            let secret = config
                .effective_jwt_secret()
                .map(|s| s.expose_secret().as_bytes())
                .filter(|s| !s.is_empty())
                .ok_or(Error::MissingSecret { algorithm: pinned })?;
            if let Some(min) = pinned.min_secret_bytes()
                && check_length
                && secret.len() < min
            {
                return Err(Error::ShortSecret {
                    algorithm: pinned,
                    min,
                    len: secret.len(),
                });
            }
            let derived;
            let key = if config.jwt_secret.is_none() && !config.jwt_raw_signing_secret {
                derived = derived_key(secret);
                derived.as_slice()
            } else {
                secret
            };
            (
                None,
                EncodingKey::from_secret(key),
                vec![(None, DecodingKey::from_secret(key))],
            )
        } else {
            let keys = keys.ok_or(Error::MissingKeys { algorithm: pinned })?;
            let (kid, pem) = keys.signing.ok_or(Error::NoSigningKey)?;
            if keys.verification.is_empty() {
                return Err(Error::NoVerificationKey);
            }
            let signing = encoding_key(pinned, kid.as_ref(), &pem)?;
            let verification = keys
                .verification
                .iter()
                .map(|(kid, pem)| Ok((kid.clone(), decoding_key(pinned, kid.as_ref(), pem)?)))
                .collect::<Result<Vec<_>>>()?;
            (kid, signing, verification)
        };

        let mut validation = Validation::new(algorithm);
        validation.algorithms = vec![algorithm];
        // exp / iat / nbf are checked by `check_claims` against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = config.jwt_leeway.as_secs();
        validation.reject_tokens_expiring_in_less_than = 0;
        validation.required_spec_claims = HashSet::new();
        validation.sub = None;
        match &config.jwt_issuer {
            Some(iss) => {
                validation.set_issuer(&[iss]);
                validation.required_spec_claims.insert("iss".to_owned());
            }
            None => validation.iss = None,
        }
        match &config.jwt_audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                validation.validate_aud = true;
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => {
                validation.aud = None;
                validation.validate_aud = false;
            }
        }

        let mut revoke_validation = validation.clone();
        revoke_validation.iss = None;
        revoke_validation.aud = None;
        revoke_validation.validate_aud = false;
        revoke_validation.required_spec_claims = HashSet::new();

        Ok(Self {
            list: None,
            rotation_grace: DEFAULT_ROTATION_GRACE,
            revoke_validation,
            clock: Arc::new(SystemClock),
            algorithm,
            hmac: pinned.is_hmac(),
            signing_kid,
            signing,
            verification,
            validation,
            leeway_ms: i128::try_from(config.jwt_leeway.as_millis()).unwrap_or(i128::MAX),
            access_lifetime: seconds(config.access_token_lifetime),
            refresh_lifetime: seconds(config.refresh_token_lifetime),
            session_max_lifetime: seconds(config.session_max_lifetime),
            config,
        })
    }
}
