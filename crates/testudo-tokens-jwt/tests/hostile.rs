//! Hostile-input table (issue 17): JWTs an attacker can send, each with the exact error it must
//! give, on an HS256 and an RS256 backend (verify, and revoke where it reads the token): empty,
//! 1 MiB, NUL bytes, the right shape in the wrong alphabet, `alg: none`, swapped algorithms
//! (an HS256 token on an RS256 backend, and one whose HMAC key is the RSA public key PEM), a
//! 1 MiB header, 10 000 nested `[`, and `exp` / `iat` / `nbf` at the integer limits, as floats
//! and as strings. Every call is bounded in time.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{
    Claim, Claims, FixedClock, InvalidReason, TokenBackend, TokenError, TokenPayload, TokenType,
};
use testudo_tokens_jwt::{JwtBackend, JwtKeys, MAX_TOKEN_LEN};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const SECRET: &str = "a-hostile-input-test-secret-of-at-least-32-bytes";
const NOW: i64 = 1_700_000_000;
const RSA_KEY: &str = include_str!("keys/rsa.key.pem");
const RSA_PUB: &str = include_str!("keys/rsa.pub.pem");
const MIB: usize = 1 << 20;
/// The bound on every call.
const BOUND: Duration = Duration::from_secs(5);

fn clock() -> Result<Arc<FixedClock>, testudo_core::Error> {
    Ok(Arc::new(FixedClock::from_unix(NOW)?))
}

fn hs() -> Result<JwtBackend, Box<dyn std::error::Error>> {
    let mut c = AuthConfig::default();
    c.jwt_secret = Some(SECRET.into());
    Ok(JwtBackend::new(Arc::new(c))?.with_clock(clock()?))
}

fn rs() -> Result<JwtBackend, Box<dyn std::error::Error>> {
    let mut c = AuthConfig::default();
    c.jwt_algorithm = JwtAlgorithm::RS256;
    let keys = JwtKeys::new()
        .signing_key(None, RSA_KEY)
        .verification_key(None, RSA_PUB);
    Ok(JwtBackend::with_keys(Arc::new(c), keys)?.with_clock(clock()?))
}

/// `b64(header).b64(claims).signature`, signed with `key` under `alg` (no signature without).
fn craft(header: &str, claims: &str, key: Option<(&EncodingKey, Algorithm)>) -> String {
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = key
        .map(|(k, alg)| jsonwebtoken::crypto::sign(message.as_bytes(), k, alg))
        .transpose()
        .unwrap_or_default()
        .unwrap_or_default();
    format!("{message}.{signature}")
}

/// Valid claims with one claim replaced by raw JSON (`None`: removed).
fn claims_with(name: &str, raw: Option<&str>) -> String {
    let mut fields = vec![
        ("sub", "\"1\"".to_owned()),
        ("token_type", "\"access\"".to_owned()),
        ("jti", "\"0123456789abcdef\"".to_owned()),
        ("iat", NOW.to_string()),
        ("exp", (NOW + 900).to_string()),
    ];
    fields.retain(|(n, _)| *n != name);
    if let Some(raw) = raw {
        fields.push((name_static(name), raw.to_owned()));
    }
    let body: Vec<String> = fields.iter().map(|(n, v)| format!("\"{n}\":{v}")).collect();
    format!("{{{}}}", body.join(","))
}

fn name_static(name: &str) -> &'static str {
    match name {
        "sub" => "sub",
        "token_type" => "token_type",
        "jti" => "jti",
        "iat" => "iat",
        "exp" => "exp",
        "nbf" => "nbf",
        _ => "other",
    }
}

const HS_HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;
const RS_HEADER: &str = r#"{"alg":"RS256","typ":"JWT"}"#;

fn invalid(reason: InvalidReason) -> Result<(), TokenError> {
    Err(TokenError::invalid(reason))
}

/// What the call answered: `Ok(())` for a payload, the token error otherwise.
fn outcome(r: testudo_core::Result<TokenPayload>) -> Result<Result<(), TokenError>, String> {
    match r {
        Ok(_) => Ok(Ok(())),
        Err(e) => match e.as_token_error() {
            Some(t) => Ok(Err(t.clone())),
            None => Err(format!("not a token error: {e:?}")),
        },
    }
}

