//! The JWT backend, stateless or with the database revocation list.

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::Serialize;
use serde_json::Value;
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{
    Claim, Claims, Clock, ExposeSecret, InvalidReason, SystemClock, TokenBackend, TokenError,
    TokenPair, TokenPayload, TokenType, async_trait, saturating_chrono, saturating_from_unix,
    saturating_sub, wrong_type,
};
use testudo_db::{Database, retrying};

use crate::error::{Error, KeyId, Result};
use crate::keys::JwtKeys;
use crate::revocation::{self, Issued, Scope};

/// How long after a refresh token was rotated presenting it again counts as the loser of a
/// concurrent rotation rather than as a replay: 5 seconds, as in `testudo-tokens-db`. See
/// [`JwtBackend::with_rotation_grace`].
pub const DEFAULT_ROTATION_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Issues and verifies JWT access / refresh pairs, stateless or with the database revocation
/// list ([`JwtBackend::with_revocation_list`]).
///
/// See the [crate documentation](crate) for the claim layout, the verification rules, the
/// revocation list and what running without it means for logout and refresh.
pub struct JwtBackend {
    config: Arc<AuthConfig>,
    list: Option<Database>,
    rotation_grace: std::time::Duration,
    clock: Arc<dyn Clock>,
    algorithm: Algorithm,
    hmac: bool,
    signing_kid: Option<String>,
    signing: EncodingKey,
    verification: Vec<(Option<String>, DecodingKey)>,
    validation: Validation,
    /// `validation` without `iss` / `aud` checks, for `revoke_token`.
    revoke_validation: Validation,
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
        _ => return Err(Error::UnsupportedAlgorithm { algorithm }),
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
        algorithm,
        kid: kid.map(|k| KeyId::new(k)),
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
        ErrorKind::InvalidSignature => TokenError::invalid(InvalidReason::BadSignature),
        ErrorKind::InvalidAlgorithm => TokenError::invalid(InvalidReason::AlgorithmNotAllowed),
        ErrorKind::InvalidIssuer => TokenError::invalid(InvalidReason::InvalidIssuer),
        ErrorKind::InvalidAudience => TokenError::invalid(InvalidReason::InvalidAudience),
        ErrorKind::MissingRequiredClaim(claim) => {
            TokenError::invalid(InvalidReason::MissingClaim(Claim::from_name(claim)))
        }
        _ => TokenError::invalid(InvalidReason::Malformed),
    }
}

/// The claims testudo reads from a decoded token, each as the JSON value found (a JSON `null`
/// is `Some(Value::Null)`, an absent claim `None`); every other claim is skipped without being
/// stored. A claim given twice keeps its last value, as a JSON object read into a map would.
#[derive(Debug, Default)]
struct RawClaims {
    iat: Option<Value>,
    nbf: Option<Value>,
    exp: Option<Value>,
    sub: Option<Value>,
    jti: Option<Value>,
    token_type: Option<Value>,
    extra: Option<Value>,
}

/// A top-level claim name, read without allocating.
#[derive(serde::Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum ClaimName {
    Iat,
    Nbf,
    Exp,
    Sub,
    Jti,
    TokenType,
    Extra,
    #[serde(other)]
    Other,
}

impl<'de> serde::Deserialize<'de> for RawClaims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawClaims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<RawClaims, A::Error> {
                let mut c = RawClaims::default();
                while let Some(name) = map.next_key::<ClaimName>()? {
                    let slot = match name {
                        ClaimName::Iat => &mut c.iat,
                        ClaimName::Nbf => &mut c.nbf,
                        ClaimName::Exp => &mut c.exp,
                        ClaimName::Sub => &mut c.sub,
                        ClaimName::Jti => &mut c.jti,
                        ClaimName::TokenType => &mut c.token_type,
                        ClaimName::Extra => &mut c.extra,
                        ClaimName::Other => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                            continue;
                        }
                    };
                    *slot = Some(map.next_value::<Value>()?);
                }
                Ok(c)
            }
        }
        d.deserialize_map(Visit)
    }
}

fn integer_claim(value: Option<&Value>, claim: Claim) -> Result<Option<i64>, TokenError> {
    match value {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(TokenError::invalid(InvalidReason::ClaimType(claim))),
    }
}

fn required<T>(value: Option<T>, claim: Claim) -> Result<T, TokenError> {
    value.ok_or(TokenError::invalid(InvalidReason::MissingClaim(claim)))
}

