//! Public-API tests: custom validators, list files, edge-case passwords, help texts, errors.

use std::collections::HashMap;
use std::error::Error as _;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

use testudo_config::{AuthConfig, PasswordValidatorConfig};
use testudo_validators::{
    CommonPasswordValidator, Error, MinimumLengthValidator, NumericPasswordValidator,
    PasswordValidator, UserAttributeSimilarityValidator, UserAttributes, Validators,
    build_validators, password_validators_help_texts, validate_password,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOO_SHORT: &str = "This password is too short. It must contain at least 8 characters.";
const TOO_COMMON: &str = "This password is too common.";
const NUMERIC: &str = "This password is entirely numeric.";

#[derive(Debug)]
struct NoSpaces;

impl PasswordValidator for NoSpaces {
    fn validate(&self, password: &str, _user: Option<&dyn UserAttributes>) -> Result<(), String> {
        if password.contains(' ') {
            Err("This password contains a space.".into())
        } else {
            Ok(())
        }
    }

    fn help_text(&self) -> String {
        "Your password can't contain spaces.".into()
    }
}

fn messages(result: Result<(), Error>) -> Result<Vec<String>, Error> {
    match result {
        Ok(()) => Ok(Vec::new()),
        Err(Error::InvalidPassword(e)) => Ok(e.into_messages()),
        Err(other) => Err(other),
    }
}

#[test]
fn a_custom_validator_runs_in_order_among_the_built_in_ones() -> TestResult {
    let configs = vec![
        PasswordValidatorConfig::minimum_length(),
        PasswordValidatorConfig::custom(NoSpaces),
        PasswordValidatorConfig::NumericPassword,
    ];
    let list = build_validators(&configs)?;
    assert_eq!(
        messages(validate_password("1 2", None, Some(&list)))?,
        [TOO_SHORT, "This password contains a space."]
    );
    assert_eq!(
        messages(validate_password("12345678", None, Some(&list)))?,
        [NUMERIC]
    );
    assert_eq!(
        password_validators_help_texts(Some(&list))?,
        [
            "Your password must contain at least 8 characters.",
            "Your password can't contain spaces.",
            "Your password can't be entirely numeric.",
        ]
    );
    Ok(())
}

#[test]
fn validators_from_an_auth_config_use_its_list() -> TestResult {
    let config = AuthConfig::builder()
        .password_validators(vec![PasswordValidatorConfig::MinimumLength {
            min_length: 12,
        }])
        .add_password_validator(PasswordValidatorConfig::custom(NoSpaces))
        .build()?;
    let validators = Validators::from_config(&config)?;
    let err = validators
        .validate("a b", None)
        .err()
        .ok_or("a short password with a space must be refused")?;
    assert_eq!(
        err.messages(),
        [
            "This password is too short. It must contain at least 12 characters.",
            "This password contains a space.",
        ]
    );
    assert_eq!(err.to_string(), err.messages().join("; "));
    assert_eq!(
        validators.help_texts()[0],
        "Your password must contain at least 12 characters."
    );
    Ok(())
}

#[test]
fn a_custom_plain_list_file_replaces_the_bundled_list() -> TestResult {
    let mut file = tempfile::NamedTempFile::new()?;
    file.write_all("  Hunter2Hunter2 \r\n\n\tCorrectHorse\nпарольпароль\n   \n".as_bytes())?;
    let configs = vec![PasswordValidatorConfig::CommonPassword {
        path: Some(file.path().to_owned()),
    }];
    let list = build_validators(&configs)?;
    for refused in [
        "hunter2hunter2",
        "HUNTER2HUNTER2",
        "correcthorse",
        "ПАРОЛЬПАРОЛЬ",
    ] {
        assert_eq!(
            messages(validate_password(refused, None, Some(&list)))?,
            [TOO_COMMON],
            "{refused}"
        );
    }
    // The bundled list is not used, and the candidate is not trimmed.
    for accepted in ["password", " hunter2hunter2", ""] {
        assert!(
            validate_password(accepted, None, Some(&list)).is_ok(),
            "{accepted}"
        );
    }
    let v = CommonPasswordValidator::from_path(file.path())?;
    assert_eq!(v.len(), 3);
    Ok(())
}

#[test]
fn a_custom_gzip_list_file_is_decompressed() -> TestResult {
    let mut file = tempfile::NamedTempFile::new()?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all("Zebra-Crossing-42\nÉlodie2024\n".as_bytes())?;
    file.write_all(&gz.finish()?)?;
    let v = CommonPasswordValidator::from_path(file.path())?;
    assert_eq!(v.len(), 2);
    assert_eq!(
        v.validate("zebra-crossing-42", None),
        Err(TOO_COMMON.into())
    );
    assert_eq!(v.validate("ÉLODIE2024", None), Err(TOO_COMMON.into()));
    assert_eq!(v.validate("password", None), Ok(()));
    Ok(())
}

#[test]
fn a_missing_list_file_is_an_error_naming_the_path() -> TestResult {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("no-such-list.txt");
    let configs = vec![
        PasswordValidatorConfig::minimum_length(),
        PasswordValidatorConfig::CommonPassword {
            path: Some(path.clone()),
        },
    ];
    let err = build_validators(&configs)
        .err()
        .ok_or("a missing list file must be an error")?;
    let Error::PasswordList {
        path: named,
        source,
    } = &err
    else {
        return Err(format!("unexpected error {err:?}").into());
    };
    assert_eq!(named, &path);
    assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
    let cause = source.to_string();
    assert!(err.to_string().contains("no-such-list.txt"), "{err}");
    assert!(
        !err.to_string().contains(&cause),
        "the cause is in source() only: {err}"
    );
    assert_eq!(err.source().map(ToString::to_string), Some(cause.clone()));
    let message = err.to_string();
    let core: testudo_core::Error = err.into();
    assert!(matches!(core, testudo_core::Error::Configuration(_)));
    assert_eq!(core.to_string(), message);
    assert_eq!(core.source().map(ToString::to_string), Some(cause));
    Ok(())
}

#[test]
fn an_unsupported_validator_entry_is_a_configuration_error_without_a_cause() {
    let err = Error::Unsupported;
    assert_eq!(
        err.to_string(),
        "unsupported password validator configuration"
    );
    assert!(err.source().is_none());
    let core = testudo_core::Error::from(err);
    assert!(matches!(core, testudo_core::Error::Configuration(_)));
    assert_eq!(
        core.to_string(),
        "unsupported password validator configuration"
    );
    assert!(core.source().is_none());
}

#[test]
fn a_list_file_that_is_not_utf8_or_broken_gzip_is_an_error() -> TestResult {
    let mut latin1 = tempfile::NamedTempFile::new()?;
    latin1.write_all(b"caf\xe9\n")?;
    let err = CommonPasswordValidator::from_path(latin1.path())
        .err()
        .ok_or("a non-UTF-8 list must be refused")?;
    assert!(matches!(err, Error::PasswordList { .. }), "{err:?}");

    let mut broken = tempfile::NamedTempFile::new()?;
    broken.write_all(&[0x1f, 0x8b, 0x08, 0x00, 0x01])?;
    let err = CommonPasswordValidator::from_path(broken.path())
        .err()
        .ok_or("a truncated gzip list must be refused")?;
    assert!(matches!(err, Error::PasswordList { .. }), "{err:?}");
    Ok(())
}

#[test]
fn the_empty_password_is_refused_as_too_short_only() -> TestResult {
    let user = HashMap::from([("email".to_owned(), "a@b.c".to_owned())]);
    let validators = Validators::defaults();
    let err = validators
        .validate("", Some(&user))
        .err()
        .ok_or("the empty password must be refused")?;
    assert_eq!(err.messages(), [TOO_SHORT]);
    Ok(())
}

#[test]
fn passwords_of_4096_characters_are_checked_quickly() -> TestResult {
    let user = HashMap::from([("email".to_owned(), "john.smith@example.com".to_owned())]);
    let validators = Validators::defaults();
    let start = Instant::now();
    let long: String = "Correct horse battery staple "
        .chars()
        .cycle()
        .take(4096)
        .collect();
    assert!(validators.validate(&long, Some(&user)).is_ok());
    let digits = "٣".repeat(4096);
    let err = validators
        .validate(&digits, Some(&user))
        .err()
        .ok_or("a numeric password must be refused")?;
    assert_eq!(err.messages(), [NUMERIC]);
    let emoji = "🔐".repeat(4096);
    assert!(validators.validate(&emoji, Some(&user)).is_ok());
    // Similarity of a long password to its own repetition of the email is still computed.
    let similar = "john.smith@example.com".repeat(200);
    assert!(validators.validate(&similar, Some(&user)).is_ok());
    assert!(start.elapsed().as_secs() < 2, "took {:?}", start.elapsed());
    Ok(())
}

#[test]
fn lengths_count_characters_not_bytes() {
    let v = MinimumLengthValidator::default();
    assert!(v.validate("ééééééé", None).is_err()); // 7 characters, 14 bytes
    assert!(v.validate("éééééééé", None).is_ok());
    assert!(v.validate("e\u{301}e\u{301}e\u{301}e\u{301}", None).is_ok()); // 8 code points
    assert!(v.validate("🔐🔐🔐🔐🔐🔐🔐", None).is_err()); // 28 bytes
    assert!(MinimumLengthValidator::new(0).validate("", None).is_ok());
}

#[test]
fn numeric_follows_python_isdigit() {
    let v = NumericPasswordValidator;
    for numeric in [
        "12345678",
        "²²²²²²²²",
        "①②③④⑤⑥⑦⑧",
        "٣٣٣٣٣٣٣٣",
        "１２３４５６７８",
    ] {
        assert_eq!(v.validate(numeric, None), Err(NUMERIC.into()), "{numeric}");
    }
    for not_numeric in ["", "½½½½½½½½", "ⅫⅫⅫⅫⅫⅫⅫⅫ", "1234567a", "一二三四五六七八"]
    {
        assert_eq!(v.validate(not_numeric, None), Ok(()), "{not_numeric}");
    }
}

#[test]
fn non_ascii_common_passwords_are_found_case_insensitively() {
    let v = CommonPasswordValidator::new();
    assert_eq!(v.len(), 19_640);
    assert!(v.is_common("пароль"));
    assert!(v.is_common("ПАРОЛЬ"));
    assert!(!v.is_common("пароль123"));
}

#[test]
fn similarity_skips_missing_and_empty_attributes_and_names_the_attribute() {
    let v = UserAttributeSimilarityValidator::new(["username", "email"], 0.7);
    let user = HashMap::from([
        ("username".to_owned(), String::new()),
        ("email".to_owned(), "élodie@example.fr".to_owned()),
    ]);
    assert_eq!(
        v.validate("ÉLODIE", Some(&user)),
        Err("The password is too similar to the email.".into())
    );
    let user = HashMap::from([("username".to_owned(), "wonderwoman".to_owned())]);
    assert_eq!(
        v.validate("WonderWoman!", Some(&user)),
        Err("The password is too similar to the username.".into())
    );
    assert_eq!(v.validate("WonderWoman!", None), Ok(()));
    let nobody: HashMap<String, String> = HashMap::new();
    assert_eq!(v.validate("WonderWoman!", Some(&nobody)), Ok(()));
    assert_eq!(
        UserAttributeSimilarityValidator::similarity("x", "@"),
        Some(0.0)
    );
    assert_eq!(UserAttributeSimilarityValidator::similarity("x", ""), None);
}

#[test]
fn invalid_password_errors_convert_into_the_core_error() -> TestResult {
    let err = Validators::defaults()
        .validate("123", None)
        .map_err(Error::from)
        .map_err(testudo_core::Error::from);
    let Err(testudo_core::Error::InvalidPassword(e)) = err else {
        return Err(format!("unexpected {err:?}").into());
    };
    assert_eq!(e.messages(), [TOO_SHORT, TOO_COMMON, NUMERIC]);
    Ok(())
}

#[test]
fn validators_and_lists_are_usable_as_shared_trait_objects() {
    let list: Vec<Arc<dyn PasswordValidator>> =
        vec![Arc::new(MinimumLengthValidator::new(4)), Arc::new(NoSpaces)];
    let validators = Validators::from(list);
    assert_eq!(validators.as_slice().len(), 2);
    assert!(format!("{validators:?}").contains("NoSpaces"));
    assert!(format!("{:?}", CommonPasswordValidator::new()).contains("19640"));
}
