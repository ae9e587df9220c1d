//! `testudo_users.credential_version`: the version sessions are bound to.

use sea_orm_migration::prelude::*;

use crate::common::{add_column, drop_column};

/// Adds `credential_version BIGINT NOT NULL DEFAULT 0` to `testudo_users`.
///
/// Every password change (and every other credential change) increments it in the same
/// statement that writes the new hash; tokens carry the version they were issued under (claim
/// `cv`, absent for 0), and `AuthService::authenticate` and `refresh` refuse a token whose
/// version is not the user's current one. So a login that read the user before a password
/// change and finishes after it gets no live session, whatever the interleaving. Existing rows
/// get 0, the version of every token issued before this migration.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut column = ColumnDef::new(Users::CredentialVersion);
        column.big_integer().not_null().default(0);
        add_column(manager, Users::Table, column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, Users::Table, Users::CredentialVersion).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    #[sea_orm(iden = "testudo_users")]
    Table,
    CredentialVersion,
}
