//! `testudo_refresh_tokens`: an index for a user's active refresh tokens.

use sea_orm_migration::prelude::*;

use crate::common::index;

const TABLE: &str = "testudo_refresh_tokens";

/// The name of the index this migration creates.
const ACTIVE: &str = "idx_testudo_refresh_tokens_user_active";

/// Replaces the index on `user_id` of `testudo_refresh_tokens` with one on
/// `(user_id, is_revoked, created_at)`.
///
/// Issuing a pair counts the user's active refresh tokens (`max_tokens_per_user`), newest first.
/// With `user_id` alone that query read every refresh token the user ever had, revoked ones
/// included (they stay until they expire), so login slowed down as the history grew. The new
/// index reaches the active ones directly, in creation order, and still serves every lookup by
/// user id (its first column).
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
            .create_index(
                Index::create()
                    .name(ACTIVE)
                    .table(Refresh::Table)
                    .col(Refresh::UserId)
                    .col(Refresh::IsRevoked)
                    .col(Refresh::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name(format!("idx_{TABLE}_user_id"))
                    .table(Refresh::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(index(Refresh::Table, TABLE, Refresh::UserId, "user_id"))
            .await?;
        manager
            .drop_index(Index::drop().name(ACTIVE).table(Refresh::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Refresh {
    #[sea_orm(iden = "testudo_refresh_tokens")]
    Table,
    UserId,
    IsRevoked,
    CreatedAt,
}
