//! Every `jwt` and `jwt_crafted` entry of the conformance vectors (tokens made by `PyJWT` through
//! tortoise-auth), through the shared loader: `TESTUDO_CONFORMANCE_VECTORS=<file>` checks another
//! file of the same schema, and entries this test cannot interpret fail it.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{Claims, FixedClock, TokenBackend, TokenError, TokenType};
use testudo_test_support::{TestResult, Vectors};
use testudo_tokens_jwt::{Error, JwtBackend};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct JwtEntry {
    secret: String,
    secret_source: String,
    algorithm: String,
    issuer: String,
    audience: String,
    access_token_lifetime: u64,
    refresh_token_lifetime: u64,
    user_id: String,
    extra_kwargs: Claims,
    now: f64,
    token_type: String,
    token: String,
    header: Value,
    claims: Map<String, Value>,
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    now: f64,
    expected_type: String,
    expect: String,
    #[serde(default)]
    python_error: Option<String>,
    #[serde(default)]
    why: Option<String>,
    #[serde(default)]
    verifier: Option<Verifier>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verifier {
    secret: String,
    algorithm: String,
    issuer: String,
    audience: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Crafted {
    why: String,
    secret: String,
    algorithm: String,
    issuer: String,
    audience: String,
    now: f64,
    expected_type: String,
    token: String,
    claims: Map<String, Value>,
    python_result: String,
    #[serde(default)]
    python_error: Option<String>,
    #[serde(default)]
    payload: Option<Map<String, Value>>,
}

/// The settings a backend is built from.
struct Settings<'a> {
    secret: &'a str,
    secret_source: &'a str,
    algorithm: &'a str,
    issuer: &'a str,
    audience: &'a str,
    access: u64,
    refresh: u64,
}

fn non_empty(s: &str) -> Option<String> {
    Some(s.to_owned()).filter(|s| !s.is_empty())
}

fn config(s: &Settings<'_>) -> Result<AuthConfig, String> {
    let mut c = AuthConfig::default();
    c.jwt_algorithm = s
        .algorithm
        .parse::<JwtAlgorithm>()
        .map_err(|e| format!("algorithm {:?}: {e}", s.algorithm))?;
    match s.secret_source {
        "jwt_secret" => c.jwt_secret = Some(s.secret.into()),
        "signing_secret" | "signing_secret (jwt_secret empty)" => {
            // tortoise-auth signs with signing_secret itself: testudo only with the opt-in.
            c.signing_secret = Some(s.secret.into());
            c.jwt_raw_signing_secret = true;
        }
        other => return Err(format!("unknown secret_source {other:?}")),
    }
    // tortoise-auth has no session limit (its refresh tokens carry no session start).
    c.session_max_lifetime = Duration::ZERO;
    c.jwt_issuer = non_empty(s.issuer);
    c.jwt_audience = non_empty(s.audience);
    c.access_token_lifetime = Duration::from_secs(s.access);
    c.refresh_token_lifetime = Duration::from_secs(s.refresh);
    Ok(c)
}

/// The backend for `settings`, checking first that the strict constructor refuses exactly the
/// secrets shorter than RFC 7518 allows (tortoise-auth accepts them; the vectors use some).
fn backend(settings: &Settings<'_>, now: f64) -> TestResult<(JwtBackend, bool)> {
    let config = Arc::new(config(settings)?);
    let min = config.jwt_algorithm.min_secret_bytes().unwrap_or(0);
    let short = settings.secret.len() < min;
    match JwtBackend::new(config.clone()) {
        Err(Error::ShortSecret { .. }) if short => {}
        Ok(_) if !short => {}
        other => {
            return Err(format!("strict constructor: {other:?} (short secret: {short})").into());
        }
    }
    let backend = JwtBackend::new_allowing_short_secret(config)?.with_clock(Arc::new(clock(now)?));
    Ok((backend, short))
}

#[expect(
    clippy::cast_possible_truncation,
    reason = "finite vector times, checked range"
)]
fn clock(now: f64) -> TestResult<FixedClock> {
    let millis = (now * 1000.0).round();
    if !millis.is_finite() || millis.abs() > 1e15 {
        return Err(format!("unusable time {now}").into());
    }
    let at = chrono::DateTime::from_timestamp_millis(millis as i64).ok_or("time out of range")?;
    Ok(FixedClock::new(at))
}

