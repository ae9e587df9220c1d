//! The stateless JWT backend.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::{Map, Value};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{
    Claims, Clock, ExposeSecret, SystemClock, TokenBackend, TokenError, TokenPair, TokenPayload,
    TokenType, async_trait, wrong_type,
};

use crate::error::{Error, Result};
use crate::keys::JwtKeys;

/// Issues and verifies JWT access / refresh pairs, without a revocation list (stateless).
///
/// See the [crate documentation](crate) for the claim layout, the verification rules and what
/// the missing revocation list means for logout and refresh.
pub struct JwtBackend {
    config: Arc<AuthConfig>,
    clock: Arc<dyn Clock>,
    algorithm: Algorithm,
    hmac: bool,
    signing_kid: Option<String>,
    signing: EncodingKey,
    verification: Vec<(Option<String>, DecodingKey)>,
    validation: Validation,
    leeway_ms: i128,
    access_lifetime: i64,
    refresh_lifetime: i64,
}

/// The claims written to a token, in the reference's order.
#[derive(Serialize)]
struct OutgoingClaims<'a> {
    sub: &'a str,
    token_type: &'static str,
    jti: &'a str,
    iat: i64,
    exp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    extra: Option<&'a Claims>,
}

fn jwt_algorithm(algorithm: JwtAlgorithm) -> Result<Algorithm> {
    Ok(match algorithm {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return Err(Error::Keys("unsupported JWT algorithm")),
    })
}

fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn pem_error(
    algorithm: JwtAlgorithm,
    kid: Option<&String>,
) -> impl FnOnce(jsonwebtoken::errors::Error) -> Error {
    move |e| Error::Pem {
        algorithm: algorithm.as_str(),
        kid: kid.cloned(),
        source: Box::new(e),
    }
}

fn encoding_key(algorithm: JwtAlgorithm, kid: Option<&String>, pem: &[u8]) -> Result<EncodingKey> {
    match algorithm {
        JwtAlgorithm::RS256 => EncodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => EncodingKey::from_ec_pem(pem),
        _ => EncodingKey::from_ed_pem(pem),
    }
    .map_err(pem_error(algorithm, kid))
}

fn decoding_key(algorithm: JwtAlgorithm, kid: Option<&String>, pem: &[u8]) -> Result<DecodingKey> {
    match algorithm {
        JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
        _ => DecodingKey::from_ed_pem(pem),
    }
    .map_err(pem_error(algorithm, kid))
}

/// The error `decode` failures map to: always [`TokenError::Invalid`] (expiry is checked by
/// this crate, against its clock, not by `jsonwebtoken`).
fn decode_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidSignature => TokenError::invalid("signature verification failed"),
        ErrorKind::InvalidAlgorithm => TokenError::invalid("the token's algorithm is not allowed"),
        ErrorKind::InvalidIssuer => TokenError::invalid("invalid issuer"),
        ErrorKind::InvalidAudience => TokenError::invalid("audience doesn't match"),
        ErrorKind::MissingRequiredClaim(claim) => {
            TokenError::invalid(format!("token is missing the \"{claim}\" claim"))
        }
        _ => TokenError::invalid("malformed token"),
    }
}

