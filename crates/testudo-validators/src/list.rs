//! Building validator lists from configuration and running them.

use std::sync::{Arc, Mutex, PoisonError, Weak};

use testudo_config::{AuthConfig, PasswordValidatorConfig};
use testudo_core::{InvalidPassword, PasswordValidator, UserAttributes};

use crate::error::{Error, Result};
use crate::validators::{
    CommonPasswordValidator, MinimumLengthValidator, NumericPasswordValidator,
    UserAttributeSimilarityValidator,
};

/// Turns one configuration entry into a validator.
///
/// # Errors
///
/// [`Error::PasswordList`] when a `CommonPassword` entry names a list file that cannot be read;
/// [`Error::Unsupported`] for a kind of entry this version does not know.
pub fn build_validator(config: &PasswordValidatorConfig) -> Result<Arc<dyn PasswordValidator>> {
    Ok(match config {
        PasswordValidatorConfig::MinimumLength { min_length } => {
            Arc::new(MinimumLengthValidator::new(*min_length))
        }
        PasswordValidatorConfig::CommonPassword { path: None } => {
            Arc::new(CommonPasswordValidator::new())
        }
        PasswordValidatorConfig::CommonPassword { path: Some(path) } => {
            Arc::new(CommonPasswordValidator::from_path(path.clone())?)
        }
        PasswordValidatorConfig::NumericPassword => Arc::new(NumericPasswordValidator),
        PasswordValidatorConfig::UserAttributeSimilarity {
            user_attributes,
            max_similarity,
        } => Arc::new(UserAttributeSimilarityValidator::new(
            user_attributes.iter().cloned(),
            *max_similarity,
        )),
        PasswordValidatorConfig::Custom(v) => Arc::clone(v),
        _ => return Err(Error::Unsupported),
    })
}

/// Turns a configured list (such as [`AuthConfig::password_validators`]) into validators, in
/// order.
///
/// # Errors
///
/// As [`build_validator`], for the first entry that fails.
pub fn build_validators(
    configs: &[PasswordValidatorConfig],
) -> Result<Vec<Arc<dyn PasswordValidator>>> {
    configs.iter().map(build_validator).collect()
}

/// Runs every validator in order and collects their messages.
fn run(
    validators: &[Arc<dyn PasswordValidator>],
    password: &str,
    user: Option<&dyn UserAttributes>,
) -> Result<(), InvalidPassword> {
    let messages: Vec<String> = validators
        .iter()
        .filter_map(|v| v.validate(password, user).err())
        .collect();
    if messages.is_empty() {
        Ok(())
    } else {
        Err(InvalidPassword::new(messages))
    }
}

/// A built, reusable list of validators.
///
/// Build it once (for example when a service starts) and call [`Validators::validate`] for each
/// password.
#[derive(Debug, Clone, Default)]
pub struct Validators {
    list: Vec<Arc<dyn PasswordValidator>>,
}

impl Validators {
    /// Wraps validators that are already built (built-in ones, your own, or a mix).
    #[must_use]
    pub fn new(list: Vec<Arc<dyn PasswordValidator>>) -> Self {
        Self { list }
    }

    /// The reference's default list: minimum length 8, the bundled common list, numeric, and
    /// similarity to `email` at 0.7.
    #[must_use]
    pub fn defaults() -> Self {
        Self::new(vec![
            Arc::new(MinimumLengthValidator::default()),
            Arc::new(CommonPasswordValidator::new()),
            Arc::new(NumericPasswordValidator),
            Arc::new(UserAttributeSimilarityValidator::default()),
        ])
    }

    /// Builds the list from configuration entries.
    ///
    /// # Errors
    ///
    /// As [`build_validators`].
    pub fn from_configs(configs: &[PasswordValidatorConfig]) -> Result<Self> {
        build_validators(configs).map(Self::new)
    }

    /// Builds `config.password_validators`.
    ///
    /// # Errors
    ///
    /// As [`build_validators`].
    pub fn from_config(config: &AuthConfig) -> Result<Self> {
        Self::from_configs(&config.password_validators)
    }

    /// Runs every validator, in order, on `password` (for `user`, when known).
    ///
    /// # Errors
    ///
    /// [`InvalidPassword`] with the message of every validator that refused the password, in
    /// order.
    pub fn validate(
        &self,
        password: &str,
        user: Option<&dyn UserAttributes>,
    ) -> Result<(), InvalidPassword> {
        run(&self.list, password, user)
    }

    /// The help text of every validator, in order (for sign-up forms).
    #[must_use]
    pub fn help_texts(&self) -> Vec<String> {
        self.list.iter().map(|v| v.help_text()).collect()
    }

    /// The validators, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[Arc<dyn PasswordValidator>] {
        &self.list
    }

    /// Adds a validator at the end of the list.
    pub fn push(&mut self, validator: Arc<dyn PasswordValidator>) {
        self.list.push(validator);
    }
}

impl From<Vec<Arc<dyn PasswordValidator>>> for Validators {
    fn from(list: Vec<Arc<dyn PasswordValidator>>) -> Self {
        Self::new(list)
    }
}

/// The list built from the process-wide configuration, kept while that configuration is the
/// current one (the `Weak` both identifies it and keeps its address from being reused).
type Cached = Option<(Weak<AuthConfig>, Arc<Validators>)>;
static GLOBAL_CACHE: Mutex<Cached> = Mutex::new(None);

/// The validators of [`testudo_config::get_config`], built on first use and rebuilt only when
/// the process-wide configuration is replaced.
///
/// # Errors
///
/// As [`build_validators`] (a configured common-password file that cannot be read).
pub fn configured_validators() -> Result<Arc<Validators>> {
    let config = testudo_config::get_config();
    let mut cache = GLOBAL_CACHE.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((key, built)) = cache.as_ref()
        && std::ptr::eq(key.as_ptr(), Arc::as_ptr(&config))
    {
        return Ok(Arc::clone(built));
    }
    let built = Arc::new(Validators::from_config(&config)?);
    *cache = Some((Arc::downgrade(&config), Arc::clone(&built)));
    Ok(built)
}

/// Checks `password` against `validators`, or, with `None`, against the validators of the
/// process-wide configuration ([`testudo_config::get_config`]). Every validator runs.
///
/// # Errors
///
/// [`Error::InvalidPassword`] carrying every message, in validator order; with `None`, also
/// the errors of [`configured_validators`].
pub fn validate_password(
    password: &str,
    user: Option<&dyn UserAttributes>,
    validators: Option<&[Arc<dyn PasswordValidator>]>,
) -> Result<()> {
    match validators {
        Some(list) => run(list, password, user)?,
        None => configured_validators()?.validate(password, user)?,
    }
    Ok(())
}

/// The help texts of `validators`, or, with `None`, of the process-wide configuration's.
///
/// # Errors
///
/// With `None`, as [`configured_validators`].
pub fn password_validators_help_texts(
    validators: Option<&[Arc<dyn PasswordValidator>]>,
) -> Result<Vec<String>> {
    Ok(match validators {
        Some(list) => list.iter().map(|v| v.help_text()).collect(),
        None => configured_validators()?.help_texts(),
    })
}
