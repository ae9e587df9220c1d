//! The optional process-wide configuration.

use std::sync::{Arc, PoisonError, RwLock};

use crate::config::AuthConfig;
use crate::error::Result;

static GLOBAL: RwLock<Option<Arc<AuthConfig>>> = RwLock::new(None);

/// Validates `config` and installs it as the process-wide configuration.
///
/// Optional: every testudo service can also be given its configuration explicitly. Parts that
/// are not (the module-level `make_password`, `validate_password` with no validator list,
/// `make_token` with no secret) read [`get_config`].
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
