//! Public-API tests of `AuthConfig`: defaults, validation, loading, global configuration.

use std::collections::BTreeMap;
use std::time::Duration;

use secrecy::ExposeSecret;
use testudo_config::{
    AuthConfig, EnvReason, Error, InvalidReason, JwtAlgorithm, PasswordValidatorConfig,
    RateLimitMode, Setting, TokenBackendKind, TotpAlgorithm, configure, get_config,
};
use testudo_test_support::{TestResult, Vectors};

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn invalid_field(result: &Result<AuthConfig, Error>) -> Option<&'static str> {
    match result {
        Err(Error::Invalid { field, .. }) => Some(field.as_str()),
        _ => None,
    }
}

#[test]
fn defaults_equal_the_references_for_every_shared_field() -> TestResult {
    let vectors = Vectors::load()?;
    let reference: BTreeMap<String, serde_json::Value> = vectors.object("config_defaults")?;
    let c = AuthConfig::default();
    let secs = |d: Duration| serde_json::Value::from(d.as_secs());
    let ours: BTreeMap<&str, serde_json::Value> = BTreeMap::from([
        ("argon2_time_cost", c.argon2_time_cost.into()),
        ("argon2_memory_cost", c.argon2_memory_cost.into()),
        ("argon2_parallelism", c.argon2_parallelism.into()),
        ("bcrypt_rounds", c.bcrypt_rounds.into()),
        ("pbkdf2_iterations", c.pbkdf2_iterations.into()),
        ("access_token_lifetime", secs(c.access_token_lifetime)),
        ("refresh_token_lifetime", secs(c.refresh_token_lifetime)),
        ("token_length", c.token_length.into()),
        ("max_password_length", c.max_password_length.into()),
        ("signing_token_lifetime", secs(c.signing_token_lifetime)),
        (
            "password_reset_token_lifetime",
            secs(c.password_reset_token_lifetime),
        ),
        (
            "onboarding_max_verification_attempts",
            c.onboarding_max_verification_attempts.into(),
        ),
        (
            "onboarding_verification_code_ttl",
            secs(c.onboarding_verification_code_ttl),
        ),
        (
            "onboarding_session_lifetime",
            secs(c.onboarding_session_lifetime),
        ),
        (
            "onboarding_session_token_length",
            c.onboarding_session_token_length.into(),
        ),
        ("onboarding_require_totp", c.onboarding_require_totp.into()),
        (
            "onboarding_invalidate_previous_sessions",
            c.onboarding_invalidate_previous_sessions.into(),
        ),
        ("jwt_algorithm", c.jwt_algorithm.as_str().into()),
        ("jwt_blacklist_enabled", c.jwt_blacklist_enabled.into()),
        ("rate_limit_max_attempts", c.rate_limit_max_attempts.into()),
        ("rate_limit_window", secs(c.rate_limit_window)),
        ("rate_limit_lockout", secs(c.rate_limit_lockout)),
        (
            "password_reset_rate_limit_max_attempts",
            c.password_reset_rate_limit_max_attempts.into(),
        ),
        (
            "password_reset_rate_limit_window",
            secs(c.password_reset_rate_limit_window),
        ),
        // Unset secrets / claims are "" in the reference and `None` here.
        (
            "signing_secret",
            c.signing_secret
                .as_ref()
                .map_or("", |s| s.expose_secret())
                .into(),
        ),
        (
            "jwt_secret",
            c.jwt_secret
                .as_ref()
                .map_or("", |s| s.expose_secret())
                .into(),
        ),
        (
            "jwt_issuer",
            c.jwt_issuer.clone().unwrap_or_default().into(),
        ),
        (
            "jwt_audience",
            c.jwt_audience.clone().unwrap_or_default().into(),
        ),
        ("s2s_enabled", c.s2s_enabled.into()),
        ("s2s_token_env_var", c.s2s_token_env_var.clone().into()),
    ]);
    // Fields of the reference that testudo does not port.
    let not_ported = [
        "user_model", // the UserStore given to AuthService
    ];
    let mut checked = 0;
    for (field, expected) in &reference {
        if not_ported.contains(&field.as_str()) {
            continue;
        }
        let Some(value) = ours.get(field.as_str()) else {
            return Err(format!("reference field {field} is not covered by this test").into());
        };
        assert_eq!(value, expected, "default of {field}");
        checked += 1;
    }
    assert_eq!(
        checked,
        ours.len(),
        "every compared field is in the reference"
    );
    vectors.report("config_defaults", checked);
    // The API reference's max_tokens_per_user (absent from 0.6.0's code) and validator list.
    assert_eq!(c.max_tokens_per_user, 100);
    assert_eq!(c.password_validators.len(), 4);
    assert!(matches!(
        c.password_validators[0],
        PasswordValidatorConfig::MinimumLength { min_length: 8 }
    ));
    Ok(())
}

#[test]
fn defaults_of_our_own_fields_are_safe() {
    let c = AuthConfig::default();
    assert!(c.hash_concurrency >= 1);
    assert_eq!(c.jwt_leeway, Duration::ZERO);
    assert!(c.refresh_reuse_detection);
    assert!(c.revoke_tokens_on_password_change);
    assert_eq!(c.email_token_lifetime, Duration::from_secs(900));
    assert_eq!(c.token_backend, TokenBackendKind::Database);
    assert_eq!(c.rate_limit_mode, RateLimitMode::Escalating);
    assert!(c.signing_fallback_secrets.is_empty());
    assert_eq!(c.api_key_prefix, "tdo");
    assert!(c.jwt_fallback_secrets.is_empty());
    assert!(c.validate().is_ok());
}

