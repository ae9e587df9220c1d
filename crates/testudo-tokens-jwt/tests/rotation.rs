//! HMAC key rotation: the current secret and fallback secrets, the `kid` of the key that signed
//! a token, and a dropped secret no longer verifying its tokens.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{
    Claims, FixedClock, InvalidReason, TokenBackend, TokenError, TokenPayload, TokenType,
};
use testudo_tokens_jwt::{Error, JwtBackend};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const OLD: &str = "the-old-jwt-secret-of-at-least-32-bytes-0123456789abcdef0123456789";
const NEW: &str = "the-new-jwt-secret-of-at-least-32-bytes-0123456789abcdef0123456789";
const NOW: i64 = 1_700_000_000;

fn backend(
    current: &str,
    fallbacks: &[&str],
) -> Result<JwtBackend, Box<dyn std::error::Error + Send + Sync>> {
    let mut c = AuthConfig::default();
    c.jwt_secret = Some(current.into());
    c.jwt_fallback_secrets = fallbacks.iter().map(|s| (*s).into()).collect();
    Ok(JwtBackend::new(Arc::new(c))?.with_clock(Arc::new(FixedClock::from_unix(NOW)?)))
}

fn header(token: &str) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
    let segment = token.split('.').next().ok_or("no header")?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment)?)?)
}

fn kid(token: &str) -> Result<Option<String>, Box<dyn std::error::Error + Send + Sync>> {
    Ok(header(token)?["kid"].as_str().map(str::to_owned))
}

fn token_error(r: testudo_core::Result<TokenPayload>) -> Option<TokenError> {
    r.err().and_then(|e| e.as_token_error().cloned())
}

#[tokio::test]
async fn a_rotated_secret_keeps_its_tokens_verifying_until_it_is_dropped() -> TestResult {
    let before = backend(OLD, &[])?;
    let old = before.create_tokens("1", Claims::new()).await?;
    // One secret: the header is tortoise-auth's, without kid.
    assert_eq!(
        header(old.access_token())?,
        serde_json::json!({"typ": "JWT", "alg": "HS256"})
    );

    // Rotated: signs with NEW, still verifies what OLD signed.
    let during = backend(NEW, &[OLD])?;
    for token in [old.access_token(), old.refresh_token()] {
        let expected = if token == old.access_token() {
            TokenType::Access
        } else {
            TokenType::Refresh
        };
        during.verify_token(token, expected).await?;
    }
    let new = during.create_tokens("1", Claims::new()).await?;
    during
        .verify_token(new.access_token(), TokenType::Access)
        .await?;
    // The old secret's tokens rotate into new-key tokens.
    let (_, rotated) = during.rotate(old.refresh_token()).await?;
    assert_eq!(kid(rotated.access_token())?, kid(new.access_token())?);

    // Dropped: the old secret's tokens stop verifying; the new key's (with its kid) still do.
    let after = backend(NEW, &[])?;
    assert_eq!(
        token_error(
            after
                .verify_token(old.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::BadSignature))
    );
    after
        .verify_token(new.access_token(), TokenType::Access)
        .await?;
    after
        .verify_token(rotated.access_token(), TokenType::Access)
        .await?;
    Ok(())
}

#[tokio::test]
async fn tokens_carry_the_kid_of_the_key_that_signed_them() -> TestResult {
    let during = backend(NEW, &[OLD])?;
    let pair = during.create_tokens("1", Claims::new()).await?;
    let new_kid = kid(pair.access_token())?.ok_or("no kid with fallbacks")?;
    assert_eq!(
        kid(pair.refresh_token())?.as_deref(),
        Some(new_kid.as_str())
    );
    assert_eq!(new_kid.len(), 16);
    assert!(!NEW.contains(&new_kid) && !new_kid.contains("secret"));
    assert_eq!(
        header(pair.access_token())?,
        serde_json::json!({"typ": "JWT", "alg": "HS256", "kid": new_kid})
    );
    // The kid is the key's, stable across backends and distinct per key.
    let again = backend(NEW, &[OLD])?
        .create_tokens("1", Claims::new())
        .await?;
    assert_eq!(
        kid(again.access_token())?.as_deref(),
        Some(new_kid.as_str())
    );
    let old_first = backend(OLD, &[NEW])?;
    let by_old = old_first.create_tokens("1", Claims::new()).await?;
    let old_kid = kid(by_old.access_token())?.ok_or("no kid")?;
    assert_ne!(old_kid, new_kid);
    // A token naming a fallback's kid is verified with that fallback.
    during
        .verify_token(by_old.access_token(), TokenType::Access)
        .await?;
    old_first
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_token_signed_with_a_fallback_verifies_and_is_refused_once_it_is_dropped() -> TestResult {
    // What a node still signing with OLD issues (naming OLD's kid), seen by a node that has
    // rotated to NEW: verified with the fallback, until it is dropped.
    let lagging = backend(OLD, &[NEW])?;
    let pair = lagging.create_tokens("9", Claims::new()).await?;
    let rotated = backend(NEW, &[OLD])?;
    assert_eq!(
        rotated
            .verify_token(pair.access_token(), TokenType::Access)
            .await?
            .sub,
        "9"
    );
    let dropped = backend(NEW, &[])?;
    assert_eq!(
        token_error(
            dropped
                .verify_token(pair.access_token(), TokenType::Access)
                .await
        ),
        Some(TokenError::invalid(InvalidReason::UnknownKey))
    );
    // Revocation reads the fallback's tokens too (here: a no-op without the list).
    rotated.revoke_token(pair.access_token()).await?;
    Ok(())
}

#[tokio::test]
async fn an_unknown_kid_is_refused_with_a_typed_error() -> TestResult {
    let b = backend(NEW, &[OLD])?;
    let pair = b.create_tokens("1", Claims::new()).await?;
    let mut parts = pair.access_token().split('.');
    let (_, payload) = (parts.next(), parts.next().ok_or("no payload")?);
    // A header naming a kid no key has, signed with the current key itself.
    let forged_header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256","kid":"nope"}"#);
    let signed = format!("{forged_header}.{payload}");
    let tag = hmac_sha256(NEW.as_bytes(), signed.as_bytes());
    let forged = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag));
    assert_eq!(
        token_error(b.verify_token(&forged, TokenType::Access).await),
        Some(TokenError::invalid(InvalidReason::UnknownKey))
    );
    // Without the kid the same bytes verify (a kid-less token tries every key).
    let plain_header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"HS256"}"#);
    let signed = format!("{plain_header}.{payload}");
    let tag = hmac_sha256(NEW.as_bytes(), signed.as_bytes());
    b.verify_token(
        &format!("{signed}.{}", URL_SAFE_NO_PAD.encode(tag)),
        TokenType::Access,
    )
    .await?;
    Ok(())
}