fn integer_claim(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, TokenError> {
    match claims.get(name) {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| TokenError::invalid(format!("the \"{name}\" claim must be an integer"))),
    }
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, TokenError> {
    value.ok_or_else(|| TokenError::invalid(format!("token is missing the \"{name}\" claim")))
}

impl JwtBackend {
    /// A backend for an HS256 / HS384 / HS512 configuration, signing with
    /// [`AuthConfig::effective_jwt_secret`].
    ///
    /// # Errors
    ///
    /// [`Error::MissingSecret`] without a secret, [`Error::ShortSecret`] when it is shorter than
    /// 32 / 48 / 64 bytes, [`Error::Keys`] when the configured algorithm is asymmetric (use
    /// [`JwtBackend::with_keys`]), [`Error::RevocationListUnavailable`] when
    /// `jwt_blacklist_enabled` is set.
    pub fn new(config: Arc<AuthConfig>) -> Result<Self> {
        Self::build(config, None, true)
    }

    /// A backend for an RS256 / ES256 / EdDSA configuration, with PEM keys.
    ///
    /// # Errors
    ///
    /// [`Error::Keys`] when the configured algorithm is HS* or when the signing key or every
    /// verification key is missing, [`Error::Pem`] for a key that cannot be read for the
    /// configured algorithm, [`Error::RevocationListUnavailable`] when `jwt_blacklist_enabled`
    /// is set.
    pub fn with_keys(config: Arc<AuthConfig>, keys: JwtKeys) -> Result<Self> {
        Self::build(config, Some(keys), true)
    }

    /// Like [`JwtBackend::new`] but accepts an HS* secret shorter than the digest size, as
    /// tortoise-auth does. Only for reading the conformance vectors (made with short secrets).
    ///
    /// # Errors
    ///
    /// As [`JwtBackend::new`], except [`Error::ShortSecret`].
    #[doc(hidden)]
    pub fn new_allowing_short_secret(config: Arc<AuthConfig>) -> Result<Self> {
        Self::build(config, None, false)
    }

    /// Replaces the clock (the system clock by default), e.g. with a
    /// [`testudo_core::FixedClock`] in tests.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn build(config: Arc<AuthConfig>, keys: Option<JwtKeys>, check_length: bool) -> Result<Self> {
        if config.jwt_blacklist_enabled {
            return Err(Error::RevocationListUnavailable);
        }
        let pinned = config.jwt_algorithm;
        let algorithm = jwt_algorithm(pinned)?;
        let (signing_kid, signing, verification) = if pinned.is_hmac() {
            if keys.is_some() {
                return Err(Error::Keys(
                    "HS256 / HS384 / HS512 sign with jwt_secret or signing_secret, not PEM keys",
                ));
            }
            let secret = config
                .effective_jwt_secret()
                .map(|s| s.expose_secret().as_bytes())
                .filter(|s| !s.is_empty())
                .ok_or(Error::MissingSecret {
                    algorithm: pinned.as_str(),
                })?;
            if let Some(min) = pinned.min_secret_bytes()
                && check_length
                && secret.len() < min
            {
                return Err(Error::ShortSecret {
                    algorithm: pinned.as_str(),
                    min,
                    len: secret.len(),
                });
            }
            (
                None,
                EncodingKey::from_secret(secret),
                vec![(None, DecodingKey::from_secret(secret))],
            )
        } else {
            let keys = keys.ok_or(Error::Keys(
                "RS256, ES256 and EdDSA need PEM keys: build the backend with JwtBackend::with_keys",
            ))?;
            let (kid, pem) = keys
                .signing
                .ok_or(Error::Keys("JwtKeys has no signing key"))?;
            if keys.verification.is_empty() {
                return Err(Error::Keys("JwtKeys has no verification key"));
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

        Ok(Self {
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
            config,
        })
    }

    fn sign(&self, claims: &OutgoingClaims<'_>) -> Result<String> {
        let mut header = Header::new(self.algorithm);
        header.kid.clone_from(&self.signing_kid);
        jsonwebtoken::encode(&header, claims, &self.signing).map_err(|e| Error::Sign(Box::new(e)))
    }

    /// Issues a pair with the given `jti`s (the conformance test compares our tokens with
    /// tortoise-auth's, whose `jti`s are fixed). Not for applications: `jti`s must be unique.
    ///
    /// # Errors
    ///
    /// [`Error::Sign`] when signing fails.
    #[doc(hidden)]
    pub fn create_tokens_with_jtis(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
    ) -> Result<TokenPair> {
        let iat = self.clock.now().timestamp();
        let access = self.sign(&OutgoingClaims {
            sub: user_id,
            token_type: TokenType::Access.as_str(),
            jti: access_jti,
            iat,
            exp: iat.saturating_add(self.access_lifetime),
            iss: self.config.jwt_issuer.as_deref(),
            aud: self.config.jwt_audience.as_deref(),
            extra: (!extra.is_empty()).then_some(extra),
        })?;
        let refresh = self.sign(&OutgoingClaims {
            sub: user_id,
            token_type: TokenType::Refresh.as_str(),
            jti: refresh_jti,
            iat,
            exp: iat.saturating_add(self.refresh_lifetime),
            iss: self.config.jwt_issuer.as_deref(),
            aud: self.config.jwt_audience.as_deref(),
            extra: None,
        })?;
        Ok(TokenPair::new(access, refresh))
    }

    fn decode(&self, token: &str, expected: TokenType) -> Result<TokenPayload, TokenError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::invalid("malformed token"))?;
        if header.alg != self.algorithm {
            return Err(TokenError::invalid("the token's algorithm is not allowed"));
        }
        let key = if self.hmac {
            self.verification.first().map(|(_, key)| key)
        } else {
            self.verification
                .iter()
                .find(|(kid, _)| *kid == header.kid)
                .map(|(_, key)| key)
        }
        .ok_or_else(|| TokenError::invalid("unknown key id"))?;
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, key, &self.validation)
            .map_err(|e| decode_error(&e))?;
        self.check_claims(data.claims, expected)
    }

    /// The checks `PyJWT` and tortoise-auth make, in their order, with `exp`, `iat`, `sub` and
    /// `jti` required and integer times.
    fn check_claims(
        &self,
        mut claims: Map<String, Value>,
        expected: TokenType,
    ) -> Result<TokenPayload, TokenError> {
        let now_ms = i128::from(self.clock.now().timestamp_millis());
        let iat = required(integer_claim(&claims, "iat")?, "iat")?;
        if i128::from(iat) * 1000 > now_ms + self.leeway_ms {
            return Err(TokenError::invalid("the token is not yet valid (iat)"));
        }
        if let Some(nbf) = integer_claim(&claims, "nbf")?
            && i128::from(nbf) * 1000 > now_ms + self.leeway_ms
        {
            return Err(TokenError::invalid("the token is not yet valid (nbf)"));
        }
        let exp = required(integer_claim(&claims, "exp")?, "exp")?;
        if i128::from(exp) * 1000 <= now_ms - self.leeway_ms {
            return Err(TokenError::Expired);
        }
        let sub = match claims.remove("sub") {
            Some(Value::String(s)) => s,
            Some(_) => return Err(TokenError::invalid("subject must be a string")),
            None => return Err(TokenError::invalid("token is missing the \"sub\" claim")),
        };
        let jti = match claims.remove("jti") {
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(TokenError::invalid("JWT ID must be a string")),
            None => None,
        };
        match claims.get("token_type") {
            Some(Value::String(t)) if t == expected.as_str() => {}
            Some(Value::String(t)) => match t.parse::<TokenType>() {
                Ok(got) => return Err(wrong_type(expected, Some(got))),
                Err(_) => {
                    return Err(TokenError::invalid(format!(
                        "expected token type '{expected}', got an unknown type"
                    )));
                }
            },
            _ => return Err(wrong_type(expected, None)),
        }
        let jti = jti
            .filter(|j| !j.is_empty())
            .ok_or_else(|| TokenError::invalid("token missing jti claim"))?;
        let extra = match claims.remove("extra") {
            None | Some(Value::Null) => None,
            Some(Value::Object(extra)) => Some(extra),
            Some(_) => return Err(TokenError::invalid("the \"extra\" claim must be an object")),
        };
        Ok(TokenPayload {
            sub,
            token_type: expected,
            jti,
            iat,
            exp,
            extra,
        })
    }
}