#[test]
fn validate_rejects_each_unsafe_or_inconsistent_value_naming_the_field() {
    let b = AuthConfig::builder;
    let cases: Vec<(&str, Result<AuthConfig, Error>)> = vec![
        (
            "access_token_lifetime",
            b().access_token_lifetime(Duration::ZERO).build(),
        ),
        (
            "refresh_token_lifetime",
            b().refresh_token_lifetime(Duration::ZERO).build(),
        ),
        (
            "signing_token_lifetime",
            b().signing_token_lifetime(Duration::ZERO).build(),
        ),
        (
            "email_token_lifetime",
            b().email_token_lifetime(Duration::ZERO).build(),
        ),
        (
            "password_reset_token_lifetime",
            b().password_reset_token_lifetime(Duration::ZERO).build(),
        ),
        (
            "storage_call_timeout",
            b().storage_call_timeout(Duration::ZERO).build(),
        ),
        (
            "onboarding_verification_code_ttl",
            b().onboarding_verification_code_ttl(Duration::ZERO).build(),
        ),
        (
            "onboarding_max_verification_attempts",
            b().onboarding_max_verification_attempts(0).build(),
        ),
        (
            "onboarding_session_lifetime",
            b().onboarding_session_lifetime(Duration::ZERO).build(),
        ),
        (
            "onboarding_session_token_length",
            b().onboarding_session_token_length(31).build(),
        ),
        (
            "onboarding_session_token_length",
            b().onboarding_session_token_length(5000).build(),
        ),
        (
            "refresh_token_lifetime",
            b().access_token_lifetime(Duration::from_secs(3600))
                .refresh_token_lifetime(Duration::from_secs(60))
                .build(),
        ),
        (
            "jwt_leeway",
            b().jwt_leeway(Duration::from_secs(900)).build(),
        ),
        ("token_length", b().token_length(16).build()),
        ("token_length", b().token_length(5000).build()),
        ("argon2_time_cost", b().argon2_time_cost(0).build()),
        ("argon2_parallelism", b().argon2_parallelism(0).build()),
        (
            "argon2_parallelism",
            b().argon2_parallelism(1 << 24).build(),
        ),
        (
            "argon2_memory_cost",
            b().argon2_memory_cost(31).argon2_parallelism(4).build(),
        ),
        ("bcrypt_rounds", b().bcrypt_rounds(3).build()),
        ("bcrypt_rounds", b().bcrypt_rounds(32).build()),
        ("pbkdf2_iterations", b().pbkdf2_iterations(0).build()),
        ("max_password_length", b().max_password_length(0).build()),
        (
            "password_validators",
            b().max_password_length(6).build(), // below the default minimum length of 8
        ),
        (
            "password_validators",
            b().password_validators(vec![PasswordValidatorConfig::UserAttributeSimilarity {
                user_attributes: vec!["email".into()],
                max_similarity: 1.5,
            }])
            .build(),
        ),
        (
            "password_validators",
            b().password_validators(vec![PasswordValidatorConfig::UserAttributeSimilarity {
                user_attributes: vec!["email".into()],
                max_similarity: f64::NAN,
            }])
            .build(),
        ),
        ("hash_concurrency", b().hash_concurrency(0).build()),
        (
            "rate_limit_max_attempts",
            b().rate_limit_max_attempts(0).build(),
        ),
        (
            "rate_limit_window",
            b().rate_limit_window(Duration::ZERO).build(),
        ),
        (
            "rate_limit_lockout",
            b().rate_limit_lockout(Duration::ZERO).build(),
        ),
        (
            "password_reset_rate_limit_max_attempts",
            b().password_reset_rate_limit_max_attempts(0).build(),
        ),
        (
            "password_reset_rate_limit_window",
            b().password_reset_rate_limit_window(Duration::ZERO).build(),
        ),
        ("signing_secret", b().signing_secret("short").build()),
        (
            "signing_fallback_secrets",
            b().signing_fallback_secret("short").build(),
        ),
        ("jwt_secret", b().jwt_secret("short").build()),
        (
            "jwt_fallback_secrets",
            b().jwt_fallback_secret("short").build(),
        ),
        (
            "jwt_fallback_secrets",
            b().jwt_algorithm(JwtAlgorithm::HS512)
                .jwt_fallback_secret(SECRET)
                .build(), // 32 < 64 bytes
        ),
        (
            "jwt_secret",
            b().jwt_algorithm(JwtAlgorithm::HS512)
                .jwt_secret(SECRET)
                .build(), // 32 < 64 bytes
        ),
        (
            "jwt_secret",
            b().token_backend(TokenBackendKind::Jwt).build(),
        ),
        (
            "signing_secret",
            // The JWT falls back to a signing secret too short for HS384.
            b().token_backend(TokenBackendKind::Jwt)
                .jwt_algorithm(JwtAlgorithm::HS384)
                .signing_secret(SECRET)
                .build(),
        ),
        (
            "s2s_token_env_var",
            b().s2s_enabled(true).s2s_token_env_var("").build(),
        ),
        (
            "s2s_token_env_var",
            b().s2s_enabled(true).s2s_token_env_var("  ").build(),
        ),
        ("api_key_prefix", b().api_key_prefix("").build()),
        ("api_key_prefix", b().api_key_prefix("tdo_live").build()),
        ("api_key_prefix", b().api_key_prefix("TDO").build()),
        ("api_key_prefix", b().api_key_prefix("a".repeat(17)).build()),
        (
            "signing_fallback_secrets",
            // The JWT fallback keys are made from a signing fallback too short for HS384.
            b().token_backend(TokenBackendKind::Jwt)
                .jwt_algorithm(JwtAlgorithm::HS384)
                .signing_secret(format!("{SECRET}{SECRET}"))
                .signing_fallback_secret(SECRET)
                .build(),
        ),
    ];
    for (field, result) in cases {
        assert_eq!(invalid_field(&result), Some(field), "case for {field}");
    }
}

