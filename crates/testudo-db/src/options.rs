//! The connection options testudo uses for every database.

use std::time::Duration;

use sea_orm::ConnectOptions;

/// Prepared statements kept per SQLite connection (sqlx's default is 100). sea-orm runs every
/// query as a persistent prepared statement, so repeated verifies skip SQLite's parser;
/// `IN (...)` lists of different lengths are distinct statements, hence some headroom.
pub const SQLITE_STATEMENT_CACHE: usize = 256;

/// How long a SQLite connection waits for the write lock before failing with "database is
/// locked": 10 seconds.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a pooled connection to a database server may sit idle before it is pinged when taken
/// from the pool again: 1 second. See [`Database::connect`](crate::Database::connect).
///
/// The ping finds the connections a restarted (or failed-over) server dropped while they sat in
/// the pool, so the first calls after the server is back do not fail on them. A busy pool hands
/// out connections idle for less than this and pays nothing; a connection dropped less than
/// this after its last use still fails the one call that takes it (the pool then discards it).
pub const SERVER_PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

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

/// What [`Database::connect_with`](crate::Database::connect_with) may change from testudo's
/// defaults. `PoolOptions::default()` changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolOptions {
    /// The most connections the pool opens (default: [`sqlite_pool_size`] for a SQLite file,
    /// sqlx's default of 10 for a server; an in-memory SQLite database always has one).
    pub max_connections: Option<u32>,
    /// The fewest connections the pool keeps open (default: one for SQLite, sqlx's default of
    /// none for a server).
    pub min_connections: Option<u32>,
    /// How long taking a connection from the pool may wait before it fails (default: sqlx's
    /// 30 seconds).
    pub acquire_timeout: Option<Duration>,
    /// How long a SQLite connection waits for the write lock (default:
    /// [`SQLITE_BUSY_TIMEOUT`]).
    pub sqlite_busy_timeout: Option<Duration>,
    /// Keep at least one connection open and never close idle ones (default: idle connections
    /// are closed after sqlx's idle timeout).
    pub keep_open: bool,
}

impl PoolOptions {
    /// Options with at most `n` connections.
    #[must_use]
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = Some(n);
        self
    }

    /// Options that keep at least `n` connections open.
    #[must_use]
    pub fn min_connections(mut self, n: u32) -> Self {
        self.min_connections = Some(n);
        self
    }

    /// Options whose pool waits at most `timeout` for a connection.
    #[must_use]
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = Some(timeout);
        self
    }

    /// Options whose SQLite connections wait at most `timeout` for the write lock.
    #[must_use]
    pub fn sqlite_busy_timeout(mut self, timeout: Duration) -> Self {
        self.sqlite_busy_timeout = Some(timeout);
        self
    }

    /// Options that keep the pool's connections open while idle.
    #[must_use]
    pub fn keep_open(mut self) -> Self {
        self.keep_open = true;
        self
    }
}

/// Whether `url` names an in-memory SQLite database.
fn sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// The sea-orm options for `url` with testudo's defaults, adjusted by `pool`.
pub(crate) fn connect_options(url: &str, pool: &PoolOptions) -> ConnectOptions {
    let mut opts = ConnectOptions::new(url.to_owned());
    opts.sqlx_logging(false);
    if let Some(t) = pool.acquire_timeout {
        opts.acquire_timeout(t);
    }
    if pool.keep_open {
        opts.min_connections(1).idle_timeout(None::<Duration>);
    }
    if url.starts_with("sqlite:") {
        opts.test_before_acquire(false);
        if sqlite_memory(url) {
            opts.max_connections(1)
                .min_connections(1)
                .idle_timeout(None::<Duration>)
                .max_lifetime(None::<Duration>);
        } else {
            opts.max_connections(pool.max_connections.unwrap_or_else(sqlite_pool_size))
                .min_connections(pool.min_connections.unwrap_or(1));
            #[cfg(feature = "sqlite")]
            {
                let busy = pool.sqlite_busy_timeout.unwrap_or(SQLITE_BUSY_TIMEOUT);
                opts.map_sqlx_sqlite_opts(move |o| {
                    o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                        .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                        .create_if_missing(true)
                        .busy_timeout(busy)
                        .statement_cache_capacity(SQLITE_STATEMENT_CACHE)
                });
            }
        }
    } else {
        if let Some(n) = pool.max_connections {
            opts.max_connections(n);
        }
        if let Some(n) = pool.min_connections {
            opts.min_connections(n);
        }
        opts.test_before_acquire_if_idle_for(SERVER_PING_IF_IDLE_FOR);
    }
    opts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sqlite_pool_is_sized_to_the_cores_within_bounds() {
        assert!((4..=16).contains(&sqlite_pool_size()));
    }

    #[test]
    fn an_in_memory_database_has_one_connection_kept_forever() {
        let o = connect_options(
            "sqlite::memory:",
            &PoolOptions::default().max_connections(8),
        );
        assert_eq!(o.get_max_connections(), Some(1));
        assert_eq!(o.get_min_connections(), Some(1));
    }

    #[test]
    fn server_pools_ping_connections_idle_for_a_second_and_sqlite_ones_never() {
        let o = connect_options("postgres://u@h/db", &PoolOptions::default());
        assert_eq!(
            o.get_test_before_acquire_if_idle_for(),
            Some(Duration::from_secs(1))
        );
        assert!(!o.get_test_before_acquire());
        let o = connect_options("sqlite::memory:", &PoolOptions::default());
        assert_eq!(o.get_test_before_acquire_if_idle_for(), None);
        assert!(!o.get_test_before_acquire());
    }

    #[test]
    fn server_pools_take_the_given_size() {
        let o = connect_options(
            "postgres://u@h/db",
            &PoolOptions::default().max_connections(3),
        );
        assert_eq!(o.get_max_connections(), Some(3));
    }
}
