//! MySQL / MariaDB: exact (binary, no-pad) comparison for every identifying text column.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend};

/// A column: name, `VARCHAR` length, nullability and default.
type Column = (&'static str, u32, Null);

/// The identifying columns, by table.
const COLUMNS: &[(&str, &[Column])] = &[
    (
        "testudo_users",
        &[
            ("email", 255, Null::No),
            ("password", 255, Null::EmptyDefault),
        ],
    ),
    (
        "testudo_access_tokens",
        &[
            ("token_hash", 64, Null::No),
            ("jti", 64, Null::No),
            ("user_id", 255, Null::No),
            ("family_id", 64, Null::No),
        ],
    ),
    (
        "testudo_refresh_tokens",
        &[
            ("token_hash", 64, Null::No),
            ("jti", 64, Null::No),
            ("user_id", 255, Null::No),
            ("family_id", 64, Null::No),
            ("access_jti", 64, Null::No),
            ("replaced_by_jti", 64, Null::Yes),
        ],
    ),
    (
        "testudo_jwt_outstanding_tokens",
        &[
            ("jti", 64, Null::No),
            ("user_id", 255, Null::No),
            ("family_id", 64, Null::Yes),
        ],
    ),
    ("testudo_jwt_blacklisted_tokens", &[("jti", 64, Null::No)]),
    (
        "testudo_email_tokens",
        &[("email", 255, Null::No), ("token_hash", 64, Null::No)],
    ),
    ("testudo_email_retvals", &[("email", 255, Null::No)]),
    ("testudo_user_locks", &[("user_id", 255, Null::No)]),
];

/// A column's nullability (and default), as created by the earlier migrations.
#[derive(Clone, Copy)]
enum Null {
    /// `NOT NULL`.
    No,
    /// `NOT NULL DEFAULT ''`.
    EmptyDefault,
    /// `NULL`.
    Yes,
}

impl Null {
    fn sql(self) -> &'static str {
        match self {
            Self::No => "NOT NULL",
            Self::EmptyDefault => "NOT NULL DEFAULT ''",
            Self::Yes => "NULL",
        }
    }
}

/// Gives every email, hash, token-digest, jti and user-id column an exact collation on MySQL /
/// MariaDB (nothing to do on PostgreSQL and SQLite, which compare text exactly).
///
/// Their default collations (`utf8mb4_general_ci`, `utf8mb4_0900_ai_ci`, ...) ignore case and
/// accents and pad with spaces: `alice@exämple.com` found the user `alice@example.com`, and two
/// addresses that differ only so could not both be registered. This is the class of Django
/// CVE-2019-19844 (a reset mail for one account sent to a look-alike address). After this
/// migration a lookup matches only the same bytes: MariaDB's `utf8mb4_nopad_bin`, MySQL 8's
/// `utf8mb4_0900_bin` (both binary and no-pad), `utf8mb4_bin` on older MySQL.
#[derive(DeriveMigrationName)]
pub(crate) struct Migration;

/// `ALTER TABLE` statements giving the columns `collation` (`None`: the table's default).
fn statements(collation: Option<&str>) -> Vec<String> {
    COLUMNS
        .iter()
        .map(|(table, columns)| {
            let modify: Vec<String> = columns
                .iter()
                .map(|(column, len, null)| {
                    let collate = collation
                        .map(|c| format!(" CHARACTER SET utf8mb4 COLLATE {c}"))
                        .unwrap_or_default();
                    format!("MODIFY {column} VARCHAR({len}){collate} {}", null.sql())
                })
                .collect();
            format!("ALTER TABLE {table} {}", modify.join(", "))
        })
        .collect()
}

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
        let collation = crate::common::exact_collation(manager).await?;
        for sql in statements(Some(collation)) {
            manager.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::MySql {
            return Ok(());
        }
        for sql in statements(None) {
            manager.get_connection().execute_unprepared(&sql).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_identifying_column_is_modified_with_its_nullability() {
        let sql = statements(Some("utf8mb4_nopad_bin"));
        assert_eq!(sql.len(), COLUMNS.len());
        assert_eq!(
            sql[0],
            "ALTER TABLE testudo_users MODIFY email VARCHAR(255) CHARACTER SET utf8mb4 COLLATE \
             utf8mb4_nopad_bin NOT NULL, MODIFY password VARCHAR(255) CHARACTER SET utf8mb4 \
             COLLATE utf8mb4_nopad_bin NOT NULL DEFAULT ''"
        );
        assert!(sql[2].ends_with("MODIFY replaced_by_jti VARCHAR(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NULL"));
        assert_eq!(
            statements(None)[6],
            "ALTER TABLE testudo_email_retvals MODIFY email VARCHAR(255) NOT NULL"
        );
    }
}
