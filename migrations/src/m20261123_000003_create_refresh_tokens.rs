//! `testudo_refresh_tokens`.

use sea_orm_migration::prelude::*;

use crate::common::{
    boolean, id, index, ts_not_null, ts_null, varchar, varchar_null, varchar_unique,
};

const TABLE: &str = "testudo_refresh_tokens";

/// Creates `testudo_refresh_tokens`: the access-token columns plus `access_jti` (the access
/// token issued with it), `rotated_at` and `replaced_by_jti` (set when the token was used to
/// rotate, which tells "rotated" from "revoked" for reuse detection).
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
                    .table(Refresh::Table)
                    .col(id(Refresh::Id))
                    .col(varchar_unique(Refresh::TokenHash, 64))
                    .col(varchar_unique(Refresh::Jti, 64))
                    .col(varchar(Refresh::UserId, 255))
                    .col(varchar(Refresh::FamilyId, 64))
                    .col(varchar(Refresh::AccessJti, 64))
                    .col(ColumnDef::new(Refresh::Extra).text().null())
                    .col(ts_not_null(manager, Refresh::CreatedAt))
                    .col(ts_not_null(manager, Refresh::ExpiresAt))
                    .col(boolean(Refresh::IsRevoked, false))
                    .col(ts_null(manager, Refresh::RevokedAt))
                    .col(ts_null(manager, Refresh::RotatedAt))
                    .col(varchar_null(Refresh::ReplacedByJti, 64))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(Refresh::Table, TABLE, Refresh::UserId, "user_id"))
            .await?;
        manager
            .create_index(index(Refresh::Table, TABLE, Refresh::FamilyId, "family_id"))
            .await?;
        manager
            .create_index(index(
                Refresh::Table,
                TABLE,
                Refresh::AccessJti,
                "access_jti",
            ))
            .await?;
        manager
            .create_index(index(
                Refresh::Table,
                TABLE,
                Refresh::ExpiresAt,
                "expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Refresh::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Refresh {
    #[sea_orm(iden = "testudo_refresh_tokens")]
    Table,
    Id,
    TokenHash,
    Jti,
    UserId,
    FamilyId,
    AccessJti,
    Extra,
    CreatedAt,
    ExpiresAt,
    IsRevoked,
    RevokedAt,
    RotatedAt,
    ReplacedByJti,
}