#[async_trait]
impl TokenBackend for JwtBackend {
    async fn create_tokens(&self, user_id: &str, extra: Claims) -> testudo_core::Result<TokenPair> {
        let access_jti = uuid::Uuid::new_v4().simple().to_string();
        let refresh_jti = uuid::Uuid::new_v4().simple().to_string();
        Ok(self.create_tokens_with_jtis(user_id, &extra, &access_jti, &refresh_jti)?)
    }

    async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
    ) -> testudo_core::Result<TokenPayload> {
        Ok(self.decode(token, expected)?)
    }

    /// No-op: without a revocation list a JWT stays valid until it expires.
    async fn revoke_token(&self, _token: &str) -> testudo_core::Result<()> {
        Ok(())
    }

    /// No-op returning 0: without a revocation list nothing can be revoked.
    async fn revoke_all_for_user(&self, _user_id: &str) -> testudo_core::Result<u64> {
        Ok(0)
    }

    /// Nothing is stored, so nothing is deleted: returns 0.
    async fn cleanup_expired(&self) -> testudo_core::Result<u64> {
        Ok(0)
    }

    fn supports_revocation(&self) -> bool {
        false
    }
}

impl fmt::Debug for JwtBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtBackend")
            .field("algorithm", &self.algorithm)
            .field("signing_kid", &self.signing_kid)
            .field(
                "verification_kids",
                &self.verification.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("issuer", &self.config.jwt_issuer)
            .field("audience", &self.config.jwt_audience)
            .field("leeway_ms", &self.leeway_ms)
            .field("access_lifetime", &self.access_lifetime)
            .field("refresh_lifetime", &self.refresh_lifetime)
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
