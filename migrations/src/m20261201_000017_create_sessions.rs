//! The sessions table: the device context of each token family (one login and every rotation
//! made of it).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::{index, ts_not_null, varchar, varchar_null};

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
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(varchar(Sessions::FamilyId, 64).primary_key())
                    .col(varchar(Sessions::UserId, 255))
                    .col(ts_not_null(manager, Sessions::CreatedAt))
                    .col(ts_not_null(manager, Sessions::LastUsedAt))
                    .col(varchar_null(Sessions::Ip, 45))
                    .col(varchar_null(Sessions::UserAgent, 512))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                Sessions::Table,
                "testudo_sessions",
                Sessions::UserId,
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
                "ALTER TABLE testudo_sessions {}, {}",
                text("family_id", 64),
                text("user_id", 255)
            );
            manager.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
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
    FamilyId,
    UserId,
    CreatedAt,
    LastUsedAt,
    Ip,
    UserAgent,
}
