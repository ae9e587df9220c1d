//! JWK Sets (RFC 7517): the verification keys written as one for other services, and another
//! service's set read into verification keys, through `jsonwebtoken`'s `jwk` module.

use std::collections::HashSet;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};
use testudo_config::JwtAlgorithm;

use crate::error::{Error, JwksReason, KeyId, Result};

/// The smallest RSA modulus accepted from a JWK Set, in bytes (2048 bits).
const MIN_RSA_MODULUS: usize = 256;

/// The JWK Set of `keys` (public keys of `algorithm`, the configured `pinned`, each under its
/// `kid`), as JSON: each key with its `kid`, `alg` and `use: "sig"`.
///
/// # Errors
///
/// [`Error::Pem`] when `jsonwebtoken` cannot write a key as a JWK.
pub(crate) fn publish(
    pinned: JwtAlgorithm,
    algorithm: Algorithm,
    keys: &[(Option<String>, DecodingKey)],
) -> Result<String> {
    let keys = keys
        .iter()
        .map(|(kid, key)| {
            let mut jwk = Jwk::from_decoding_key(key, Some(algorithm)).map_err(|e| Error::Pem {
                algorithm: pinned,
                kid: kid.as_deref().map(KeyId::new),
                source: Box::new(e),
            })?;
            jwk.common.key_id.clone_from(kid);
            jwk.common.public_key_use = Some(PublicKeyUse::Signature);
            Ok(jwk)
        })
        .collect::<Result<Vec<_>>>()?;
    // A set of JWKs of strings always serializes.
    Ok(serde_json::to_string(&JwkSet { keys }).unwrap_or_default())
}

/// The verification keys of the JWK Set `json` for `algorithm` (asymmetric), each under its
/// `kid`.
///
/// # Errors
///
/// [`Error::Jwks`] for JSON that is not a JWK Set, a symmetric key, a key for another
/// algorithm or not for verifying signatures, a key that cannot be read, a repeated `kid`.
pub(crate) fn read(json: &str, algorithm: Algorithm) -> Result<Vec<(Option<String>, DecodingKey)>> {
    let set: JwkSet = serde_json::from_str(json).map_err(|e| Error::Jwks {
        reason: JwksReason::NotJson,
        source: Some(Box::new(e)),
    })?;
    let mut seen = HashSet::new();
    set.keys
        .iter()
        .map(|jwk| {
            let kid = jwk.common.key_id.clone();
            let reason = |make: fn(Option<KeyId>) -> JwksReason| {
                Error::jwks(make(kid.as_deref().map(KeyId::new)))
            };
            if !seen.insert(kid.clone()) {
                return Err(reason(|kid| JwksReason::DuplicateKeyId { kid }));
            }
            let key = verification_key(jwk, algorithm).map_err(reason)?;
            Ok((kid, key))
        })
        .collect()
}

/// A [`JwksReason`] still missing its `kid`.
type Reason = fn(Option<KeyId>) -> JwksReason;

/// The verification key of one JWK, checked against the configured `algorithm`.
fn verification_key(jwk: &Jwk, algorithm: Algorithm) -> Result<DecodingKey, Reason> {
    let not_for_verification: Reason = |kid| JwksReason::NotForVerification { kid };
    let mismatch: Reason = |kid| JwksReason::AlgorithmMismatch { kid };
    let invalid: Reason = |kid| JwksReason::InvalidKey { kid };
    if let AlgorithmParameters::OctetKey(_) = jwk.algorithm {
        return Err(|kid| JwksReason::SymmetricKey { kid });
    }
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err(not_for_verification),
    }
    if let Some(ops) = &jwk.common.key_operations
        && !ops.contains(&KeyOperations::Verify)
    {
        return Err(not_for_verification);
    }
    if jwk
        .common
        .key_algorithm
        .is_some_and(|alg| alg != KeyAlgorithm::from(algorithm))
    {
        return Err(mismatch);
    }
    // The key type (and curve) the algorithm needs, and the length of its public key bytes
    // (EdDSA: the 32-byte point; ES256: 0x04, x and y).
    let length = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA)
            if p.curve == EllipticCurve::Ed25519 =>
        {
            Some(32)
        }
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256)
            if p.curve == EllipticCurve::P256 =>
        {
            Some(65)
        }
        (AlgorithmParameters::RSA(_), Algorithm::RS256) => None,
        _ => return Err(mismatch),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid)?;
    let usable = match (length, key.kind()) {
        (Some(length), DecodingKeyKind::SecretOrDer(bytes)) => bytes.len() == length,
        (None, DecodingKeyKind::RsaModulusExponent { n, e }) => {
            let significant = |v: &[u8]| v.iter().skip_while(|b| **b == 0).count();
            significant(n) >= MIN_RSA_MODULUS && significant(e) > 0
        }
        _ => false,
    };
    if !usable {
        return Err(invalid);
    }
    Ok(key)
}
