//! `testudo_user_locks`: one row per user, locked to serialize a user's token writes.

use sea_orm_migration::prelude::*;

use crate::common::varchar;

/// Creates `testudo_user_locks (user_id PRIMARY KEY)`.
///
/// `testudo_db::Database::begin_for_user` upserts the user's row here on MySQL / MariaDB and so
/// holds its exclusive lock until the transaction ends: every transaction that issues, rotates
/// or revokes a user's tokens is serialized with the others of that user, whatever the
/// isolation level. PostgreSQL (an advisory lock) and SQLite (`BEGIN IMMEDIATE`) do not write
/// to it; the table exists on every database so the schema is the same everywhere.
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
                    .table(Locks::Table)
                    .if_not_exists()
                    .col(varchar(Locks::UserId, 255).primary_key())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Locks::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Locks {
    #[sea_orm(iden = "testudo_user_locks")]
    Table,
    UserId,
}