#[test]
fn validate_accepts_consistent_configurations() -> TestResult {
    let jwt_fallback = AuthConfig::builder()
        .token_backend(TokenBackendKind::Jwt)
        .signing_secret(SECRET)
        .build()?;
    assert_eq!(
        jwt_fallback
            .effective_jwt_secret()
            .map(ExposeSecret::expose_secret),
        Some(SECRET)
    );
    let asymmetric = AuthConfig::builder()
        .token_backend(TokenBackendKind::Jwt)
        .jwt_algorithm(JwtAlgorithm::EdDSA)
        .build()?;
    assert!(asymmetric.effective_jwt_secret().is_none());
    let cheap_for_tests = AuthConfig::builder()
        .argon2_memory_cost(8)
        .argon2_time_cost(1)
        .argon2_parallelism(1)
        .bcrypt_rounds(4)
        .pbkdf2_iterations(1)
        .max_tokens_per_user(0)
        .build()?;
    assert_eq!(cheap_for_tests.argon2_memory_cost, 8);
    // An empty variable name is fine while S2S is off (the reference's check).
    let s2s_off = AuthConfig::builder().s2s_token_env_var("").build()?;
    assert!(!s2s_off.s2s_enabled);
    let s2s_on = AuthConfig::builder()
        .s2s_enabled(true)
        .s2s_token_env_var("MY_S2S_TOKENS")
        .api_key_prefix("acme2")
        .build()?;
    assert_eq!(
        (
            s2s_on.s2s_token_env_var.as_str(),
            s2s_on.api_key_prefix.as_str()
        ),
        ("MY_S2S_TOKENS", "acme2")
    );
    Ok(())
}

#[test]
fn effective_signing_secret_is_the_signing_secret() -> TestResult {
    let c = AuthConfig::builder().signing_secret(SECRET).build()?;
    assert_eq!(
        c.effective_signing_secret()
            .map(ExposeSecret::expose_secret),
        Some(SECRET)
    );
    let with_jwt = AuthConfig::builder()
        .signing_secret(SECRET)
        .jwt_secret("another-secret-of-thirty-two-bytes!!")
        .build()?;
    assert_eq!(
        with_jwt
            .effective_jwt_secret()
            .map(ExposeSecret::expose_secret),
        Some("another-secret-of-thirty-two-bytes!!")
    );
    assert!(AuthConfig::default().effective_signing_secret().is_none());
    Ok(())
}

#[test]
fn debug_never_shows_a_secret() -> TestResult {
    let c = AuthConfig::builder()
        .signing_secret("signing-secret-value-0123456789abcdef")
        .jwt_secret("jwt-secret-value-0123456789abcdef-xyz")
        .signing_fallback_secret("fallback-secret-value-0123456789abcdef")
        .jwt_fallback_secret("old-jwt-secret-value-0123456789abcdef")
        .build()?;
    let shown = format!("{c:?} {c:#?}");
    for secret in [
        "signing-secret-value",
        "jwt-secret-value",
        "fallback-secret-value",
        "old-jwt-secret-value",
    ] {
        assert!(!shown.contains(secret), "{secret} leaked in Debug");
    }
    assert!(shown.contains("access_token_lifetime"));
    Ok(())
}

#[test]
fn toml_sets_every_kind_of_field() -> TestResult {
    let c = AuthConfig::from_toml_str(&format!(
        r#"
        argon2_time_cost = 2
        access_token_lifetime = 600
        refresh_token_lifetime = 86400
        signing_secret = "{SECRET}"
        signing_fallback_secrets = ["{SECRET}-old", ""]
        jwt_fallback_secrets = ["{SECRET}-jwt-old", "", "{SECRET}-jwt-older"]
        jwt_algorithm = "HS256"
        jwt_issuer = "https://auth.example.com"
        jwt_audience = ""
        jwt_blacklist_enabled = true
        token_backend = "jwt"
        refresh_reuse_detection = false
        rate_limit_max_attempts = 10
        rate_limit_window = 60
        rate_limit_lockout = 120
        password_reset_rate_limit_max_attempts = 2
        password_reset_rate_limit_window = 3600
        rate_limit_mode = "lockout"
        s2s_enabled = true
        s2s_token_env_var = "BILLING_S2S_TOKENS"
        api_key_prefix = "acme"

        [[password_validators]]
        name = "minimum_length"
        min_length = 12

        [[password_validators]]
        name = "user_attribute_similarity"
        user_attributes = ["email", "username"]
        "#
    ))?;
    assert_eq!(c.argon2_time_cost, 2);
    assert_eq!(c.access_token_lifetime, Duration::from_secs(600));
    assert_eq!(
        c.signing_fallback_secrets.len(),
        1,
        "empty entries are unset"
    );
    assert_eq!(c.jwt_fallback_secrets.len(), 2, "empty entries are unset");
    assert_eq!(c.jwt_issuer.as_deref(), Some("https://auth.example.com"));
    assert_eq!(
        c.jwt_audience, None,
        "empty means unset, as in the reference"
    );
    assert!(c.jwt_blacklist_enabled);
    assert_eq!(c.token_backend, TokenBackendKind::Jwt);
    assert!(!c.refresh_reuse_detection);
    assert_eq!(c.rate_limit_max_attempts, 10);
    assert_eq!(c.rate_limit_window, Duration::from_secs(60));
    assert_eq!(c.rate_limit_lockout, Duration::from_secs(120));
    assert_eq!(c.password_reset_rate_limit_max_attempts, 2);
    assert_eq!(
        c.password_reset_rate_limit_window,
        Duration::from_secs(3600)
    );
    assert_eq!(c.rate_limit_mode, RateLimitMode::Lockout);
    assert!(c.s2s_enabled);
    assert_eq!(c.s2s_token_env_var, "BILLING_S2S_TOKENS");
    assert_eq!(c.api_key_prefix, "acme");
    assert_eq!(c.password_validators.len(), 2);
    assert!(matches!(
        &c.password_validators[1],
        PasswordValidatorConfig::UserAttributeSimilarity { user_attributes, max_similarity }
            if user_attributes.len() == 2 && (*max_similarity - 0.7).abs() < f64::EPSILON
    ));
    Ok(())
}

