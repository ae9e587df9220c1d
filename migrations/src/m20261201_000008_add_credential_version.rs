//! `testudo_users.credential_version`: the version sessions are bound to.

use sea_orm_migration::prelude::*;

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
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(
                        ColumnDef::new(Users::CredentialVersion)
                            .big_integer()
                            .not_null()
                            .default(0),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(Users::CredentialVersion)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    #[sea_orm(iden = "testudo_users")]
    Table,
    CredentialVersion,
}
