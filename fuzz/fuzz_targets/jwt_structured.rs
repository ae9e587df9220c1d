//! Structured JWTs: an arbitrary header (algorithm name, `typ`, `kid`, extra fields) and
//! arbitrary claims (`exp` / `iat` / `nbf` as integers at the limits, floats, strings, ...),
//! signed with a key chosen from a mix (the right one, the RSA public key PEM as an HMAC
//! secret, an Ed25519 key, no signature for `alg: none`), then verified by an HS256 and an
//! RS256 backend. Invariant: whatever verifies was signed with the backend's own key and
//! algorithm, and its payload says exactly what the claims said, with a valid time window.

#![no_main]

use std::sync::{Arc, OnceLock};

use arbitrary::Arbitrary;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use testudo_config::JwtAlgorithm;
use testudo_core::{TokenBackend, TokenType};
use testudo_fuzz::NOW;
use testudo_tokens_jwt::{JwtBackend, JwtKeys};

/// What signs the token.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Signing {
    /// HS256 with the HS backend's secret.
    HsSecret,
    /// RS256 with the RS backend's private key.
    RsKey,
    /// HS256 keyed with the RSA public key PEM (algorithm confusion).
    HsWithRsaPublicPem,
    /// HS384 / HS512 with the HS backend's secret.
    Hs384Secret,
    /// EdDSA with an Ed25519 key neither backend knows.
    EdKey,
    /// No signature at all (empty third segment).
    Unsigned,
}

/// A JSON value for a claim or a header field.
#[derive(Debug, Clone, Arbitrary)]
enum Val {
    Absent,
    Null,
    Bool(bool),
    /// `NOW + 60 * offset`: lands in and around the valid window.
    Near(i16),
    Int(i64),
    Big(u64),
    Float(f64),
    Str(String),
    Array(Vec<i8>),
    Object(Vec<(String, i8)>),
}

