//! [`Setting`]: the name of each field of [`AuthConfig`](crate::AuthConfig), for errors.

use std::fmt;

/// Declares [`Setting`] from `Variant => "field_name", "ENV_SUFFIX";` lines (the suffix is the
/// field name in upper case; a unit test checks it).
macro_rules! settings {
    ($($variant:ident => $name:literal, $env:literal;)*) => {
        /// A field of [`AuthConfig`](crate::AuthConfig), as named in errors.
        ///
        /// [`Error::Invalid`](crate::Error::Invalid) and [`Error::Env`](crate::Error::Env) say
        /// which setting is at fault with it, so callers can match on it; its `Display` is the
        /// field's name in a TOML file (`token_length`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum Setting {
            $(
                #[doc = concat!("[`AuthConfig::", $name, "`](crate::AuthConfig::", $name, ").")]
                $variant,
            )*
        }

        impl Setting {
            /// Every setting, in the order of the fields of [`AuthConfig`](crate::AuthConfig).
            pub const ALL: &'static [Self] = &[$(Self::$variant),*];

            /// The field's name, as in a TOML file: `"token_length"`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// The environment variable named after the field: `"TESTUDO_TOKEN_LENGTH"`.
            ///
            /// [`AuthConfig::from_env`](crate::AuthConfig::from_env) reads every one of them
            /// except `TESTUDO_PASSWORD_VALIDATORS` (validators are configured in code or TOML).
            #[must_use]
            pub const fn env_var(self) -> &'static str {
                match self {
                    $(Self::$variant => concat!("TESTUDO_", $env),)*
                }
            }
        }
    };
}