#[test]
fn toml_errors_name_the_problem() {
    let unknown_field = AuthConfig::from_toml_str("user_modle = \"x\"");
    assert!(matches!(unknown_field, Err(Error::Parse { .. })));
    let unknown_alg = AuthConfig::from_toml_str("jwt_algorithm = \"none\"");
    let source = unknown_alg
        .err()
        .and_then(|e| std::error::Error::source(&e).map(ToString::to_string));
    assert!(source.is_some_and(|s| s.contains("jwt_algorithm")));
    let negative = AuthConfig::from_toml_str("access_token_lifetime = -5");
    assert!(matches!(negative, Err(Error::Parse { .. })));
    let invalid = AuthConfig::from_toml_str("token_length = 8");
    assert!(matches!(
        invalid,
        Err(Error::Invalid {
            field: Setting::TokenLength,
            ..
        })
    ));
}

#[test]
fn toml_file_loads_and_a_missing_file_is_a_clear_error() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("auth.toml");
    std::fs::write(&path, "max_tokens_per_user = 5\n")?;
    assert_eq!(AuthConfig::from_toml_file(&path)?.max_tokens_per_user, 5);
    let missing = AuthConfig::from_toml_file(dir.path().join("nope.toml"));
    let message = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("nope.toml"), "{message}");
    std::fs::write(&path, "max_tokens_per_user = \"five\"\n")?;
    let message = AuthConfig::from_toml_file(&path)
        .err()
        .map(|e| e.to_string());
    assert!(message.is_some_and(|m| m.contains("auth.toml")));
    Ok(())
}

#[test]
fn environment_variables_override_the_defaults() -> TestResult {
    let c = AuthConfig::default().with_env_vars([
        ("TESTUDO_ACCESS_TOKEN_LIFETIME", "300"),
        ("TESTUDO_JWT_ALGORITHM", "HS512"),
        ("TESTUDO_JWT_BLACKLIST_ENABLED", "true"),
        ("TESTUDO_SIGNING_SECRET", SECRET),
        (
            "TESTUDO_SIGNING_FALLBACK_SECRETS",
            "0123456789abcdef0123456789abcdeX, 0123456789abcdef0123456789abcdeY",
        ),
        ("TESTUDO_JWT_ISSUER", "me"),
        (
            "TESTUDO_JWT_FALLBACK_SECRETS",
            // HS512 is configured: at least 64 bytes.
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdeZ,, ",
        ),
        ("TESTUDO_TOKEN_BACKEND", "database"),
        ("TESTUDO_RATE_LIMIT_MAX_ATTEMPTS", "7"),
        ("TESTUDO_RATE_LIMIT_WINDOW", "30"),
        ("TESTUDO_RATE_LIMIT_LOCKOUT", "90"),
        ("TESTUDO_PASSWORD_RESET_RATE_LIMIT_MAX_ATTEMPTS", "4"),
        ("TESTUDO_PASSWORD_RESET_RATE_LIMIT_WINDOW", "600"),
        ("TESTUDO_RATE_LIMIT_MODE", "lockout"),
        ("TESTUDO_S2S_ENABLED", "yes"),
        ("TESTUDO_S2S_TOKEN_ENV_VAR", " INTERNAL_TOKENS "),
        ("TESTUDO_API_KEY_PREFIX", "acme"),
        ("HOME", "/root"),
    ])?;
    assert!(c.s2s_enabled);
    assert_eq!(c.s2s_token_env_var, "INTERNAL_TOKENS");
    assert_eq!(c.api_key_prefix, "acme");
    assert_eq!(c.rate_limit_max_attempts, 7);
    assert_eq!(c.rate_limit_window, Duration::from_secs(30));
    assert_eq!(c.rate_limit_lockout, Duration::from_secs(90));
    assert_eq!(c.password_reset_rate_limit_max_attempts, 4);
    assert_eq!(c.password_reset_rate_limit_window, Duration::from_secs(600));
    assert_eq!(c.rate_limit_mode, RateLimitMode::Lockout);
    assert_eq!(c.access_token_lifetime, Duration::from_secs(300));
    assert_eq!(c.jwt_algorithm, JwtAlgorithm::HS512);
    assert!(c.jwt_blacklist_enabled);
    assert_eq!(c.signing_fallback_secrets.len(), 2);
    assert_eq!(c.jwt_fallback_secrets.len(), 1);
    assert_eq!(c.jwt_issuer.as_deref(), Some("me"));
    Ok(())
}

#[test]
fn a_bad_environment_value_names_the_variable() {
    let cases = [
        ("TESTUDO_ACCESS_TOKEN_LIFETIME", "-1"),
        ("TESTUDO_ARGON2_TIME_COST", "three"),
        ("TESTUDO_JWT_BLACKLIST_ENABLED", "maybe"),
        ("TESTUDO_JWT_ALGORITHM", "none"),
        ("TESTUDO_TOKEN_BACKEND", "redis"),
        ("TESTUDO_RATE_LIMIT_MODE", "forever"),
        ("TESTUDO_RATE_LIMIT_WINDOW", "5m"),
        ("TESTUDO_S2S_ENABLED", "maybe"),
        ("TESTUDO_NO_SUCH_SETTING", "1"),
    ];
    for (var, value) in cases {
        let err = AuthConfig::default().with_env_vars([(var, value)]).err();
        match &err {
            Some(Error::Env { setting, .. }) => assert_eq!(setting.env_var(), var),
            Some(Error::UnknownEnv { var: named }) => assert_eq!(named.as_str(), var),
            other => panic!("{var}={value}: expected an Env error, got {other:?}"),
        }
        let message = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.starts_with(&format!("environment variable {var}: ")),
            "{message}"
        );
    }
    // Parsed but unsafe: the validation error names the field.
    let err = AuthConfig::default().with_env_vars([("TESTUDO_TOKEN_LENGTH", "10")]);
    assert!(matches!(
        err,
        Err(Error::Invalid {
            field: Setting::TokenLength,
            ..
        })
    ));
    // A secret's value never appears in an error.
    let err = AuthConfig::default()
        .with_env_vars([("TESTUDO_SIGNING_SECRET", "tiny-secret-value")])
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("signing_secret") && !err.contains("tiny-secret-value"),
        "{err}"
    );
}

