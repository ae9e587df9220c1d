//! Column helpers shared by the migrations.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseBackend, Statement};

/// A timestamp column that keeps the time zone (PostgreSQL `timestamp with time zone`) or
/// microseconds (MySQL / MariaDB `DATETIME(6)`, always UTC).
pub(crate) fn ts<T: IntoIden>(manager: &SchemaManager<'_>, col: T) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    match manager.get_database_backend() {
        DatabaseBackend::MySql => def.custom(Alias::new("DATETIME(6)")),
        _ => def.timestamp_with_time_zone(),
    };
    def
}

/// A non-null timestamp column.
pub(crate) fn ts_not_null<T: IntoIden>(manager: &SchemaManager<'_>, col: T) -> ColumnDef {
    let mut def = ts(manager, col);
    def.not_null();
    def
}

/// A nullable timestamp column.
pub(crate) fn ts_null<T: IntoIden>(manager: &SchemaManager<'_>, col: T) -> ColumnDef {
    let mut def = ts(manager, col);
    def.null();
    def
}

/// `BIGINT` auto-increment primary key.
pub(crate) fn id<T: IntoIden>(col: T) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.big_integer().not_null().auto_increment().primary_key();
    def
}

/// `VARCHAR(len) NOT NULL`.
pub(crate) fn varchar<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.string_len(len).not_null();
    def
}

/// `VARCHAR(len) NOT NULL UNIQUE`.
pub(crate) fn varchar_unique<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    let mut def = varchar(col, len);
    def.unique_key();
    def
}

/// `VARCHAR(len) NULL`.
pub(crate) fn varchar_null<T: IntoIden>(col: T, len: u32) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.string_len(len).null();
    def
}

/// `BOOLEAN NOT NULL DEFAULT value`.
pub(crate) fn boolean<T: IntoIden>(col: T, default: bool) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.boolean().not_null().default(default);
    def
}

/// A plain (non-unique) index named `idx_<table>_<column>`.
pub(crate) fn index<T: IntoIden + Clone + 'static, C: IntoIden + 'static>(
    table: T,
    table_name: &str,
    col: C,
    col_name: &str,
) -> IndexCreateStatement {
    Index::create()
        .name(format!("idx_{table_name}_{col_name}"))
        .table(table)
        .col(col)
        .to_owned()
}

/// `ALTER TABLE table ADD COLUMN column` (the up of a migration that adds one column).
pub(crate) async fn add_column<T: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    mut column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(table)
                .add_column(&mut column)
                .to_owned(),
        )
        .await
}

/// `ALTER TABLE table DROP COLUMN column` (the down of a migration that adds one column).
pub(crate) async fn drop_column<T: IntoIden + 'static, C: IntoIden + 'static>(
    manager: &SchemaManager<'_>,
    table: T,
    column: C,
) -> Result<(), DbErr> {
    manager
        .alter_table(Table::alter().table(table).drop_column(column).to_owned())
        .await
}

/// The exact (binary, no-pad) collation this MySQL / MariaDB server offers: MariaDB's
/// `utf8mb4_nopad_bin`, MySQL 8's `utf8mb4_0900_bin`, `utf8mb4_bin` on older MySQL (migration
/// 9 explains why).
pub(crate) async fn exact_collation(manager: &SchemaManager<'_>) -> Result<&'static str, DbErr> {
    let version = mysql_version(manager).await?;
    Ok(if version.contains("MariaDB") {
        "utf8mb4_nopad_bin"
    } else if version
        .split('.')
        .next()
        .and_then(|m| m.parse::<u32>().ok())
        >= Some(8)
    {
        "utf8mb4_0900_bin"
    } else {
        "utf8mb4_bin"
    })
}

/// A MySQL-family server's `VERSION()` (`10.11.19-MariaDB-0+deb12u1`, `8.0.36`).
pub(crate) async fn mysql_version(manager: &SchemaManager<'_>) -> Result<String, DbErr> {
    Ok(manager
        .get_connection()
        .query_one_raw(Statement::from_string(
            DatabaseBackend::MySql,
            "SELECT VERSION() AS v",
        ))
        .await?
        .map(|row| row.try_get::<String>("", "v"))
        .transpose()?
        .unwrap_or_default())
}

/// Creates a sessions table named `table` (`family_id PRIMARY KEY, user_id, created_at,
/// last_used_at, ip, user_agent`, indexed on `user_id`; see migrations 17 and 19, the tables
/// of the two token backends), with the exact collation on its id columns on MySQL / MariaDB.
pub(crate) async fn create_session_table(
    manager: &SchemaManager<'_>,
    table: &'static str,
) -> Result<(), DbErr> {
    let col = Alias::new;
    manager
        .create_table(
            Table::create()
                .table(col(table))
                .if_not_exists()
                .col(varchar(col("family_id"), 64).primary_key())
                .col(varchar(col("user_id"), 255))
                .col(ts_not_null(manager, col("created_at")))
                .col(ts_not_null(manager, col("last_used_at")))
                .col(varchar_null(col("ip"), 45))
                .col(varchar_null(col("user_agent"), 512))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(index(col(table), table, col("user_id"), "user_id"))
        .await?;
    if manager.get_database_backend() == DatabaseBackend::MySql {
        let collation = exact_collation(manager).await?;
        let text = |col: &str, len: u32| {
            format!(
                "MODIFY {col} VARCHAR({len}) CHARACTER SET utf8mb4 COLLATE {collation} NOT NULL"
            )
        };
        let sql = format!(
            "ALTER TABLE {table} {}, {}",
            text("family_id", 64),
            text("user_id", 255)
        );
        manager.get_connection().execute_unprepared(&sql).await?;
    }
    Ok(())
}
