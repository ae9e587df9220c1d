//! `testudo_verification_codes`: the pending emailed verification code of each user.

use sea_orm_migration::prelude::*;

use crate::common::{ts_not_null, varchar};

/// Creates `testudo_verification_codes (user_id PRIMARY KEY, email, digest, attempts,
/// expires_at, created_at)`.
///
/// One pending code per user (a new one replaces it). The code itself is never stored: `digest`
/// is a keyed MAC of the user, the address and the code (a six-digit code's plain SHA-256 would
/// be brute-forced from a database dump in a second). `attempts` counts wrong tries; the row goes
/// when the code is used, dies after `onboarding_max_verification_attempts` wrong tries, or
/// expires at `expires_at`. Rows are read and written inside the user's serialized transaction
/// (`testudo_db::Database::begin_for_user`), so parallel guesses cannot exceed the limit.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut attempts = ColumnDef::new(Codes::Attempts);
        attempts.integer().not_null().default(0);
        manager
            .create_table(
                Table::create()
                    .table(Codes::Table)
                    .if_not_exists()
                    .col(varchar(Codes::UserId, 255).primary_key())
                    .col(varchar(Codes::Email, 255))
                    .col(varchar(Codes::Digest, 64))
                    .col(attempts)
                    .col(ts_not_null(manager, Codes::ExpiresAt))
                    .col(ts_not_null(manager, Codes::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Codes::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Codes {
    #[sea_orm(iden = "testudo_verification_codes")]
    Table,
    UserId,
    Email,
    Digest,
    Attempts,
    ExpiresAt,
    CreatedAt,
}
