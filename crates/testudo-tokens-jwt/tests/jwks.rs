//! JWK Sets: what a backend publishes, a second process verifying tokens with nothing but the
//! published set, and the sets a verifier refuses.

use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{Claims, InvalidReason, TokenBackend, TokenError, TokenType};
use testudo_tokens_jwt::{Error, JwksReason, JwtBackend, JwtKeys};

type TestResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

const ED1_KEY: &str = include_str!("keys/ed1.key.pem");
const ED1_PUB: &str = include_str!("keys/ed1.pub.pem");
const ED2_KEY: &str = include_str!("keys/ed2.key.pem");
const ED2_PUB: &str = include_str!("keys/ed2.pub.pem");
const EC_KEY: &str = include_str!("keys/ec.key.pem");
const EC_PUB: &str = include_str!("keys/ec.pub.pem");
const RSA_KEY: &str = include_str!("keys/rsa.key.pem");
const RSA_PUB: &str = include_str!("keys/rsa.pub.pem");

fn config(algorithm: JwtAlgorithm) -> Arc<AuthConfig> {
    let mut c = AuthConfig::default();
    c.jwt_algorithm = algorithm;
    Arc::new(c)
}

fn issuer(
    algorithm: JwtAlgorithm,
    kid: &str,
    key: &str,
    public: &str,
) -> Result<JwtBackend, Error> {
    JwtBackend::with_keys(
        config(algorithm),
        JwtKeys::new()
            .signing_key(Some(kid), key)
            .verification_key(Some(kid), public),
    )
}

fn jwks_reason<T>(r: Result<T, Error>) -> Option<JwksReason> {
    match r {
        Err(Error::Jwks { reason, .. }) => Some(reason),
        _ => None,
    }
}

fn token_error(r: testudo_core::Result<testudo_core::TokenPayload>) -> Option<TokenError> {
    r.err().and_then(|e| e.as_token_error().cloned())
}

/// Runs the second process on `token` with the JWK Set `jwks`: its stdout line, and whether it
/// verified the token.
fn verify_elsewhere(
    algorithm: JwtAlgorithm,
    jwks: &str,
    token: &str,
) -> TestResult<(String, bool)> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("jwks.json");
    std::fs::write(&file, jwks)?;
    let out = Command::new(env!("CARGO_BIN_EXE_testudo-jwks-verify"))
        .arg(algorithm.as_str())
        .arg(&file)
        .arg(token)
        .output()?;
    let code = out.status.code();
    assert!(matches!(code, Some(0 | 1)), "second process: {out:?}");
    Ok((
        String::from_utf8(out.stdout)?.trim().to_owned(),
        code == Some(0),
    ))
}

#[tokio::test]
async fn a_published_jwk_set_verifies_the_tokens_in_a_second_process() -> TestResult {
    for (alg, key, public, other_key, other_public) in [
        (JwtAlgorithm::EdDSA, ED1_KEY, ED1_PUB, ED2_KEY, ED2_PUB),
        (JwtAlgorithm::ES256, EC_KEY, EC_PUB, ED2_KEY, ED2_PUB),
        (JwtAlgorithm::RS256, RSA_KEY, RSA_PUB, ED2_KEY, ED2_PUB),
    ] {
        let backend = issuer(alg, "k1", key, public)?;
        let jwks = backend.jwk_set_json()?;
        let pair = backend.create_tokens("42", Claims::new()).await?;
        assert_eq!(
            verify_elsewhere(alg, &jwks, pair.access_token())?,
            ("ok 42".to_owned(), true),
            "{alg:?}"
        );
        // A refresh token is not an access token, there as here.
        let (line, ok) = verify_elsewhere(alg, &jwks, pair.refresh_token())?;
        assert!(
            !ok && line.starts_with("refused invalid token: expected token type"),
            "{line}"
        );
        if alg == JwtAlgorithm::EdDSA {
            // A token of a key the set does not hold: unknown kid.
            let other = issuer(alg, "k2", other_key, other_public)?;
            let pair = other.create_tokens("42", Claims::new()).await?;
            let (line, ok) = verify_elsewhere(alg, &jwks, pair.access_token())?;
            assert!(
                !ok && line == "refused invalid token: unknown key id",
                "{line}"
            );
            // The right kid with another key: bad signature.
            let liar = issuer(alg, "k1", other_key, other_public)?;
            let pair = liar.create_tokens("42", Claims::new()).await?;
            let (line, ok) = verify_elsewhere(alg, &jwks, pair.access_token())?;
            assert!(
                !ok && line == "refused invalid token: signature verification failed",
                "{line}"
            );
        }
        // A set with an HMAC key is refused there too.
        let hmac = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1"}]}).to_string();
        let (line, ok) = verify_elsewhere(alg, &hmac, pair.access_token())?;
        assert!(
            !ok && line.starts_with("refused unusable JWK set: key k1 is a symmetric key"),
            "{line}"
        );
    }
    Ok(())
}

