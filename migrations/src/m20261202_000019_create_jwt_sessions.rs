//! The JWT backend's sessions table: the device context of each token family its revocation
//! list records.

use sea_orm_migration::prelude::*;

use crate::common::create_session_table;

/// Creates `testudo_jwt_sessions (family_id PRIMARY KEY, user_id, created_at, last_used_at, ip,
/// user_agent)`, indexed on `user_id`: the same shape as `testudo_sessions` (migration 17), for
/// the families of the JWT backend's revocation list (`testudo_jwt_outstanding_tokens`), written
/// in the transaction that records the login's pair and moved by each rotation.
///
/// A table of its own rather than rows in `testudo_sessions`: each backend's cleanup deletes
/// the sessions that have no live refresh token in *its* tables, so two backends sharing one
/// database (an application moving from one to the other, say) would otherwise delete each
/// other's sessions.
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
        create_session_table(manager, "testudo_jwt_sessions").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(JwtSessions::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum JwtSessions {
    #[sea_orm(iden = "testudo_jwt_sessions")]
    Table,
}
