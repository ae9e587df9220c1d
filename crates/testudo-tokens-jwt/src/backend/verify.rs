//! Verification: the signature of a token (its key picked by the header's `kid`), its claims
//! read in one pass, and the checks, for verifying and for revoking.

use std::borrow::Cow;
use std::sync::PoisonError;

use jsonwebtoken::errors::ErrorKind;
use serde_json::Value;
use testudo_core::{Claim, InvalidReason, TokenError, TokenPayload, TokenType, wrong_type};

use super::claims::{Incoming, Int, Names, Str};
use super::jws::{Payload, Segments, SignatureError, verify_hmac};
use super::{JwtBackend, Keys};

/// The error a `jsonwebtoken` signature check maps to (an unreadable key or signature is
/// malformed, as when `jsonwebtoken` decoded the whole token).
fn crypto_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidSignature => TokenError::invalid(InvalidReason::BadSignature),
        ErrorKind::InvalidAlgorithm => TokenError::invalid(InvalidReason::AlgorithmNotAllowed),
        _ => malformed(),
    }
}

fn malformed() -> TokenError {
    TokenError::invalid(InvalidReason::Malformed)
}

/// An integer claim (`None` when absent); any other JSON value is invalid.
fn integer_claim(value: &Int, claim: Claim) -> Result<Option<i64>, TokenError> {
    match value {
        Int::Absent => Ok(None),
        Int::Integer(v) => Ok(Some(*v)),
        Int::Other => Err(TokenError::invalid(InvalidReason::ClaimType(claim))),
    }
}

/// A claim that must be present.
fn required<T>(value: Option<T>, claim: Claim) -> Result<T, TokenError> {
    value.ok_or(TokenError::invalid(InvalidReason::MissingClaim(claim)))
}

impl JwtBackend {
    /// Checks the header (pinned algorithm, known `kid`) and the signature of `token`, and
    /// returns its decoded payload. The checks run in `jsonwebtoken`'s order, so each failure
    /// has the reason it had when `jsonwebtoken` decoded the token.
    fn verified_payload(&self, token: &str) -> Result<Payload, TokenError> {
        if token.len() > super::MAX_TOKEN_LEN {
            return Err(malformed());
        }
        let segments = Segments::split(token).ok_or_else(malformed)?;
        // The header of a token this backend (or one configured alike) issued is known by its
        // bytes; any other is parsed as jsonwebtoken parses it.
        let kid: Option<Cow<'_, str>> = match self
            .known_headers
            .iter()
            .find(|(segment, _)| segment == segments.header)
        {
            Some((_, kid)) => kid.as_deref().map(Cow::Borrowed),
            None => {
                let header = jsonwebtoken::decode_header(token).map_err(|_| malformed())?;
                if header.alg != self.algorithm {
                    return Err(TokenError::invalid(InvalidReason::AlgorithmNotAllowed));
                }
                header.kid.map(Cow::Owned)
            }
        };
        match &self.keys {
            Keys::Hmac(keys) => {
                let checked = match &kid {
                    // The key the token names, or (a token from before rotation was set up, or
                    // from tortoise-auth) the current key, then each fallback.
                    Some(kid) => {
                        let key = keys
                            .iter()
                            .find(|k| k.kid == *kid)
                            .ok_or_else(|| TokenError::invalid(InvalidReason::UnknownKey))?;
                        verify_hmac(&segments, [&key.state])
                    }
                    None => verify_hmac(&segments, keys.iter().map(|k| &k.state)),
                };
                checked.map_err(|e| match e {
                    SignatureError::Malformed => malformed(),
                    SignatureError::Bad => TokenError::invalid(InvalidReason::BadSignature),
                })?;
            }
            Keys::Public { fixed, published } => {
                let snapshot;
                let key = match fixed.iter().find(|(k, _)| k.as_deref() == kid.as_deref()) {
                    Some((_, key)) => key,
                    None => {
                        snapshot = published
                            .read()
                            .unwrap_or_else(PoisonError::into_inner)
                            .clone();
                        snapshot
                            .iter()
                            .find(|(k, _)| k.as_deref() == kid.as_deref())
                            .map(|(_, key)| key)
                            .ok_or_else(|| TokenError::invalid(InvalidReason::UnknownKey))?
                    }
                };
                let valid = jsonwebtoken::crypto::verify(
                    segments.signature,
                    segments.message.as_bytes(),
                    key,
                    self.algorithm,
                )
                .map_err(|e| crypto_error(&e))?;
                if !valid {
                    return Err(TokenError::invalid(InvalidReason::BadSignature));
                }
            }
        }
        Payload::decode(segments.payload).ok_or_else(malformed)
    }

