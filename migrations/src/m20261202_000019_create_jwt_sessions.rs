//! The JWT backend's sessions table: the device context of each token family its revocation
//! list records.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::{index, ts_not_null, varchar, varchar_null};

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
        manager
            .create_table(
                Table::create()
                    .table(JwtSessions::Table)
                    .if_not_exists()
                    .col(varchar(JwtSessions::FamilyId, 64).primary_key())
                    .col(varchar(JwtSessions::UserId, 255))
                    .col(ts_not_null(manager, JwtSessions::CreatedAt))
                    .col(ts_not_null(manager, JwtSessions::LastUsedAt))
                    .col(varchar_null(JwtSessions::Ip, 45))
                    .col(varchar_null(JwtSessions::UserAgent, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                JwtSessions::Table,
                "testudo_jwt_sessions",
                JwtSessions::UserId,
                "user_id",
            ))
            .await?;
        if manager.get_database_backend() == DatabaseBackend::MySql {
            let collation = crate::common::exact_collation(manager).await?;
            let text = |col: &str, len: u32| {
                format!(
                    "MODIFY {col} VARCHAR({len}) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
                )
            };
            let sql = format!(
                "ALTER TABLE testudo_jwt_sessions {}, {}",
                text("family_id", 64),
                text("user_id", 255)
            );
            manager.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
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
    FamilyId,
    UserId,
    CreatedAt,
    LastUsedAt,
    Ip,
    UserAgent,
}
