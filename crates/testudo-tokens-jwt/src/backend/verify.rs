//! Verification: the key for a token's header, decoding, and the claim checks, for verifying
//! and for revoking.

use std::fmt;

use jsonwebtoken::DecodingKey;
use jsonwebtoken::errors::ErrorKind;
use serde_json::Value;
use testudo_core::{Claim, InvalidReason, TokenError, TokenPayload, TokenType, wrong_type};

use super::JwtBackend;
use crate::error::Result;

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

/// An integer claim (`None` when absent); any other JSON value is invalid.
fn integer_claim(value: Option<&Value>, claim: Claim) -> Result<Option<i64>, TokenError> {
    match value {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or(TokenError::invalid(InvalidReason::ClaimType(claim))),
    }
}

/// A claim that must be present.
fn required<T>(value: Option<T>, claim: Claim) -> Result<T, TokenError> {
    value.ok_or(TokenError::invalid(InvalidReason::MissingClaim(claim)))
}

impl JwtBackend {
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

    /// Verifies `token` (signature, pinned algorithm, `iss` / `aud`) and checks its claims as
    /// a token of type `expected`.
    pub(super) fn decode(
        &self,
        token: &str,
        expected: TokenType,
    ) -> Result<TokenPayload, TokenError> {
        let key = self.key_for(token)?;
        let data = jsonwebtoken::decode::<RawClaims>(token, key, &self.validation)
            .map_err(|e| decode_error(&e))?;
        self.check_claims(data.claims, expected)
    }

    /// What `revoke_token` reads: the `jti` and `exp` of a token with a valid signature, its
    /// expiry, issuer and audience not checked (tortoise-auth's rules; an `iat` in the future
    /// still fails). `None` for anything else.
    pub(super) fn decode_for_revoke(&self, token: &str) -> Option<(String, Option<i64>)> {
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