    /// Verifies `token` (signature, pinned algorithm, `iss` / `aud`) and checks its claims as
    /// a token of type `expected`.
    pub(super) fn decode(
        &self,
        token: &str,
        expected: TokenType,
    ) -> Result<TokenPayload, TokenError> {
        let payload = self.verified_payload(token)?;
        let claims = Incoming::parse(payload.bytes()).ok_or_else(malformed)?;
        self.check_issuer_and_audience(&claims)?;
        self.check_claims(claims, expected)
    }

    /// What `revoke_token` reads: the `jti` and `exp` of a token with a valid signature, its
    /// expiry, issuer and audience not checked (tortoise-auth's rules; an `iat` in the future
    /// still fails). `None` for anything else.
    pub(super) fn decode_for_revoke(&self, token: &str) -> Option<(String, Option<i64>)> {
        let payload = self.verified_payload(token).ok()?;
        let claims = Incoming::parse(payload.bytes())?;
        let iat = integer_claim(&claims.iat, Claim::Iat).ok()?;
        if let Some(iat) = iat
            && i128::from(iat) * 1000
                > i128::from(self.clock.now().timestamp_millis()) + self.leeway_ms
        {
            return None;
        }
        let exp = integer_claim(&claims.exp, Claim::Exp).ok()?;
        match claims.jti {
            Str::Text(jti) if !jti.is_empty() => Some((jti.into_owned(), exp)),
            _ => None,
        }
    }

    /// The configured `iss` / `aud`, as `jsonwebtoken` checked them: each required when
    /// configured (a string or an array of strings), then each compared (an array must contain
    /// the configured value).
    fn check_issuer_and_audience(&self, claims: &Incoming<'_>) -> Result<(), TokenError> {
        let issuer = self.config.jwt_issuer.as_deref();
        let audience = self.config.jwt_audience.as_deref();
        let missing = |names: &Names<'_>, expected: Option<&str>| {
            expected.is_some_and(|e| names.contains(e).is_none())
        };
        if missing(&claims.iss, issuer) {
            return Err(TokenError::invalid(InvalidReason::MissingClaim(Claim::Iss)));
        }
        if missing(&claims.aud, audience) {
            return Err(TokenError::invalid(InvalidReason::MissingClaim(Claim::Aud)));
        }
        if issuer.is_some_and(|iss| claims.iss.contains(iss) == Some(false)) {
            return Err(TokenError::invalid(InvalidReason::InvalidIssuer));
        }
        if audience.is_some_and(|aud| claims.aud.contains(aud) == Some(false)) {
            return Err(TokenError::invalid(InvalidReason::InvalidAudience));
        }
        Ok(())
    }

    /// The checks `PyJWT` and tortoise-auth make, in their order, with `exp`, `iat`, `sub` and
    /// `jti` required and integer times.
    fn check_claims(
        &self,
        claims: Incoming<'_>,
        expected: TokenType,
    ) -> Result<TokenPayload, TokenError> {
        let now_ms = i128::from(self.clock.now().timestamp_millis());
        let iat = required(integer_claim(&claims.iat, Claim::Iat)?, Claim::Iat)?;
        if i128::from(iat) * 1000 > now_ms + self.leeway_ms {
            return Err(TokenError::invalid(InvalidReason::NotYetValid(Claim::Iat)));
        }
        if let Some(nbf) = integer_claim(&claims.nbf, Claim::Nbf)?
            && i128::from(nbf) * 1000 > now_ms + self.leeway_ms
        {
            return Err(TokenError::invalid(InvalidReason::NotYetValid(Claim::Nbf)));
        }
        let exp = required(integer_claim(&claims.exp, Claim::Exp)?, Claim::Exp)?;
        if i128::from(exp) * 1000 <= now_ms - self.leeway_ms {
            return Err(TokenError::Expired);
        }
        let sub = match claims.sub {
            Str::Text(s) => s,
            Str::Other => return Err(TokenError::invalid(InvalidReason::ClaimType(Claim::Sub))),
            Str::Absent => {
                return Err(TokenError::invalid(InvalidReason::MissingClaim(Claim::Sub)));
            }
        };
        let jti = match claims.jti {
            Str::Text(s) => Some(s),
            Str::Other => return Err(TokenError::invalid(InvalidReason::ClaimType(Claim::Jti))),
            Str::Absent => None,
        };
        match &claims.token_type {
            Str::Text(t) if t == expected.as_str() => {}
            Str::Text(t) => match t.parse::<TokenType>() {
                Ok(got) => return Err(wrong_type(expected, Some(got))),
                Err(_) => {
                    return Err(TokenError::invalid(InvalidReason::UnknownType));
                }
            },
            Str::Absent | Str::Other => return Err(wrong_type(expected, None)),
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
            sub: sub.into_owned(),
            token_type: expected,
            jti: jti.into_owned(),
            iat,
            exp,
            extra,
        })
    }
}
