//! `AuthConfig::from_toml_str` on arbitrary text: `Ok` (a valid configuration, which validates
//! again and prints without panicking) or a typed error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use testudo_config::AuthConfig;

fuzz_target!(|text: &str| {
    match AuthConfig::from_toml_str(text) {
        Ok(config) => {
            assert!(
                config.validate().is_ok(),
                "a loaded configuration does not validate"
            );
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let _ = format!("{e} {e:?}");
        }
    }
});
