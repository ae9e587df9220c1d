//! `testudo_api_keys`: API keys, stored as SHA-256 digests.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

use crate::common::{id, index, ts_not_null, ts_null, varchar, varchar_unique};

const TABLE: &str = "testudo_api_keys";

/// Creates `testudo_api_keys`: one row per key, with its owner (`owner_kind` `user` or
/// `service`, `owner_id`), name, scopes (space-separated), the lowercase hex SHA-256 of the raw
/// key (unique: verification is one lookup by it), and its times (`revoked_at` set means
/// revoked; `last_used_at` is written at most once a minute per key). Indexed by owner for
/// listing.
///
/// On MySQL / MariaDB the digest and the owner columns get an exact (binary, no-pad)
/// collation, as migration 9 gave the earlier tables.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// The `ALTER TABLE` giving the identifying columns `collation`.
fn exact_text(collation: &str) -> String {
    format!(
        "ALTER TABLE {TABLE} \
         MODIFY key_hash VARCHAR(64) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL, \
         MODIFY owner_kind VARCHAR(16) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL, \
         MODIFY owner_id VARCHAR(255) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
    )
}

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
                    .table(ApiKeys::Table)
                    .col(id(ApiKeys::Id))
                    .col(varchar_unique(ApiKeys::KeyHash, 64))
                    .col(varchar(ApiKeys::OwnerKind, 16))
                    .col(varchar(ApiKeys::OwnerId, 255))
                    .col(varchar(ApiKeys::Name, 255))
                    .col(ColumnDef::new(ApiKeys::Scopes).text().not_null())
                    .col(ts_not_null(manager, ApiKeys::CreatedAt))
                    .col(ts_null(manager, ApiKeys::ExpiresAt))
                    .col(ts_null(manager, ApiKeys::LastUsedAt))
                    .col(ts_null(manager, ApiKeys::RevokedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name(format!("idx_{TABLE}_owner"))
                    .table(ApiKeys::Table)
                    .col(ApiKeys::OwnerKind)
                    .col(ApiKeys::OwnerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                ApiKeys::Table,
                TABLE,
                ApiKeys::ExpiresAt,
                "expires_at",
            ))
            .await?;
        if manager.get_database_backend() == DatabaseBackend::MySql {
            let collation = crate::common::exact_collation(manager).await?;
            manager
                .get_connection()
                .execute_unprepared(&exact_text(collation))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(ApiKeys::Table).to_owned())
            .await
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum ApiKeys {
    #[sea_orm(iden = "testudo_api_keys")]
    Table,
    Id,
    KeyHash,
    OwnerKind,
    OwnerId,
    Name,
    Scopes,
    CreatedAt,
    ExpiresAt,
    LastUsedAt,
    RevokedAt,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identifying_columns_keep_their_nullability_under_the_exact_collation() {
        let sql = exact_text("utf8mb4_nopad_bin");
        assert_eq!(sql.matches("COLLATE utf8mb4_nopad_bin NOT NULL").count(), 3);
        assert!(sql.starts_with("ALTER TABLE testudo_api_keys MODIFY key_hash VARCHAR(64)"));
    }
}
