//! Hostile-input table (issue 17): TOML documents and `TESTUDO_*` variables an operator's
//! deployment could be fed (empty, 1 MiB, NUL bytes, 10 000 nested `[`, numbers at and past
//! the integer limits, floats and strings where integers go), each with its exact error, within
//! a time bound.

use std::time::{Duration, Instant};

use testudo_config::{AuthConfig, EnvReason, Error, InvalidReason, Setting};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const MIB: usize = 1 << 20;
const BOUND: Duration = Duration::from_secs(2);

/// What a load answered: `Ok`, a parse error, or the typed reasons.
#[derive(Debug, PartialEq, Eq)]
enum Got {
    Ok,
    Parse,
    Invalid(Setting, InvalidReason),
    Env(Setting, EnvReason),
    UnknownEnv(String),
    Other(String),
}

fn got(r: Result<AuthConfig, Error>) -> Got {
    match r {
        Ok(_) => Got::Ok,
        Err(Error::Parse { .. }) => Got::Parse,
        Err(Error::Invalid { field, reason }) => Got::Invalid(field, reason),
        Err(Error::Env { setting, reason }) => Got::Env(setting, reason),
        Err(Error::UnknownEnv { var }) => Got::UnknownEnv(var.as_str().to_owned()),
        Err(e) => Got::Other(format!("{e:?}")),
    }
}