impl JwtBackend {
    /// A backend for an HS256 / HS384 / HS512 configuration, signing with
    /// [`AuthConfig::effective_jwt_secret`].
    ///
    /// # Errors
    ///
    /// [`Error::MissingSecret`] without a secret, [`Error::ShortSecret`] when it is shorter than
    /// 32 / 48 / 64 bytes, [`Error::MissingKeys`] when the configured algorithm is asymmetric
    /// (use [`JwtBackend::with_keys`]), [`Error::UnsupportedAlgorithm`].
    pub fn new(config: Arc<AuthConfig>) -> Result<Self> {
        Self::build(config, None, true)
    }

    /// A backend for an RS256 / ES256 / EdDSA configuration, with PEM keys.
    ///
    /// # Errors
    ///
    /// [`Error::KeysWithHmac`] when the configured algorithm is HS*, [`Error::NoSigningKey`] /
    /// [`Error::NoVerificationKey`] when the signing key or every verification key is missing,
    /// [`Error::Pem`] for a key that cannot be read for the configured algorithm.
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

    /// Turns the revocation list on, in the `testudo_jwt_outstanding_tokens` and
    /// `testudo_jwt_blacklisted_tokens` tables of `db` (created by `testudo-migrations`).
    ///
    /// The list is on whenever a database is given, whatever `jwt_blacklist_enabled` says;
    /// `jwt_blacklist_enabled = true` without one makes every call fail with
    /// [`Error::RevocationListUnavailable`] (a configuration error) rather than run without the
    /// revocation the configuration asks for. See the crate documentation for what the list
    /// does.
    #[must_use]
    pub fn with_revocation_list(mut self, db: Database) -> Self {
        self.list = Some(db);
        self
    }

    /// Replaces the rotation grace window ([`DEFAULT_ROTATION_GRACE`] by default), as
    /// `DatabaseTokenBackend::with_rotation_grace` in `testudo-tokens-db`.
    ///
    /// With the revocation list, a refresh token presented again less than `grace` after it
    /// was rotated (by the backend's clock) is answered Revoked without reuse detection: that
    /// is how the losers of N concurrent rotations of one token look, and revoking the family
    /// there would kill the winner's new pair. Presented later, it is a replay and its family
    /// is revoked. A zero grace treats every second presentation as a replay.
    #[must_use]
    pub fn with_rotation_grace(mut self, grace: std::time::Duration) -> Self {
        self.rotation_grace = grace;
        self
    }

    /// The revocation-list database, when the list is on.
    #[must_use]
    pub fn revocation_list(&self) -> Option<&Database> {
        self.list.as_ref()
    }

    /// Replaces the clock (the system clock by default), e.g. with a
    /// [`testudo_core::FixedClock`] in tests.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    fn build(config: Arc<AuthConfig>, keys: Option<JwtKeys>, check_length: bool) -> Result<Self> {
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
            (
                None,
                EncodingKey::from_secret(secret),
                vec![(None, DecodingKey::from_secret(secret))],
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
        self.sign_pair(
            user_id,
            extra,
            access_jti,
            refresh_jti,
            self.clock.now().timestamp(),
        )
    }

    fn sign_pair(
        &self,
        user_id: &str,
        extra: &Claims,
        access_jti: &str,
        refresh_jti: &str,
        iat: i64,
    ) -> Result<TokenPair> {
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

    /// The verification key for `token`'s header (pinned algorithm, known `kid`).
    fn key_for(&self, token: &str) -> Result<&DecodingKey, TokenError> {
        if self.hmac {
            // One shared secret: no `kid` to look up, so the header is parsed only once, by
            // `jsonwebtoken::decode`, which refuses any algorithm but the pinned one
            // (`Validation::algorithms`) with the same "not allowed" error as below.
            return self
                .verification
                .first()
                .map(|(_, key)| key)
                .ok_or_else(|| TokenError::invalid(InvalidReason::UnknownKey));
        }
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| TokenError::invalid(InvalidReason::Malformed))?;
        if header.alg != self.algorithm {
            return Err(TokenError::invalid(InvalidReason::AlgorithmNotAllowed));
        }
        self.verification
            .iter()
            .find(|(kid, _)| *kid == header.kid)
            .map(|(_, key)| key)
            .ok_or_else(|| TokenError::invalid(InvalidReason::UnknownKey))
    }

    fn decode(&self, token: &str, expected: TokenType) -> Result<TokenPayload, TokenError> {
        let key = self.key_for(token)?;
        let data = jsonwebtoken::decode::<RawClaims>(token, key, &self.validation)
            .map_err(|e| decode_error(&e))?;
        self.check_claims(data.claims, expected)
    }

