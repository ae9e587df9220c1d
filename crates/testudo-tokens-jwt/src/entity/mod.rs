//! sea-orm entities of the revocation-list tables (schema from `testudo-migrations`).

pub mod blacklisted_token;
pub mod outstanding_token;
pub mod session;