settings! {
    Argon2TimeCost => "argon2_time_cost", "ARGON2_TIME_COST";
    Argon2MemoryCost => "argon2_memory_cost", "ARGON2_MEMORY_COST";
    Argon2Parallelism => "argon2_parallelism", "ARGON2_PARALLELISM";
    BcryptRounds => "bcrypt_rounds", "BCRYPT_ROUNDS";
    Pbkdf2Iterations => "pbkdf2_iterations", "PBKDF2_ITERATIONS";
    PasswordValidators => "password_validators", "PASSWORD_VALIDATORS";
    AccessTokenLifetime => "access_token_lifetime", "ACCESS_TOKEN_LIFETIME";
    RefreshTokenLifetime => "refresh_token_lifetime", "REFRESH_TOKEN_LIFETIME";
    SessionMaxLifetime => "session_max_lifetime", "SESSION_MAX_LIFETIME";
    TokenLength => "token_length", "TOKEN_LENGTH";
    MaxTokensPerUser => "max_tokens_per_user", "MAX_TOKENS_PER_USER";
    MaxPasswordLength => "max_password_length", "MAX_PASSWORD_LENGTH";
    SigningSecret => "signing_secret", "SIGNING_SECRET";
    SigningTokenLifetime => "signing_token_lifetime", "SIGNING_TOKEN_LIFETIME";
    JwtSecret => "jwt_secret", "JWT_SECRET";
    JwtAlgorithm => "jwt_algorithm", "JWT_ALGORITHM";
    JwtIssuer => "jwt_issuer", "JWT_ISSUER";
    JwtAudience => "jwt_audience", "JWT_AUDIENCE";
    JwtBlacklistEnabled => "jwt_blacklist_enabled", "JWT_BLACKLIST_ENABLED";
    HashConcurrency => "hash_concurrency", "HASH_CONCURRENCY";
    HashQueueTimeout => "hash_queue_timeout", "HASH_QUEUE_TIMEOUT";
    StorageCallTimeout => "storage_call_timeout", "STORAGE_CALL_TIMEOUT";
    SigningFallbackSecrets => "signing_fallback_secrets", "SIGNING_FALLBACK_SECRETS";
    JwtFallbackSecrets => "jwt_fallback_secrets", "JWT_FALLBACK_SECRETS";
    JwtLeeway => "jwt_leeway", "JWT_LEEWAY";
    RefreshReuseDetection => "refresh_reuse_detection", "REFRESH_REUSE_DETECTION";
    RevokeTokensOnPasswordChange => "revoke_tokens_on_password_change", "REVOKE_TOKENS_ON_PASSWORD_CHANGE";
    JwtRawSigningSecret => "jwt_raw_signing_secret", "JWT_RAW_SIGNING_SECRET";
    RequireVerifiedEmail => "require_verified_email", "REQUIRE_VERIFIED_EMAIL";
    ResetAccountOnFirstVerification => "reset_account_on_first_verification", "RESET_ACCOUNT_ON_FIRST_VERIFICATION";
    EmailTokenLifetime => "email_token_lifetime", "EMAIL_TOKEN_LIFETIME";
    PasswordResetTokenLifetime => "password_reset_token_lifetime", "PASSWORD_RESET_TOKEN_LIFETIME";
    OnboardingMaxVerificationAttempts => "onboarding_max_verification_attempts", "ONBOARDING_MAX_VERIFICATION_ATTEMPTS";
    OnboardingVerificationCodeTtl => "onboarding_verification_code_ttl", "ONBOARDING_VERIFICATION_CODE_TTL";
    OnboardingSessionLifetime => "onboarding_session_lifetime", "ONBOARDING_SESSION_LIFETIME";
    OnboardingSessionTokenLength => "onboarding_session_token_length", "ONBOARDING_SESSION_TOKEN_LENGTH";
    OnboardingRequireTotp => "onboarding_require_totp", "ONBOARDING_REQUIRE_TOTP";
    OnboardingInvalidatePreviousSessions => "onboarding_invalidate_previous_sessions", "ONBOARDING_INVALIDATE_PREVIOUS_SESSIONS";
    TokenBackend => "token_backend", "TOKEN_BACKEND";
    AllowInsecureLegacyHashes => "allow_insecure_legacy_hashes", "ALLOW_INSECURE_LEGACY_HASHES";
    BcryptPepper => "bcrypt_pepper", "BCRYPT_PEPPER";
    RateLimitMaxAttempts => "rate_limit_max_attempts", "RATE_LIMIT_MAX_ATTEMPTS";
    RateLimitWindow => "rate_limit_window", "RATE_LIMIT_WINDOW";
    RateLimitLockout => "rate_limit_lockout", "RATE_LIMIT_LOCKOUT";
    PasswordResetRateLimitMaxAttempts => "password_reset_rate_limit_max_attempts", "PASSWORD_RESET_RATE_LIMIT_MAX_ATTEMPTS";
    PasswordResetRateLimitWindow => "password_reset_rate_limit_window", "PASSWORD_RESET_RATE_LIMIT_WINDOW";
    RateLimitMode => "rate_limit_mode", "RATE_LIMIT_MODE";
    S2sEnabled => "s2s_enabled", "S2S_ENABLED";
    S2sTokenEnvVar => "s2s_token_env_var", "S2S_TOKEN_ENV_VAR";
    ApiKeyPrefix => "api_key_prefix", "API_KEY_PREFIX";
    TotpIssuer => "totp_issuer", "TOTP_ISSUER";
    TotpAlgorithm => "totp_algorithm", "TOTP_ALGORITHM";
    TotpDigits => "totp_digits", "TOTP_DIGITS";
    TotpSkew => "totp_skew", "TOTP_SKEW";
    RecoveryCodeCount => "recovery_code_count", "RECOVERY_CODE_COUNT";
    LoginChallengeLifetime => "login_challenge_lifetime", "LOGIN_CHALLENGE_LIFETIME";
    StepUpWindow => "step_up_window", "STEP_UP_WINDOW";
}

impl Setting {
    /// The setting whose field is called `name` (lower case, as in a TOML file).
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_environment_variable_is_the_prefix_and_the_upper_cased_name() {
        for setting in Setting::ALL {
            let expected = format!("TESTUDO_{}", setting.as_str().to_ascii_uppercase());
            assert_eq!(setting.env_var(), expected);
            assert_eq!(Setting::from_name(setting.as_str()), Some(*setting));
        }
        assert_eq!(Setting::from_name("no_such_setting"), None);
    }

    #[test]
    fn settings_are_named_once() {
        let mut names: Vec<&str> = Setting::ALL.iter().map(|s| s.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Setting::ALL.len());
    }
}
