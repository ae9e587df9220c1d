//! [`Database`]: the handle every testudo crate takes.

use std::fmt;
use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, Statement, TransactionOptions,
    TransactionTrait,
};
use testudo_migrations::{Migrator, MigratorTrait};

use crate::options::{PoolOptions, connect_options};
use crate::{Dialect, Result};

/// A handle on one database connection pool: cheap to clone, clones share the pool.
///
/// Open it with [`Database::connect`] (testudo's tuned options) and apply the schema with
/// [`Database::migrate`]; hand it (or a clone) to the token backends, the user store and the
/// service. sea-orm's types appear only in the escape hatch, [`Database::from_sea_orm`] and
/// [`Database::as_sea_orm`], for code that runs its own queries on the same pool.
#[derive(Clone)]
pub struct Database {
    conn: DatabaseConnection,
    dialect: Dialect,
    /// Shared by the clones of one handle only: what [`Database::same_pool`] compares.
    pool: Arc<PoolId>,
    /// SQLite: the queue of this handle's [`Database::begin_for_user`] transactions for the
    /// database's one write lock (a fair, first-come first-served turn; SQLite's own busy
    /// handler lets a writer in a tight loop starve the others).
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// A transaction begun by [`Database::begin_for_user`]: use it as the sea-orm transaction it
/// dereferences to, and end it with [`UserTransaction::commit`] or
/// [`UserTransaction::rollback`] (dropping it rolls back). On SQLite it also holds this
/// handle's writer turn until it ends.
pub struct UserTransaction {
    txn: DatabaseTransaction,
    /// SQLite: this handle's turn as the database's writer.
    _turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl fmt::Debug for UserTransaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserTransaction").finish_non_exhaustive()
    }
}

impl std::ops::Deref for UserTransaction {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl UserTransaction {
    /// Commits, then gives the writer turn to the next transaction.
    ///
    /// # Errors
    ///
    /// sea-orm's error when `COMMIT` fails.
    pub async fn commit(self) -> std::result::Result<(), sea_orm::DbErr> {
        self.txn.commit().await
    }

