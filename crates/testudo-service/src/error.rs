//! The crate's own error: what setting up a service can fail with.

/// What building an [`AuthService`](crate::AuthService) (or its blocking wrapper) can fail with.
///
/// Every operation of the service returns [`testudo_core::Error`]; this error converts into its
/// [`Configuration`](testudo_core::Error::Configuration) variant.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No token backend was given and none can be built: give one with
    /// [`AuthServiceBuilder::backend`](crate::AuthServiceBuilder::backend), or a database.
    #[error("no token backend: give one, or a database for the default database backend")]
    NoTokenBackend,
    /// `token_backend = "jwt"` is configured but the `jwt` cargo feature is off.
    #[error("token_backend = \"jwt\" needs the `jwt` feature of testudo-service")]
    JwtFeatureDisabled,
    /// Passwordless login needs a database (the email-token store).
    #[error("passwordless login needs a database: give one to the service builder")]
    NoEmailTokenStore,
    /// The account flows (password reset, email verification and change) need
    /// `signing_secret`: their links are signed with keys derived from it.
    #[error("account flows need signing_secret: set it in the configuration")]
    NoSigningSecret,
    /// Verification codes need a database (the pending-codes table).
    #[error("verification codes need a database: give one to the service builder")]
    NoCodeStore,
    /// The blocking API was called from inside an async runtime, where blocking would stall it.
    #[error("the blocking API cannot be used from inside an async runtime")]
    InsideRuntime,
    /// The blocking API could not start its runtime.
    #[error("cannot start the blocking API's runtime")]
    Runtime(#[source] std::io::Error),
}

impl From<Error> for testudo_core::Error {
    fn from(e: Error) -> Self {
        Self::configuration(e)
    }
}
