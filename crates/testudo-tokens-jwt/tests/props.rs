//! Property tests (issue 17), through the public `TokenBackend` API: JWT pairs round trip
//! (any user id and extra claims, every algorithm family) and any single edited byte of a
//! token is refused. Bounded case counts keep the suite fast.

use std::sync::Arc;

use proptest::prelude::*;
use serde_json::Value;
use testudo_config::{AuthConfig, JwtAlgorithm};
use testudo_core::{Claims, FixedClock, TokenBackend, TokenError, TokenType};
use testudo_tokens_jwt::{JwtBackend, JwtKeys};

const SECRET: &str = "a-property-test-secret-of-at-least-64-bytes-0123456789abcdef0123456789";
const NOW: i64 = 1_700_000_000;
const ED_KEY: &str = include_str!("keys/ed1.key.pem");
const ED_PUB: &str = include_str!("keys/ed1.pub.pem");

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, TestCaseError> {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(fail)
}

/// An HS256 / HS512 / EdDSA backend at `NOW`.
fn backend(algorithm: JwtAlgorithm) -> Result<JwtBackend, TestCaseError> {
    let mut c = AuthConfig::default();
    c.jwt_algorithm = algorithm;
    c.jwt_secret = Some(SECRET.into());
    let clock = Arc::new(FixedClock::from_unix(NOW).map_err(fail)?);
    let b = if algorithm == JwtAlgorithm::EdDSA {
        let keys = JwtKeys::new()
            .signing_key(None, ED_KEY)
            .verification_key(None, ED_PUB);
        c.jwt_secret = None;
        JwtBackend::with_keys(Arc::new(c), keys)
    } else {
        JwtBackend::new(Arc::new(c))
    };
    Ok(b.map_err(fail)?.with_clock(clock))
}

fn algorithms() -> impl Strategy<Value = JwtAlgorithm> {
    prop::sample::select(vec![
        JwtAlgorithm::HS256,
        JwtAlgorithm::HS512,
        JwtAlgorithm::EdDSA,
    ])
}

/// Extra claims: a few string / integer / boolean values under arbitrary names.
fn extra_claims() -> impl Strategy<Value = Claims> {
    let value = prop_oneof![
        any::<String>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
    ];
    prop::collection::btree_map("[a-z_]{1,8}", value, 0..4).prop_map(|m| {
        m.into_iter()
            .filter(|(k, _)| k != "ss" && k != testudo_core::CREDENTIAL_VERSION_CLAIM)
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn a_pair_round_trips_with_its_user_and_claims(
        algorithm in algorithms(),
        user_id in any::<String>(),
        extra in extra_claims(),
    ) {
        let b = backend(algorithm)?;
        runtime()?.block_on(async {
            let pair = b.create_tokens(&user_id, extra.clone()).await.map_err(fail)?;
            let access = b.verify_token(pair.access_token(), TokenType::Access).await.map_err(fail)?;
            prop_assert_eq!(&access.sub, &user_id);
            prop_assert_eq!(access.token_type, TokenType::Access);
            prop_assert_eq!(access.iat, NOW);
            prop_assert!(access.exp > NOW);
            prop_assert_eq!(access.extra.unwrap_or_default(), extra);
            let refresh = b.verify_token(pair.refresh_token(), TokenType::Refresh).await.map_err(fail)?;
            prop_assert_eq!(&refresh.sub, &user_id);
            prop_assert_ne!(refresh.jti, access.jti);
            // Each is refused as the other type.
            let wrong = b.verify_token(pair.access_token(), TokenType::Refresh).await;
            prop_assert!(matches!(
                wrong.as_ref().err().and_then(testudo_core::Error::as_token_error),
                Some(TokenError::Invalid { .. })
            ), "{wrong:?}");
            Ok(())
        })?;
    }

    #[test]
    fn any_edited_byte_of_a_token_is_refused(
        algorithm in algorithms(),
        at in any::<usize>(),
        byte in any::<u8>(),
        refresh in any::<bool>(),
    ) {
        let b = backend(algorithm)?;
        runtime()?.block_on(async {
            let pair = b.create_tokens("42", Claims::new()).await.map_err(fail)?;
            let (token, ty) = if refresh {
                (pair.refresh_token(), TokenType::Refresh)
            } else {
                (pair.access_token(), TokenType::Access)
            };
            let mut bytes = token.as_bytes().to_vec();
            let at = at % bytes.len();
            prop_assume!(bytes[at] != byte);
            bytes[at] = byte;
            // Tokens are `&str` at every entry point: other bytes never reach the backend.
            let Ok(edited) = String::from_utf8(bytes) else {
                return Ok(());
            };
            let r = b.verify_token(&edited, ty).await;
            prop_assert!(matches!(
                r.as_ref().err().and_then(testudo_core::Error::as_token_error),
                Some(TokenError::Invalid { .. })
            ), "byte {at} of {token} set to {byte:#x}: {r:?}");
            Ok(())
        })?;
    }
}