    /// Rolls back, then gives the writer turn to the next transaction.
    ///
    /// # Errors
    ///
    /// sea-orm's error when `ROLLBACK` fails.
    pub async fn rollback(self) -> std::result::Result<(), sea_orm::DbErr> {
        self.txn.rollback().await
    }
}

/// Whether `conn` is sea-orm's disconnected placeholder (`DatabaseConnection::default()`), on
/// which some sea-orm calls panic instead of failing.
fn is_disconnected(conn: &DatabaseConnection) -> bool {
    matches!(conn.inner, sea_orm::DatabaseConnectionType::Disconnected)
}

/// The identity of one pool (see [`Database::same_pool`]).
struct PoolId;

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: only the dialect is shown.
        f.debug_struct("Database")
            .field("dialect", &self.dialect)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Connects to `url` (`sqlite://path`, `sqlite::memory:`, `postgres://...`, `mysql://...`)
    /// with testudo's options:
    ///
    /// - sqlx statement logging off;
    /// - no ping before every query (sqlx's default costs one round trip per query): none on
    ///   SQLite, and on a server only for a connection idle for [`crate::SERVER_PING_IF_IDLE_FOR`]
    ///   (a connection the server dropped within that window fails one query and is discarded);
    /// - for SQLite files: WAL with `synchronous = NORMAL` (durable against application crashes;
    ///   a power loss can lose the last commits but never corrupts the database), created if
    ///   missing, a busy timeout of [`crate::SQLITE_BUSY_TIMEOUT`], a statement cache of
    ///   [`crate::SQLITE_STATEMENT_CACHE`] per connection, a pool of [`crate::sqlite_pool_size`];
    /// - for `sqlite::memory:`: one connection kept open for the life of the pool (the database
    ///   lives as long as it).
    ///
    /// # Errors
    ///
    /// [`crate::Error`] when the database cannot be opened (kind
    /// [`ConnectionLost`](crate::ErrorKind::ConnectionLost) when the server is unreachable).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_with(url, &PoolOptions::default()).await
    }

    /// As [`Database::connect`], with some pool settings changed.
    ///
    /// # Errors
    ///
    /// As [`Database::connect`].
    pub async fn connect_with(url: &str, options: &PoolOptions) -> Result<Self> {
        let conn = sea_orm::Database::connect(connect_options(url, options)).await?;
        Ok(Self::from_sea_orm(conn))
    }

    /// Wraps a sea-orm connection opened elsewhere (escape hatch): testudo then shares its pool.
    ///
    /// Two handles made by separate calls are never [`Database::same_pool`], even on clones of
    /// one sea-orm connection; clone the `Database` instead.
    #[must_use]
    pub fn from_sea_orm(conn: DatabaseConnection) -> Self {
        // sea-orm panics when asked the backend of a disconnected handle; every query on it
        // fails anyway, so any dialect will do.
        let dialect = if is_disconnected(&conn) {
            Dialect::Sqlite
        } else {
            Dialect::from_sea_orm(conn.get_database_backend())
        };
        Self {
            dialect,
            conn,
            pool: Arc::new(PoolId),
            writer: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// The sea-orm connection (escape hatch), to run queries of your own on testudo's pool.
    #[must_use]
    pub fn as_sea_orm(&self) -> &DatabaseConnection {
        &self.conn
    }

    /// An error for calls on a disconnected handle (sea-orm would panic in some of them).
    fn connected(&self) -> Result<()> {
        if is_disconnected(&self.conn) {
            return Err(crate::Error::disconnected());
        }
        Ok(())
    }

    /// Which SQL dialect the database speaks.
    #[must_use]
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Whether `self` and `other` are clones of one handle, hence share one connection pool.
    #[must_use]
    pub fn same_pool(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.pool, &other.pool)
    }

    /// Applies every testudo migration not applied yet (`testudo-migrations`).
    ///
    /// # Errors
    ///
    /// [`crate::Error`] when a migration fails.
    pub async fn migrate(&self) -> Result<()> {
        self.connected()?;
        Ok(Migrator::up(&self.conn, None).await?)
    }

    /// Closes the pool (every clone's); later calls fail.
    ///
    /// # Errors
    ///
    /// [`crate::Error`] when closing fails.
    pub async fn close(self) -> Result<()> {
        Ok(self.conn.close_by_ref().await?)
    }

    /// Begins a transaction.
    ///
    /// # Errors
    ///
    /// [`crate::Error`] when no connection can be had or `BEGIN` fails.
    pub async fn begin(&self) -> Result<DatabaseTransaction> {
        Ok(self.conn.begin().await?)
    }

    /// Begins a transaction serialized with every other `begin_for_user` transaction of the
    /// same `user_id`, from its start until it commits or rolls back: the second one waits.
    ///
    /// Every write to a user's tokens (issue, rotate, revoke) runs in one, so no two of them
    /// interleave. How:
    ///
    /// - PostgreSQL: a transaction-scoped advisory lock on a 64-bit hash of `user_id`
    ///   (`pg_advisory_xact_lock`); distinct users whose hashes collide are serialized too,
    ///   which is only slower;
    /// - MySQL / MariaDB: an upsert of the user's row in `testudo_user_locks` (migration 7),
    ///   which holds that row's exclusive lock (independent of the isolation level);
    /// - SQLite: `BEGIN IMMEDIATE`, which takes the database's write lock at once (SQLite has
    ///   one writer at a time, so every such transaction is serialized, whatever the user),
    ///   after waiting for this handle's turn: the clones of one handle queue first come,
    ///   first served, so a caller rotating tokens in a tight loop cannot starve a
    ///   `logout_all` (another process on the same file still competes through SQLite's busy
    ///   timeout).
    ///
    /// A deadlock or lock timeout is reported as [`ErrorKind::Transient`](crate::ErrorKind):
    /// run the whole transaction in [`crate::retrying`].
    ///
    /// # Errors
    ///
    /// [`crate::Error`] when no connection can be had, `BEGIN` fails or the lock cannot be had.
    pub async fn begin_for_user(&self, user_id: &str) -> Result<UserTransaction> {
        self.connected()?;
        let backend = self.dialect.backend();
        let mut turn = None;
        let txn = match self.dialect {
            Dialect::Sqlite => {
                turn = Some(Arc::clone(&self.writer).lock_owned().await);
                self.conn
                    .begin_with_options(TransactionOptions {
                        sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                        ..TransactionOptions::default()
                    })
                    .await?
            }
            Dialect::Postgres => {
                let txn = self.conn.begin().await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    "SELECT pg_advisory_xact_lock(hashtextextended($1, 7426))::text",
                    [user_id.into()],
                ))
                .await?;
                txn
            }
            Dialect::MySql => {
                let txn = self.conn.begin().await?;
                txn.execute_raw(Statement::from_sql_and_values(
                    backend,
                    "INSERT INTO testudo_user_locks (user_id) VALUES (?) \
                     ON DUPLICATE KEY UPDATE user_id = user_id",
                    [user_id.into()],
                ))
                .await?;
                txn
            }
        };
        Ok(UserTransaction { txn, _turn: turn })
    }
}