#[test]
fn global_configuration_falls_back_to_defaults_and_refuses_invalid_ones() -> TestResult {
    // This is the only test in this binary touching the global, so it cannot race.
    assert_eq!(get_config().token_length, 64);
    configure(AuthConfig::builder().token_length(80).build()?)?;
    assert_eq!(get_config().token_length, 80);
    let mut bad = AuthConfig::default();
    bad.token_length = 1;
    assert!(configure(bad).is_err());
    assert_eq!(
        get_config().token_length,
        80,
        "a refused config changes nothing"
    );
    Ok(())
}

#[test]
fn configuration_errors_convert_into_the_core_error() {
    let err: testudo_core::Error = AuthConfig::builder()
        .token_length(1)
        .build()
        .err()
        .map_or_else(
            || testudo_core::Error::configuration("unexpected"),
            Into::into,
        );
    assert!(matches!(err, testudo_core::Error::Configuration(_)));
    assert!(err.to_string().contains("token_length"));
}

/// The message of `result`'s error, its source's message, and the core error's message and
/// source, after checking that it converts to `Configuration`.
fn messages(result: Result<AuthConfig, Error>) -> (String, Option<String>, String, Option<String>) {
    let Err(err) = result else {
        return (String::new(), None, String::new(), None);
    };
    let message = err.to_string();
    let source = std::error::Error::source(&err).map(ToString::to_string);
    let core = testudo_core::Error::from(err);
    assert!(
        matches!(core, testudo_core::Error::Configuration(_)),
        "{core:?}"
    );
    let core_source = std::error::Error::source(&core).map(ToString::to_string);
    (message, source, core.to_string(), core_source)
}

#[test]
fn each_invalid_reason_is_data_and_reads_as_a_message_naming_the_field() {
    let b = AuthConfig::builder;
    let similarity = |max_similarity| {
        vec![PasswordValidatorConfig::UserAttributeSimilarity {
            user_attributes: vec!["email".into()],
            max_similarity,
        }]
    };
    let cases: Vec<(Result<AuthConfig, Error>, Setting, InvalidReason, &str)> = vec![
        (
            b().access_token_lifetime(Duration::ZERO).build(),
            Setting::AccessTokenLifetime,
            InvalidReason::ZeroDuration,
            "access_token_lifetime: must be at least one second",
        ),
        (
            b().access_token_lifetime(Duration::from_secs(3600))
                .refresh_token_lifetime(Duration::from_secs(60))
                .build(),
            Setting::RefreshTokenLifetime,
            InvalidReason::ShorterThan {
                than: Setting::AccessTokenLifetime,
            },
            "refresh_token_lifetime: must not be shorter than access_token_lifetime",
        ),
        (
            b().jwt_leeway(Duration::from_secs(900)).build(),
            Setting::JwtLeeway,
            InvalidReason::NotShorterThan {
                than: Setting::AccessTokenLifetime,
            },
            "jwt_leeway: must be shorter than access_token_lifetime",
        ),
        (
            b().token_length(16).build(),
            Setting::TokenLength,
            InvalidReason::OutOfRange { min: 32, max: 1024 },
            "token_length: must be between 32 and 1024",
        ),
        (
            b().argon2_time_cost(0).build(),
            Setting::Argon2TimeCost,
            InvalidReason::TooSmall { min: 1 },
            "argon2_time_cost: must be at least 1",
        ),
        (
            b().argon2_parallelism(0).build(),
            Setting::Argon2Parallelism,
            InvalidReason::OutOfRange {
                min: 1,
                max: 16_777_215,
            },
            "argon2_parallelism: must be between 1 and 16777215",
        ),
        (
            b().argon2_memory_cost(31).argon2_parallelism(4).build(),
            Setting::Argon2MemoryCost,
            InvalidReason::MemoryPerLane { kib_per_lane: 8 },
            "argon2_memory_cost: must be at least 8 KiB per lane (8 x argon2_parallelism)",
        ),
        (
            b().bcrypt_rounds(32).build(),
            Setting::BcryptRounds,
            InvalidReason::OutOfRange { min: 4, max: 31 },
            "bcrypt_rounds: must be between 4 and 31",
        ),
        (
            b().pbkdf2_iterations(0).build(),
            Setting::Pbkdf2Iterations,
            InvalidReason::TooSmall { min: 1 },
            "pbkdf2_iterations: must be at least 1",
        ),
        (
            b().max_password_length(0).build(),
            Setting::MaxPasswordLength,
            InvalidReason::TooSmall { min: 1 },
            "max_password_length: must be at least 1",
        ),
        (
            b().hash_concurrency(0).build(),
            Setting::HashConcurrency,
            InvalidReason::TooSmall { min: 1 },
            "hash_concurrency: must be at least 1",
        ),
        (
            b().max_password_length(6).build(),
            Setting::PasswordValidators,
            InvalidReason::MinLengthAboveMax,
            "password_validators: minimum_length.min_length exceeds max_password_length",
        ),
        (
            b().password_validators(similarity(0.05)).build(),
            Setting::PasswordValidators,
            InvalidReason::MaxSimilarityOutOfRange,
            "password_validators: user_attribute_similarity.max_similarity must be between 0.1 \
             and 1.0",
        ),
        (
            b().signing_secret("short-secret-value").build(),
            Setting::SigningSecret,
            InvalidReason::SecretTooShort { min_bytes: 32 },
            "signing_secret: must be at least 32 bytes long",
        ),
        (
            b().jwt_algorithm(JwtAlgorithm::HS512)
                .jwt_secret(SECRET)
                .build(),
            Setting::JwtSecret,
            InvalidReason::SecretTooShort { min_bytes: 64 },
            "jwt_secret: must be at least 64 bytes long",
        ),
        (
            b().token_backend(TokenBackendKind::Jwt)
                .jwt_algorithm(JwtAlgorithm::HS384)
                .build(),
            Setting::JwtSecret,
            InvalidReason::MissingSecret {
                algorithm: JwtAlgorithm::HS384,
            },
            "jwt_secret: HS384 needs a secret: set jwt_secret or signing_secret",
        ),
        (
            b().s2s_enabled(true).s2s_token_env_var("").build(),
            Setting::S2sTokenEnvVar,
            InvalidReason::EmptyWhenEnabled {
                by: Setting::S2sEnabled,
            },
            "s2s_token_env_var: must not be empty when s2s_enabled is on",
        ),
        (
            b().api_key_prefix("tdo_").build(),
            Setting::ApiKeyPrefix,
            InvalidReason::BadKeyPrefix { max: 16 },
            "api_key_prefix: must be 1 to 16 characters of [a-z0-9]",
        ),
    ];
    for (result, field, reason, message) in cases {
        match &result {
            Err(Error::Invalid {
                field: f,
                reason: r,
            }) => assert_eq!((*f, *r), (field, reason), "{message}"),
            other => panic!("{message}: expected an Invalid error, got {other:?}"),
        }
        let expected = format!("invalid configuration: {message}");
        let (shown, source, core, core_source) = messages(result);
        assert_eq!(shown, expected);
        assert_eq!(source, None, "{message}: no cause");
        assert_eq!(core, expected, "{message}: the core error reads the same");
        assert_eq!(core_source, None, "{message}");
        assert!(!shown.contains("short-secret-value"), "{shown}");
    }
}

