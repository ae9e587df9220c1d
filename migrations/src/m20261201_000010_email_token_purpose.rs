//! `testudo_email_tokens.purpose`: what an email token may be used for.

use sea_orm_migration::prelude::*;

use crate::common::{add_column, drop_column};

/// Adds `purpose VARCHAR(64) NOT NULL DEFAULT 'login'` to `testudo_email_tokens`.
///
/// A token is accepted only for the purpose it was created for (a login link never passes as
/// anything else, and a token made for another flow never logs in). Existing tokens were all
/// created by the passwordless login, so they get `login`.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut column = ColumnDef::new(EmailTokens::Purpose);
        column.string_len(64).not_null().default("login");
        add_column(manager, EmailTokens::Table, column).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_column(manager, EmailTokens::Table, EmailTokens::Purpose).await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum EmailTokens {
    #[sea_orm(iden = "testudo_email_tokens")]
    Table,
    Purpose,
}
