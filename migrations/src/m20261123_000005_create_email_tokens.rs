//! `testudo_email_tokens` and `testudo_email_retvals`.

use sea_orm_migration::prelude::*;

use crate::common::{boolean, id, index, ts_not_null, varchar, varchar_null, varchar_unique};

const TOKENS: &str = "testudo_email_tokens";

/// Creates the passwordless email-token table and the per-email return values.
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
                    .table(EmailTokens::Table)
                    .col(id(EmailTokens::Id))
                    .col(varchar(EmailTokens::Email, 255))
                    .col(varchar_unique(EmailTokens::TokenHash, 64))
                    .col(varchar_null(EmailTokens::Ip, 45))
                    .col(ts_not_null(manager, EmailTokens::CreatedAt))
                    .col(ts_not_null(manager, EmailTokens::ExpiresAt))
                    .col(boolean(EmailTokens::SingleUse, false))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                EmailTokens::Table,
                TOKENS,
                EmailTokens::Email,
                "email",
            ))
            .await?;
        manager
            .create_index(index(
                EmailTokens::Table,
                TOKENS,
                EmailTokens::ExpiresAt,
                "expires_at",
            ))
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EmailRetvals::Table)
                    .col(
                        ColumnDef::new(EmailRetvals::Email)
                            .string_len(255)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(EmailRetvals::Retval).text().not_null())
                    .col(ts_not_null(manager, EmailRetvals::UpdatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EmailRetvals::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EmailTokens::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum EmailTokens {
    #[sea_orm(iden = "testudo_email_tokens")]
    Table,
    Id,
    Email,
    TokenHash,
    Ip,
    CreatedAt,
    ExpiresAt,
    SingleUse,
}

#[derive(DeriveIden, Clone, Copy)]
enum EmailRetvals {
    #[sea_orm(iden = "testudo_email_retvals")]
    Table,
    Email,
    Retval,
    UpdatedAt,
}