#[test]
fn unknown_algorithm_and_backend_names_are_invalid_values() {
    let alg = "none".parse::<JwtAlgorithm>();
    assert!(matches!(
        alg,
        Err(Error::Invalid {
            field: Setting::JwtAlgorithm,
            reason: InvalidReason::UnknownAlgorithm,
        })
    ));
    assert_eq!(
        alg.err().map(|e| e.to_string()).unwrap_or_default(),
        "invalid configuration: jwt_algorithm: unknown algorithm (expected one of HS256, HS384, \
         HS512, RS256, ES256, EdDSA)"
    );
    let backend = "redis".parse::<TokenBackendKind>();
    assert!(matches!(
        backend,
        Err(Error::Invalid {
            field: Setting::TokenBackend,
            reason: InvalidReason::UnknownBackend,
        })
    ));
    assert_eq!(
        backend.err().map(|e| e.to_string()).unwrap_or_default(),
        "invalid configuration: token_backend: unknown backend (expected \"database\" or \"jwt\")"
    );
}

#[test]
fn rate_limit_modes_parse_by_name_and_an_unknown_one_is_an_invalid_value() -> TestResult {
    assert_eq!(
        "escalating".parse::<RateLimitMode>()?,
        RateLimitMode::Escalating
    );
    assert_eq!("lockout".parse::<RateLimitMode>()?, RateLimitMode::Lockout);
    assert_eq!(RateLimitMode::Lockout.to_string(), "lockout");
    let mode = "Lockout".parse::<RateLimitMode>();
    assert!(matches!(
        mode,
        Err(Error::Invalid {
            field: Setting::RateLimitMode,
            reason: InvalidReason::UnknownRateLimitMode,
        })
    ));
    assert_eq!(
        mode.err().map(|e| e.to_string()).unwrap_or_default(),
        "invalid configuration: rate_limit_mode: unknown rate-limit mode (expected \"escalating\" \
         or \"lockout\")"
    );
    let toml = AuthConfig::from_toml_str("rate_limit_mode = \"forever\"");
    assert!(matches!(toml, Err(Error::Parse { .. })), "{toml:?}");
    Ok(())
}

#[test]
fn each_environment_error_is_data_and_reads_as_a_message_naming_the_variable() {
    let env = |var: &str, value: &str| AuthConfig::default().with_env_vars([(var, value)]);
    let cases = [
        (
            "TESTUDO_ARGON2_TIME_COST",
            "three",
            Some((Setting::Argon2TimeCost, EnvReason::NotAWholeNumber)),
            "expected a non-negative whole number",
        ),
        (
            "TESTUDO_ACCESS_TOKEN_LIFETIME",
            "-1",
            Some((Setting::AccessTokenLifetime, EnvReason::NotSeconds)),
            "expected a whole number of seconds",
        ),
        (
            "TESTUDO_JWT_BLACKLIST_ENABLED",
            "maybe",
            Some((Setting::JwtBlacklistEnabled, EnvReason::NotABoolean)),
            "expected true or false",
        ),
        (
            "TESTUDO_JWT_ALGORITHM",
            "none",
            Some((
                Setting::JwtAlgorithm,
                EnvReason::Invalid(InvalidReason::UnknownAlgorithm),
            )),
            "unknown algorithm (expected one of HS256, HS384, HS512, RS256, ES256, EdDSA)",
        ),
        (
            "TESTUDO_TOKEN_BACKEND",
            "redis",
            Some((
                Setting::TokenBackend,
                EnvReason::Invalid(InvalidReason::UnknownBackend),
            )),
            "unknown backend (expected \"database\" or \"jwt\")",
        ),
        (
            "TESTUDO_PASSWORD_VALIDATORS",
            "minimum_length",
            Some((Setting::PasswordValidators, EnvReason::NotFromEnvironment)),
            "cannot be set from the environment (use code or a TOML file)",
        ),
        (
            "TESTUDO_NO_SUCH_SETTING",
            "1",
            None,
            "not a testudo setting",
        ),
    ];
    for (var, value, data, reason) in cases {
        let result = env(var, value);
        match (&result, data) {
            (Err(Error::Env { setting, reason }), Some(expected)) => {
                assert_eq!((*setting, *reason), expected, "{var}");
            }
            (Err(Error::UnknownEnv { var: named }), None) => assert_eq!(named.as_str(), var),
            (other, _) => panic!("{var}={value}: unexpected {other:?}"),
        }
        let expected = format!("environment variable {var}: {reason}");
        let (shown, source, core, core_source) = messages(result);
        assert_eq!(shown, expected);
        assert_eq!(source, None, "{var}: no cause");
        assert_eq!(core, expected);
        assert_eq!(core_source, None);
        assert!(!shown.contains(value) || value == "1", "{shown}");
    }
}

