//! Loading from TOML and from `TESTUDO_*` environment variables.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use crate::config::AuthConfig;
use crate::error::{EnvReason, EnvVarName, Error, ParseError, Result};
use crate::secret::non_empty_secret;
use crate::setting::Setting;

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
            source: ParseError::new(e, text),
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
            source: ParseError::new(e, &text),
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
    /// [`Error::Env`] naming the variable whose value cannot be parsed or is not UTF-8
    /// ([`EnvReason::NotUtf8`]), [`Error::UnknownEnv`]
    /// for a `TESTUDO_*` variable that names no setting, [`Error::Invalid`] for values that fail
    /// [`AuthConfig::validate`].
    pub fn from_env() -> Result<Self> {
        Self::from_os_vars(std::env::vars_os())
    }

    /// [`Self::from_env`] on the given variables: a `TESTUDO_*` value that is not UTF-8 is an
    /// error naming its variable (read as empty it would silently unset a secret); other
    /// variables that are not UTF-8 are ignored.
    fn from_os_vars(
        vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    ) -> Result<Self> {
        let mut text = Vec::new();
        for (key, value) in vars {
            let Ok(key) = key.into_string() else {
                continue;
            };
            match value.into_string() {
                Ok(value) => text.push((key, value)),
                Err(_) => {
                    if let Some(field) = key.strip_prefix(ENV_PREFIX) {
                        return Err(match Setting::from_name(&field.to_ascii_lowercase()) {
                            Some(setting) => Error::Env {
                                setting,
                                reason: EnvReason::NotUtf8,
                            },
                            None => Error::UnknownEnv {
                                var: EnvVarName::new(&key),
                            },
                        });
                    }
                }
            }
        }
        Self::default().with_env_vars(text)
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
        let Some(setting) = Setting::from_name(field) else {
            return Err(Error::UnknownEnv {
                var: EnvVarName::new(var),
            });
        };
        let v = EnvValue { setting, value };
        match setting {
            Setting::Argon2TimeCost => self.argon2_time_cost = v.parse()?,
            Setting::Argon2MemoryCost => self.argon2_memory_cost = v.parse()?,
            Setting::Argon2Parallelism => self.argon2_parallelism = v.parse()?,
            Setting::BcryptRounds => self.bcrypt_rounds = v.parse()?,
            Setting::Pbkdf2Iterations => self.pbkdf2_iterations = v.parse()?,
            Setting::PasswordValidators => return Err(v.error(EnvReason::NotFromEnvironment)),
            Setting::AccessTokenLifetime => self.access_token_lifetime = v.seconds()?,
            Setting::RefreshTokenLifetime => self.refresh_token_lifetime = v.seconds()?,
            Setting::SessionMaxLifetime => self.session_max_lifetime = v.seconds()?,
            Setting::TokenLength => self.token_length = v.parse()?,
            Setting::MaxTokensPerUser => self.max_tokens_per_user = v.parse()?,
            Setting::MaxPasswordLength => self.max_password_length = v.parse()?,
            Setting::SigningSecret => self.signing_secret = non_empty_secret(value.to_owned()),
            Setting::SigningTokenLifetime => self.signing_token_lifetime = v.seconds()?,
            Setting::JwtSecret => self.jwt_secret = non_empty_secret(value.to_owned()),
            Setting::JwtAlgorithm => self.jwt_algorithm = v.parse_with(str::parse)?,
            Setting::JwtIssuer => {
                self.jwt_issuer = Some(value.to_owned()).filter(|s| !s.is_empty());
            }
            Setting::JwtAudience => {
                self.jwt_audience = Some(value.to_owned()).filter(|s| !s.is_empty());
            }
            Setting::JwtBlacklistEnabled => self.jwt_blacklist_enabled = v.boolean()?,
            Setting::HashConcurrency => self.hash_concurrency = v.parse()?,
            Setting::HashQueueTimeout => self.hash_queue_timeout = v.seconds()?,
            Setting::StorageCallTimeout => self.storage_call_timeout = v.seconds()?,
            Setting::SigningFallbackSecrets => {
                self.signing_fallback_secrets = value
                    .split(',')
                    .filter_map(|s| non_empty_secret(s.trim().to_owned()))
                    .collect();
            }
            Setting::JwtFallbackSecrets => {
                self.jwt_fallback_secrets = value
                    .split(',')
                    .filter_map(|s| non_empty_secret(s.trim().to_owned()))
                    .collect();
            }
            Setting::JwtLeeway => self.jwt_leeway = v.seconds()?,
            Setting::RefreshReuseDetection => self.refresh_reuse_detection = v.boolean()?,
            Setting::JwtRawSigningSecret => self.jwt_raw_signing_secret = v.boolean()?,
            Setting::RequireVerifiedEmail => self.require_verified_email = v.boolean()?,
            Setting::ResetAccountOnFirstVerification => {
                self.reset_account_on_first_verification = v.boolean()?;
            }
            Setting::RevokeTokensOnPasswordChange => {
                self.revoke_tokens_on_password_change = v.boolean()?;
            }
            Setting::EmailTokenLifetime => self.email_token_lifetime = v.seconds()?,
            Setting::PasswordResetTokenLifetime => {
                self.password_reset_token_lifetime = v.seconds()?;
            }
            Setting::OnboardingMaxVerificationAttempts => {
                self.onboarding_max_verification_attempts = v.parse()?;
            }
            Setting::OnboardingVerificationCodeTtl => {
                self.onboarding_verification_code_ttl = v.seconds()?;
            }
            Setting::OnboardingSessionLifetime => {
                self.onboarding_session_lifetime = v.seconds()?;
            }
            Setting::OnboardingSessionTokenLength => {
                self.onboarding_session_token_length = v.parse()?;
            }
            Setting::OnboardingRequireTotp => self.onboarding_require_totp = v.boolean()?,
            Setting::OnboardingInvalidatePreviousSessions => {
                self.onboarding_invalidate_previous_sessions = v.boolean()?;
            }
            Setting::TokenBackend => self.token_backend = v.parse_with(str::parse)?,
            Setting::AllowInsecureLegacyHashes => {
                self.allow_insecure_legacy_hashes = v.boolean()?;
            }
            Setting::BcryptPepper => self.bcrypt_pepper = non_empty_secret(value.to_owned()),
            Setting::RateLimitMaxAttempts => self.rate_limit_max_attempts = v.parse()?,
            Setting::RateLimitWindow => self.rate_limit_window = v.seconds()?,
            Setting::RateLimitLockout => self.rate_limit_lockout = v.seconds()?,
            Setting::PasswordResetRateLimitMaxAttempts => {
                self.password_reset_rate_limit_max_attempts = v.parse()?;
            }
            Setting::PasswordResetRateLimitWindow => {
                self.password_reset_rate_limit_window = v.seconds()?;
            }
            Setting::RateLimitMode => self.rate_limit_mode = v.parse_with(str::parse)?,
            Setting::S2sEnabled => self.s2s_enabled = v.boolean()?,
            Setting::S2sTokenEnvVar => self.s2s_token_env_var = value.trim().to_owned(),
            Setting::ApiKeyPrefix => self.api_key_prefix = value.trim().to_owned(),
            Setting::TotpIssuer => self.totp_issuer = value.trim().to_owned(),
            Setting::TotpAlgorithm => self.totp_algorithm = v.parse_with(str::parse)?,
            Setting::TotpDigits => self.totp_digits = v.parse()?,
            Setting::TotpSkew => self.totp_skew = v.parse()?,
            Setting::RecoveryCodeCount => self.recovery_code_count = v.parse()?,
            Setting::LoginChallengeLifetime => self.login_challenge_lifetime = v.seconds()?,
            Setting::StepUpWindow => self.step_up_window = v.seconds()?,
        }
        Ok(())
    }
}

