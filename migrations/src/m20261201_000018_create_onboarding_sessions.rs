//! `testudo_onboarding_sessions`: resumable registrations (start, verify the emailed code, set
//! a password, optional steps, finish into a user).

use sea_orm_migration::prelude::*;

use crate::common::{index, ts_not_null, ts_null, varchar, varchar_null};

/// Creates `testudo_onboarding_sessions (id PRIMARY KEY, token_digest UNIQUE, email, state,
/// code_digest, code_attempts, code_expires_at, finishing_at, expires_at, created_at)`, with an
/// index on `email`.
///
/// `id` is the session's public id (in events); the raw token is never stored, only its
/// SHA-256 (`token_digest`). `state` is JSON: the next step and each step's data (the password
/// as its hash, never in clear). The emailed code is a keyed digest (`code_digest`), counted by
/// `code_attempts`, valid until `code_expires_at`. `finishing_at` is set by the one `finish`
/// call that claimed the session (a conditional update), so two concurrent calls cannot both
/// create the user.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut attempts = ColumnDef::new(Sessions::CodeAttempts);
        attempts.integer().not_null().default(0);
        let mut digest = varchar(Sessions::TokenDigest, 64);
        digest.unique_key();
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(varchar(Sessions::Id, 64).primary_key())
                    .col(digest)
                    .col(varchar(Sessions::Email, 255))
                    .col(ColumnDef::new(Sessions::State).text().not_null())
                    .col(varchar_null(Sessions::CodeDigest, 64))
                    .col(attempts)
                    .col(ts_null(manager, Sessions::CodeExpiresAt))
                    .col(ts_null(manager, Sessions::FinishingAt))
                    .col(ts_not_null(manager, Sessions::ExpiresAt))
                    .col(ts_not_null(manager, Sessions::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Sessions::Table,
                "testudo_onboarding_sessions",
                Sessions::Email,
                "email",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    #[sea_orm(iden = "testudo_onboarding_sessions")]
    Table,
    Id,
    TokenDigest,
    Email,
    State,
    CodeDigest,
    CodeAttempts,
    CodeExpiresAt,
    FinishingAt,
    ExpiresAt,
    CreatedAt,
}
