//! Behaviour tests: every rejection, key rotation, configuration errors, the stateless no-ops.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{
    Claim, Claims, FixedClock, InvalidReason, TokenBackend, TokenError, TokenPayload, TokenType,
};
use testudo_tokens_jwt::{Error, JwtBackend, JwtKeys};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SECRET: &str = "a-test-secret-of-at-least-64-bytes-0123456789abcdef0123456789abcdef";
const NOW: i64 = 1_700_000_000;

const ED1_KEY: &str = include_str!("keys/ed1.key.pem");
const ED1_PUB: &str = include_str!("keys/ed1.pub.pem");
const ED2_KEY: &str = include_str!("keys/ed2.key.pem");
const ED2_PUB: &str = include_str!("keys/ed2.pub.pem");
const EC_KEY: &str = include_str!("keys/ec.key.pem");
const EC_PUB: &str = include_str!("keys/ec.pub.pem");
const RSA_KEY: &str = include_str!("keys/rsa.key.pem");
const RSA_PUB: &str = include_str!("keys/rsa.pub.pem");

fn config(algorithm: JwtAlgorithm) -> AuthConfig {
    let mut c = AuthConfig::default();
    c.jwt_algorithm = algorithm;
    c.jwt_secret = Some(SECRET.into());
    c
}

fn clock() -> Result<Arc<FixedClock>, testudo_core::Error> {
    Ok(Arc::new(FixedClock::from_unix(NOW)?))
}

fn hs(config: AuthConfig, clock: &Arc<FixedClock>) -> Result<JwtBackend, Error> {
    Ok(JwtBackend::new(Arc::new(config))?.with_clock(clock.clone()))
}

fn ed(keys: JwtKeys, clock: &Arc<FixedClock>) -> Result<JwtBackend, Error> {
    Ok(
        JwtBackend::with_keys(Arc::new(config(JwtAlgorithm::EdDSA)), keys)?
            .with_clock(clock.clone()),
    )
}

fn token_error(r: testudo_core::Result<TokenPayload>) -> Option<TokenError> {
    r.err().and_then(|e| e.as_token_error().cloned())
}

fn is_invalid(r: testudo_core::Result<TokenPayload>) -> bool {
    matches!(token_error(r), Some(TokenError::Invalid { .. }))
}

fn payload_json(token: &str) -> Result<String, Box<dyn std::error::Error>> {
    let segment = token.split('.').nth(1).ok_or("no payload segment")?;
    Ok(String::from_utf8(URL_SAFE_NO_PAD.decode(segment)?)?)
}

fn role_admin() -> Claims {
    let mut extra = Claims::new();
    extra.insert("role".into(), "admin".into());
    extra
}

