//! Loading from TOML and from `TESTUDO_*` environment variables.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::config::AuthConfig;
use crate::error::{Error, Result};
use crate::secret::non_empty_secret;

/// The prefix of the environment variables [`AuthConfig::from_env`] reads.
pub(crate) const ENV_PREFIX: &str = "TESTUDO_";

impl AuthConfig {
    /// Parses and validates a TOML document; absent fields keep their defaults, unknown fields
    /// are refused. Lifetimes are whole seconds; secrets are strings (empty means unset).
    ///
    /// ```
    /// # use testudo_config::AuthConfig;
    /// let config = AuthConfig::from_toml_str(r#"
    ///     access_token_lifetime = 600
    ///     jwt_algorithm = "HS512"
    ///     token_backend = "database"
    /// "#)?;
    /// assert_eq!(config.access_token_lifetime.as_secs(), 600);
    /// # Ok::<(), testudo_config::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] for TOML that does not describe an `AuthConfig` (the source names the
    /// field), [`Error::Invalid`] for values that fail [`AuthConfig::validate`].
    pub fn from_toml_str(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| Error::Parse {
            path: None,
            source: Box::new(e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Reads, parses and validates a TOML file (UTF-8).
    ///
    /// # Errors
    ///
    /// [`Error::Read`] when the file cannot be read, otherwise as
    /// [`AuthConfig::from_toml_str`].
    pub fn from_toml_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        let config: Self = toml::from_str(&text).map_err(|e| Error::Parse {
            path: Some(path.to_owned()),
            source: Box::new(e),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The defaults, overridden by the process's `TESTUDO_*` environment variables, validated.
    ///
    /// Each scalar field has a variable named after it in upper case, e.g.
    /// `TESTUDO_ACCESS_TOKEN_LIFETIME=600`, `TESTUDO_JWT_ALGORITHM=HS512`,
    /// `TESTUDO_SIGNING_SECRET=...`; `TESTUDO_SIGNING_FALLBACK_SECRETS` is a comma-separated
    /// list. Password validators are configured in code or TOML only.
    ///
    /// # Errors
    ///
    /// [`Error::Env`] naming the variable whose value cannot be parsed, [`Error::Invalid`] for
    /// values that fail [`AuthConfig::validate`].
    pub fn from_env() -> Result<Self> {
        Self::default().with_env_vars(std::env::vars_os().filter_map(|(k, v)| {
            Some((k.into_string().ok()?, v.into_string().unwrap_or_default()))
        }))
    }

    /// Applies `TESTUDO_*` variables from `vars` on top of `self` and validates the result.
    /// Variables without the prefix are ignored; unknown `TESTUDO_*` names are refused.
    ///
    /// ```
    /// # use testudo_config::AuthConfig;
    /// let vars = [("TESTUDO_TOKEN_LENGTH", "96"), ("PATH", "/usr/bin")];
    /// let config = AuthConfig::default().with_env_vars(vars)?;
    /// assert_eq!(config.token_length, 96);
    ///
    /// let err = AuthConfig::default().with_env_vars([("TESTUDO_TOKEN_LENGTH", "many")]).unwrap_err();
    /// assert!(err.to_string().contains("TESTUDO_TOKEN_LENGTH"));
    /// # Ok::<(), testudo_config::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// As [`AuthConfig::from_env`].
    pub fn with_env_vars<K, V>(mut self, vars: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in vars {
            let key = key.as_ref();
            if let Some(field) = key.strip_prefix(ENV_PREFIX) {
                self.apply_env(key, &field.to_ascii_lowercase(), value.as_ref())?;
            }
        }
        self.validate()?;
        Ok(self)
    }

    fn apply_env(&mut self, var: &str, field: &str, value: &str) -> Result<()> {
        let v = EnvValue { var, value };
        match field {
            "argon2_time_cost" => self.argon2_time_cost = v.parse()?,
            "argon2_memory_cost" => self.argon2_memory_cost = v.parse()?,
            "argon2_parallelism" => self.argon2_parallelism = v.parse()?,
            "bcrypt_rounds" => self.bcrypt_rounds = v.parse()?,
            "pbkdf2_iterations" => self.pbkdf2_iterations = v.parse()?,
            "access_token_lifetime" => self.access_token_lifetime = v.seconds()?,
            "refresh_token_lifetime" => self.refresh_token_lifetime = v.seconds()?,
            "token_length" => self.token_length = v.parse()?,
            "max_tokens_per_user" => self.max_tokens_per_user = v.parse()?,
            "max_password_length" => self.max_password_length = v.parse()?,
            "signing_secret" => self.signing_secret = non_empty_secret(value.to_owned()),
            "signing_token_lifetime" => self.signing_token_lifetime = v.seconds()?,
            "jwt_secret" => self.jwt_secret = non_empty_secret(value.to_owned()),
            "jwt_algorithm" => self.jwt_algorithm = v.parse_with(str::parse)?,
            "jwt_issuer" => self.jwt_issuer = Some(value.to_owned()).filter(|s| !s.is_empty()),
            "jwt_audience" => {
                self.jwt_audience = Some(value.to_owned()).filter(|s| !s.is_empty());
            }
            "jwt_blacklist_enabled" => self.jwt_blacklist_enabled = v.boolean()?,
            "hash_concurrency" => self.hash_concurrency = v.parse()?,
            "signing_fallback_secrets" => {
                self.signing_fallback_secrets = value
                    .split(',')
                    .filter_map(|s| non_empty_secret(s.trim().to_owned()))
                    .collect();
            }
            "jwt_leeway" => self.jwt_leeway = v.seconds()?,
            "refresh_reuse_detection" => self.refresh_reuse_detection = v.boolean()?,
            "revoke_tokens_on_password_change" => {
                self.revoke_tokens_on_password_change = v.boolean()?;
            }
            "email_token_lifetime" => self.email_token_lifetime = v.seconds()?,
            "token_backend" => self.token_backend = v.parse_with(str::parse)?,
            _ => {
                return Err(Error::Env {
                    var: var.to_owned(),
                    reason: "not a testudo setting".to_owned(),
                });
            }
        }
        Ok(())
    }
}

struct EnvValue<'a> {
    var: &'a str,
    value: &'a str,
}

impl EnvValue<'_> {
    fn error(&self, reason: impl Into<String>) -> Error {
        Error::Env {
            var: self.var.to_owned(),
            reason: reason.into(),
        }
    }

    fn parse<T: FromStr>(&self) -> Result<T> {
        self.value
            .trim()
            .parse()
            .map_err(|_| self.error("expected a non-negative whole number"))
    }

    fn parse_with<T>(&self, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        f(self.value.trim()).map_err(|e| match e {
            Error::Invalid { reason, .. } => self.error(reason),
            other => other,
        })
    }

    fn seconds(&self) -> Result<Duration> {
        self.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| self.error("expected a whole number of seconds"))
    }

    fn boolean(&self) -> Result<bool> {
        match self.value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.error("expected true or false")),
        }
    }
}