    /// What `revoke_token` reads: the `jti` and `exp` of a token with a valid signature, its
    /// expiry, issuer and audience not checked (tortoise-auth's rules; an `iat` in the future
    /// still fails). `None` for anything else.
    fn decode_for_revoke(&self, token: &str) -> Option<(String, Option<i64>)> {
        let key = self.key_for(token).ok()?;
        let claims = jsonwebtoken::decode::<RawClaims>(token, key, &self.revoke_validation)
            .ok()?
            .claims;
        let iat = integer_claim(claims.iat.as_ref(), Claim::Iat).ok()?;
        if let Some(iat) = iat
            && i128::from(iat) * 1000
                > i128::from(self.clock.now().timestamp_millis()) + self.leeway_ms
        {
            return None;
        }
        let exp = integer_claim(claims.exp.as_ref(), Claim::Exp).ok()?;
        match claims.jti {
            Some(Value::String(jti)) if !jti.is_empty() => Some((jti, exp)),
            _ => None,
        }
    }

    /// The revocation-list database: `Ok(None)` when the list is off, an error when the
    /// configuration asks for it but none was given.
    fn list(&self) -> Result<Option<&Database>> {
        match &self.list {
            Some(db) => Ok(Some(db)),
            None if self.config.jwt_blacklist_enabled => Err(Error::RevocationListUnavailable),
            None => Ok(None),
        }
    }

    /// The rotation grace window as a `chrono` duration (see [`JwtBackend::with_rotation_grace`]).
    fn grace(&self) -> chrono::Duration {
        saturating_chrono(self.rotation_grace)
    }

    /// Signs a pair and records it as outstanding in family `family_id`, in one transaction.
    async fn issue_recorded(
        &self,
        db: &Database,
        user_id: &str,
        extra: &Claims,
        family_id: &str,
    ) -> testudo_core::Result<TokenPair> {
        let now = self.clock.now();
        let (access_jti, refresh_jti) = (new_jti(), new_jti());
        let pair = self.sign_pair(user_id, extra, &access_jti, &refresh_jti, now.timestamp())?;
        let issued = self.issued(&access_jti, &refresh_jti, now.timestamp());
        retrying(|| async {
            let txn = db.begin().await?;
            revocation::record(&txn, user_id, family_id, now, &issued).await?;
            txn.commit().await?;
            Ok::<_, testudo_db::Error>(())
        })
        .await?;
        Ok(pair)
    }