#[tokio::test]
async fn hmac_pairs_round_trip_with_the_reference_layout() -> TestResult {
    let clock = clock()?;
    for alg in [
        JwtAlgorithm::HS256,
        JwtAlgorithm::HS384,
        JwtAlgorithm::HS512,
    ] {
        let mut c = config(alg);
        c.jwt_issuer = Some("iss".into());
        c.jwt_audience = Some("aud".into());
        let backend = hs(c, &clock)?;
        let pair = backend.create_tokens("42", role_admin()).await?;
        let access = payload_json(pair.access_token())?;
        let jti = &access[access.find("\"jti\":\"").ok_or("no jti")? + 7..][..32];
        assert!(
            jti.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(
            access,
            format!(
                "{{\"sub\":\"42\",\"token_type\":\"access\",\"jti\":\"{jti}\",\"iat\":{NOW},\
                 \"exp\":{},\"iss\":\"iss\",\"aud\":\"aud\",\"extra\":{{\"role\":\"admin\"}}}}",
                NOW + 900
            )
        );
        let refresh = payload_json(pair.refresh_token())?;
        assert!(refresh.starts_with("{\"sub\":\"42\",\"token_type\":\"refresh\",\"jti\":\""));
        // The reference's layout, plus (testudo) the session's start for session_max_lifetime.
        assert!(refresh.ends_with(&format!(
            "\"iat\":{NOW},\"exp\":{},\"iss\":\"iss\",\"aud\":\"aud\",\"extra\":{{\"ss\":{NOW}}}}}",
            NOW + 604_800
        )));
        let p = backend
            .verify_token(pair.access_token(), TokenType::Access)
            .await?;
        assert_eq!(
            (p.sub.as_str(), p.token_type, p.iat, p.exp),
            ("42", TokenType::Access, NOW, NOW + 900)
        );
        assert_eq!(p.extra, Some(role_admin()));
        let p = backend
            .verify_token(pair.refresh_token(), TokenType::Refresh)
            .await?;
        let session_start = Claims::from_iter([("ss".to_owned(), NOW.into())]);
        assert_eq!(
            (p.token_type, p.extra),
            (TokenType::Refresh, Some(session_start))
        );
    }
    Ok(())
}

#[tokio::test]
async fn no_extra_claims_means_no_extra_key() -> TestResult {
    let backend = hs(config(JwtAlgorithm::HS256), &clock()?)?;
    let pair = backend.create_tokens("1", Claims::new()).await?;
    assert!(!payload_json(pair.access_token())?.contains("extra"));
    let p = backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    assert_eq!(p.extra, None);
    Ok(())
}

#[tokio::test]
async fn asymmetric_algorithms_round_trip() -> TestResult {
    let clock = clock()?;
    for (alg, key, public) in [
        (JwtAlgorithm::RS256, RSA_KEY, RSA_PUB),
        (JwtAlgorithm::ES256, EC_KEY, EC_PUB),
        (JwtAlgorithm::EdDSA, ED1_KEY, ED1_PUB),
    ] {
        let keys = JwtKeys::new()
            .signing_key(Some("k1"), key)
            .verification_key(Some("k1"), public);
        let backend = JwtBackend::with_keys(Arc::new(config(alg)), keys)?.with_clock(clock.clone());
        let pair = backend.create_tokens("7", role_admin()).await?;
        let header = jsonwebtoken::decode_header(pair.access_token())?;
        assert_eq!(header.kid.as_deref(), Some("k1"));
        let p = backend
            .verify_token(pair.access_token(), TokenType::Access)
            .await?;
        assert_eq!(p.sub, "7");
        backend
            .verify_token(pair.refresh_token(), TokenType::Refresh)
            .await?;
    }
    Ok(())
}

#[tokio::test]
async fn alg_none_is_invalid() -> TestResult {
    let backend = hs(config(JwtAlgorithm::HS256), &clock()?)?;
    let pair = backend.create_tokens("1", Claims::new()).await?;
    let payload = pair.access_token().split('.').nth(1).ok_or("no payload")?;
    for header in [
        r#"{"alg":"none","typ":"JWT"}"#,
        r#"{"alg":"None"}"#,
        r#"{"alg":"NONE"}"#,
    ] {
        let forged = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
        assert!(
            is_invalid(backend.verify_token(&forged, TokenType::Access).await),
            "{header}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn hmac_token_signed_with_the_public_key_is_invalid_under_eddsa() -> TestResult {
    let clock = clock()?;
    let backend = ed(
        JwtKeys::new()
            .signing_key(None, ED1_KEY)
            .verification_key(None, ED1_PUB),
        &clock,
    )?;
    let claims = serde_json::json!({
        "sub": "1", "token_type": "access", "jti": "0123456789abcdef0123456789abcdef",
        "iat": NOW, "exp": NOW + 900,
    });
    for alg in [Algorithm::HS256, Algorithm::HS512] {
        let forged = jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(ED1_PUB.as_bytes()),
        )?;
        assert!(is_invalid(
            backend.verify_token(&forged, TokenType::Access).await
        ));
    }
    // And the other way round: an EdDSA token for an HS256 backend.
    let hs_backend = hs(config(JwtAlgorithm::HS256), &clock)?;
    let pair = backend.create_tokens("1", Claims::new()).await?;
    assert!(is_invalid(
        hs_backend
            .verify_token(pair.access_token(), TokenType::Access)
            .await
    ));
    Ok(())
}

#[tokio::test]
async fn unknown_kid_is_invalid() -> TestResult {
    let clock = clock()?;
    let signer = ed(
        JwtKeys::new()
            .signing_key(Some("old"), ED1_KEY)
            .verification_key(Some("old"), ED1_PUB),
        &clock,
    )?;
    let verifier = ed(
        JwtKeys::new()
            .signing_key(Some("new"), ED2_KEY)
            .verification_key(Some("new"), ED2_PUB),
        &clock,
    )?;
    let pair = signer.create_tokens("1", Claims::new()).await?;
    let err = token_error(
        verifier
            .verify_token(pair.access_token(), TokenType::Access)
            .await,
    );
    assert_eq!(err, Some(TokenError::invalid(InvalidReason::UnknownKey)));
    // A token without kid needs a key registered without kid.
    let no_kid = ed(
        JwtKeys::new()
            .signing_key(None, ED1_KEY)
            .verification_key(None, ED1_PUB),
        &clock,
    )?;
    let pair = no_kid.create_tokens("1", Claims::new()).await?;
    assert!(
        jsonwebtoken::decode_header(pair.access_token())?
            .kid
            .is_none()
    );
    assert!(is_invalid(
        signer
            .verify_token(pair.access_token(), TokenType::Access)
            .await
    ));
    // The right kid with the wrong key: bad signature.
    let liar = ed(
        JwtKeys::new()
            .signing_key(Some("old"), ED2_KEY)
            .verification_key(Some("old"), ED2_PUB),
        &clock,
    )?;
    let pair = liar.create_tokens("1", Claims::new()).await?;
    let err = token_error(
        signer
            .verify_token(pair.access_token(), TokenType::Access)
            .await,
    );
    assert_eq!(err, Some(TokenError::invalid(InvalidReason::BadSignature)));
    Ok(())
}

#[tokio::test]
async fn rotation_with_two_keys_keeps_old_tokens_valid() -> TestResult {
    let clock = clock()?;
    let before = ed(
        JwtKeys::new()
            .signing_key(Some("k1"), ED1_KEY)
            .verification_key(Some("k1"), ED1_PUB),
        &clock,
    )?;
    let old_pair = before.create_tokens("1", Claims::new()).await?;
    // Rotated: signs with k2, still verifies k1.
    let during = ed(
        JwtKeys::new()
            .signing_key(Some("k2"), ED2_KEY)
            .verification_key(Some("k1"), ED1_PUB)
            .verification_key(Some("k2"), ED2_PUB),
        &clock,
    )?;
    let new_pair = during.create_tokens("1", Claims::new()).await?;
    assert_eq!(
        jsonwebtoken::decode_header(new_pair.access_token())?
            .kid
            .as_deref(),
        Some("k2")
    );
    during
        .verify_token(old_pair.access_token(), TokenType::Access)
        .await?;
    during
        .verify_token(old_pair.refresh_token(), TokenType::Refresh)
        .await?;
    during
        .verify_token(new_pair.access_token(), TokenType::Access)
        .await?;
    // k1 retired.
    let after = ed(
        JwtKeys::new()
            .signing_key(Some("k2"), ED2_KEY)
            .verification_key(Some("k2"), ED2_PUB),
        &clock,
    )?;
    after
        .verify_token(new_pair.access_token(), TokenType::Access)
        .await?;
    assert!(is_invalid(
        after
            .verify_token(old_pair.access_token(), TokenType::Access)
            .await
    ));
    Ok(())
}

#[tokio::test]
async fn bad_signature_is_invalid() -> TestResult {
    let clock = clock()?;
    let backend = hs(config(JwtAlgorithm::HS256), &clock)?;
    let pair = backend.create_tokens("1", Claims::new()).await?;
    let mut other = config(JwtAlgorithm::HS256);
    other.jwt_secret = Some(format!("{SECRET}-other").into());
    let other = hs(other, &clock)?;
    let err = token_error(
        other
            .verify_token(pair.access_token(), TokenType::Access)
            .await,
    );
    assert_eq!(err, Some(TokenError::invalid(InvalidReason::BadSignature)));
    // Tampered payload, same signature.
    let parts: Vec<&str> = pair.access_token().split('.').collect();
    let json = payload_json(pair.access_token())?.replace("\"sub\":\"1\"", "\"sub\":\"2\"");
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(json), parts[2]);
    assert!(is_invalid(
        backend.verify_token(&tampered, TokenType::Access).await
    ));
    for garbage in ["", "a", "a.b", "a.b.c", "...", "\u{0}.\u{0}.\u{0}"] {
        assert!(
            is_invalid(backend.verify_token(garbage, TokenType::Access).await),
            "{garbage:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn wrong_type_is_invalid_with_the_reference_message() -> TestResult {
    let backend = hs(config(JwtAlgorithm::HS256), &clock()?)?;
    let pair = backend.create_tokens("1", Claims::new()).await?;
    let err = token_error(
        backend
            .verify_token(pair.refresh_token(), TokenType::Access)
            .await,
    );
    assert_eq!(
        err,
        Some(TokenError::invalid(InvalidReason::WrongType {
            expected: TokenType::Access,
            got: Some(TokenType::Refresh),
        }))
    );
    let err = token_error(
        backend
            .verify_token(pair.access_token(), TokenType::Refresh)
            .await,
    );
    assert_eq!(
        err,
        Some(TokenError::invalid(InvalidReason::WrongType {
            expected: TokenType::Refresh,
            got: Some(TokenType::Access),
        }))
    );
    Ok(())
}

#[tokio::test]
async fn wrong_or_missing_issuer_and_audience_are_invalid() -> TestResult {
    let clock = clock()?;
    let mut c = config(JwtAlgorithm::HS256);
    c.jwt_issuer = Some("me".into());
    c.jwt_audience = Some("api".into());
    let issuer = hs(c.clone(), &clock)?;
    let pair = issuer.create_tokens("1", Claims::new()).await?;
    let plain = hs(config(JwtAlgorithm::HS256), &clock)?;
    let plain_pair = plain.create_tokens("1", Claims::new()).await?;
    // Without issuer / audience configured, any are accepted (as the reference).
    plain
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;

    let mut other_iss = c.clone();
    other_iss.jwt_issuer = Some("someone-else".into());
    let other_iss = hs(other_iss, &clock)?;
    assert_eq!(
        token_error(
            other_iss
                .verify_token(pair.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::InvalidIssuer))
    );
    let mut other_aud = c.clone();
    other_aud.jwt_audience = Some("other-api".into());
    let other_aud = hs(other_aud, &clock)?;
    assert_eq!(
        token_error(
            other_aud
                .verify_token(pair.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::InvalidAudience))
    );
    // Missing iss / aud in the token.
    assert!(is_invalid(
        issuer
            .verify_token(plain_pair.access_token(), TokenType::Access)
            .await
    ));
    let mut only_aud = config(JwtAlgorithm::HS256);
    only_aud.jwt_audience = Some("api".into());
    let only_aud = hs(only_aud, &clock)?;
    assert_eq!(
        token_error(
            only_aud
                .verify_token(plain_pair.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::MissingClaim(Claim::Aud)))
    );
    Ok(())
}

#[tokio::test]
async fn expiry_without_and_with_leeway() -> TestResult {
    let clock = clock()?;
    let strict = hs(config(JwtAlgorithm::HS256), &clock)?;
    let mut lenient = config(JwtAlgorithm::HS256);
    lenient.jwt_leeway = Duration::from_secs(30);
    let lenient = hs(lenient, &clock)?;
    let pair = strict.create_tokens("1", Claims::new()).await?;
    let access = pair.access_token();

    clock.advance(Duration::from_millis(899_999));
    strict.verify_token(access, TokenType::Access).await?;
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        token_error(strict.verify_token(access, TokenType::Access).await),
        Some(TokenError::Expired)
    );
    lenient.verify_token(access, TokenType::Access).await?;
    clock.advance(Duration::from_millis(29_999));
    lenient.verify_token(access, TokenType::Access).await?;
    clock.advance(Duration::from_millis(1));
    assert_eq!(
        token_error(lenient.verify_token(access, TokenType::Access).await),
        Some(TokenError::Expired)
    );

    // iat in the future: invalid, unless within the leeway.
    let future = Arc::new(FixedClock::from_unix(NOW - 10)?);
    let strict = strict.with_clock(future.clone());
    let lenient = lenient.with_clock(future);
    assert_eq!(
        token_error(strict.verify_token(access, TokenType::Access).await),
        Some(TokenError::invalid(InvalidReason::NotYetValid(Claim::Iat)))
    );
    lenient.verify_token(access, TokenType::Access).await?;
    Ok(())
}

#[tokio::test]
async fn required_claims_missing_or_mistyped_are_invalid() -> TestResult {
    let backend = hs(config(JwtAlgorithm::HS256), &clock()?)?;
    let base = serde_json::json!({
        "sub": "1", "token_type": "access", "jti": "0123456789abcdef0123456789abcdef",
        "iat": NOW, "exp": NOW + 900,
    });
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let sign = |claims: &serde_json::Value| {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key)
    };
    backend
        .verify_token(&sign(&base)?, TokenType::Access)
        .await?;
    for claim in ["sub", "jti", "iat", "exp", "token_type"] {
        let mut claims = base.clone();
        claims.as_object_mut().ok_or("object")?.remove(claim);
        assert!(
            is_invalid(
                backend
                    .verify_token(&sign(&claims)?, TokenType::Access)
                    .await
            ),
            "{claim}"
        );
    }
    for (claim, value) in [
        ("sub", serde_json::json!(1)),
        ("jti", serde_json::json!(5)),
        ("jti", serde_json::json!("")),
        ("exp", serde_json::json!(1_700_000_900.5)),
        ("exp", serde_json::json!("1700000900")),
        ("iat", serde_json::json!(null)),
        ("nbf", serde_json::json!(NOW + 60)),
        ("extra", serde_json::json!("str")),
        ("token_type", serde_json::json!("ACCESS")),
    ] {
        let mut claims = base.clone();
        claims
            .as_object_mut()
            .ok_or("object")?
            .insert(claim.into(), value.clone());
        assert!(
            is_invalid(
                backend
                    .verify_token(&sign(&claims)?, TokenType::Access)
                    .await
            ),
            "{claim}: {value}"
        );
    }
    Ok(())
}

#[test]
fn configuration_errors() {
    let build = |c: AuthConfig| JwtBackend::new(Arc::new(c));
    let mut none = AuthConfig::default();
    none.jwt_secret = None;
    none.signing_secret = None;
    assert!(matches!(
        build(none),
        Err(Error::MissingSecret {
            algorithm: JwtAlgorithm::HS256
        })
    ));
    for (alg, min) in [
        (JwtAlgorithm::HS256, 32),
        (JwtAlgorithm::HS384, 48),
        (JwtAlgorithm::HS512, 64),
    ] {
        let mut c = config(alg);
        c.jwt_secret = Some("x".repeat(min - 1).into());
        assert!(
            matches!(build(c.clone()), Err(Error::ShortSecret { min: m, len, .. }) if m == min && len == min - 1)
        );
        c.jwt_secret = Some("x".repeat(min).into());
        assert!(build(c).is_ok());
    }
    // signing_secret is the fallback.
    let mut fallback = AuthConfig::default();
    fallback.signing_secret = Some(SECRET.into());
    assert!(build(fallback).is_ok());
    // PEM keys for HS, no keys for EdDSA, bad PEM, missing halves.
    let keys = || {
        JwtKeys::new()
            .signing_key(None, ED1_KEY)
            .verification_key(None, ED1_PUB)
    };
    assert!(matches!(
        JwtBackend::with_keys(Arc::new(config(JwtAlgorithm::HS256)), keys()),
        Err(Error::KeysWithHmac { .. })
    ));
    assert!(matches!(
        build(config(JwtAlgorithm::EdDSA)),
        Err(Error::MissingKeys { .. })
    ));
    let ed_config = || Arc::new(config(JwtAlgorithm::EdDSA));
    assert!(matches!(
        JwtBackend::with_keys(ed_config(), JwtKeys::new().verification_key(None, ED1_PUB)),
        Err(Error::NoSigningKey)
    ));
    assert!(matches!(
        JwtBackend::with_keys(ed_config(), JwtKeys::new().signing_key(None, ED1_KEY)),
        Err(Error::NoVerificationKey)
    ));
    assert!(matches!(
        JwtBackend::with_keys(ed_config(), JwtKeys::new().signing_key(Some("a"), "not a pem").verification_key(None, ED1_PUB)),
        Err(Error::Pem { kid: Some(ref k), .. }) if k.as_str() == "a"
    ));
    assert!(matches!(
        JwtBackend::with_keys(Arc::new(config(JwtAlgorithm::RS256)), keys()),
        Err(Error::Pem {
            algorithm: JwtAlgorithm::RS256,
            ..
        })
    ));
}

#[tokio::test]
async fn blacklist_enabled_without_a_database_fails_closed() -> TestResult {
    // The configuration asks for the revocation list but no database was given: every call is
    // refused with a configuration error, nothing runs without the revocation.
    let mut blacklist = config(JwtAlgorithm::HS256);
    blacklist.jwt_blacklist_enabled = true;
    let backend = hs(blacklist, &clock()?)?;
    assert!(!backend.supports_revocation());
    assert!(backend.revocation_list().is_none());
    let is_config = |e: Option<testudo_core::Error>| {
        matches!(e, Some(testudo_core::Error::Configuration(ref c))
            if c.to_string().contains("with_revocation_list"))
    };
    assert!(is_config(
        backend.create_tokens("1", Claims::new()).await.err()
    ));
    // A token made by a backend without the flag is not accepted either.
    let pair = hs(config(JwtAlgorithm::HS256), &clock()?)?
        .create_tokens("1", Claims::new())
        .await?;
    assert!(is_config(
        backend
            .verify_token(pair.access_token(), TokenType::Access)
            .await
            .err()
    ));
    assert!(is_config(backend.rotate(pair.refresh_token()).await.err()));
    assert!(is_config(
        backend.revoke_token(pair.access_token()).await.err()
    ));
    assert!(is_config(backend.revoke_all_for_user("1").await.err()));
    assert!(is_config(backend.cleanup_expired().await.err()));
    let core: testudo_core::Error = Error::RevocationListUnavailable.into();
    assert!(matches!(core, testudo_core::Error::Configuration(_)));
    Ok(())
}

#[tokio::test]
async fn without_revocation_list_revoking_does_nothing() -> TestResult {
    let backend = hs(config(JwtAlgorithm::HS256), &clock()?)?;
    assert!(!backend.supports_revocation());
    let pair = backend.create_tokens("1", Claims::new()).await?;
    backend.revoke_token(pair.access_token()).await?;
    backend.revoke_token("garbage").await?;
    assert_eq!(backend.revoke_all_for_user("1").await?, 0);
    assert_eq!(backend.cleanup_expired().await?, 0);
    // Still valid: logout cannot invalidate a stateless JWT.
    backend
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    // And refresh is not single-use: the same refresh token rotates twice.
    let (first, _) = backend.rotate(pair.refresh_token()).await?;
    let (second, _) = backend.rotate(pair.refresh_token()).await?;
    assert_eq!(first.jti, second.jti);
    Ok(())
}

#[test]
fn debug_shows_no_secret_or_key() -> TestResult {
    let clock = clock()?;
    let backend = hs(config(JwtAlgorithm::HS256), &clock)?;
    let shown = format!("{backend:?}");
    assert!(
        !shown.contains(SECRET) && shown.contains("HS256"),
        "{shown}"
    );
    let keys = JwtKeys::new()
        .signing_key(Some("k1"), ED1_KEY)
        .verification_key(Some("k1"), ED1_PUB);
    let shown = format!("{keys:?}");
    assert!(
        !shown.contains("PRIVATE") && shown.contains("k1"),
        "{shown}"
    );
    Ok(())
}

/// Finding 4: with `jwt_secret` unset, HS256 used `signing_secret` raw, so the unsalted
/// signature `Signer::signature(header.payload)` was the JWT's own signature: any endpoint
/// signing user-chosen text forged tokens. The key is now derived; the reference's raw key only
/// with `jwt_raw_signing_secret` (where the forgery works, which is why it is an opt-in).
#[tokio::test]
async fn finding_4_the_signers_signature_never_forges_a_jwt()
-> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let signer = testudo_signing::Signer::new(SECRET)?;
    for raw in [false, true] {
        let mut c = AuthConfig::default();
        c.signing_secret = Some(SECRET.into());
        c.jwt_raw_signing_secret = raw;
        let backend = JwtBackend::new(Arc::new(c))?;
        // A token with claims of the attacker's choosing, "signed" by the signer.
        let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
        let claims = URL_SAFE_NO_PAD.encode(
            br#"{"sub":"1","token_type":"access","jti":"00000000000000000000000000000000","iat":1,"exp":99999999999}"#,
        );
        let signed = format!("{header}.{claims}");
        let forged = format!("{signed}.{}", signer.signature(&signed));
        let verified = backend.verify_token(&forged, TokenType::Access).await;
        assert_eq!(verified.is_ok(), raw, "raw key: {raw}: {verified:?}");
        // Either way the backend's own tokens verify.
        let pair = backend.create_tokens("1", Claims::new()).await?;
        backend
            .verify_token(pair.access_token(), TokenType::Access)
            .await?;
    }
    Ok(())
}
