//! Timing uniformity as counted work (issue 17): an unknown user, an inactive user, a wrong
//! password, an unusable password, an unreadable or over-budget stored hash and an over-long
//! password each cost exactly one Argon2id verification with the current parameters — a real
//! one against a hash with those parameters for the wrong password, the dummy one otherwise —
//! and nothing else (no hash, no second verification, one slot at a time). The wall-clock side
//! is the `login` bench (`cargo bench -p testudo-service --features sqlite --bench login`).

mod common;

use common::{Env, Tokens};
use testudo_core::{AuthenticationError, Claims, Error};
use testudo_test_support::TestResult;
use testudo_test_support::db::Backend;

const PASSWORD: &str = "correct horse battery staple";

#[tokio::test]
async fn every_failed_login_path_costs_exactly_one_verification_with_the_current_parameters()
-> TestResult {
    let env = Env::new(Backend::Sqlite { file: false }, Tokens::Database, |_| {}).await?;
    let auth = &env.auth;
    let known = auth.create_user("known@example.com", PASSWORD).await?;
    // The real verification's hash has the current parameters: it costs what the dummy costs.
    assert!(
        !auth
            .hasher()
            .password_hasher()
            .needs_rehash(&known.password),
        "the stored hash has the current parameters"
    );
    let inactive = auth.create_user("inactive@example.com", PASSWORD).await?;
    auth.store()
        .set_active(&inactive.id.to_string(), false)
        .await?;
    let unusable = auth.create_user("unusable@example.com", PASSWORD).await?;
    auth.set_unusable_password(&unusable).await?;
    auth.store()
        .insert_user("unreadable@example.com", "md5$not$a$known$format")
        .await?;
    auth.store()
        .insert_user(
            "costly@example.com",
            "$argon2id$v=19$m=4194304,t=64,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        )
        .await?;
    auth.hasher().verify_dummy().await?;
    let long = "x".repeat(auth.config().max_password_length + 1);

    // (path, email, password, whether the one verification is the dummy one)
    let cases = [
        (
            "wrong password",
            "known@example.com",
            "not the password",
            false,
        ),
        ("unknown user", "nobody@example.com", PASSWORD, true),
        ("inactive user", "inactive@example.com", PASSWORD, true),
        ("unusable password", "unusable@example.com", PASSWORD, true),
        (
            "unreadable stored hash",
            "unreadable@example.com",
            PASSWORD,
            true,
        ),
        (
            "over-budget stored hash",
            "costly@example.com",
            PASSWORD,
            true,
        ),
        (
            "over-long password",
            "known@example.com",
            long.as_str(),
            true,
        ),
    ];
    for (path, email, password, dummy) in cases {
        let h = auth.hasher();
        let (verifications, dummies, peak) = (
            h.verifications(),
            h.dummy_verifications(),
            h.peak_in_flight(),
        );
        let r = auth.login(email, password, Claims::new()).await;
        assert!(
            matches!(
                r,
                Err(Error::Authentication(
                    AuthenticationError::InvalidCredentials
                ))
            ),
            "{path}: {r:?}"
        );
        assert_eq!(
            h.verifications() - verifications,
            1,
            "{path}: verifications"
        );
        assert_eq!(
            h.dummy_verifications() - dummies,
            u64::from(dummy),
            "{path}: dummy verifications"
        );
        assert_eq!(
            h.peak_in_flight(),
            peak.max(1),
            "{path}: one slot at a time"
        );
    }
    // The paths are told apart by the event only (for the application), never by the answer.
    env.cleanup().await
}
