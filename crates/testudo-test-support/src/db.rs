//! Per-test databases, migrated with `testudo-migrations` (feature `db`).
//!
//! [`backends`] lists the databases to test on: SQLite always, PostgreSQL when
//! [`POSTGRES_URL_ENV`] is set and MariaDB / MySQL when [`MYSQL_URL_ENV`] is set. [`TestDb::new`]
//! makes a fresh database of that kind (a randomly named `testudo_t_<uuid>` database on the
//! servers), runs every migration and hands it back; call [`TestDb::cleanup`] at the end to drop
//! it.
//!
//! ```no_run
//! use testudo_test_support::db::{backends, TestDb};
//!
//! # async fn t() -> testudo_test_support::TestResult {
//! for backend in backends() {
//!     let db = TestDb::new(backend).await?;
//!     // ... use db.conn() ...
//!     db.cleanup().await?;
//! }
//! # Ok(()) }
//! ```

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use testudo_migrations::{Migrator, MigratorTrait};

use crate::TestResult;

/// The variable naming a PostgreSQL server URL (any database on it) for tests.
pub const POSTGRES_URL_ENV: &str = "TESTUDO_TEST_POSTGRES_URL";
/// The variable naming a MariaDB / MySQL server URL (any database on it) for tests.
pub const MYSQL_URL_ENV: &str = "TESTUDO_TEST_MYSQL_URL";

/// A database kind to test on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A private SQLite database: in memory, or in a temporary file when `file` is true.
    Sqlite {
        /// Use a temporary file (with a connection pool) instead of memory.
        file: bool,
    },
    /// PostgreSQL at this server URL.
    Postgres(String),
    /// MariaDB / MySQL at this server URL.
    MySql(String),
}

impl Backend {
    /// A short name for messages.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::Sqlite { file: false } => "sqlite-memory",
            Self::Sqlite { file: true } => "sqlite-file",
            Self::Postgres(_) => "postgres",
            Self::MySql(_) => "mysql",
        }
    }
}

fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The backends to test on: in-memory SQLite, plus the servers whose URLs are set.
#[must_use]
pub fn backends() -> Vec<Backend> {
    backends_with_sqlite(false)
}

/// As [`backends`], with SQLite in a temporary file (pooled) when `sqlite_file` is true: use it
/// for concurrency tests.
#[must_use]
pub fn backends_with_sqlite(sqlite_file: bool) -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite { file: sqlite_file }];
    if let Some(url) = env_url(POSTGRES_URL_ENV) {
        out.push(Backend::Postgres(url));
    }
    if let Some(url) = env_url(MYSQL_URL_ENV) {
        out.push(Backend::MySql(url));
    }
    out
}

/// Replaces the database (path) part of a server URL.
fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{db}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

fn options(url: String, max: u32) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url);
    opts.max_connections(max)
        .min_connections(1)
        .idle_timeout(None::<Duration>)
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false);
    opts
}

/// A migrated database private to one test.
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    conn: DatabaseConnection,
    /// The server connection and database name to drop at cleanup.
    server: Option<(DatabaseConnection, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Creates a fresh database of kind `backend` and runs every migration.
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or the migrations fail.
    pub async fn new(backend: Backend) -> TestResult<Self> {
        Self::with_pool(backend, 10).await
    }

    /// As [`TestDb::new`] with a pool of `max_connections` (SQLite in memory always uses 1).
    ///
    /// # Errors
    ///
    /// As [`TestDb::new`].
    pub async fn with_pool(backend: Backend, max_connections: u32) -> TestResult<Self> {
        let db = Self::unmigrated(backend, max_connections).await?;
        if let Err(e) = Migrator::up(&db.conn, None).await {
            db.cleanup().await?;
            return Err(e.into());
        }
        Ok(db)
    }

    /// Creates a fresh, empty database (no migrations run).
    ///
    /// # Errors
    ///
    /// When the server cannot be reached or the database cannot be created.
    pub async fn unmigrated(backend: Backend, max_connections: u32) -> TestResult<Self> {
        match &backend {
            Backend::Sqlite { file: false } => {
                let conn = Database::connect(options("sqlite::memory:".to_owned(), 1)).await?;
                Ok(Self {
                    backend,
                    conn,
                    server: None,
                    _dir: None,
                })
            }
            Backend::Sqlite { file: true } => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let mut opts = options(url, max_connections);
                opts.map_sqlx_sqlite_opts(|o| {
                    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .busy_timeout(Duration::from_secs(30))
                });
                let conn = Database::connect(opts).await?;
                Ok(Self {
                    backend,
                    conn,
                    server: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres(url) | Backend::MySql(url) => {
                let name = format!("testudo_t_{}", uuid::Uuid::new_v4().simple());
                let server = Database::connect(options(url.clone(), 1)).await?;
                server
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                let conn =
                    match Database::connect(options(with_database(url, &name), max_connections))
                        .await
                    {
                        Ok(c) => c,
                        Err(e) => {
                            let _ = server
                                .execute_unprepared(&format!("DROP DATABASE {name}"))
                                .await;
                            return Err(e.into());
                        }
                    };
                Ok(Self {
                    backend,
                    conn,
                    server: Some((server, name)),
                    _dir: None,
                })
            }
        }
    }

    /// The connection to the test database.
    #[must_use]
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// The kind of database.
    #[must_use]
    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    /// Closes the connection and drops the database (the temporary file for SQLite).
    ///
    /// # Errors
    ///
    /// When the database cannot be dropped.
    pub async fn cleanup(self) -> TestResult {
        self.conn.close().await?;
        if let Some((server, name)) = self.server {
            let sql = match self.backend {
                Backend::Postgres(_) => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            server.execute_unprepared(&sql).await?;
            server.close().await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_part_of_a_url_is_replaced() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@h:3306/test?ssl-mode=disabled", "x"),
            "mysql://root@h:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("mysql://root@h", "x"), "mysql://root@h/x");
    }
}
