//! `testudo_rate_limits`: one row per throttled key, for the database rate limiter.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::{index, varchar};

const TABLE: &str = "testudo_rate_limits";

/// Creates `testudo_rate_limits (key_hash PRIMARY KEY, attempts, window_end, blocked_until,
/// last_allowed)`.
///
/// `testudo_throttle::DbRateLimiter` checks and records an attempt in one upsert of the key's
/// row, so parallel attempts on any number of nodes cannot exceed the limit. The key is the
/// lowercase-hex SHA-256 of the scope, the identifier and the client address (never the address
/// or email itself, and 64 characters whatever their length). The times are whole microseconds
/// since the Unix epoch in `BIGINT`s, so the one statement compares and adds them the same way
/// on SQLite, PostgreSQL and MySQL / MariaDB; `last_allowed` is the decision of the latest
/// attempt (what the upsert returns). On MySQL / MariaDB the key gets the exact (binary,
/// no-pad) collation of migration 9. The index on `window_end` serves the cleanup.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let bigint = |col: RateLimits| {
            let mut def = ColumnDef::new(col);
            def.big_integer().not_null();
            def
        };
        manager
            .create_table(
                Table::create()
                    .table(RateLimits::Table)
                    .col(varchar(RateLimits::KeyHash, 64).primary_key())
                    .col(bigint(RateLimits::Attempts))
                    .col(bigint(RateLimits::WindowEnd))
                    .col(bigint(RateLimits::BlockedUntil))
                    .col(
                        ColumnDef::new(RateLimits::LastAllowed)
                            .small_integer()
                            .not_null()
                            .default(1),
                    )
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DatabaseBackend::MySql {
            let collation = crate::common::exact_collation(manager).await?;
            manager
                .get_connection()
                .execute_unprepared(&format!(
                    "ALTER TABLE {TABLE} MODIFY key_hash VARCHAR(64) CHARACTER SET utf8mb4 \
                     COLLATE {collation} NOT NULL"
                ))
                .await?;
        }
        manager
            .create_index(index(
                RateLimits::Table,
                TABLE,
                RateLimits::WindowEnd,
                "window_end",
            ))
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RateLimits::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum RateLimits {
    #[sea_orm(iden = "testudo_rate_limits")]
    Table,
    KeyHash,
    Attempts,
    WindowEnd,
    BlockedUntil,
    LastAllowed,
}
