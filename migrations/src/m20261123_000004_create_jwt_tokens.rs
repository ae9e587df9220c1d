//! `testudo_jwt_outstanding_tokens` and `testudo_jwt_blacklisted_tokens`.

use sea_orm_migration::prelude::*;

use crate::common::{id, index, ts_not_null, ts_null, varchar, varchar_null, varchar_unique};

const OUTSTANDING: &str = "testudo_jwt_outstanding_tokens";
const BLACKLISTED: &str = "testudo_jwt_blacklisted_tokens";

/// Creates the JWT outstanding-token and blacklist tables.
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
                    .table(Outstanding::Table)
                    .col(id(Outstanding::Id))
                    .col(varchar_unique(Outstanding::Jti, 64))
                    .col(varchar(Outstanding::UserId, 255))
                    .col(varchar(Outstanding::TokenType, 16))
                    .col(varchar_null(Outstanding::FamilyId, 64))
                    .col(ts_not_null(manager, Outstanding::CreatedAt))
                    .col(ts_not_null(manager, Outstanding::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        for (col, name) in [
            (Outstanding::UserId, "user_id"),
            (Outstanding::FamilyId, "family_id"),
            (Outstanding::ExpiresAt, "expires_at"),
        ] {
            manager
                .create_index(index(Outstanding::Table, OUTSTANDING, col, name))
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(Blacklisted::Table)
                    .col(id(Blacklisted::Id))
                    .col(varchar_unique(Blacklisted::Jti, 64))
                    .col(ts_not_null(manager, Blacklisted::BlacklistedAt))
                    .col(ts_null(manager, Blacklisted::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Blacklisted::Table,
                BLACKLISTED,
                Blacklisted::ExpiresAt,
                "expires_at",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Blacklisted::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Outstanding::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Outstanding {
    #[sea_orm(iden = "testudo_jwt_outstanding_tokens")]
    Table,
    Id,
    Jti,
    UserId,
    TokenType,
    FamilyId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden, Clone, Copy)]
#[allow(clippy::enum_variant_names, reason = "column names")]
enum Blacklisted {
    #[sea_orm(iden = "testudo_jwt_blacklisted_tokens")]
    Table,
    Id,
    Jti,
    BlacklistedAt,
    ExpiresAt,
}
