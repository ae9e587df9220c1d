//! `AuthConfig::with_env_vars` (the function behind `AuthConfig::from_env`) on arbitrary
//! key / value pairs, named after real settings (`TESTUDO_<SETTING>`) or free-form.
//! `Ok` is a configuration that validates again; an error names its variable; never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use testudo_config::{AuthConfig, Error, Setting};

fuzz_target!(|text: &str| {
    // Layout (what the seed generator writes): one `KEY=VALUE` per line. A key `#N` stands for
    // the variable of `Setting::ALL[N % len]`, so mutations reach every setting.
    let vars: Vec<(String, &str)> = text
        .lines()
        .map(|line| {
            let (key, value) = line.split_once('=').unwrap_or((line, ""));
            let key = match key.strip_prefix('#').and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => Setting::ALL[n % Setting::ALL.len()].env_var().to_owned(),
                None => key.to_owned(),
            };
            (key, value)
        })
        .collect();
    match AuthConfig::default().with_env_vars(vars.iter().map(|(k, v)| (k.as_str(), *v))) {
        Ok(config) => {
            assert!(
                config.validate().is_ok(),
                "a loaded configuration does not validate"
            );
            let _ = format!("{config:?}");
        }
        Err(e) => {
            match &e {
                Error::UnknownEnv { var } => {
                    assert!(
                        vars.iter().any(|(k, _)| k == var.as_str()),
                        "{e}: no such variable"
                    );
                }
                Error::Env { setting, .. } => {
                    let named = |k: &String| {
                        k.strip_prefix("TESTUDO_")
                            .is_some_and(|f| f.to_ascii_lowercase() == setting.as_str())
                    };
                    assert!(vars.iter().any(|(k, _)| named(k)), "{e}: no such variable");
                }
                _ => {}
            }
            let _ = format!("{e} {e:?}");
        }
    }
});
