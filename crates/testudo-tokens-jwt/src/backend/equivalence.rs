//! The HS* verification written in this crate against the one it replaced, which had
//! `jsonwebtoken` decode every token: both run on the same hand-made and generated tokens
//! (odd headers, duplicate claims, every JSON type in every claim, `iss` / `aud` arrays, bad
//! base64, escapes) and must accept the same tokens with the same payload and refuse the
//! others alike (expired or invalid, and for the same reason unless `jsonwebtoken` called the
//! payload malformed where the one-pass reader names the claim at fault).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use proptest::prelude::*;
use serde_json::Value;
use testudo_config::AuthConfig;
use testudo_core::{
    Claim, FixedClock, InvalidReason, TokenError, TokenPayload, TokenType, wrong_type,
};

use super::JwtBackend;
use super::jws::{HmacState, sign_hmac};

const KEY: &str = "an-equivalence-test-secret-of-32-bytes-or-more";
const NOW: i64 = 1_700_000_000;

// ---- The verification as it was (jsonwebtoken::decode, then testudo's checks). ----

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
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawClaims;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object of claims")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<RawClaims, A::Error> {
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

fn validation(config: &AuthConfig) -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
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
    validation
}

fn old_decode(
    config: &AuthConfig,
    token: &str,
    expected: TokenType,
) -> Result<TokenPayload, TokenError> {
    let claims = jsonwebtoken::decode::<RawClaims>(
        token,
        &DecodingKey::from_secret(KEY.as_bytes()),
        &validation(config),
    )
    .map_err(|e| decode_error(&e))?
    .claims;
    let now_ms = i128::from(NOW) * 1000;
    let iat = required(integer_claim(claims.iat.as_ref(), Claim::Iat)?, Claim::Iat)?;
    if i128::from(iat) * 1000 > now_ms {
        return Err(TokenError::invalid(InvalidReason::NotYetValid(Claim::Iat)));
    }
    if let Some(nbf) = integer_claim(claims.nbf.as_ref(), Claim::Nbf)?
        && i128::from(nbf) * 1000 > now_ms
    {
        return Err(TokenError::invalid(InvalidReason::NotYetValid(Claim::Nbf)));
    }
    let exp = required(integer_claim(claims.exp.as_ref(), Claim::Exp)?, Claim::Exp)?;
    if i128::from(exp) * 1000 <= now_ms {
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
            Err(_) => return Err(TokenError::invalid(InvalidReason::UnknownType)),
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

// ---- The comparison. ----

/// The configurations compared: no issuer / audience, both, one of each.
fn configs() -> Vec<AuthConfig> {
    let make = |iss: Option<&str>, aud: Option<&str>| {
        let mut c = AuthConfig::default();
        c.jwt_secret = Some(KEY.into());
        c.jwt_issuer = iss.map(str::to_owned);
        c.jwt_audience = aud.map(str::to_owned);
        c
    };
    vec![
        make(None, None),
        make(Some("me"), Some("api")),
        make(Some("me"), None),
        make(None, Some("api")),
    ]
}

/// A token of `header` and `payload` (both raw bytes, not necessarily JSON), signed with KEY.
fn token(header: &[u8], payload: &[u8]) -> String {
    let prefix = format!("{}.", URL_SAFE_NO_PAD.encode(header));
    let state = HmacState::new(Algorithm::HS256, KEY.as_bytes());
    state
        .and_then(|s| sign_hmac(&prefix, payload, &s).ok())
        .unwrap_or_default()
}

/// Whether the two outcomes agree (see the module documentation).
fn agree(new: &Result<TokenPayload, TokenError>, old: &Result<TokenPayload, TokenError>) -> bool {
    use InvalidReason::{Malformed, MissingClaim};
    match (new, old) {
        (Ok(a), Ok(b)) => a == b,
        (Err(TokenError::Expired), Err(TokenError::Expired)) => true,
        (Err(TokenError::Invalid { reason: a }), Err(TokenError::Invalid { reason: b })) => {
            a == b
                || *b == Malformed
                // jsonwebtoken checks its required claims in a HashSet's order.
                || matches!(
                    (a, b),
                    (MissingClaim(Claim::Iss | Claim::Aud), MissingClaim(Claim::Iss | Claim::Aud))
                )
        }
        _ => false,
    }
}

fn compare(header: &[u8], payload: &[u8]) -> Result<(), String> {
    compare_token(&token(header, payload))
}

fn compare_token(token: &str) -> Result<(), String> {
    for config in configs() {
        let backend = JwtBackend::new(Arc::new(config.clone()))
            .map_err(|e| e.to_string())?
            .with_clock(Arc::new(
                FixedClock::from_unix(NOW).map_err(|e| e.to_string())?,
            ));
        for expected in [TokenType::Access, TokenType::Refresh] {
            let new = backend.decode(token, expected);
            let old = old_decode(&config, token, expected);
            if !agree(&new, &old) {
                return Err(format!(
                    "{token}\n  iss {:?} aud {:?} {expected:?}\n  new: {new:?}\n  old: {old:?}",
                    config.jwt_issuer, config.jwt_audience
                ));
            }
        }
    }
    Ok(())
}

const HEADER: &[u8] = br#"{"typ":"JWT","alg":"HS256"}"#;

/// A payload valid for `compare`'s clock, with `rest` appended inside the object.
fn valid_with(rest: &str) -> String {
    format!(
        r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":{}{rest}}}"#,
        NOW + 900
    )
}

#[test]
fn hand_made_tokens_are_judged_as_jsonwebtoken_judged_them() -> Result<(), String> {
    let headers: &[&[u8]] = &[
        HEADER,
        br#"{"alg":"HS256","typ":"JWT"}"#,
        br#"{"alg":"HS256"}"#,
        br#"{"alg":"HS256","typ":null}"#,
        br#"{"alg":"HS256","typ":5}"#,
        br#"{"alg":"HS256","alg":"HS256"}"#,
        br#"{"alg":"HS512"}"#,
        br#"{"alg":"none"}"#,
        br#"{"alg":"hs256"}"#,
        br#"{"alg":"HS256","crit":["exp"],"x5c":["a"],"extra":{"a":[1]}}"#,
        br#"{"alg":"HS256","cty":{}}"#,
        br#"{"alg":"HS256","jwk":{"kty":"oct","k":"AA"}}"#,
        br#"{"typ":"JWT"}"#,
        br#"[]"#,
        br#"{"alg":"HS256"} "#,
        b"not json",
        b"",
    ];
    let ok = valid_with("");
    for header in headers {
        compare(header, ok.as_bytes())?;
    }
    let exp = NOW + 900;
    let payloads = [
        ok.clone(),
        valid_with(r#","extra":{"role":"admin","n":[1,{"a":null}]}"#),
        valid_with(r#","extra":null"#),
        valid_with(r#","extra":"x""#),
        valid_with(r#","extra":{},"extra":{"b":1}"#),
        valid_with(r#","jti":"k""#),
        valid_with(r#","jti":"""#),
        valid_with(r#","jti":5"#),
        valid_with(r#","iat":1"#),
        valid_with(r#","iat":1.0"#),
        valid_with(r#","token_type":"refresh""#),
        valid_with(r#","token_type":"other""#),
        valid_with(r#","token_type":null"#),
        valid_with(r#","sub":"2""#),
        valid_with(&format!(r#","exp":{exp}"#)),
        valid_with(r#","nbf":1"#),
        valid_with(r#","nbf":1,"nbf":2"#),
        valid_with(&format!(r#","nbf":{}"#, NOW + 1)),
        valid_with(r#","nbf":null"#),
        valid_with(r#","nbf":"1""#),
        valid_with(r#","nbf":[]"#),
        valid_with(r#","nbf":[1]"#),
        valid_with(r#","nbf":{"a":1}"#),
        valid_with(r#","iss":"me""#),
        valid_with(r#","iss":"me","iss":"me""#),
        valid_with(r#","iss":"you""#),
        valid_with(r#","iss":["you","me"]"#),
        valid_with(r#","iss":[]"#),
        valid_with(r#","iss":["me",1]"#),
        valid_with(r#","iss":null"#),
        valid_with(r#","iss":5"#),
        valid_with(r#","iss":{"me":1}"#),
        valid_with(r#","iss":"\ud800""#),
        valid_with(r#","aud":"api""#),
        valid_with(r#","aud":["api"]"#),
        valid_with(r#","aud":["x","y"]"#),
        valid_with(r#","aud":"api","iss":"me""#),
        valid_with(r#","aud":"api","iss":"you""#),
        valid_with(r#","aud":"x","iss":"you""#),
        valid_with(r#","aud":"api","aud":"api""#),
        valid_with(r#","other":"\ud800""#),
        valid_with(r#","other":[1,{"a":"b"}],"more":null"#),
        valid_with(r#","sub":"\u0031""#),
        valid_with(r#","\u0073ub":"1""#),
        valid_with(r#","jti":"\ud800""#),
        valid_with(r#","extra":{"a":"\ud800"}"#),
        valid_with(r#","jti":["\ud800"],"jti":"j""#),
        valid_with(r#","iat":[1],"iat":1"#),
        format!(r#"{{"sub":1,"token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}}"#),
        format!(r#"{{"sub":[],"token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}}"#),
        format!(r#"{{"sub":null,"token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}}"#),
        format!(r#"{{"token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}}"#),
        format!(
            r#"{{"sub":"1","sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}}"#
        ),
        format!(
            r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":{exp},"exp":{exp}}}"#
        ),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":[{exp}]}}"#),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":[]}}"#),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":{exp}.0}}"#),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":-1}}"#),
        format!(
            r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":18446744073709551615}}"#
        ),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":1e400}}"#),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":-0,"exp":{exp}}}"#),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","exp":{exp}}}"#),
        format!(r#"{{"sub":"1","token_type":"access","iat":{NOW},"exp":{exp}}}"#),
        format!(r#" {{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}} "#),
        format!(r#"{{"sub":"1","token_type":"access","jti":"j","iat":{NOW},"exp":{exp}}}x"#),
        "[]".to_owned(),
        "null".to_owned(),
        "{}".to_owned(),
        "{".to_owned(),
        String::new(),
    ];
    for payload in &payloads {
        compare(HEADER, payload.as_bytes())?;
    }
    // Payloads that are not UTF-8, or hold bytes JSON forbids inside strings.
    compare(HEADER, &[0xff, 0xfe])?;
    let mut bad_utf8 = valid_with(r#","other":"AB""#).into_bytes();
    if let Some(at) = bad_utf8.iter().position(|b| *b == b'A') {
        bad_utf8[at] = 0xff;
    }
    compare(HEADER, &bad_utf8)?;
    compare(HEADER, valid_with(",\"other\":\"a\u{1}b\"").as_bytes())?;
    // Broken compact serializations.
    let good = token(HEADER, ok.as_bytes());
    let (message, tag) = good.rsplit_once('.').ok_or("no tag")?;
    for broken in [
        String::new(),
        "a".to_owned(),
        "a.b".to_owned(),
        format!("{good}.x"),
        format!("x.{good}"),
        format!("{message}."),
        format!("{message}.{tag}="),
        format!("{message}={tag}"),
        format!("{}.{tag}", message.replacen('.', "..", 1)),
        format!("{message}.{}", &tag[1..]),
        good.replacen('e', "f", 1),
    ] {
        compare_token(&broken)?;
    }
    let payload_b64 = URL_SAFE_NO_PAD.encode(ok.as_bytes());
    for payload_segment in [
        format!("{payload_b64}="),
        format!("{payload_b64}*"),
        "*".to_owned(),
    ] {
        let header = URL_SAFE_NO_PAD.encode(HEADER);
        let message = format!("{header}.{payload_segment}");
        // A valid tag over a payload segment that is not base64url.
        let jwt_key = jsonwebtoken::EncodingKey::from_secret(KEY.as_bytes());
        let tag = jsonwebtoken::crypto::sign(message.as_bytes(), &jwt_key, Algorithm::HS256)
            .map_err(|e| e.to_string())?;
        compare_token(&format!("{message}.{tag}"))?;
    }
    Ok(())
}

/// A JSON value of any type, small, with the values that matter for claims.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"me\"".to_owned()),
        Just("\"api\"".to_owned()),
        Just("\"access\"".to_owned()),
        Just("\"refresh\"".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("1.5".to_owned()),
        Just("-3".to_owned()),
        (NOW - 2..NOW + 2).prop_map(|n| n.to_string()),
        (NOW + 898..NOW + 902).prop_map(|n| n.to_string()),
        Just(format!("{NOW}.0")),
        Just("9223372036854775808".to_owned()),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(inner, 0..3).prop_map(|v| {
                let fields: Vec<String> = v
                    .iter()
                    .enumerate()
                    .map(|(i, x)| format!("\"k{i}\":{x}"))
                    .collect();
                format!("{{{}}}", fields.join(","))
            }),
        ]
    })
}

/// A claim name: each one testudo reads, and another.
fn claim_name() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "sub",
        "jti",
        "iat",
        "exp",
        "nbf",
        "token_type",
        "extra",
        "iss",
        "aud",
        "other",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn generated_tokens_are_judged_as_jsonwebtoken_judged_them(
        base in prop::bool::weighted(0.8),
        claims in prop::collection::vec((claim_name(), json_value()), 0..6),
    ) {
        // Mostly a valid token with claims added (repeated ones included), else only these.
        let rest: String = claims.iter().map(|(name, value)| format!(",\"{name}\":{value}")).collect();
        let payload = if base {
            valid_with(&rest)
        } else {
            format!("{{{}}}", rest.trim_start_matches(','))
        };
        compare(HEADER, payload.as_bytes()).map_err(TestCaseError::fail)?;
    }
}