#[test]
fn every_hostile_toml_document_gets_its_exact_error_within_the_bound() {
    let lifetime = |v: &str| format!("access_token_lifetime = {v}");
    let table: Vec<(&str, String, Got)> = vec![
        ("empty", String::new(), Got::Ok),
        ("1 MiB of garbage", "a".repeat(MIB), Got::Parse),
        ("1 MiB comment", format!("# {}", "a".repeat(MIB)), Got::Ok),
        ("NUL bytes", "\0\0\0".to_owned(), Got::Parse),
        (
            "NUL in a string",
            "jwt_issuer = \"a\0b\"".to_owned(),
            Got::Parse,
        ),
        (
            "10 000 nested [",
            format!("token_length = {}", "[".repeat(10_000)),
            Got::Parse,
        ),
        (
            "10 000 nested {",
            format!("token_length = {}", "{a=".repeat(10_000)),
            Got::Parse,
        ),
        (
            "unknown field",
            "no_such_setting = 1".to_owned(),
            Got::Parse,
        ),
        ("lifetime negative", lifetime("-1"), Got::Parse),
        (
            "lifetime zero",
            lifetime("0"),
            Got::Invalid(Setting::AccessTokenLifetime, InvalidReason::ZeroDuration),
        ),
        ("lifetime a float", lifetime("1.5"), Got::Parse),
        ("lifetime a string", lifetime("\"900\""), Got::Parse),
        (
            "lifetime i64::MAX",
            lifetime(&i64::MAX.to_string()),
            Got::Invalid(
                Setting::RefreshTokenLifetime,
                InvalidReason::ShorterThan {
                    than: Setting::AccessTokenLifetime,
                },
            ),
        ),
        (
            "lifetime past u64",
            lifetime("18446744073709551616"),
            Got::Parse,
        ),
        ("lifetime inf", lifetime("inf"), Got::Parse),
        (
            "argon2 time cost negative",
            "argon2_time_cost = -3".to_owned(),
            Got::Parse,
        ),
        (
            "argon2 memory past u32",
            "argon2_memory_cost = 4294967296".to_owned(),
            Got::Parse,
        ),
        (
            "token length 0",
            "token_length = 0".to_owned(),
            Got::Invalid(
                Setting::TokenLength,
                InvalidReason::OutOfRange { min: 32, max: 1024 },
            ),
        ),
        (
            "algorithm none",
            "jwt_algorithm = \"none\"".to_owned(),
            Got::Parse,
        ),
        (
            "backend unknown",
            "token_backend = \"ldap\"".to_owned(),
            Got::Parse,
        ),
    ];
    let mut wrong = Vec::new();
    for (what, text, expected) in table {
        let started = Instant::now();
        let answer = got(AuthConfig::from_toml_str(&text));
        if answer != expected {
            wrong.push(format!("{what}: expected {expected:?}, got {answer:?}"));
        }
        if started.elapsed() > BOUND {
            wrong.push(format!("{what}: took {:?}", started.elapsed()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// What, the variables, the answer.
type EnvCase = (&'static str, Vec<(String, String)>, Got);

#[test]
fn every_hostile_environment_variable_gets_its_exact_error_within_the_bound() {
    let big = "9".repeat(MIB);
    let var = |name: &str, value: &str| vec![(name.to_owned(), value.to_owned())];
    let table: Vec<EnvCase> = vec![
        ("nothing", vec![], Got::Ok),
        (
            "empty number",
            var("TESTUDO_TOKEN_LENGTH", ""),
            Got::Env(Setting::TokenLength, EnvReason::NotAWholeNumber),
        ),
        (
            "1 MiB number",
            var("TESTUDO_TOKEN_LENGTH", &big),
            Got::Env(Setting::TokenLength, EnvReason::NotAWholeNumber),
        ),
        (
            "NUL number",
            var("TESTUDO_TOKEN_LENGTH", "6\u{0}4"),
            Got::Env(Setting::TokenLength, EnvReason::NotAWholeNumber),
        ),
        (
            "negative",
            var("TESTUDO_ARGON2_TIME_COST", "-1"),
            Got::Env(Setting::Argon2TimeCost, EnvReason::NotAWholeNumber),
        ),
        (
            "past u32",
            var("TESTUDO_ARGON2_MEMORY_COST", "4294967296"),
            Got::Env(Setting::Argon2MemoryCost, EnvReason::NotAWholeNumber),
        ),
        (
            "a float",
            var("TESTUDO_TOKEN_LENGTH", "64.0"),
            Got::Env(Setting::TokenLength, EnvReason::NotAWholeNumber),
        ),
        (
            "seconds negative",
            var("TESTUDO_ACCESS_TOKEN_LIFETIME", "-900"),
            Got::Env(Setting::AccessTokenLifetime, EnvReason::NotSeconds),
        ),
        (
            "seconds with a unit",
            var("TESTUDO_ACCESS_TOKEN_LIFETIME", "15m"),
            Got::Env(Setting::AccessTokenLifetime, EnvReason::NotSeconds),
        ),
        (
            "seconds u64::MAX",
            var("TESTUDO_ACCESS_TOKEN_LIFETIME", &u64::MAX.to_string()),
            Got::Invalid(
                Setting::RefreshTokenLifetime,
                InvalidReason::ShorterThan {
                    than: Setting::AccessTokenLifetime,
                },
            ),
        ),
        (
            "seconds past u64",
            var("TESTUDO_ACCESS_TOKEN_LIFETIME", "18446744073709551616"),
            Got::Env(Setting::AccessTokenLifetime, EnvReason::NotSeconds),
        ),
        (
            "boolean garbage",
            var("TESTUDO_JWT_BLACKLIST_ENABLED", "\0"),
            Got::Env(Setting::JwtBlacklistEnabled, EnvReason::NotABoolean),
        ),
        (
            "algorithm none",
            var("TESTUDO_JWT_ALGORITHM", "none"),
            Got::Env(
                Setting::JwtAlgorithm,
                EnvReason::Invalid(InvalidReason::UnknownAlgorithm),
            ),
        ),
        (
            "algorithm 1 MiB",
            var("TESTUDO_JWT_ALGORITHM", &big),
            Got::Env(
                Setting::JwtAlgorithm,
                EnvReason::Invalid(InvalidReason::UnknownAlgorithm),
            ),
        ),
        (
            "validators",
            var("TESTUDO_PASSWORD_VALIDATORS", "[]"),
            Got::Env(Setting::PasswordValidators, EnvReason::NotFromEnvironment),
        ),
        (
            "unknown variable",
            var("TESTUDO_NO_SUCH", "1"),
            Got::UnknownEnv("TESTUDO_NO_SUCH".to_owned()),
        ),
        (
            "unknown variable with NUL",
            var("TESTUDO_\0", "1"),
            Got::UnknownEnv("TESTUDO_\0".to_owned()),
        ),
        (
            "a short secret",
            var("TESTUDO_JWT_SECRET", "\0"),
            Got::Invalid(
                Setting::JwtSecret,
                InvalidReason::SecretTooShort { min_bytes: 32 },
            ),
        ),
        ("not ours", var("PATH", &big), Got::Ok),
    ];
    let mut wrong = Vec::new();
    for (what, vars, expected) in table {
        let started = Instant::now();
        let answer = got(AuthConfig::default().with_env_vars(vars));
        if answer != expected {
            wrong.push(format!("{what}: expected {expected:?}, got {answer:?}"));
        }
        if started.elapsed() > BOUND {
            wrong.push(format!("{what}: took {:?}", started.elapsed()));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_hostile_error_never_shows_the_value() -> TestResult {
    let secret = "a-secret-value-that-must-not-show-0123456789";
    let e = AuthConfig::default()
        .with_env_vars([("TESTUDO_TOKEN_LENGTH", secret)])
        .err()
        .ok_or("refused")?;
    assert!(!format!("{e} {e:?}").contains(secret));
    // A secret given where another type goes: the parser's message quotes the value.
    for document in [
        format!("token_length = \"{secret}\""),
        format!("signing_fallback_secrets = \"{secret}\""),
        format!("jwt_secret = \"{secret}\"\nsigning_fallback_secrets = \"x\\\"{secret}\""),
    ] {
        let e = AuthConfig::from_toml_str(&document)
            .err()
            .ok_or("refused")?;
        let source = std::error::Error::source(&e)
            .map(ToString::to_string)
            .unwrap_or_default();
        let shown = format!("{e} {e:?} {source}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(source.contains("invalid type: string \"...\""), "{source}");
    }
    Ok(())
}
