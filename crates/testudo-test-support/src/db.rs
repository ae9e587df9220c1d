//! Per-test databases, migrated with `testudo-migrations` (feature `db`).
//!
//! A test runs on SQLite always, on PostgreSQL when [`POSTGRES_URL_ENV`] is set and on MariaDB /
//! MySQL when [`MYSQL_URL_ENV`] is set. Write it once as `async fn NAME(backend: Backend)` and
//! let [`per_database!`](crate::per_database) make one test case per database
//! (`NAME::sqlite`, `NAME::postgres`, `NAME::mariadb`), so a failure names its database.
//! [`TestDb::new`] makes a fresh database of that kind (a randomly named `testudo_t_<uuid>`
//! database on the servers), runs every migration and hands it back; call [`TestDb::cleanup`]
//! at the end to drop it.
//!
//! ```no_run
//! use testudo_test_support::db::{Backend, TestDb};
//! use testudo_test_support::{TestResult, per_database};
//!
//! async fn a_test_sentence(backend: Backend) -> TestResult {
//!     let db = TestDb::new(backend).await?;
//!     // ... use db.db() (a testudo_db::Database) or db.conn() ...
//!     db.cleanup().await?;
//!     Ok(())
//! }
//! per_database!(a_test_sentence);
//! # fn main() {}
//! ```
//!
//! [`backends`] lists the same databases, for code that loops over them itself.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection};
use testudo_db::{Database, PoolOptions};

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

    /// PostgreSQL at the URL in [`POSTGRES_URL_ENV`], when it is set and not blank.
    #[must_use]
    pub fn postgres_from_env() -> Option<Self> {
        env_url(POSTGRES_URL_ENV).map(Self::Postgres)
    }

    /// MariaDB / MySQL at the URL in [`MYSQL_URL_ENV`], when it is set and not blank.
    #[must_use]
    pub fn mysql_from_env() -> Option<Self> {
        env_url(MYSQL_URL_ENV).map(Self::MySql)
    }
}

fn env_url(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Says on stderr, in one line, that the test case `case` was skipped and which variable
/// enables it. The server cases of [`per_database!`](crate::per_database) call it (and pass)
/// when their URL variable is unset.
pub fn report_skipped(case: &str, var: &str) {
    eprintln!("skipped {case}: set {var} to a server URL to run it");
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
    out.extend(Backend::postgres_from_env());
    out.extend(Backend::mysql_from_env());
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

/// The pool options of test databases: connections kept open, `max` of them, a long busy
/// timeout for SQLite files (concurrency tests queue many writers).
fn options(max: u32) -> PoolOptions {
    PoolOptions::default()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(30))
        .sqlite_busy_timeout(Duration::from_secs(30))
        .keep_open()
}

/// A migrated database private to one test.
#[derive(Debug)]
pub struct TestDb {
    backend: Backend,
    db: Database,
    /// The database's URL (for another process to open it).
    url: String,
    /// The server connection and database name to drop at cleanup.
    server: Option<(Database, String)>,
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
        if let Err(e) = db.db.migrate().await {
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
                let db = Database::connect("sqlite::memory:").await?;
                Ok(Self {
                    backend,
                    db,
                    url: "sqlite::memory:".to_owned(),
                    server: None,
                    _dir: None,
                })
            }
            Backend::Sqlite { file: true } => {
                let dir = tempfile::tempdir()?;
                let path = dir.path().join("test.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                let db = Database::connect_with(&url, &options(max_connections)).await?;
                Ok(Self {
                    backend,
                    db,
                    url,
                    server: None,
                    _dir: Some(dir),
                })
            }
            Backend::Postgres(url) | Backend::MySql(url) => {
                let name = format!("testudo_t_{}", uuid::Uuid::new_v4().simple());
                let server = Database::connect_with(url, &options(1)).await?;
                server
                    .as_sea_orm()
                    .execute_unprepared(&format!("CREATE DATABASE {name}"))
                    .await?;
                let db_url = with_database(url, &name);
                let db = match Database::connect_with(&db_url, &options(max_connections)).await {
                    Ok(db) => db,
                    Err(e) => {
                        let _ = server
                            .as_sea_orm()
                            .execute_unprepared(&format!("DROP DATABASE {name}"))
                            .await;
                        return Err(e.into());
                    }
                };
                Ok(Self {
                    backend,
                    db,
                    url: db_url,
                    server: Some((server, name)),
                    _dir: None,
                })
            }
        }
    }

    /// The test database.
    #[must_use]
    pub fn db(&self) -> &Database {
        &self.db
    }

    /// The test database's URL, for another process to open the same database (an in-memory
    /// SQLite database cannot be shared: it is `sqlite::memory:`, a new database).
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The sea-orm connection to the test database (for SQL of the test's own).
    #[must_use]
    pub fn conn(&self) -> &DatabaseConnection {
        self.db.as_sea_orm()
    }

    /// The URL of the test database when it is on a server (`None` for SQLite), for a proxy
    /// or other processes in front of it.
    #[must_use]
    pub fn server_url(&self) -> Option<&str> {
        self.server.as_ref().map(|_| self.url.as_str())
    }

    /// The name of the test database on its server (`None` for SQLite).
    #[must_use]
    pub fn name(&self) -> Option<&str> {
        self.server.as_ref().map(|(_, name)| name.as_str())
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
        self.db.close().await?;
        if let Some((server, name)) = self.server {
            let sql = match self.backend {
                Backend::Postgres(_) => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            server.as_sea_orm().execute_unprepared(&sql).await?;
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
