//! PEM keys for the asymmetric algorithms (RS256, ES256, EdDSA), key rotation by `kid`, and
//! their JWK Set.

use std::fmt;

use testudo_config::JwtAlgorithm;

use crate::error::{Error, Result};

/// One signing key and any number of verification keys, each optionally named by a key id
/// (`kid`).
///
/// Tokens are signed with the signing key and carry its `kid` in the header (none when the
/// signing key has no id). A token is verified with the verification key registered under the
/// `kid` of its header (a token without `kid` with the key registered without one); a token
/// naming an unknown `kid` is invalid. To rotate, add the new key's public half as a
/// verification key, switch the signing key, and drop the old verification key once the last
/// token it signed has expired: nobody is logged out.
///
/// The signing key's public half must be registered as a verification key too (under the same
/// `kid`), or the backend's own tokens do not verify.
///
/// The keys are read when the backend is built ([`crate::JwtBackend::with_keys`]), for the
/// algorithm pinned by the configuration.
#[derive(Clone, Default)]
pub struct JwtKeys {
    pub(crate) signing: Option<(Option<String>, Vec<u8>)>,
    pub(crate) verification: Vec<(Option<String>, Vec<u8>)>,
}

impl JwtKeys {
    /// No keys yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the signing key: a PEM private key (PKCS#8 for EdDSA and ES256, PKCS#1 or PKCS#8
    /// for RS256), written to tokens' headers as `kid` when `kid` is given.
    #[must_use]
    pub fn signing_key(mut self, kid: Option<&str>, private_pem: impl AsRef<[u8]>) -> Self {
        self.signing = Some((kid.map(str::to_owned), private_pem.as_ref().to_vec()));
        self
    }

    /// Adds a verification key: a PEM public key, used for tokens whose header names `kid`
    /// (or for tokens without `kid` when `kid` is `None`). A later key with the same id
    /// replaces the earlier one.
    #[must_use]
    pub fn verification_key(mut self, kid: Option<&str>, public_pem: impl AsRef<[u8]>) -> Self {
        let kid = kid.map(str::to_owned);
        self.verification.retain(|(k, _)| *k != kid);
        self.verification.push((kid, public_pem.as_ref().to_vec()));
        self
    }
}

impl JwtKeys {
    /// The verification keys as an RFC 7517 JWK Set, in JSON (each key with its `kid`, `alg`
    /// and `use: "sig"`), for an endpoint such as `/.well-known/jwks.json`: the public keys
    /// only, never the signing key. Another service verifies this one's tokens with it
    /// ([`crate::JwtBackend::from_jwks`]).
    ///
    /// # Errors
    ///
    /// [`Error::KeysWithHmac`] for HS256 / HS384 / HS512 (whose keys are secrets, never
    /// published), [`Error::UnsupportedAlgorithm`], [`Error::Pem`] for a key that cannot be
    /// read for `algorithm`.
    pub fn jwk_set_json(&self, algorithm: JwtAlgorithm) -> Result<String> {
        if algorithm.is_hmac() {
            return Err(Error::KeysWithHmac { algorithm });
        }
        let alg = crate::backend::jwt_algorithm(algorithm)?;
        let keys = self
            .verification
            .iter()
            .map(|(kid, pem)| {
                Ok((
                    kid.clone(),
                    crate::backend::decoding_key(algorithm, kid.as_ref(), pem)?,
                ))
            })
            .collect::<Result<Vec<_>>>()?;
        crate::jwks::publish(algorithm, alg, &keys)
    }
}

impl fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtKeys")
            .field("signing_kid", &self.signing.as_ref().map(|(k, _)| k))
            .field(
                "verification_kids",
                &self.verification.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}