#[test]
fn every_setting_but_the_validator_list_is_read_from_the_environment() {
    for setting in Setting::ALL {
        let result = AuthConfig::default().with_env_vars([(setting.env_var(), "#")]);
        match result {
            Err(Error::UnknownEnv { var }) => panic!("{var} is not read"),
            Err(Error::Env { setting: named, .. }) => assert_eq!(named, *setting),
            // A text setting takes "#" (and a secret is then refused as too short).
            Ok(_) | Err(Error::Invalid { .. }) => {}
            Err(other) => panic!("{setting}: unexpected {other:?}"),
        }
    }
}

#[test]
fn every_field_of_the_configuration_has_a_setting() {
    // `{:#?}` writes one field per line, indented by four spaces.
    let shown = format!("{:#?}", AuthConfig::default());
    let fields: Vec<&str> = shown
        .lines()
        .filter_map(|l| l.strip_prefix("    "))
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| l.split_once(':').map(|(name, _)| name))
        .collect();
    let settings: Vec<&str> = Setting::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(fields, settings);
}

#[test]
fn a_toml_error_keeps_the_parser_message_in_source_only_and_never_quotes_the_document() {
    let secret = "s3cret-value-0123456789abcdef0123456789";
    let result = AuthConfig::from_toml_str(&format!(
        "access_token_lifetime = 600\nsigning_secret = \"{secret}\" trailing\n"
    ));
    let Err(err) = result else {
        panic!("trailing text after a value must be refused");
    };
    assert!(matches!(err, Error::Parse { path: None, .. }), "{err:?}");
    let parse = std::error::Error::source(&err)
        .and_then(|s| s.downcast_ref::<testudo_config::ParseError>());
    let shown_source = parse.map(ToString::to_string).unwrap_or_default();
    assert!(
        shown_source.starts_with("line 2, column "),
        "{shown_source}"
    );
    let everything = format!("{err} | {err:?} | {shown_source} | {parse:?}");
    assert!(!everything.contains(secret), "{everything}");
    assert!(!everything.contains("trailing"), "{everything}");

    let (message, source, core, core_source) = messages(Err(err));
    assert_eq!(message, "invalid configuration file");
    assert_eq!(source.as_deref(), Some(shown_source.as_str()));
    assert_eq!(core, "invalid configuration file");
    assert_eq!(core_source.as_deref(), Some(shown_source.as_str()));
}

#[test]
fn a_toml_error_names_the_key_and_position() {
    let source = |text: &str| {
        AuthConfig::from_toml_str(text)
            .err()
            .and_then(|e| std::error::Error::source(&e).map(ToString::to_string))
            .unwrap_or_default()
    };
    let unknown = source("user_modle = \"x\"");
    assert!(unknown.contains("unknown field `user_modle`"), "{unknown}");
    let wrong_type = source("token_length = 64\njwt_algorithm = \"none\"\n");
    assert!(
        wrong_type.starts_with("line 2, column 17: ") && wrong_type.contains("jwt_algorithm"),
        "{wrong_type}"
    );
    assert!(!wrong_type.contains('\n'), "one line: {wrong_type:?}");
}

#[test]
fn legacy_hash_settings_are_off_by_default_and_read_from_toml_the_environment_and_the_builder()
-> TestResult {
    let c = AuthConfig::default();
    assert!(!c.allow_insecure_legacy_hashes);
    assert!(c.bcrypt_pepper.is_none());

    let c = AuthConfig::from_toml_str(
        r#"
        allow_insecure_legacy_hashes = true
        bcrypt_pepper = "devise-pepper-value"
        "#,
    )?;
    assert!(c.allow_insecure_legacy_hashes);
    assert_eq!(
        c.bcrypt_pepper.as_ref().map(ExposeSecret::expose_secret),
        Some("devise-pepper-value")
    );

    let c = AuthConfig::default().with_env_vars([
        ("TESTUDO_ALLOW_INSECURE_LEGACY_HASHES", "yes"),
        ("TESTUDO_BCRYPT_PEPPER", "env-pepper-value"),
    ])?;
    assert!(c.allow_insecure_legacy_hashes);
    assert_eq!(
        c.bcrypt_pepper.as_ref().map(ExposeSecret::expose_secret),
        Some("env-pepper-value")
    );
    let unset = AuthConfig::default().with_env_vars([("TESTUDO_BCRYPT_PEPPER", "")])?;
    assert!(unset.bcrypt_pepper.is_none(), "empty means unset");

    let c = AuthConfig::builder()
        .allow_insecure_legacy_hashes(true)
        .bcrypt_pepper("builder-pepper-value")
        .build()?;
    assert!(c.allow_insecure_legacy_hashes);
    let shown = format!("{c:?} {c:#?}");
    assert!(
        !shown.contains("builder-pepper-value"),
        "the pepper leaked in Debug"
    );
    assert!(shown.contains("bcrypt_pepper"));
    Ok(())
}

