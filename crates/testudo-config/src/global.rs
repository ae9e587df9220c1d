//! The optional process-wide configuration.

use std::sync::{Arc, PoisonError, RwLock};

use crate::config::AuthConfig;
use crate::error::Result;

static GLOBAL: RwLock<Option<Arc<AuthConfig>>> = RwLock::new(None);

/// Validates `config` and installs it as the process-wide configuration.
///
/// Optional: every testudo type (services, hashers, signers, validator lists) is given its
/// configuration explicitly and never reads this one. Only the reference-compatible module
/// functions read [`get_config`]: `make_password`, `check_password` and
/// `default_password_hasher`; `validate_password` and `password_validators_help_texts` with no
/// validator list (through `configured_validators`); `make_token` and `verify_token` with an
/// empty secret, and `verify_token` with `MaxAge::Default`.
///
/// # Errors
///
/// As [`AuthConfig::validate`]; the previous configuration then stays in place.
pub fn configure(config: AuthConfig) -> Result<()> {
    config.validate()?;
    *GLOBAL.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(config));
    Ok(())
}

/// The process-wide configuration: the one given to [`configure`], or the defaults.
#[must_use]
pub fn get_config() -> Arc<AuthConfig> {
    if let Some(config) = GLOBAL
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        return Arc::clone(config);
    }
    let mut slot = GLOBAL.write().unwrap_or_else(PoisonError::into_inner);
    Arc::clone(slot.get_or_insert_with(|| Arc::new(AuthConfig::default())))
}
