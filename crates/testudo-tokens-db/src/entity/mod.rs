//! sea-orm entities of the tables this crate uses (schema from `testudo-migrations`).

pub mod access_token;
pub mod api_key;
pub mod email_retval;
pub mod email_token;
pub mod refresh_token;
pub mod session;