    fn issued<'a>(&self, access_jti: &'a str, refresh_jti: &'a str, iat: i64) -> [Issued<'a>; 2] {
        [
            Issued {
                jti: access_jti,
                token_type: TokenType::Access,
                exp: iat.saturating_add(self.access_lifetime),
            },
            Issued {
                jti: refresh_jti,
                token_type: TokenType::Refresh,
                exp: iat.saturating_add(self.refresh_lifetime),
            },
        ]
    }

    /// Single-use rotation with the list on; see the crate documentation.
    async fn rotate_recorded(
        &self,
        db: &Database,
        refresh_token: &str,
    ) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        let payload = self.decode(refresh_token, TokenType::Refresh)?;
        let now = self.clock.now();
        let (access_jti, refresh_jti) = (new_jti(), new_jti());
        let pair = self.sign_pair(
            &payload.sub,
            payload.extra.as_ref().unwrap_or(&Claims::new()),
            &access_jti,
            &refresh_jti,
            now.timestamp(),
        )?;
        let issued = self.issued(&access_jti, &refresh_jti, now.timestamp());
        let family = match retrying(|| self.try_rotate(db, &payload, &issued, now)).await? {
            Rotation::Rotated => return Ok((payload, pair)),
            Rotation::Revoked => return Err(TokenError::Revoked.into()),
            Rotation::Reused(family) => family,
        };
        tracing::warn!(
            family = %family,
            "rotated refresh token presented again: revoking its family"
        );
        blacklist(db, Scope::Family(&family), now).await?;
        Err(TokenError::Revoked.into())
    }

    /// One attempt of [`JwtBackend::rotate_recorded`] (`Err` for a database failure, retried
    /// when transient).
    async fn try_rotate(
        &self,
        db: &Database,
        payload: &TokenPayload,
        issued: &[Issued<'_>; 2],
        now: DateTime<Utc>,
    ) -> testudo_db::Result<Rotation> {
        let txn = db.begin().await?;
        // The unique jti decides: only one caller inserts the blacklist row.
        let won = revocation::blacklist_one(
            &txn,
            &payload.jti,
            now,
            Some(saturating_from_unix(payload.exp)),
        )
        .await?;
        let row = revocation::outstanding_row(&txn, &payload.jti).await?;
        if !won {
            // Already blacklisted: rotated before (a successor exists in its family) or revoked.
            // A rotation less than the grace window ago: the loser of a concurrent rotation,
            // answered Revoked without revoking the winner's new pair.
            let reused = match row {
                Some(row) if self.config.refresh_reuse_detection => {
                    match revocation::rotated_at(&txn, &row).await? {
                        Some(at) if now.signed_duration_since(at) >= self.grace() => row.family_id,
                        _ => None,
                    }
                }
                _ => None,
            };
            // The family is revoked in a transaction of its own, once this one has released its
            // locks (on MariaDB, concurrent losers holding them would deadlock each other).
            txn.rollback().await?;
            return Ok(reused.map_or(Rotation::Revoked, Rotation::Reused));
        }
        let family = match row.and_then(|r| r.family_id) {
            Some(family) => {
                // The access token issued with the rotated refresh token goes too.
                revocation::blacklist_outstanding(&txn, Scope::FamilyAccess(&family), now).await?;
                family
            }
            // Issued while the list was off, or its row was cleaned up: a new family.
            None => new_jti(),
        };
        revocation::record(&txn, &payload.sub, &family, now, issued).await?;
        txn.commit().await?;
        Ok(Rotation::Rotated)
    }

    /// The checks `PyJWT` and tortoise-auth make, in their order, with `exp`, `iat`, `sub` and
    /// `jti` required and integer times.
    fn check_claims(
        &self,
        claims: RawClaims,
        expected: TokenType,
    ) -> Result<TokenPayload, TokenError> {
        let now_ms = i128::from(self.clock.now().timestamp_millis());
        let iat = required(integer_claim(claims.iat.as_ref(), Claim::Iat)?, Claim::Iat)?;
        if i128::from(iat) * 1000 > now_ms + self.leeway_ms {
            return Err(TokenError::invalid(InvalidReason::NotYetValid(Claim::Iat)));
        }
        if let Some(nbf) = integer_claim(claims.nbf.as_ref(), Claim::Nbf)?
            && i128::from(nbf) * 1000 > now_ms + self.leeway_ms
        {
            return Err(TokenError::invalid(InvalidReason::NotYetValid(Claim::Nbf)));
        }
        let exp = required(integer_claim(claims.exp.as_ref(), Claim::Exp)?, Claim::Exp)?;
        if i128::from(exp) * 1000 <= now_ms - self.leeway_ms {
            return Err(TokenError::Expired);
        }
        let sub = match claims.sub {
            Some(Value::String(s)) => s,
            Some(_) => return Err(TokenError::invalid(InvalidReason::ClaimType(Claim::Sub))),
            None => return Err(TokenError::invalid(InvalidReason::MissingClaim(Claim::Sub))),
        };
        let jti = match claims.jti {
            Some(Value::String(s)) => Some(s),
            Some(_) => return Err(TokenError::invalid(InvalidReason::ClaimType(Claim::Jti))),
            None => None,
        };
        match &claims.token_type {
            Some(Value::String(t)) if t == expected.as_str() => {}
            Some(Value::String(t)) => match t.parse::<TokenType>() {
                Ok(got) => return Err(wrong_type(expected, Some(got))),
                Err(_) => {
                    return Err(TokenError::invalid(InvalidReason::UnknownType));
                }
            },
            _ => return Err(wrong_type(expected, None)),
        }
        let jti = jti
            .filter(|j| !j.is_empty())
            .ok_or_else(|| TokenError::invalid(InvalidReason::MissingClaim(Claim::Jti)))?;
        let extra = match claims.extra {
            None | Some(Value::Null) => None,
            Some(Value::Object(extra)) => Some(extra),
            Some(_) => return Err(TokenError::invalid(InvalidReason::ClaimType(Claim::Extra))),
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

fn new_jti() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What one rotation attempt found.
enum Rotation {
    /// The token was blacklisted and the next pair recorded.
    Rotated,
    /// The token was blacklisted already (revoked, or rotated with reuse detection off).
    Revoked,
    /// The token was rotated already: its family must be revoked.
    Reused(String),
}

/// Blacklists every outstanding token in `scope` in one transaction (run again while the
/// database aborts it with a transient error); returns how many.
async fn blacklist(db: &Database, scope: Scope<'_>, now: DateTime<Utc>) -> testudo_db::Result<u64> {
    retrying(|| async {
        let txn = db.begin().await?;
        let n = revocation::blacklist_outstanding(&txn, scope, now).await?;
        txn.commit().await?;
        Ok(n)
    })
    .await
}

/// The trait's methods; their behaviour with and without the revocation list is described in
/// the [crate documentation](crate).
#[async_trait]
impl TokenBackend for JwtBackend {
    /// Signs a pair; with the list on, records both `jti`s as outstanding (one transaction, a
    /// new token family).
    async fn create_tokens(&self, user_id: &str, extra: Claims) -> testudo_core::Result<TokenPair> {
        match self.list()? {
            Some(db) => self.issue_recorded(db, user_id, &extra, &new_jti()).await,
            None => Ok(self.create_tokens_with_jtis(user_id, &extra, &new_jti(), &new_jti())?),
        }
    }

    /// Verifies a token; with the list on, a blacklisted `jti` is Revoked (checked after the
    /// signature, the times and the type, so an expired token is Expired).
    async fn verify_token(
        &self,
        token: &str,
        expected: TokenType,
    ) -> testudo_core::Result<TokenPayload> {
        let list = self.list()?;
        let payload = self.decode(token, expected)?;
        if let Some(db) = list
            && revocation::is_blacklisted(db.as_sea_orm(), &payload.jti)
                .await
                .map_err(testudo_db::Error::from)?
        {
            return Err(TokenError::Revoked.into());
        }
        Ok(payload)
    }

    /// With the list on: single-use rotation with reuse detection. Without it: the trait's
    /// default (verify, a no-op revoke, issue), so the refresh token stays usable.
    async fn rotate(&self, refresh_token: &str) -> testudo_core::Result<(TokenPayload, TokenPair)> {
        match self.list()? {
            Some(db) => self.rotate_recorded(db, refresh_token).await,
            None => {
                let payload = self.decode(refresh_token, TokenType::Refresh)?;
                let pair = self.create_tokens_with_jtis(
                    &payload.sub,
                    payload.extra.as_ref().unwrap_or(&Claims::new()),
                    &new_jti(),
                    &new_jti(),
                )?;
                Ok((payload, pair))
            }
        }
    }

    /// With the list on, blacklists the token's `jti`, even when the token has expired
    /// (a token that does not verify otherwise is ignored). Without it: a no-op, the token
    /// stays valid until it expires.
    async fn revoke_token(&self, token: &str) -> testudo_core::Result<()> {
        let Some(db) = self.list()? else {
            return Ok(());
        };
        let Some((jti, exp)) = self.decode_for_revoke(token) else {
            return Ok(());
        };
        revocation::blacklist_one(
            db.as_sea_orm(),
            &jti,
            self.clock.now(),
            exp.map(saturating_from_unix),
        )
        .await
        .map_err(testudo_db::Error::from)?;
        Ok(())
    }

    /// With the list on, blacklists every outstanding `jti` of the user that is not blacklisted
    /// yet (one transaction) and returns how many. Without it: a no-op returning 0.
    async fn revoke_all_for_user(&self, user_id: &str) -> testudo_core::Result<u64> {
        let Some(db) = self.list()? else {
            return Ok(0);
        };
        Ok(blacklist(db, Scope::User(user_id), self.clock.now()).await?)
    }

    /// With the list on, deletes the outstanding rows expired for longer than `jwt_leeway`,
    /// their blacklist rows and the expired blacklist rows of tokens without one (one
    /// transaction) and returns how many rows. Without it: returns 0.
    async fn cleanup_expired(&self) -> testudo_core::Result<u64> {
        let Some(db) = self.list()? else {
            return Ok(0);
        };
        let cutoff = saturating_sub(self.clock.now(), self.config.jwt_leeway);
        let txn = db.begin().await?;
        let n = revocation::delete_expired(&txn, cutoff)
            .await
            .map_err(testudo_db::Error::from)?;
        txn.commit().await.map_err(testudo_db::Error::from)?;
        Ok(n)
    }

    /// `true` only with the revocation list on.
    fn supports_revocation(&self) -> bool {
        self.list.is_some()
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
            .field("revocation_list", &self.list.is_some())
            .field("rotation_grace", &self.rotation_grace)
            .finish_non_exhaustive()
    }
}
