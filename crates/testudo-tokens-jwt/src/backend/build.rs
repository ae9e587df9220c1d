//! Building a [`JwtBackend`]: the pinned algorithm, the HMAC secrets (current and fallbacks)
//! or the PEM keys (or a JWK Set), and the header segments of the tokens it knows.

use std::sync::{Arc, RwLock};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{ExposeSecret, SystemClock};

use super::jws::{HmacState, header_segment, hmac_kid};
use super::{DEFAULT_ROTATION_GRACE, HmacKey, JwtBackend, Keys, Signing, SigningKey};
use crate::error::{Error, JwksReason, KeyId, Result};
use crate::jwks;
use crate::keys::JwtKeys;

/// The `jsonwebtoken` algorithm of a configured one.
pub(crate) fn jwt_algorithm(algorithm: JwtAlgorithm) -> Result<Algorithm> {
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

/// One HS* key: `secret` itself, or the key derived from it when `derive` is set.
fn hmac_key(
    pinned: JwtAlgorithm,
    algorithm: Algorithm,
    secret: &[u8],
    derive: bool,
) -> Result<HmacKey> {
    let derived;
    let key = if derive {
        derived = derived_key(secret);
        derived.as_slice()
    } else {
        secret
    };
    let state =
        HmacState::new(algorithm, key).ok_or(Error::UnsupportedAlgorithm { algorithm: pinned })?;
    Ok(HmacKey {
        kid: hmac_kid(key),
        state,
    })
}

/// The HS* keys of `config`, the current one first: `jwt_secret` (as it is), or the key
/// derived from `signing_secret` (unless `jwt_raw_signing_secret`); then the
/// `jwt_fallback_secrets` (as they are) and, when `jwt_secret` is unset, the
/// `signing_fallback_secrets` made into keys as `signing_secret` is. A fallback that makes the
/// same key as an earlier one is skipped.
fn hmac_keys(
    config: &AuthConfig,
    algorithm: Algorithm,
    check_length: bool,
) -> Result<Vec<HmacKey>> {
    let pinned = config.jwt_algorithm;
    let secret = config
        .effective_jwt_secret()
        .map(|s| s.expose_secret().as_bytes())
        .filter(|s| !s.is_empty())
        .ok_or(Error::MissingSecret { algorithm: pinned })?;
    let min = pinned.min_secret_bytes().filter(|_| check_length);
    if let Some(min) = min
        && secret.len() < min
    {
        return Err(Error::ShortSecret {
            algorithm: pinned,
            min,
            len: secret.len(),
        });
    }
    let derive = config.jwt_secret.is_none() && !config.jwt_raw_signing_secret;
    let mut keys = vec![hmac_key(pinned, algorithm, secret, derive)?];
    let signing_fallbacks = config
        .jwt_secret
        .is_none()
        .then_some(&config.signing_fallback_secrets)
        .into_iter()
        .flatten()
        .map(|s| (s, derive));
    let fallbacks = config
        .jwt_fallback_secrets
        .iter()
        .map(|s| (s, false))
        .chain(signing_fallbacks);
    for (secret, derive) in fallbacks {
        let secret = secret.expose_secret().as_bytes();
        if secret.is_empty() {
            continue;
        }
        if let Some(min) = min
            && secret.len() < min
        {
            return Err(Error::ShortFallbackSecret {
                algorithm: pinned,
                min,
                len: secret.len(),
            });
        }
        let key = hmac_key(pinned, algorithm, secret, derive)?;
        if keys.iter().all(|k| k.kid != key.kid) {
            keys.push(key);
        }
    }
    Ok(keys)
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
pub(crate) fn decoding_key(
    algorithm: JwtAlgorithm,
    kid: Option<&String>,
    pem: &[u8],
) -> Result<DecodingKey> {
    match algorithm {
        JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
        _ => DecodingKey::from_ed_pem(pem),
    }
    .map_err(pem_error(algorithm, kid))
}

impl JwtBackend {
    /// The backend for `config`: with `keys` for an asymmetric algorithm, the configured
    /// secrets for HS* (refused when shorter than the digest unless `check_length` is false).
    pub(super) fn build(
        config: Arc<AuthConfig>,
        keys: Option<JwtKeys>,
        check_length: bool,
    ) -> Result<Self> {
        let pinned = config.jwt_algorithm;
        let algorithm = jwt_algorithm(pinned)?;
        if pinned.is_hmac() {
            if keys.is_some() {
                return Err(Error::KeysWithHmac { algorithm: pinned });
            }
            let keys = hmac_keys(&config, algorithm, check_length)?;
            let current = keys
                .first()
                .ok_or(Error::MissingSecret { algorithm: pinned })?;
            // With one key the header stays tortoise-auth's (no `kid`); with fallbacks, tokens
            // name the key that signed them.
            let kid = (keys.len() > 1).then_some(current.kid.as_str());
            let signing = Signing {
                prefix: format!("{}.", header_segment(algorithm, kid)),
                key: SigningKey::Hmac(current.state.clone()),
            };
            return Ok(Self::assemble(
                config,
                algorithm,
                Some(signing),
                Keys::Hmac(keys),
            ));
        }
        let keys = keys.ok_or(Error::MissingKeys { algorithm: pinned })?;
        let (kid, pem) = keys.signing.ok_or(Error::NoSigningKey)?;
        if keys.verification.is_empty() {
            return Err(Error::NoVerificationKey);
        }
        let signing = Signing {
            prefix: format!("{}.", header_segment(algorithm, kid.as_deref())),
            key: SigningKey::Public(encoding_key(pinned, kid.as_ref(), &pem)?),
        };
        let fixed = keys
            .verification
            .iter()
            .map(|(kid, pem)| Ok((kid.clone(), decoding_key(pinned, kid.as_ref(), pem)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self::assemble(
            config,
            algorithm,
            Some(signing),
            Keys::Public {
                fixed,
                published: RwLock::new(Arc::from([])),
            },
        ))
    }

    /// A backend that only verifies, with the keys of a JWK Set.
    pub(super) fn build_from_jwks(config: Arc<AuthConfig>, jwks_json: &str) -> Result<Self> {
        let pinned = config.jwt_algorithm;
        let algorithm = jwt_algorithm(pinned)?;
        if pinned.is_hmac() {
            return Err(Error::jwks(JwksReason::SymmetricAlgorithm));
        }
        let keys = jwks::read(jwks_json, algorithm)?;
        if keys.is_empty() {
            return Err(Error::NoVerificationKey);
        }
        Ok(Self::assemble(
            config,
            algorithm,
            None,
            Keys::Public {
                fixed: Vec::new(),
                published: RwLock::new(keys.into()),
            },
        ))
    }

    /// The backend from its parts, the other settings from `config`.
    fn assemble(
        config: Arc<AuthConfig>,
        algorithm: Algorithm,
        signing: Option<Signing>,
        keys: Keys,
    ) -> Self {
        let kids: Vec<Option<String>> = match &keys {
            Keys::Hmac(keys) => keys.iter().map(|k| Some(k.kid.clone())).collect(),
            Keys::Public { fixed, .. } => fixed.iter().map(|(kid, _)| kid.clone()).collect(),
        };
        let mut known_headers = vec![(header_segment(algorithm, None), None)];
        for kid in kids.into_iter().flatten() {
            known_headers.push((header_segment(algorithm, Some(&kid)), Some(kid)));
        }
        Self {
            list: None,
            rotation_grace: DEFAULT_ROTATION_GRACE,
            clock: Arc::new(SystemClock),
            algorithm,
            signing,
            keys,
            known_headers,
            leeway_ms: i128::try_from(config.jwt_leeway.as_millis()).unwrap_or(i128::MAX),
            access_lifetime: seconds(config.access_token_lifetime),
            refresh_lifetime: seconds(config.refresh_token_lifetime),
            session_max_lifetime: seconds(config.session_max_lifetime),
            config,
        }
    }
}
