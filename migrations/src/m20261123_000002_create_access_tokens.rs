//! `testudo_access_tokens`.

use sea_orm_migration::prelude::*;

use crate::common::{boolean, id, index, ts_not_null, ts_null, varchar, varchar_unique};

const TABLE: &str = "testudo_access_tokens";

/// Creates `testudo_access_tokens` with indexes on user id, family id and expiry (token hash
/// and jti are unique, hence indexed).
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
            .create_table(
                Table::create()
                    .table(Access::Table)
                    .col(id(Access::Id))
                    .col(varchar_unique(Access::TokenHash, 64))
                    .col(varchar_unique(Access::Jti, 64))
                    .col(varchar(Access::UserId, 255))
                    .col(varchar(Access::FamilyId, 64))
                    .col(ColumnDef::new(Access::Extra).text().null())
                    .col(ts_not_null(manager, Access::CreatedAt))
                    .col(ts_not_null(manager, Access::ExpiresAt))
                    .col(boolean(Access::IsRevoked, false))
                    .col(ts_null(manager, Access::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(Access::Table, TABLE, Access::UserId, "user_id"))
            .await?;
        manager
            .create_index(index(Access::Table, TABLE, Access::FamilyId, "family_id"))
            .await?;
        manager
            .create_index(index(Access::Table, TABLE, Access::ExpiresAt, "expires_at"))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Access::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Access {
    #[sea_orm(iden = "testudo_access_tokens")]
    Table,
    Id,
    TokenHash,
    Jti,
    UserId,
    FamilyId,
    Extra,
    CreatedAt,
    ExpiresAt,
    IsRevoked,
    RevokedAt,
}