#[test]
fn a_tortoise_auth_file_with_the_account_flow_settings_loads_and_each_is_read() -> TestResult {
    // Every setting of tortoise-auth's rate limiting, password reset, e-mail codes and S2S,
    // with its names and units (seconds), as an application written for it would have them.
    let c = AuthConfig::from_toml_str(&format!(
        r#"
        signing_secret = "{SECRET}"
        rate_limit_max_attempts = 7
        rate_limit_window = 120
        rate_limit_lockout = 900
        password_reset_token_lifetime = 1800
        password_reset_rate_limit_max_attempts = 2
        password_reset_rate_limit_window = 600
        onboarding_max_verification_attempts = 3
        onboarding_verification_code_ttl = 300
        onboarding_session_lifetime = 1200
        onboarding_session_token_length = 48
        onboarding_require_totp = true
        onboarding_invalidate_previous_sessions = false
        s2s_enabled = true
        s2s_token_env_var = "INTERNAL_TOKEN"
        "#
    ))?;
    assert_eq!(c.rate_limit_max_attempts, 7);
    assert_eq!(c.rate_limit_window, Duration::from_secs(120));
    assert_eq!(c.rate_limit_lockout, Duration::from_secs(900));
    assert_eq!(c.password_reset_token_lifetime, Duration::from_secs(1800));
    assert_eq!(c.password_reset_rate_limit_max_attempts, 2);
    assert_eq!(c.password_reset_rate_limit_window, Duration::from_secs(600));
    assert_eq!(c.onboarding_max_verification_attempts, 3);
    assert_eq!(c.onboarding_verification_code_ttl, Duration::from_secs(300));
    assert_eq!(c.onboarding_session_lifetime, Duration::from_secs(1200));
    assert_eq!(c.onboarding_session_token_length, 48);
    assert!(c.onboarding_require_totp);
    assert!(!c.onboarding_invalidate_previous_sessions);
    assert!(c.s2s_enabled);
    assert_eq!(c.s2s_token_env_var, "INTERNAL_TOKEN");
    Ok(())
}

#[test]
fn second_factor_settings_have_defaults_load_and_are_validated() -> TestResult {
    let c = AuthConfig::default();
    assert_eq!(c.totp_issuer, "testudo");
    assert_eq!(c.totp_algorithm, TotpAlgorithm::SHA1);
    assert_eq!(
        (c.totp_digits, c.totp_skew, c.recovery_code_count),
        (6, 1, 10)
    );
    assert_eq!(c.login_challenge_lifetime, Duration::from_secs(300));
    assert_eq!(c.step_up_window, Duration::from_secs(300));

    let c = AuthConfig::from_toml_str(
        r#"
        totp_issuer = "Acme Corp"
        totp_algorithm = "SHA512"
        totp_digits = 8
        totp_skew = 0
        recovery_code_count = 16
        login_challenge_lifetime = 120
        step_up_window = 60
        "#,
    )?;
    assert_eq!(c.totp_issuer, "Acme Corp");
    assert_eq!(c.totp_algorithm, TotpAlgorithm::SHA512);
    assert_eq!(
        (c.totp_digits, c.totp_skew, c.recovery_code_count),
        (8, 0, 16)
    );
    assert_eq!(c.login_challenge_lifetime, Duration::from_secs(120));
    assert_eq!(c.step_up_window, Duration::from_secs(60));

    let c = AuthConfig::default().with_env_vars([
        ("TESTUDO_TOTP_ISSUER", " Acme "),
        ("TESTUDO_TOTP_ALGORITHM", "SHA256"),
        ("TESTUDO_TOTP_DIGITS", "7"),
        ("TESTUDO_TOTP_SKEW", "2"),
        ("TESTUDO_RECOVERY_CODE_COUNT", "5"),
        ("TESTUDO_LOGIN_CHALLENGE_LIFETIME", "30"),
        ("TESTUDO_STEP_UP_WINDOW", "900"),
    ])?;
    assert_eq!(c.totp_issuer, "Acme");
    assert_eq!(c.totp_algorithm, TotpAlgorithm::SHA256);
    assert_eq!(
        (c.totp_digits, c.totp_skew, c.recovery_code_count),
        (7, 2, 5)
    );
    assert_eq!(c.login_challenge_lifetime, Duration::from_secs(30));
    assert_eq!(c.step_up_window, Duration::from_secs(900));

    let b = AuthConfig::builder;
    let refused = [
        (Setting::TotpIssuer, b().totp_issuer("").build()),
        (Setting::TotpIssuer, b().totp_issuer("Acme:Corp").build()),
        (Setting::TotpIssuer, b().totp_issuer("x".repeat(65)).build()),
        (Setting::TotpIssuer, b().totp_issuer("Acme\n").build()),
        (Setting::TotpDigits, b().totp_digits(5).build()),
        (Setting::TotpDigits, b().totp_digits(9).build()),
        (Setting::TotpSkew, b().totp_skew(3).build()),
        (
            Setting::RecoveryCodeCount,
            b().recovery_code_count(0).build(),
        ),
        (
            Setting::RecoveryCodeCount,
            b().recovery_code_count(101).build(),
        ),
        (
            Setting::LoginChallengeLifetime,
            b().login_challenge_lifetime(Duration::ZERO).build(),
        ),
        (
            Setting::StepUpWindow,
            b().step_up_window(Duration::ZERO).build(),
        ),
    ];
    for (setting, result) in refused {
        assert!(
            matches!(result, Err(Error::Invalid { field, .. }) if field == setting),
            "{setting}"
        );
    }
    let unknown = AuthConfig::default().with_env_vars([("TESTUDO_TOTP_ALGORITHM", "MD5")]);
    assert!(matches!(
        unknown,
        Err(Error::Env {
            setting: Setting::TotpAlgorithm,
            ..
        })
    ));
    Ok(())
}
