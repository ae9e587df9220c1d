//! `validate_password(.., None)` follows the process-wide configuration, also after it changes.
//! (Its own test binary: it installs a global configuration.)

use testudo_config::{AuthConfig, PasswordValidatorConfig};
use testudo_validators::{Error, password_validators_help_texts, validate_password};

#[test]
fn the_configured_list_is_used_and_rebuilt_when_the_configuration_changes()
-> Result<(), Box<dyn std::error::Error>> {
    let before = validate_password("1234567", None, None);
    let Err(Error::InvalidPassword(e)) = before else {
        return Err(format!("unexpected {before:?}").into());
    };
    assert_eq!(e.messages().len(), 3);

    testudo_config::configure(
        AuthConfig::builder()
            .password_validators(vec![PasswordValidatorConfig::MinimumLength {
                min_length: 3,
            }])
            .build()?,
    )?;
    validate_password("1234567", None, None)?;
    assert_eq!(
        password_validators_help_texts(None)?,
        ["Your password must contain at least 3 characters."]
    );
    let after = validate_password("12", None, None);
    let Err(Error::InvalidPassword(e)) = after else {
        return Err(format!("unexpected {after:?}").into());
    };
    assert_eq!(
        e.messages(),
        ["This password is too short. It must contain at least 3 characters."]
    );
    Ok(())
}
