//! `testudo_users`.

use sea_orm_migration::prelude::*;

use crate::common::{boolean, id, ts_not_null, ts_null, varchar, varchar_unique};

/// Creates `testudo_users`.
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
                    .table(Users::Table)
                    .col(id(Users::Id))
                    .col(varchar_unique(Users::Email, 255))
                    .col(varchar(Users::Password, 255).default(""))
                    .col(ts_null(manager, Users::LastLogin))
                    .col(boolean(Users::IsActive, true))
                    .col(boolean(Users::IsVerified, false))
                    .col(ts_null(manager, Users::JoinedAt))
                    .col(ts_not_null(manager, Users::CreatedAt))
                    .col(ts_not_null(manager, Users::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Users::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    #[sea_orm(iden = "testudo_users")]
    Table,
    Id,
    Email,
    Password,
    LastLogin,
    IsActive,
    IsVerified,
    JoinedAt,
    CreatedAt,
    UpdatedAt,
}