struct EnvValue<'a> {
    setting: Setting,
    value: &'a str,
}

impl EnvValue<'_> {
    fn error(&self, reason: EnvReason) -> Error {
        Error::Env {
            setting: self.setting,
            reason,
        }
    }

    fn parse<T: FromStr>(&self) -> Result<T> {
        self.value
            .trim()
            .parse()
            .map_err(|_| self.error(EnvReason::NotAWholeNumber))
    }

    fn parse_with<T>(&self, f: impl FnOnce(&str) -> Result<T>) -> Result<T> {
        f(self.value.trim()).map_err(|e| match e {
            Error::Invalid { reason, .. } => self.error(EnvReason::Invalid(reason)),
            other => other,
        })
    }

    fn seconds(&self) -> Result<Duration> {
        self.parse::<u64>()
            .map(Duration::from_secs)
            .map_err(|_| self.error(EnvReason::NotSeconds))
    }

    fn boolean(&self) -> Result<bool> {
        match self.value.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(self.error(EnvReason::NotABoolean)),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt as _;

    use super::*;

    fn os(text: &str) -> OsString {
        OsString::from(text)
    }

    /// A secret whose value is not UTF-8 is an error naming its variable, never an unset
    /// secret; a non-UTF-8 value of another program's variable is ignored.
    #[test]
    fn a_testudo_variable_that_is_not_utf8_is_an_error_naming_it() {
        let latin1 = OsString::from_vec(b"caf\xe9-secret-0123456789abcdef0123456789".to_vec());
        let r = AuthConfig::from_os_vars([(os("TESTUDO_SIGNING_SECRET"), latin1.clone())]);
        assert!(
            matches!(
                r,
                Err(Error::Env {
                    setting: Setting::SigningSecret,
                    reason: EnvReason::NotUtf8
                })
            ),
            "{r:?}"
        );
        let r = AuthConfig::from_os_vars([(os("TESTUDO_NO_SUCH_SETTING"), latin1.clone())]);
        assert!(matches!(r, Err(Error::UnknownEnv { .. })), "{r:?}");
        let r = AuthConfig::from_os_vars([
            (os("LANG_OF_SOMETHING_ELSE"), latin1),
            (os("TESTUDO_TOKEN_LENGTH"), os("96")),
        ]);
        assert_eq!(r.map(|c| c.token_length).ok(), Some(96));
    }
}