async fn outcome(
    backend: &JwtBackend,
    token: &str,
    expected: &str,
) -> TestResult<(String, Option<Map<String, Value>>)> {
    let expected: TokenType = expected
        .parse()
        .map_err(|e| format!("expected_type {expected:?}: {e}"))?;
    Ok(match backend.verify_token(token, expected).await {
        Ok(p) => {
            let mut payload = Map::new();
            payload.insert("sub".into(), p.sub.into());
            payload.insert("jti".into(), p.jti.into());
            payload.insert("iat".into(), p.iat.into());
            payload.insert("exp".into(), p.exp.into());
            payload.insert("extra".into(), p.extra.map_or(Value::Null, Value::Object));
            ("ok".to_owned(), Some(payload))
        }
        Err(e) => match e.as_token_error() {
            Some(TokenError::Expired) => ("expired".to_owned(), None),
            Some(TokenError::Invalid { .. }) => ("invalid".to_owned(), None),
            _ => return Err(format!("unexpected error {e}").into()),
        },
    })
}

fn segment(token: &str, n: usize) -> TestResult<String> {
    let part = token.split('.').nth(n).ok_or("missing segment")?;
    Ok(String::from_utf8(URL_SAFE_NO_PAD.decode(part)?)?)
}

/// JSON as Python's `json.dumps` writes it by default: every non-ASCII character as `\uXXXX`
/// (UTF-16 units). Non-ASCII only occurs inside strings, so escaping the whole text is exact.
fn ascii_escaped(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0_u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[tokio::test]
async fn every_jwt_entry_verifies_alike_and_our_tokens_have_the_same_layout() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<JwtEntry> = vectors.section("jwt")?;
    assert!(!entries.is_empty(), "no jwt entries");
    let (mut checks, mut byte_equal, mut short_secrets) = (0, 0, 0);
    for (i, e) in entries.iter().enumerate() {
        let ctx = format!("jwt[{i}] ({} {} {})", e.algorithm, e.token_type, e.user_id);
        let settings = Settings {
            secret: &e.secret,
            secret_source: &e.secret_source,
            algorithm: &e.algorithm,
            issuer: &e.issuer,
            audience: &e.audience,
            access: e.access_token_lifetime,
            refresh: e.refresh_token_lifetime,
        };
        let (issuer, short) = backend(&settings, e.now)?;
        short_secrets += usize::from(short);

        // Our token for the same input, clock and jti.
        let jti = e
            .claims
            .get("jti")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("{ctx}: no jti"))?;
        let pair = issuer.create_tokens_with_jtis(&e.user_id, &e.extra_kwargs, jti, jti)?;
        let ours = match e.token_type.as_str() {
            "access" => pair.access_token(),
            "refresh" => pair.refresh_token(),
            other => return Err(format!("{ctx}: unknown token_type {other:?}").into()),
        };
        let our_header: Value = serde_json::from_str(&segment(ours, 0)?)?;
        assert_eq!(our_header, e.header, "{ctx}: header");
        let our_payload = segment(ours, 1)?;
        let our_claims: Map<String, Value> = serde_json::from_str(&our_payload)?;
        assert_eq!(our_claims, e.claims, "{ctx}: claims");
        // Same bytes, except the order of the keys inside `extra`: `Claims` is a sorted map,
        // so the order the caller gave is lost before the backend sees it (PyJWT keeps it).
        let (ours_text, theirs) = (ascii_escaped(&our_payload), segment(&e.token, 1)?);
        let prefix = |s: &str| s.find(",\"extra\":").map_or(s.len(), |at| at);
        assert_eq!(
            ours_text[..prefix(&ours_text)],
            theirs[..prefix(&theirs)],
            "{ctx}: payload bytes before extra"
        );
        if e.claims.contains_key("extra") {
            if ours_text == theirs {
                byte_equal += 1;
            }
        } else {
            assert_eq!(ours_text, theirs, "{ctx}: payload bytes");
            byte_equal += 1;
        }

        for (j, c) in e.checks.iter().enumerate() {
            let ctx = format!(
                "{ctx} check {j} ({:?})",
                c.why.as_deref().or(c.python_error.as_deref())
            );
            let verifier = match &c.verifier {
                None => backend(&settings, c.now)?.0,
                Some(v) => {
                    let s = Settings {
                        secret: &v.secret,
                        secret_source: "jwt_secret",
                        algorithm: &v.algorithm,
                        issuer: &v.issuer,
                        audience: &v.audience,
                        ..settings
                    };
                    backend(&s, c.now)?.0
                }
            };
            if !["ok", "expired", "invalid"].contains(&c.expect.as_str()) {
                return Err(format!("{ctx}: unknown expect {:?}", c.expect).into());
            }
            let (got, payload) = outcome(&verifier, &e.token, &c.expected_type).await?;
            assert_eq!(got, c.expect, "{ctx}: Python's token");
            if let Some(p) = payload {
                for claim in ["sub", "jti", "iat", "exp"] {
                    assert_eq!(p.get(claim), e.claims.get(claim), "{ctx}: {claim}");
                }
                assert_eq!(
                    p.get("extra"),
                    Some(e.claims.get("extra").unwrap_or(&Value::Null)),
                    "{ctx}: extra"
                );
            }
            let (got, _) = outcome(&verifier, ours, &c.expected_type).await?;
            assert_eq!(got, c.expect, "{ctx}: our token");
            checks += 1;
        }
    }
    vectors.report("jwt", entries.len());
    eprintln!(
        "conformance: {checks} jwt checks, {byte_equal} payloads byte-identical, \
         {short_secrets} entries with a secret below the RFC 7518 minimum (refused by JwtBackend::new)"
    );
    Ok(())
}

