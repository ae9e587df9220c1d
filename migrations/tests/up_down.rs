//! Up, down, up on every available backend.

use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use testudo_migrations::{Migrator, MigratorTrait, TABLES};
use testudo_test_support::db::{Backend, TestDb};
use testudo_test_support::{TestResult, per_database};

async fn has_table(db: &DatabaseConnection, table: &str) -> TestResult<bool> {
    let manager = sea_orm_migration::SchemaManager::new(db);
    Ok(manager.has_table(table).await?)
}

/// The `testudo_*` tables of the test database, sorted (the migration history table left out).
async fn testudo_tables(db: &DatabaseConnection) -> TestResult<Vec<String>> {
    let sql = match db.get_database_backend() {
        DatabaseBackend::Sqlite => "SELECT name AS t FROM sqlite_master WHERE type = 'table'",
        DatabaseBackend::Postgres => {
            "SELECT table_name::text AS t FROM information_schema.tables \
             WHERE table_schema = current_schema()"
        }
        _ => {
            "SELECT CAST(table_name AS CHAR) AS t FROM information_schema.tables \
             WHERE table_schema = DATABASE()"
        }
    };
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    let mut tables = Vec::new();
    for row in rows {
        let t: String = row.try_get("", "t")?;
        if t.starts_with("testudo_") && t != testudo_migrations::MIGRATION_TABLE {
            tables.push(t);
        }
    }
    tables.sort();
    Ok(tables)
}

async fn up_down_up_on_every_backend(backend: Backend) -> TestResult {
    let name = backend.name();
    let db = TestDb::unmigrated(backend, 2).await?;
    let conn = db.conn();
    Migrator::up(conn, None).await?;
    // `TABLES` names every table the migrations create, and nothing else.
    let mut listed: Vec<String> = TABLES.iter().map(|t| (*t).to_owned()).collect();
    listed.sort();
    assert_eq!(
        testudo_tables(conn).await?,
        listed,
        "{name}: TABLES is not the schema"
    );
    for t in TABLES {
        assert!(has_table(conn, t).await?, "{name}: {t} missing after up");
    }
    assert!(has_table(conn, testudo_migrations::MIGRATION_TABLE).await?);
    assert_eq!(
        Migrator::get_applied_migrations(conn).await?.len(),
        Migrator::migrations().len()
    );
    Migrator::down(conn, None).await?;
    for t in TABLES {
        assert!(!has_table(conn, t).await?, "{name}: {t} left after down");
    }
    assert!(Migrator::get_applied_migrations(conn).await?.is_empty());
    Migrator::up(conn, None).await?;
    for t in TABLES {
        assert!(
            has_table(conn, t).await?,
            "{name}: {t} missing after second up"
        );
    }
    // The users table accepts a row with only the required columns.
    conn.execute_unprepared(
        "INSERT INTO testudo_users (email, created_at, updated_at) \
         VALUES ('a@example.com', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
    )
    .await?;
    let dup = conn
        .execute_unprepared(
            "INSERT INTO testudo_users (email, created_at, updated_at) \
             VALUES ('a@example.com', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        )
        .await;
    assert!(dup.is_err(), "{name}: email must be unique");
    // Exact comparison (migration 9 on MySQL / MariaDB): look-alikes are other addresses.
    for look_alike in ["a@ex\u{e4}mple.com", "A@example.com", "a@example.com "] {
        conn.execute_unprepared(&format!(
            "INSERT INTO testudo_users (email, created_at, updated_at) \
             VALUES ('{look_alike}', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"
        ))
        .await
        .map_err(|e| format!("{name}: {look_alike:?} is taken: {e}"))?;
    }
    db.cleanup().await?;
    Ok(())
}
per_database!(up_down_up_on_every_backend);

#[tokio::test]
async fn migrations_are_named_after_their_files() {
    let names: Vec<String> = Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect();
    assert_eq!(
        names,
        [
            "m20261123_000001_create_users",
            "m20261123_000002_create_access_tokens",
            "m20261123_000003_create_refresh_tokens",
            "m20261123_000004_create_jwt_tokens",
            "m20261123_000005_create_email_tokens",
            "m20261123_000006_index_active_refresh_tokens",
            "m20261201_000007_create_user_locks",
            "m20261201_000008_add_credential_version",
            "m20261201_000009_exact_text_on_mysql",
            "m20261201_000010_email_token_purpose",
            "m20261201_000011_session_start",
            "m20261201_000012_create_rate_limits",
            "m20261201_000013_create_api_keys",
            "m20261201_000014_create_verification_codes",
            "m20261201_000015_rate_limits_in_memory_on_mysql",
            "m20261201_000016_create_second_factors",
            "m20261201_000017_create_sessions",
            "m20261201_000018_create_onboarding_sessions",
            "m20261202_000019_create_jwt_sessions",
        ]
    );
}
