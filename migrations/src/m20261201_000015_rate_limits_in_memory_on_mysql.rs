//! `testudo_rate_limits` in the `MEMORY` engine on MySQL / MariaDB.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

const TABLE: &str = "testudo_rate_limits";

/// The most memory the table may take on MariaDB: 1 GiB, about ten million throttled keys (a
/// row is about 100 bytes). Memory is taken as rows come, and the rate limiter's cleanup
/// gives it back.
const MAX_BYTES: u64 = 1 << 30;

/// Moves `testudo_rate_limits` (migration 12) to the `MEMORY` engine on MySQL / MariaDB;
/// nothing elsewhere.
///
/// Every attempt writes its key's row; on `InnoDB` each write is a commit that waits for the
/// redo log to reach the disk (about 1 to 5 ms on the project's machines, most of a throttled
/// login's cost). Rate-limit rows need no durability: PostgreSQL writes them without waiting
/// for the WAL, and Redis keeps them in memory. In `MEMORY` an attempt is a write in the
/// server's memory under a short table lock, still one atomic upsert. What a server restart
/// forgets is the counts of the last window, as with Redis.
///
/// The key becomes `ASCII` with a binary collation (a key is 64 lowercase hex digits; a
/// `MEMORY` row is fixed-length, so `utf8mb4` would take four times the room), and the
/// `window_end` index a B-tree, so the cleanup deletes expired rows by range. On MariaDB the
/// table may grow to [`MAX_BYTES`] (`SET STATEMENT max_heap_table_size`); on MySQL to the
/// server's `max_heap_table_size` (16 MiB by default: raise it before migrating for more
/// than about 150 000 live keys). A full table is purged of expired rows by the limiter,
/// which then tries once more.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

#[allow(
    elided_lifetimes_in_paths,
    reason = "the signature of sea-orm-migration's trait"
)]
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let alter = format!(
            "ALTER TABLE {TABLE} \
             MODIFY key_hash VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL, \
             DROP INDEX idx_{TABLE}_window_end, \
             ADD INDEX idx_{TABLE}_window_end USING BTREE (window_end), \
             ENGINE = MEMORY"
        );
        let sql = if crate::common::mysql_version(manager)
            .await?
            .contains("MariaDB")
        {
            format!("SET STATEMENT max_heap_table_size = {MAX_BYTES} FOR {alter}")
        } else {
            alter
        };
        manager.get_connection().execute_unprepared(&sql).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        let collation = crate::common::exact_collation(manager).await?;
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE {TABLE} \
                 MODIFY key_hash VARCHAR(64) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL, \
                 DROP INDEX idx_{TABLE}_window_end, \
                 ADD INDEX idx_{TABLE}_window_end (window_end), \
                 ENGINE = InnoDB"
            ))
            .await?;
        Ok(())
    }
}