#[tokio::test]
async fn every_hostile_jwt_gets_its_exact_error_within_the_bound() -> TestResult {
    let hs = hs()?;
    let rs = rs()?;
    let hs_key = EncodingKey::from_secret(SECRET.as_bytes());
    let rsa_as_hmac = EncodingKey::from_secret(RSA_PUB.as_bytes());
    let rsa_key = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes())?;
    let hs_sign = Some((&hs_key, Algorithm::HS256));
    let good = claims_with("", None);
    let valid = craft(HS_HEADER, &good, hs_sign);
    let valid_rs = craft(RS_HEADER, &good, Some((&rsa_key, Algorithm::RS256)));
    // The valid token with its signature spelled in another alphabet (same length).
    let (body, sig) = valid.rsplit_once('.').ok_or("three parts")?;
    let wrong_alphabet = format!("{body}.{}", "*".repeat(sig.len()));
    let huge_header = format!(r#"{{"alg":"HS256","typ":"JWT","x":"{}"}}"#, "a".repeat(MIB));
    let deep = "[".repeat(10_000);
    // A signed token padded (in its header) to the longest that fits MAX_TOKEN_LEN, and the
    // next longer one.
    let padded = |n: usize| {
        let header = format!(r#"{{"alg":"HS256","typ":"JWT","x":"{}"}}"#, "a".repeat(n));
        craft(&header, &good, hs_sign)
    };
    let fits = (0..MAX_TOKEN_LEN)
        .take_while(|&n| padded(n).len() <= MAX_TOKEN_LEN)
        .last()
        .ok_or("no padding fits")?;
    let (longest, over_the_limit) = (padded(fits), padded(fits + 1));
    assert!(longest.len() <= MAX_TOKEN_LEN && longest.len() + 4 > MAX_TOKEN_LEN);
    assert!(over_the_limit.len() > MAX_TOKEN_LEN);
    let with = |name: &str, raw: &str| craft(HS_HEADER, &claims_with(name, Some(raw)), hs_sign);

    let malformed = || invalid(InvalidReason::Malformed);
    let table: Vec<(&str, &JwtBackend, String, Result<(), TokenError>)> = vec![
        ("baseline HS256", &hs, valid.clone(), Ok(())),
        ("baseline RS256", &rs, valid_rs.clone(), Ok(())),
        ("empty", &hs, String::new(), malformed()),
        ("empty on RS256", &rs, String::new(), malformed()),
        ("1 MiB of text", &hs, "a".repeat(MIB), malformed()),
        ("1 MiB of dots", &rs, ".".repeat(MIB), malformed()),
        ("NUL bytes", &hs, "\0\0\0.\0.\0".to_owned(), malformed()),
        (
            "right shape, wrong alphabet",
            &hs,
            wrong_alphabet,
            malformed(),
        ),
        (
            "alg none, no signature",
            &hs,
            craft(r#"{"alg":"none","typ":"JWT"}"#, &good, None),
            malformed(),
        ),
        (
            "alg none on RS256",
            &rs,
            craft(r#"{"alg":"none","typ":"JWT"}"#, &good, None),
            malformed(),
        ),
        (
            "alg None spelled otherwise",
            &hs,
            craft(r#"{"alg":"NONE"}"#, &good, None),
            malformed(),
        ),
        (
            "HS256 token on an RS256 backend",
            &rs,
            valid.clone(),
            invalid(InvalidReason::AlgorithmNotAllowed),
        ),
        (
            "HS256 keyed with the RSA public key PEM, on RS256",
            &rs,
            craft(HS_HEADER, &good, Some((&rsa_as_hmac, Algorithm::HS256))),
            invalid(InvalidReason::AlgorithmNotAllowed),
        ),
        (
            "RS256 token on an HS256 backend",
            &hs,
            valid_rs,
            invalid(InvalidReason::AlgorithmNotAllowed),
        ),
        (
            "HS384 token on an HS256 backend",
            &hs,
            craft(
                r#"{"alg":"HS384"}"#,
                &good,
                Some((&hs_key, Algorithm::HS384)),
            ),
            invalid(InvalidReason::AlgorithmNotAllowed),
        ),
        (
            "1 MiB header, signed",
            &hs,
            craft(&huge_header, &good, hs_sign),
            malformed(),
        ),
        (
            "1 MiB header, unsigned",
            &hs,
            craft(&huge_header, &good, None),
            malformed(),
        ),
        (
            "signed, as long as the limit allows",
            &hs,
            longest.clone(),
            Ok(()),
        ),
        (
            "signed, just over the limit",
            &hs,
            over_the_limit.clone(),
            malformed(),
        ),
        (
            "10 000 nested [ as the header",
            &hs,
            craft(&deep, &good, hs_sign),
            malformed(),
        ),
        (
            "10 000 nested [ as the claims",
            &hs,
            craft(HS_HEADER, &deep, hs_sign),
            malformed(),
        ),
        (
            "10 000 nested [ in a claim",
            &hs,
            with("sub", &deep),
            malformed(),
        ),
        (
            "exp i64::MAX",
            &hs,
            with("exp", &i64::MAX.to_string()),
            Ok(()),
        ),
        (
            "exp i64::MIN",
            &hs,
            with("exp", &i64::MIN.to_string()),
            Err(TokenError::Expired),
        ),
        (
            "exp u64::MAX",
            &hs,
            with("exp", &u64::MAX.to_string()),
            invalid(InvalidReason::ClaimType(Claim::Exp)),
        ),
        (
            "exp a float",
            &hs,
            with("exp", "1700000900.5"),
            invalid(InvalidReason::ClaimType(Claim::Exp)),
        ),
        (
            "exp a string",
            &hs,
            with("exp", "\"1700000900\""),
            invalid(InvalidReason::ClaimType(Claim::Exp)),
        ),
        ("exp 1e400", &hs, with("exp", "1e400"), malformed()),
        (
            "iat i64::MAX",
            &hs,
            with("iat", &i64::MAX.to_string()),
            invalid(InvalidReason::NotYetValid(Claim::Iat)),
        ),
        (
            "iat i64::MIN",
            &hs,
            with("iat", &i64::MIN.to_string()),
            Ok(()),
        ),
        (
            "iat u64::MAX",
            &hs,
            with("iat", &u64::MAX.to_string()),
            invalid(InvalidReason::ClaimType(Claim::Iat)),
        ),
        (
            "iat a float",
            &hs,
            with("iat", "1.7e9"),
            invalid(InvalidReason::ClaimType(Claim::Iat)),
        ),
        (
            "iat a string",
            &hs,
            with("iat", "\"now\""),
            invalid(InvalidReason::ClaimType(Claim::Iat)),
        ),
        (
            "iat absent",
            &hs,
            craft(HS_HEADER, &claims_with("iat", None), hs_sign),
            invalid(InvalidReason::MissingClaim(Claim::Iat)),
        ),
        (
            "nbf i64::MAX",
            &hs,
            with("nbf", &i64::MAX.to_string()),
            invalid(InvalidReason::NotYetValid(Claim::Nbf)),
        ),
        (
            "nbf i64::MIN",
            &hs,
            with("nbf", &i64::MIN.to_string()),
            Ok(()),
        ),
        (
            "nbf u64::MAX",
            &hs,
            with("nbf", &u64::MAX.to_string()),
            invalid(InvalidReason::ClaimType(Claim::Nbf)),
        ),
        (
            "nbf a float",
            &hs,
            with("nbf", "0.5"),
            invalid(InvalidReason::ClaimType(Claim::Nbf)),
        ),
        (
            "nbf a string",
            &hs,
            with("nbf", "\"0\""),
            invalid(InvalidReason::ClaimType(Claim::Nbf)),
        ),
        (
            "sub a number",
            &hs,
            with("sub", "1"),
            invalid(InvalidReason::ClaimType(Claim::Sub)),
        ),
        (
            "jti empty",
            &hs,
            with("jti", "\"\""),
            invalid(InvalidReason::MissingClaim(Claim::Jti)),
        ),
        (
            "token_type unknown",
            &hs,
            with("token_type", "\"root\""),
            invalid(InvalidReason::UnknownType),
        ),
    ];

    let mut wrong = Vec::new();
    for (what, backend, token, expected) in &table {
        let verified =
            tokio::time::timeout(BOUND, backend.verify_token(token, TokenType::Access)).await;
        let Ok(verified) = verified else {
            wrong.push(format!("{what}: verify took longer than {BOUND:?}"));
            continue;
        };
        match outcome(verified) {
            Ok(got) if got == *expected => {}
            Ok(got) => wrong.push(format!("{what}: expected {expected:?}, got {got:?}")),
            Err(e) => wrong.push(format!("{what}: {e}")),
        }
        // Revoking reads the token too: it never fails on the input (stateless backend) and
        // returns within the bound.
        match tokio::time::timeout(BOUND, backend.revoke_token(token)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => wrong.push(format!("{what}: revoke_token failed: {e:?}")),
            Err(_) => wrong.push(format!("{what}: revoke_token took longer than {BOUND:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // The backend's own tokens still verify, and a refresh token is refused as an access one.
    let pair = hs.create_tokens("1", Claims::new()).await?;
    let r = hs
        .verify_token(pair.refresh_token(), TokenType::Access)
        .await;
    assert!(
        matches!(
            outcome(r),
            Ok(Err(TokenError::Invalid {
                reason: InvalidReason::WrongType { .. }
            }))
        ),
        "a refresh token as access"
    );
    Ok(())
}

/// Extra claims that would make a token longer than [`MAX_TOKEN_LEN`] are refused when
/// signing (an internal error naming the length), so no token is issued that would be refused
/// when presented; a little less signs and verifies.
#[tokio::test]
async fn claims_too_long_for_a_token_are_refused_when_signing() -> TestResult {
    use testudo_core::TokenBackend as _;

    let hs = hs()?;
    let with_blob = |n: usize| {
        let mut extra = Claims::new();
        extra.insert("blob".into(), "a".repeat(n).into());
        extra
    };
    let r = hs.create_tokens("42", with_blob(MAX_TOKEN_LEN)).await;
    let Err(testudo_core::Error::Internal(source)) = &r else {
        return Err(format!("a too long token: {r:?}").into());
    };
    assert!(
        matches!(
            source.downcast_ref::<testudo_tokens_jwt::Error>(),
            Some(testudo_tokens_jwt::Error::TooLong { len }) if *len > MAX_TOKEN_LEN
        ),
        "{source:?}"
    );
    let pair = hs.create_tokens("42", with_blob(MAX_TOKEN_LEN / 2)).await?;
    hs.verify_token(pair.access_token(), TokenType::Access)
        .await?;
    Ok(())
}