#[test]
fn a_published_set_holds_kid_alg_and_use_and_no_private_part() -> TestResult {
    for (alg, key, public, kty, params) in [
        (
            JwtAlgorithm::EdDSA,
            ED1_KEY,
            ED1_PUB,
            "OKP",
            &["crv", "x"][..],
        ),
        (
            JwtAlgorithm::ES256,
            EC_KEY,
            EC_PUB,
            "EC",
            &["crv", "x", "y"][..],
        ),
        (
            JwtAlgorithm::RS256,
            RSA_KEY,
            RSA_PUB,
            "RSA",
            &["n", "e"][..],
        ),
    ] {
        let backend = issuer(alg, "k1", key, public)?;
        let published = backend.jwk_set_json()?;
        let set: Value = serde_json::from_str(&published)?;
        let keys = set["keys"].as_array().ok_or("no keys array")?;
        assert_eq!(keys.len(), 1);
        let jwk = keys[0].as_object().ok_or("not an object")?;
        assert_eq!(jwk["kid"], "k1");
        assert_eq!(jwk["alg"], alg.as_str());
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kty"], kty);
        let mut expected: Vec<&str> = ["kid", "alg", "use", "kty"].to_vec();
        expected.extend(params);
        let mut names: Vec<&str> = jwk.keys().map(String::as_str).collect();
        names.sort_unstable();
        expected.sort_unstable();
        assert_eq!(names, expected, "{alg:?}: exactly the public parameters");
        match alg {
            JwtAlgorithm::EdDSA => {
                assert_eq!(jwk["crv"], "Ed25519");
                let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().ok_or("x")?)?;
                assert_eq!(x.len(), 32);
            }
            JwtAlgorithm::ES256 => assert_eq!(jwk["crv"], "P-256"),
            _ => {
                let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().ok_or("n")?)?;
                assert!(n.len() >= 256);
                assert_eq!(jwk["e"], "AQAB");
            }
        }
        // The keys alone give the same set.
        let keys = JwtKeys::new()
            .signing_key(Some("k1"), key)
            .verification_key(Some("k1"), public);
        assert_eq!(keys.jwk_set_json(alg)?, published);
        assert!(!published.contains("PRIVATE"));
    }
    // HMAC keys are secrets: an HS backend publishes an empty set, and keys are refused.
    let mut hs = AuthConfig::default();
    hs.jwt_secret = Some("a-test-secret-of-at-least-32-bytes-long".into());
    let hs = JwtBackend::new(Arc::new(hs))?;
    assert_eq!(hs.jwk_set_json()?, r#"{"keys":[]}"#);
    assert!(matches!(
        JwtKeys::new()
            .verification_key(None, ED1_PUB)
            .jwk_set_json(JwtAlgorithm::HS256),
        Err(Error::KeysWithHmac { .. })
    ));
    Ok(())
}

