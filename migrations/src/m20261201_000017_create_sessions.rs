//! The sessions table: the device context of each token family (one login and every rotation
//! made of it).

use sea_orm_migration::prelude::*;

use crate::common::create_session_table;

/// Creates `testudo_sessions (family_id PRIMARY KEY, user_id, created_at, last_used_at, ip,
/// user_agent)`, indexed on `user_id`: one row per token family of the database token backend
/// (the family id is the session id), written in the transaction that issues the login's pair;
/// `last_used_at` is moved by each rotation (refresh), not by access-token verification. `ip`
/// (at most 45 characters: an IPv6 address in text) and `user_agent` (at most 512) are null when
/// unknown.
///
/// On MySQL / MariaDB the id columns get an exact (binary, no-pad) collation, as migration 9
/// gave the earlier tables.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_session_table(manager, "testudo_sessions").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Sessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    #[sea_orm(iden = "testudo_sessions")]
    Table,
}