impl Val {
    fn json(&self) -> Option<Value> {
        Some(match self {
            Self::Absent => return None,
            Self::Null => Value::Null,
            Self::Bool(b) => json!(b),
            Self::Near(o) => json!(NOW + 60 * i64::from(*o)),
            Self::Int(i) => json!(i),
            Self::Big(u) => json!(u),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Str(s) => json!(s),
            Self::Array(a) => json!(a),
            Self::Object(o) => {
                Value::Object(o.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
            }
        })
    }
}

#[derive(Debug, Arbitrary)]
struct Input {
    signing: Signing,
    /// `None`: the algorithm that matches `signing`; otherwise a header `alg` of its own.
    alg: Option<String>,
    typ: Val,
    kid: Val,
    header_extra: Vec<(String, Val)>,
    sub: Val,
    token_type: Val,
    jti: Val,
    iat: Val,
    nbf: Val,
    exp: Val,
    extra: Val,
    claims_extra: Vec<(String, Val)>,
    /// Edit the signed text after signing: (position, byte).
    edit: Option<(u16, u8)>,
}

fn backends() -> &'static [(JwtBackend, &'static str); 2] {
    static B: OnceLock<[(JwtBackend, &'static str); 2]> = OnceLock::new();
    B.get_or_init(|| {
        let hs = JwtBackend::new(Arc::new(testudo_fuzz::cheap_config()))
            .expect("an HS256 backend")
            .with_clock(testudo_fuzz::clock());
        let mut c = testudo_fuzz::cheap_config();
        c.jwt_algorithm = JwtAlgorithm::RS256;
        c.jwt_secret = None;
        let keys = JwtKeys::new()
            .signing_key(None, testudo_fuzz::RSA_KEY)
            .verification_key(None, testudo_fuzz::RSA_PUB);
        let rs = JwtBackend::with_keys(Arc::new(c), keys)
            .expect("an RS256 backend")
            .with_clock(testudo_fuzz::clock());
        [(hs, "HS256"), (rs, "RS256")]
    })
}

fn keys() -> &'static [EncodingKey; 4] {
    static K: OnceLock<[EncodingKey; 4]> = OnceLock::new();
    K.get_or_init(|| {
        [
            EncodingKey::from_secret(testudo_fuzz::JWT_SECRET.as_bytes()),
            EncodingKey::from_rsa_pem(testudo_fuzz::RSA_KEY.as_bytes()).expect("RSA key"),
            EncodingKey::from_secret(testudo_fuzz::RSA_PUB.as_bytes()),
            EncodingKey::from_ed_pem(testudo_fuzz::ED_KEY.as_bytes()).expect("Ed25519 key"),
        ]
    })
}

fn put(map: &mut Map<String, Value>, name: &str, v: &Val) {
    if let Some(v) = v.json() {
        map.insert(name.to_owned(), v);
    }
}

fuzz_target!(|input: Input| {
    let (default_alg, key) = match input.signing {
        Signing::HsSecret => ("HS256", Some((&keys()[0], Algorithm::HS256))),
        Signing::RsKey => ("RS256", Some((&keys()[1], Algorithm::RS256))),
        Signing::HsWithRsaPublicPem => ("HS256", Some((&keys()[2], Algorithm::HS256))),
        Signing::Hs384Secret => ("HS384", Some((&keys()[0], Algorithm::HS384))),
        Signing::EdKey => ("EdDSA", Some((&keys()[3], Algorithm::EdDSA))),
        Signing::Unsigned => ("none", None),
    };
    let alg = input.alg.clone().unwrap_or_else(|| default_alg.to_owned());
    let mut header = Map::new();
    header.insert("alg".to_owned(), json!(alg));
    put(&mut header, "typ", &input.typ);
    put(&mut header, "kid", &input.kid);
    for (k, v) in &input.header_extra {
        if k != "alg" {
            put(&mut header, k, v);
        }
    }
    let mut claims = Map::new();
    for (k, v) in &input.claims_extra {
        put(&mut claims, k, v);
    }
    put(&mut claims, "sub", &input.sub);
    put(&mut claims, "token_type", &input.token_type);
    put(&mut claims, "jti", &input.jti);
    put(&mut claims, "iat", &input.iat);
    put(&mut claims, "nbf", &input.nbf);
    put(&mut claims, "exp", &input.exp);
    put(&mut claims, "extra", &input.extra);
    let (Ok(h), Ok(c)) = (serde_json::to_vec(&header), serde_json::to_vec(&claims)) else {
        return;
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(h),
        URL_SAFE_NO_PAD.encode(c)
    );
    let signature = match key {
        Some((key, algorithm)) => {
            match jsonwebtoken::crypto::sign(message.as_bytes(), key, algorithm) {
                Ok(s) => s,
                Err(_) => return,
            }
        }
        None => String::new(),
    };
    let mut token = format!("{message}.{signature}").into_bytes();
    let edited = if let Some((at, byte)) = input.edit {
        let at = usize::from(at) % token.len();
        let changed = token[at] != byte;
        token[at] = byte;
        changed
    } else {
        false
    };
    let token = String::from_utf8_lossy(&token).into_owned();

    testudo_fuzz::runtime().block_on(async {
        for (backend, pinned) in backends() {
            for expected in [TokenType::Access, TokenType::Refresh] {
                let Ok(p) = backend.verify_token(&token, expected).await else {
                    continue;
                };
                // It verified: it must be the backend's own algorithm and key, unedited.
                assert!(!edited, "an edited token verified: {token}");
                assert_eq!(alg, *pinned, "another algorithm verified: {token}");
                let right_key = matches!(
                    (input.signing, *pinned),
                    (Signing::HsSecret, "HS256") | (Signing::RsKey, "RS256")
                );
                assert!(
                    right_key,
                    "a token signed with {:?} verified on {pinned}",
                    input.signing
                );
                // The payload says what the claims said.
                assert_eq!(claims.get("sub"), Some(&json!(p.sub)), "sub");
                assert_eq!(claims.get("jti"), Some(&json!(p.jti)), "jti");
                assert!(!p.jti.is_empty(), "empty jti");
                assert_eq!(
                    claims.get("token_type"),
                    Some(&json!(expected.as_str())),
                    "type"
                );
                assert_eq!(claims.get("iat"), Some(&json!(p.iat)), "iat");
                assert_eq!(claims.get("exp"), Some(&json!(p.exp)), "exp");
                assert!(p.iat <= NOW, "iat in the future accepted: {}", p.iat);
                assert!(p.exp > NOW, "expired token accepted: {}", p.exp);
                if let Some(nbf) = claims.get("nbf") {
                    assert!(nbf.as_i64().is_some_and(|n| n <= NOW), "nbf {nbf} accepted");
                }
            }
        }
    });
});