/// Where testudo is deliberately stricter than tortoise-auth (reference section 10, item 9):
/// `exp` and `iat` must be integers and `extra` an object.
fn stricter_than_python(claims: &Map<String, Value>) -> bool {
    let not_int = |name| claims.get(name).is_some_and(|v| v.as_i64().is_none());
    not_int("exp")
        || not_int("iat")
        || claims
            .get("extra")
            .is_some_and(|v| !v.is_object() && !v.is_null())
}

#[tokio::test]
async fn every_jwt_crafted_entry() -> TestResult {
    let vectors = Vectors::load()?;
    let entries: Vec<Crafted> = vectors.section("jwt_crafted")?;
    assert!(!entries.is_empty(), "no jwt_crafted entries");
    let (mut crashes, mut stricter) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        let ctx = format!("jwt_crafted[{i}] ({}: {:?})", e.why, e.python_error);
        let settings = Settings {
            secret: &e.secret,
            secret_source: "jwt_secret",
            algorithm: &e.algorithm,
            issuer: &e.issuer,
            audience: &e.audience,
            access: 900,
            refresh: 604_800,
        };
        let (backend, _) = backend(&settings, e.now)?;
        let expected = match e.python_result.as_str() {
            "python_crash" => {
                crashes += 1;
                "invalid"
            }
            "ok" if stricter_than_python(&e.claims) => {
                stricter += 1;
                "invalid"
            }
            r @ ("ok" | "invalid" | "expired") => r,
            other => return Err(format!("{ctx}: unknown python_result {other:?}").into()),
        };
        let (got, payload) = outcome(&backend, &e.token, &e.expected_type).await?;
        assert_eq!(got, expected, "{ctx}");
        if let Some(p) = payload {
            assert_eq!(Some(&p), e.payload.as_ref(), "{ctx}: payload");
        }
    }
    vectors.report("jwt_crafted", entries.len());
    eprintln!(
        "conformance: {crashes} jwt_crafted entries where Python crashed are invalid here; \
         {stricter} accepted by Python are invalid here by design"
    );
    Ok(())
}
