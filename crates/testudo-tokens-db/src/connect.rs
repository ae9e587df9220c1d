//! Connecting with good defaults.

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::Result;

/// Prepared statements kept per SQLite connection (sqlx's default is 100). sea-orm runs every
/// query as a persistent prepared statement, so repeated verifies skip SQLite's parser;
/// `IN (...)` lists of different lengths are distinct statements, hence some headroom.
pub const SQLITE_STATEMENT_CACHE: usize = 256;

/// How long a SQLite connection waits for the write lock before failing with "database is
/// locked": 10 seconds.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Pool size for a SQLite file: twice the available parallelism, between 4 and 16.
///
/// In WAL mode readers never block each other nor the writer, so verifies scale with the
/// connections up to about the number of cores (sqlx runs each SQLite connection on its own
/// worker thread; a query costs a round trip to that thread, and a second connection per core
/// keeps the cores busy while the other waits on I/O). Writers are serialised by SQLite's
/// single write lock whatever the pool size (they queue on the busy timeout), so a larger pool
/// only adds threads and memory.
#[must_use]
pub fn sqlite_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
    u32::try_from(cores.saturating_mul(2))
        .unwrap_or(16)
        .clamp(4, 16)
}

/// How long a pooled connection to a database server may sit idle before it is pinged when taken
/// from the pool again: 30 seconds. See [`connect_options`].
pub const SERVER_PING_IF_IDLE_FOR: Duration = Duration::from_secs(30);

/// Connection options with testudo's defaults for `url`: sqlx statement logging off.
///
/// sqlx pings every connection it hands out by default, one extra round trip per query (it
/// halved authenticate throughput in the benchmarks). testudo turns that off for SQLite (a local
/// file cannot go away under the pool) and, for PostgreSQL and MySQL / MariaDB, pings only a
/// connection that has been idle for [`SERVER_PING_IF_IDLE_FOR`]: a connection the server
/// dropped within that window fails one query, and sqlx then discards it.
///
/// For SQLite
/// files WAL with `synchronous = NORMAL` (durable against application crashes; a power loss can
/// lose the last commits but never corrupts the database: SQLite's recommended setting for WAL),
/// create-if-missing, a busy timeout of [`SQLITE_BUSY_TIMEOUT`], a statement cache of
/// [`SQLITE_STATEMENT_CACHE`] per connection and a pool of [`sqlite_pool_size`]; for
/// `sqlite::memory:` one connection kept open forever (the database lives as long as the pool).
#[must_use]
pub fn connect_options(url: &str) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false);
    if url.starts_with("sqlite:") {
        opts.test_before_acquire(false);
        if url.contains(":memory:") || url.contains("mode=memory") {
            opts.max_connections(1)
                .min_connections(1)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else {
            opts.max_connections(sqlite_pool_size()).min_connections(1);
            #[cfg(feature = "sqlite")]
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .create_if_missing(true)
                    .busy_timeout(SQLITE_BUSY_TIMEOUT)
                    .statement_cache_capacity(SQLITE_STATEMENT_CACHE)
            });
        }
    } else {
        opts.test_before_acquire_if_idle_for(SERVER_PING_IF_IDLE_FOR);
    }
    opts
}

/// Connects to `url` with [`connect_options`].
///
/// # Errors
///
/// [`crate::Error::Storage`] when the database cannot be opened.
pub async fn connect(url: &str) -> Result<DatabaseConnection> {
    Ok(Database::connect(connect_options(url)).await?)
}
