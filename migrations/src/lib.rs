#![doc = include_str!("../README.md")]

mod common;
mod m20261123_000001_create_users;
mod m20261123_000002_create_access_tokens;
mod m20261123_000003_create_refresh_tokens;
mod m20261123_000004_create_jwt_tokens;
mod m20261123_000005_create_email_tokens;
mod m20261123_000006_index_active_refresh_tokens;
mod m20261201_000007_create_user_locks;
mod m20261201_000008_add_credential_version;
mod m20261201_000009_exact_text_on_mysql;
mod m20261201_000010_email_token_purpose;
mod m20261201_000011_session_start;
mod m20261201_000012_create_rate_limits;
mod m20261201_000013_create_api_keys;
mod m20261201_000014_create_verification_codes;
mod m20261201_000015_rate_limits_in_memory_on_mysql;
mod m20261201_000016_create_second_factors;
mod m20261201_000017_create_sessions;
mod m20261201_000018_create_onboarding_sessions;
mod m20261202_000019_create_jwt_sessions;

use sea_orm_migration::prelude::*;
pub use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// The name of the migration history table.
pub const MIGRATION_TABLE: &str = "testudo_migrations";

/// Every testudo table, in creation order.
pub const TABLES: &[&str] = &[
    "testudo_users",
    "testudo_access_tokens",
    "testudo_refresh_tokens",
    "testudo_jwt_outstanding_tokens",
    "testudo_jwt_blacklisted_tokens",
    "testudo_email_tokens",
    "testudo_email_retvals",
    "testudo_user_locks",
    "testudo_rate_limits",
    "testudo_api_keys",
    "testudo_verification_codes",
    "testudo_totp_factors",
    "testudo_recovery_codes",
    "testudo_login_challenges",
    "testudo_reauthentications",
    "testudo_sessions",
    "testudo_onboarding_sessions",
    "testudo_jwt_sessions",
];

/// The testudo migrator: run `Migrator::up(&db, None)` to create or update every table.
#[derive(Debug, Clone, Copy, Default)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_create_users::Migration),
            Box::new(m20261123_000002_create_access_tokens::Migration),
            Box::new(m20261123_000003_create_refresh_tokens::Migration),
            Box::new(m20261123_000004_create_jwt_tokens::Migration),
            Box::new(m20261123_000005_create_email_tokens::Migration),
            Box::new(m20261123_000006_index_active_refresh_tokens::Migration),
            Box::new(m20261201_000007_create_user_locks::Migration),
            Box::new(m20261201_000008_add_credential_version::Migration),
            Box::new(m20261201_000009_exact_text_on_mysql::Migration),
            Box::new(m20261201_000010_email_token_purpose::Migration),
            Box::new(m20261201_000011_session_start::Migration),
            Box::new(m20261201_000012_create_rate_limits::Migration),
            Box::new(m20261201_000013_create_api_keys::Migration),
            Box::new(m20261201_000014_create_verification_codes::Migration),
            Box::new(m20261201_000015_rate_limits_in_memory_on_mysql::Migration),
            Box::new(m20261201_000016_create_second_factors::Migration),
            Box::new(m20261201_000017_create_sessions::Migration),
            Box::new(m20261201_000018_create_onboarding_sessions::Migration),
            Box::new(m20261202_000019_create_jwt_sessions::Migration),
        ]
    }

    fn migration_table_name() -> DynIden {
        MIGRATION_TABLE.into_iden()
    }
}