#[tokio::test]
async fn a_verifier_from_a_jwk_set_verifies_but_never_issues() -> TestResult {
    let signer = issuer(JwtAlgorithm::EdDSA, "k1", ED1_KEY, ED1_PUB)?;
    let verifier = JwtBackend::from_jwks(config(JwtAlgorithm::EdDSA), &signer.jwk_set_json()?)?;
    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    let pair = signer.create_tokens("7", extra.clone()).await?;
    let payload = verifier
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    assert_eq!((payload.sub.as_str(), payload.extra), ("7", Some(extra)));
    let refused = verifier.create_tokens("7", Claims::new()).await.err();
    assert!(matches!(
        refused,
        Some(testudo_core::Error::Configuration(_))
    ));
    assert!(verifier.rotate(pair.refresh_token()).await.is_err());
    // It publishes nothing of its own.
    assert_eq!(verifier.jwk_set_json()?, r#"{"keys":[]}"#);
    Ok(())
}

#[tokio::test]
async fn replacing_the_jwk_set_swaps_the_keys_and_keeps_the_pem_ones() -> TestResult {
    let first = issuer(JwtAlgorithm::EdDSA, "k1", ED1_KEY, ED1_PUB)?;
    let second = issuer(JwtAlgorithm::EdDSA, "k2", ED2_KEY, ED2_PUB)?;
    let verifier = JwtBackend::from_jwks(config(JwtAlgorithm::EdDSA), &first.jwk_set_json()?)?;
    let one = first.create_tokens("1", Claims::new()).await?;
    let two = second.create_tokens("2", Claims::new()).await?;
    verifier
        .verify_token(one.access_token(), TokenType::Access)
        .await?;
    assert_eq!(
        token_error(
            verifier
                .verify_token(two.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::UnknownKey))
    );
    assert_eq!(
        verifier.replace_verification_keys_from_jwks(&second.jwk_set_json()?)?,
        1
    );
    verifier
        .verify_token(two.access_token(), TokenType::Access)
        .await?;
    assert_eq!(
        token_error(
            verifier
                .verify_token(one.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::UnknownKey)),
        "the first key was dropped"
    );
    // A refused set leaves the keys as they were, and so does an empty one here.
    let hmac = json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}).to_string();
    assert!(verifier.replace_verification_keys_from_jwks(&hmac).is_err());
    assert!(matches!(
        verifier.replace_verification_keys_from_jwks(r#"{"keys":[]}"#),
        Err(Error::NoVerificationKey)
    ));
    verifier
        .verify_token(two.access_token(), TokenType::Access)
        .await?;
    // A backend with its own PEM keys accepts another service's set besides them.
    first.replace_verification_keys_from_jwks(&second.jwk_set_json()?)?;
    first
        .verify_token(one.access_token(), TokenType::Access)
        .await?;
    first
        .verify_token(two.access_token(), TokenType::Access)
        .await?;
    assert_eq!(
        first.replace_verification_keys_from_jwks(r#"{"keys":[]}"#)?,
        0
    );
    first
        .verify_token(one.access_token(), TokenType::Access)
        .await?;
    assert!(
        first
            .verify_token(two.access_token(), TokenType::Access)
            .await
            .is_err()
    );
    Ok(())
}

#[test]
fn jwk_sets_with_hmac_keys_or_the_wrong_algorithm_are_refused() -> TestResult {
    let ed = issuer(JwtAlgorithm::EdDSA, "k1", ED1_KEY, ED1_PUB)?;
    let ed_set: Value = serde_json::from_str(&ed.jwk_set_json()?)?;
    let ed_key = ed_set["keys"][0].clone();
    let ec_set: Value =
        serde_json::from_str(&issuer(JwtAlgorithm::ES256, "k1", EC_KEY, EC_PUB)?.jwk_set_json()?)?;
    let with = |changes: Value| {
        let mut key = ed_key.clone();
        if let (Some(key), Some(changes)) = (key.as_object_mut(), changes.as_object()) {
            for (name, value) in changes {
                if value.is_null() {
                    key.remove(name);
                } else {
                    key.insert(name.clone(), value.clone());
                }
            }
        }
        json!({ "keys": [key] }).to_string()
    };
    let eddsa = || config(JwtAlgorithm::EdDSA);
    let read = |set: &str| jwks_reason(JwtBackend::from_jwks(eddsa(), set));
    let cases = [
        (
            json!({"keys": [{"kty": "oct", "k": "c2VjcmV0", "kid": "k1", "alg": "HS256"}]})
                .to_string(),
            "key k1 is a symmetric key",
        ),
        (
            with(json!({"alg": "RS256"})),
            "key k1 is not for the configured algorithm",
        ),
        (
            with(json!({"alg": "HS256"})),
            "key k1 is not for the configured algorithm",
        ),
        (
            with(json!({"crv": "P-256"})),
            "key k1 is not for the configured algorithm",
        ),
        (
            ec_set.to_string(),
            "key k1 is not for the configured algorithm",
        ),
        (
            with(json!({"use": "enc"})),
            "key k1 is not a signature verification key",
        ),
        (
            with(json!({"key_ops": ["sign"]})),
            "key k1 is not a signature verification key",
        ),
        (with(json!({"x": "AAAA"})), "key k1 cannot be read"),
        (with(json!({"x": "not base64!"})), "key k1 cannot be read"),
        (
            json!({"keys": [ed_key.clone(), ed_key.clone()]}).to_string(),
            "key id k1 is given twice",
        ),
        ("not json".to_owned(), "not a JSON JWK set"),
        (r#"{"keys": "none"}"#.to_owned(), "not a JSON JWK set"),
    ];
    for (set, reason) in cases {
        assert_eq!(
            read(&set).map(|r| r.to_string()).as_deref(),
            Some(reason),
            "{set}"
        );
    }
    assert!(matches!(
        read(&with(json!({"alg": "RS256"}))),
        Some(JwksReason::AlgorithmMismatch { kid: Some(ref k) }) if k.as_str() == "k1"
    ));
    // Accepted: no `alg`, no `use`, `key_ops` with verify, no `kid`.
    for set in [
        with(json!({"alg": null, "use": null})),
        with(json!({"key_ops": ["verify"]})),
        with(json!({"kid": null})),
    ] {
        assert!(JwtBackend::from_jwks(eddsa(), &set).is_ok(), "{set}");
    }
    assert!(matches!(
        JwtBackend::from_jwks(eddsa(), r#"{"keys":[]}"#),
        Err(Error::NoVerificationKey)
    ));
    // An HS backend takes no JWK Set at all.
    let mut hs = AuthConfig::default();
    hs.jwt_secret = Some("a-test-secret-of-at-least-32-bytes-long".into());
    let hs = Arc::new(hs);
    assert_eq!(
        jwks_reason(JwtBackend::from_jwks(hs.clone(), &ed_set.to_string())),
        Some(JwksReason::SymmetricAlgorithm)
    );
    assert_eq!(
        jwks_reason(JwtBackend::new(hs)?.replace_verification_keys_from_jwks(&ed_set.to_string())),
        Some(JwksReason::SymmetricAlgorithm)
    );
    // The JSON error is the source, not part of the message.
    let err = JwtBackend::from_jwks(eddsa(), "not json")
        .err()
        .ok_or("accepted")?;
    assert!(std::error::Error::source(&err).is_some());
    assert_eq!(err.to_string(), "unusable JWK set: not a JSON JWK set");
    Ok(())
}