/// HMAC-SHA256 through jsonwebtoken (a second implementation).
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    jsonwebtoken::crypto::sign(
        message,
        &jsonwebtoken::EncodingKey::from_secret(key),
        jsonwebtoken::Algorithm::HS256,
    )
    .ok()
    .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
    .unwrap_or_default()
}

#[tokio::test]
async fn signing_fallback_secrets_are_jwt_fallbacks_when_the_key_is_derived() -> TestResult {
    let clock = Arc::new(FixedClock::from_unix(NOW)?);
    let derived = |current: &str, fallbacks: &[&str], jwt_secret: Option<&str>| {
        let mut c = AuthConfig::default();
        c.signing_secret = Some(current.into());
        c.signing_fallback_secrets = fallbacks.iter().map(|s| (*s).into()).collect();
        c.jwt_secret = jwt_secret.map(Into::into);
        JwtBackend::new(Arc::new(c)).map(|b| b.with_clock(clock.clone()))
    };
    let before = derived(OLD, &[], None)?;
    let pair = before.create_tokens("1", Claims::new()).await?;
    derived(NEW, &[OLD], None)?
        .verify_token(pair.access_token(), TokenType::Access)
        .await?;
    assert!(
        derived(NEW, &[], None)?
            .verify_token(pair.access_token(), TokenType::Access)
            .await
            .is_err()
    );
    // The fallback is derived like the current key: OLD itself as a raw key does not verify.
    assert!(
        backend(NEW, &[OLD])?
            .verify_token(pair.access_token(), TokenType::Access)
            .await
            .is_err()
    );
    // With jwt_secret set, the signing fallbacks are the signer's only.
    assert!(
        derived(NEW, &[OLD], Some(NEW))?
            .verify_token(pair.access_token(), TokenType::Access)
            .await
            .is_err()
    );
    Ok(())
}

#[test]
fn short_fallback_secrets_are_refused() -> TestResult {
    let mut c = AuthConfig::default();
    c.jwt_algorithm = JwtAlgorithm::HS512;
    c.jwt_secret = Some(NEW.into());
    c.jwt_fallback_secrets = vec!["x".repeat(63).into()];
    assert!(matches!(
        JwtBackend::new(Arc::new(c.clone())),
        Err(Error::ShortFallbackSecret {
            min: 64,
            len: 63,
            ..
        })
    ));
    c.jwt_fallback_secrets = vec!["x".repeat(64).into()];
    assert!(JwtBackend::new(Arc::new(c)).is_ok());
    Ok(())
}

#[tokio::test]
async fn every_hmac_algorithm_rotates() -> TestResult {
    for alg in [
        JwtAlgorithm::HS256,
        JwtAlgorithm::HS384,
        JwtAlgorithm::HS512,
    ] {
        let make = |current: &str, fallbacks: &[&str]| {
            let mut c = AuthConfig::default();
            c.jwt_algorithm = alg;
            c.jwt_secret = Some(current.into());
            c.jwt_fallback_secrets = fallbacks.iter().map(|s| (*s).into()).collect();
            JwtBackend::new(Arc::new(c))
        };
        let old = make(OLD, &[])?.create_tokens("1", Claims::new()).await?;
        let during = make(NEW, &[OLD])?;
        during
            .verify_token(old.access_token(), TokenType::Access)
            .await?;
        let new = during.create_tokens("1", Claims::new()).await?;
        assert_eq!(header(new.access_token())?["alg"], alg.as_str());
        make(NEW, &[])?
            .verify_token(new.access_token(), TokenType::Access)
            .await?;
        assert!(
            make(NEW, &[])?
                .verify_token(old.access_token(), TokenType::Access)
                .await
                .is_err()
        );
    }
    Ok(())
}
